import pRetry from 'p-retry';
import { fingerprintInputs, fingerprintValues } from './cache-key.ts';
import { TaskTimeoutError } from './errors.ts';
import type { NubEvent, Outcome, RunSummary } from './events.ts';
import { messageOf, type GraphNode } from './graph.ts';
import { canonicalJson, contentHash, findNonJson, type Json } from './json.ts';
import { decide, sameFingerprint, type Decision } from './plan.ts';
import type { Redactor } from './redact.ts';
import type { Sealer } from './sealer.ts';
import { depsText, type InputFingerprint, type StateStore, type SuccessRecord } from './state-store.ts';
import type { Logger, TaskContext } from './task.ts';

/** What `runGraph` needs: the tasks, where to record them, and how to report. */
export interface RunOptions {
	/** The tasks to run, in topological order, with everything they need. */
	nodes: readonly GraphNode[];
	state: StateStore;
	/** The Nubfile's folder: the root of declared input files and the tasks' `context.root`. */
	root: string;
	/** How many tasks may run at once. */
	jobs: number;
	/** After a failure, keep running what does not depend on it. */
	keepGoing?: boolean;
	/** Tasks to run even when cached (see `forcedTasks`). */
	force?: ReadonlySet<string>;
	/** Aborting it stops scheduling and aborts the running tasks. */
	signal?: AbortSignal;
	emit: (event: NubEvent) => void;
	sealer: Sealer;
	redactor: Redactor;
	/** Adds the CLI's services to each task's context. */
	extendContext?: (context: TaskContext) => TaskContext;
	/** What the tasks' checks found drifted (see checks.ts): those rerun, saying why. */
	drift?: ReadonlyMap<string, string>;
	now?: () => number;
}

