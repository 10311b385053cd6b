import type { NubEvent, Outcome, RunSummary } from './events.ts';
import { indexBound, type GraphNode } from './graph.ts';
import { decideTask, type Decision, type DecideOptions } from './plan.ts';
import { TaskRunner, type RunnerOptions } from './runner.ts';

/** What `runGraph` needs: the tasks, where to record them, and how to report. */
export interface RunOptions extends RunnerOptions {
	/** The tasks to run, in topological order, with everything they need. */
	nodes: readonly GraphNode[];
	/** How many tasks may run at once. */
	jobs: number;
	/** After a failure, keep running what does not depend on it. */
	keepGoing?: boolean;
	/** Tasks to run even when cached (see `forcedTasks`). */
	force?: ReadonlySet<string>;
	/** What the tasks' checks found drifted (see checks.ts): those rerun, saying why. */
	drift?: ReadonlyMap<string, string>;
	/**
	 * Tasks this run must not run (`nub watch` holds the cluster tasks): each is not decided, and
	 * its last success is reused as it is; one that never succeeded is not started, nor is what
	 * needs it.
	 */
	held?: ReadonlySet<string>;
}

/**
 * Runs the tasks in dependency order, up to `jobs` at a time. As each becomes ready it is decided
 * (plan.ts: its cache key against its last success); a cached one reuses its recorded output, the
 * others are handed to the runner (runner.ts), which runs and records them. This function only
 * tracks readiness and concurrency.
 *
 *   ready ──start──> running ──ok──> succeeded ─┐
 *     │                 └──error──> failed      ├─> dependents' needs count down; at 0 they're ready
 *     └──key matches──> cached ─────────────────┘
 *
 * After a failure nothing new starts (unless `keepGoing`) and running tasks finish; after an abort
 * running tasks are aborted through their signal. Whatever never started is `blocked` (a need
 * failed) or `skipped`. The summary lists names in topological order.
 */
export async function runGraph(options: RunOptions): Promise<RunSummary> {
	const { nodes, emit } = options;
	const now = options.now ?? Date.now;
	const jobs = Math.max(1, options.jobs);
	const startedAt = now();
	const runner = new TaskRunner(options, nodes);
	const decideOptions: DecideOptions = {
		state: options.state,
		root: options.root,
		secretDigest: text => options.sealer.digest(text),
		forced: options.force ?? new Set<string>(),
		drift: options.drift ?? new Map<string, string>(),
	};
	const hashes = runner.hashes;
	const held = options.held ?? new Set<string>();
	// Indexed by GraphNode.index, in arrays rather than an object per task (see TaskRunner).
	const size = indexBound(nodes);
	/** Needs not settled yet; -1 for a task that is not part of the run. */
	const remaining = new Int32Array(size).fill(-1);
	for (let i = 0; i < nodes.length; i++) remaining[nodes[i]!.index] = nodes[i]!.needs.length;
	const outcomes: Array<Outcome | undefined> = new Array(size);
	const ready: GraphNode[] = nodes.filter(node => node.needs.length === 0);
	let next = 0;
	let running = 0;
	let stopping = false;

	emit({ type: 'run-start', tasks: nodes.map(node => node.name), jobs });

	const settle = (node: GraphNode, outcome: Outcome) => {
		outcomes[node.index] = outcome;
		if (outcome === 'succeeded' || outcome === 'cached') {
			const dependents = node.dependents;
			for (let i = 0; i < dependents.length; i++) {
				const index = dependents[i]!.index;
				if (remaining[index]! > 0 && --remaining[index]! === 0) ready.push(dependents[i]!);
			}
		} else if (!options.keepGoing || outcome === 'interrupted') {
			stopping = true;
		}
	};

	const reuse = (node: GraphNode) => {
		runner.reuse(node);
		settle(node, 'cached');
	};

	const start = (node: GraphNode) => {
		if (held.size > 0 && held.has(node.name)) {
			if (options.state.lastSuccess(node.name)) return reuse(node);
			outcomes[node.index] = 'skipped';
			return;
		}
		const decided = decideTask(node, decideOptions, hashes);
		// A task that declares no files is decided at once: a cached no-op waits on no promise.
		if (decided === 'cached') return reuse(node);
		void begin(node, decided);
	};

	/** Counts the task as running from its decision (files being hashed) to its end. */
	const begin = async (node: GraphNode, decided: Decision | Promise<'cached' | Decision>) => {
		running++;
		const takenAt = now();
		try {
			const decision = await decided;
			// Decided after the run began to stop: it does not start, unless its inputs could not be
			// read, which fails it all the same.
			if (stopping && (decision === 'cached' || decision.error === undefined)) return;
			if (decision === 'cached') return reuse(node);
			let outcome: Outcome;
			try {
				outcome = await runner.run(node, decision, takenAt);
			} catch (error) {
				// Recording failed (the state cannot be written): the task counts as failed, the run
				// stops (what is running is interrupted) and runGraph rejects with the error once
				// they have ended: a run does not go on unrecorded.
				settle(node, options.signal?.aborted ? 'interrupted' : 'failed');
				unrecorded ??= error;
				stopping = true;
				runner.abort();
				return;
			}
			settle(node, outcome);
		} finally {
			running--;
			pump();
		}
	};

	/** The error that stopped the run from recording, if one did. */
	let unrecorded: unknown;
	const onAbort = () => {
		stopping = true;
		runner.abort();
	};
	options.signal?.addEventListener('abort', onAbort, { once: true });
	if (options.signal?.aborted) onAbort();

	let finish!: () => void;
	const done = new Promise<void>(resolve => (finish = resolve));
	const pump = () => {
		while (!stopping && running < jobs && next < ready.length) start(ready[next++]!);
		if (running === 0 && (stopping || next === ready.length)) finish();
	};
	pump();
	await done;
	options.signal?.removeEventListener('abort', onAbort);
	if (unrecorded !== undefined) throw unrecorded;

	const summary: RunSummary = {
		succeeded: [],
		cached: [],
		failed: [],
		interrupted: [],
		blocked: [],
		skipped: [],
		changed: [],
		retries: runner.retries,
		errors: runner.errors,
		durationMs: now() - startedAt,
	};
	for (let i = 0; i < nodes.length; i++) {
		const node = nodes[i]!;
		let outcome = outcomes[node.index];
		if (outcome === undefined) {
			const cause = node.needs.find(need => {
				const outcome = outcomes[need.index];
				return outcome === 'failed' || outcome === 'interrupted' || outcome === 'blocked';
			});
			outcome = outcomes[node.index] = cause ? 'blocked' : 'skipped';
			if (cause) emit({ type: 'task-blocked', name: node.name, by: blockerOf(cause, outcomes) });
		}
		summary[outcome].push(node.name);
		if (runner.changed.has(node.name)) summary.changed.push(node.name);
	}
	emit({ type: 'run-end', summary });
	return summary;
}

/** The failed or interrupted task at the root of a chain of blocked ones. */
function blockerOf(node: GraphNode, outcomes: ReadonlyArray<Outcome | undefined>): string {
	let current = node;
	for (;;) {
		if (outcomes[current.index] !== 'blocked') return current.name;
		const cause = current.needs.find(need => {
			const outcome = outcomes[need.index];
			return outcome === 'failed' || outcome === 'interrupted' || outcome === 'blocked';
		});
		if (!cause) return current.name;
		current = cause;
	}
}
