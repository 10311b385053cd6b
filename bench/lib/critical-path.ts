/**
 * What a `nub run --json` event stream says about a run, read with the arrival time of each line
 * (bench/lib/spawn.ts), and the critical path of the run: the longest chain of task durations
 * through the dependency graph, the least wall time any scheduler could take for those durations.
 */
import type { TimedLine } from './spawn.ts';

/** One task as a run reported it; times are ms after the spawn, as its lines arrived. */
export interface TaskTiming {
	name: string;
	/** When its task-start line arrived (after the engine decided it must run). */
	startAtMs: number;
	endAtMs: number;
	/**
	 * What the engine measured (its task-end event): from the moment it took the task up, before
	 * deciding whether it must run (hashing its input files, say), to its end.
	 */
	durationMs: number;
	/** When the engine took it up: `endAtMs - durationMs`. */
	beganAtMs: number;
	outcome: string;
	/** Kubernetes objects the task applied (its output's `objects`), when its output says. */
	objects?: number;
}

/** A run's event stream, read. */
export interface RunEvents {
	/** The tasks of the run (its run-start event), in topological order. */
	tasks: string[];
	/** When the run-start line arrived. */
	runStartAtMs: number;
	/** When the `{"summary": ...}` line arrived. */
	summaryAtMs: number;
	/** Tasks that ran (task-end), by name. */
	timings: Map<string, TaskTiming>;
	summary: Record<string, unknown> & { succeeded: string[]; cached: string[]; failed: string[] };
}

/** Reads a `nub run --json` stream; throws on a line that is not JSON or a missing run-start or summary. */
export function readRunEvents(lines: readonly TimedLine[]): RunEvents {
	let tasks: string[] | undefined;
	let runStartAtMs = Number.NaN;
	let summary: RunEvents['summary'] | undefined;
	let summaryAtMs = Number.NaN;
	const starts = new Map<string, number>();
	const timings = new Map<string, TaskTiming>();
	for (const { atMs, text } of lines) {
		if (text.trim() === '') continue;
		let event: Record<string, unknown>;
		try {
			event = JSON.parse(text) as Record<string, unknown>;
		} catch {
			throw new Error(`not a JSON event: ${text.slice(0, 200)}`);
		}
		if ('summary' in event) {
			summary = event.summary as RunEvents['summary'];
			summaryAtMs = atMs;
			continue;
		}
		const name = event.name as string;
		switch (event.type) {
			case 'run-start':
				tasks = event.tasks as string[];
				runStartAtMs = atMs;
				break;
			case 'task-start':
				starts.set(name, atMs);
				break;
			case 'task-end': {
				const output = event.output as { objects?: unknown } | undefined;
				timings.set(name, {
					name,
					startAtMs: starts.get(name) ?? atMs,
					endAtMs: atMs,
					durationMs: event.durationMs as number,
					beganAtMs: atMs - (event.durationMs as number),
					outcome: event.outcome as string,
					...(output && Array.isArray(output.objects) ? { objects: output.objects.length } : {}),
				});
				break;
			}
		}
	}
	if (!tasks) throw new Error('no run-start event');
	if (!summary) throw new Error('no {"summary": ...} line');
	return { tasks, runStartAtMs, summaryAtMs, timings, summary };
}

/** A task and the names of what it needs. */
export interface PathNode {
	name: string;
	needs: readonly string[];
}

/** The longest chain, from a task that needs nothing to the chain's end. */
export interface CriticalPath {
	/** The sum of the chain's weights. */
	totalMs: number;
	chain: string[];
}

/**
 * The heaviest chain of `nodes` (in topological order: needs first) where each task weighs
 * `weight(name)`. Ties go to the need listed first, so the same weights give the same chain.
 */
export function criticalPath(nodes: readonly PathNode[], weight: (name: string) => number): CriticalPath {
	const reach = new Map<string, number>();
	const previous = new Map<string, string | undefined>();
	let end: string | undefined;
	for (const node of nodes) {
		let best = 0;
		let from: string | undefined;
		for (const need of node.needs) {
			const value = reach.get(need);
			if (value === undefined) throw new Error(`criticalPath: "${node.name}" needs "${need}", which is not before it`);
			if (from === undefined || value > best) {
				best = value;
				from = need;
			}
		}
		const total = best + weight(node.name);
		reach.set(node.name, total);
		previous.set(node.name, from);
		if (end === undefined || total > reach.get(end)!) end = node.name;
	}
	const chain: string[] = [];
	for (let at = end; at !== undefined; at = previous.get(at)) chain.push(at);
	chain.reverse();
	return { totalMs: end === undefined ? 0 : reach.get(end)!, chain };
}