/**
 * Runs the tasks in dependency order, up to `jobs` at a time, skipping those whose cache key
 * (their inputs and the outputs of their needs) matches their last success, and records each
 * result as it comes.
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
	const { nodes, state, root, emit, sealer, redactor, drift } = options;
	const secretDigest = (text: string) => sealer.digest(text);
	// Date.now rather than performance.now, whose module costs a start almost 1 ms.
	const now = options.now ?? Date.now;
	const force = options.force ?? new Set<string>();
	const jobs = Math.max(1, options.jobs);
	const startedAt = now();
	// What the run knows of each task, indexed by GraphNode.index: arrays rather than an object
	// per task, which a cached no-op of 10,000 tasks would allocate and then grow three times each.
	// Loops are indexed: most of this runs before V8 optimizes it, when a `for...of` costs an
	// iterator step per element.
	let size = 0;
	for (let i = 0; i < nodes.length; i++) size = Math.max(size, nodes[i]!.index + 1);
	/** Needs not settled yet; -1 for a task that is not part of the run. */
	const remaining = new Int32Array(size).fill(-1);
	for (let i = 0; i < nodes.length; i++) remaining[nodes[i]!.index] = nodes[i]!.needs.length;
	const outcomes: Array<Outcome | undefined> = new Array(size);
	const outHashes: Array<string | undefined> = new Array(size);
	/** The output, once known; a secret cached output stays sealed until a task needs it. */
	const outputs: Array<Json | undefined> = new Array(size);
	const sealedOutputs: Array<SuccessRecord | undefined> = new Array(size);
	const ready: GraphNode[] = nodes.filter(node => node.needs.length === 0);
	const controllers = new Set<AbortController>();
	const retries: Record<string, number> = {};
	const errors: Record<string, string> = {};
	const changed = new Set<string>();
	let next = 0;
	let running = 0;
	let stopping = false;

	// A wrong state key must stop the run before anything runs: otherwise new secrets would be
	// sealed under it beside the old ones, and a later run could read neither all of them.
	const sealed = state.anySealed();
	if (sealed) sealer.open(sealed.sealed, `task "${sealed.name}"`, sealed);
	// Every secret this run could come across is known before anything runs, cached or not: a task
	// may fail with a message holding a secret made three runs ago.
	for (let i = 0; i < nodes.length; i++) {
		const node = nodes[i]!;
		const ok = node.task.redactsOutput ? state.lastSuccess(node.name) : undefined;
		if (ok?.sealed !== undefined) redactor.add(JSON.parse(sealer.open(ok.sealed, `task "${node.name}"`, ok)));
	}

	emit({ type: 'run-start', tasks: nodes.map(node => node.name), jobs });

	const outputOf = (node: GraphNode): Json => {
		const sealed = sealedOutputs[node.index];
		if (outputs[node.index] === undefined && sealed !== undefined) {
			outputs[node.index] = JSON.parse(sealer.open(sealed.sealed!, `task "${node.name}"`, sealed)) as Json;
		}
		return outputs[node.index] ?? null;
	};

	/** The task's last recorded output, decrypted for a secret one (already known to the redactor). */
	const previousOutput = (node: GraphNode): Json | undefined => {
		const ok = state.lastSuccess(node.name);
		if (!ok) return undefined;
		if (ok.sealed === undefined) return ok.output ?? null;
		return JSON.parse(sealer.open(ok.sealed, `task "${node.name}"`, ok)) as Json;
	};

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

	const depsOf = (node: GraphNode) => {
		const deps: Record<string, string> = {};
		for (const need of node.needs) deps[need.name] = outHashes[need.index]!;
		return deps;
	};

	/**
	 * True when `decide` would find no reason to run the task, found without building the deps
	 * map: nothing forced or failed, the same input fingerprint, and the same output hash of each
	 * need as at the last success.
	 */
	const unchanged = (node: GraphNode, ok: SuccessRecord | undefined, inputs: InputFingerprint, forced: boolean): ok is SuccessRecord => {
		if (!ok || forced || state.failedSince(node.name) || !sameFingerprint(ok.inputs, inputs)) return false;
		// Recorded in the order of the needs; another order (or a need under two keys) is left to
		// decide(). Compared in place, without splitting the record's string.
		const deps = ok.deps;
		const needs = node.needs;
		let at = 0;
		for (let i = 0; i < needs.length; i++) {
			const need = needs[i]!;
			const hash = outHashes[need.index]!;
			if (i > 0 && deps.charCodeAt(at++) !== 32) return false;
			if (!deps.startsWith(need.name, at)) return false;
			at += need.name.length;
			if (deps.charCodeAt(at++) !== 32 || !deps.startsWith(hash, at)) return false;
			at += hash.length;
		}
		return at === deps.length;
	};

	/** Reuses the recorded output; false when the task must run. */
	const tryCache = (node: GraphNode, decision: Decision): boolean => {
		if (decision.reasons.length > 0) return false;
		useRecorded(node, state.lastSuccess(node.name)!);
		return true;
	};

	const useRecorded = (node: GraphNode, ok: SuccessRecord) => {
		outHashes[node.index] = ok.outHash;
		if (ok.sealed !== undefined) sealedOutputs[node.index] = ok;
		else outputs[node.index] = ok.output ?? null;
		emit({ type: 'task-cached', name: node.name });
		settle(node, 'cached');
	};

	// Most runs force nothing and find no drift: then no task looks itself up in them.
	const anyForced = force.size > 0;
	const anyDrift = drift !== undefined && drift.size > 0;
	const start = (node: GraphNode) => {
		const { task } = node;
		const forced = anyForced && force.has(node.name);
		const drifted = anyDrift ? drift.get(node.name) : undefined;
		if (!task.inputs.files?.length) {
			// The common case decides synchronously: a cached no-op costs no promise per task.
			let decision: Decision;
			try {
				const inputs = fingerprintValues(task.inputs, secretDigest);
				const ok = state.lastSuccess(node.name);
				if (drifted === undefined && unchanged(node, ok, inputs, forced)) return useRecorded(node, ok);
				decision = decide(node.name, inputs, depsOf(node), state.get(node.name), forced, drifted);
			} catch (error) {
				return begin(node, Promise.reject(error));
			}
			if (tryCache(node, decision)) return;
			return begin(node, Promise.resolve(decision));
		}
		begin(
			node,
			fingerprintInputs(task.inputs, root, secretDigest).then(inputs => decide(node.name, inputs, depsOf(node), state.get(node.name), forced, drifted)),
		);
	};

	const begin = (node: GraphNode, decided: Promise<Decision>) => {
		running++;
		const startTime = now();
		const work = async () => {
			const decision = await decided;
			if (stopping || tryCache(node, decision)) return;
			emit({ type: 'task-start', name: node.name, reasons: decision.reasons });
			const output = await execute(node);
			complete(node, decision, output, now() - startTime);
		};
		work()
			.catch(error => fail(node, error, now() - startTime))
			.finally(() => {
				running--;
				pump();
			});
	};

	const complete = (node: GraphNode, decision: Decision, value: unknown, ms: number) => {
		const output = (value === undefined ? null : value) as Json;
		const problem = findNonJson(output);
		if (problem) throw new Error(`task returned a value that is not JSON: ${problem}`);
		const text = canonicalJson(output);
		const secret = node.task.secret;
		if (node.task.redactsOutput) redactor.add(output);
		const outHash = secret ? sealer.digest(text) : contentHash(text);
		const previous = state.lastSuccess(node.name)?.outHash;
		state.recordSuccess({
			name: node.name,
			...(isEmpty(decision.inputs) ? {} : { inputs: decision.inputs }),
			deps: depsText(depsOf(node)),
			outHash,
			...(secret ? { sealed: sealer.seal(text, { name: node.name, seq: state.nextSeq() }) } : { output }),
			at: Date.now(),
			ms: Math.round(ms),
		});
		outHashes[node.index] = outHash;
		outputs[node.index] = output;
		const didChange = previous !== outHash;
		if (didChange) changed.add(node.name);
		emit({
			type: 'task-end',
			name: node.name,
			outcome: 'succeeded',
			durationMs: ms,
			changed: didChange,
			...(secret ? { secret: true } : { output }),
		});
		settle(node, 'succeeded');
	};

	const fail = (node: GraphNode, error: unknown, ms: number) => {
		const interrupted = options.signal?.aborted === true;
		const message = redactor.redact(messageOf(error));
		const firstLine = message.split('\n')[0]!;
		errors[node.name] = firstLine;
		try {
			state.recordFailure({ name: node.name, error: firstLine, ...(interrupted ? { interrupted } : {}), at: Date.now(), ms: Math.round(ms) });
		} finally {
			const stack = error instanceof Error && error.stack ? redactor.redact(error.stack) : undefined;
			emit({
				type: 'task-end',
				name: node.name,
				outcome: interrupted ? 'interrupted' : 'failed',
				durationMs: ms,
				error: message,
				...(stack ? { stack } : {}),
			});
			settle(node, interrupted ? 'interrupted' : 'failed');
		}
	};

	const execute = async (node: GraphNode): Promise<unknown> => {
		const { task } = node;
		const inputs: Record<string, unknown> = {};
		node.needs.forEach((need, i) => (inputs[node.needKeys[i]!] = outputOf(need)));
		const controller = new AbortController();
		controllers.add(controller);
		const log = makeLogger(node.name, emit, redactor);
		const previous = previousOutput(node);
		const retried = (message: string) => {
			retries[node.name] = (retries[node.name] ?? 0) + 1;
			emit({ type: 'task-log', name: node.name, level: 'warn', message: redactor.redact(String(message)) });
		};
		const attempt = async (attemptNumber: number) => {
			const attemptController = new AbortController();
			const abort = () => attemptController.abort(controller.signal.reason);
			controller.signal.addEventListener('abort', abort, { once: true });
			let timer: NodeJS.Timeout | undefined;
			try {
				const aborted = new Promise<never>((_, reject) => {
					const onAbort = () => reject(attemptController.signal.reason ?? new Error('aborted'));
					if (attemptController.signal.aborted) onAbort();
					attemptController.signal.addEventListener('abort', onAbort, { once: true });
				});
				aborted.catch(() => {});
				if (task.timeout !== undefined) {
					timer = setTimeout(
						() => attemptController.abort(new TaskTimeoutError(`timed out after ${formatMs(task.timeout!)}`)),
						task.timeout,
					);
				}
				let context: TaskContext = { name: node.name, signal: attemptController.signal, log, root, attempt: attemptNumber, previous, retried };
				if (options.extendContext) context = options.extendContext(context);
				return await Promise.race([task.execute(inputs, context).catch(wrapNonError), aborted]);
			} finally {
				clearTimeout(timer);
				controller.signal.removeEventListener('abort', abort);
			}
		};
		try {
			if (!task.retry || task.retry.retries <= 0) return await attempt(1);
			return await pRetry(attempt, {
				...task.retry,
				signal: controller.signal,
				shouldRetry: () => !controller.signal.aborted,
				onFailedAttempt: ({ error, attemptNumber, retriesLeft }) => {
					if (retriesLeft <= 0 || controller.signal.aborted) return;
					retries[node.name] = (retries[node.name] ?? 0) + 1;
					emit({ type: 'task-retry', name: node.name, attempt: attemptNumber, retriesLeft, error: redactor.redact(messageOf(error)) });
				},
			});
		} finally {
			controllers.delete(controller);
		}
	};

	const onAbort = () => {
		stopping = true;
		for (const controller of controllers) controller.abort(new Error('interrupted'));
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

	const summary: RunSummary = {
		succeeded: [],
		cached: [],
		failed: [],
		interrupted: [],
		blocked: [],
		skipped: [],
		changed: [],
		retries,
		errors,
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
		if (changed.has(node.name)) summary.changed.push(node.name);
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

function makeLogger(name: string, emit: (event: NubEvent) => void, redactor: Redactor): Logger {
	const line = (level: 'info' | 'warn' | 'debug') => (message: string) =>
		emit({ type: 'task-log', name, level, message: redactor.redact(String(message)) });
	return { info: line('info'), warn: line('warn'), debug: line('debug') };
}

/** Tasks may throw anything; the engine and p-retry want Errors. */
function wrapNonError(error: unknown): never {
	if (error instanceof Error) throw error;
	throw new Error(messageOf(error), { cause: error });
}

function formatMs(ms: number): string {
	return ms >= 1000 ? `${ms / 1000} s` : `${ms} ms`;
}

function isEmpty(object: object): boolean {
	for (const _ in object) return false;
	return true;
}
