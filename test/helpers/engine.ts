import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NubEvent, RunSummary } from '../../lib/engine/events.ts';
import { buildGraph, forcedTasks, selectNodes } from '../../lib/engine/graph.ts';
import { Redactor } from '../../lib/engine/redact.ts';
import { runGraph, type RunOptions } from '../../lib/engine/scheduler.ts';
import { createSealer } from '../../lib/engine/sealer.ts';
import { StateStore } from '../../lib/engine/state-store.ts';
import type { Task } from '../../lib/engine/task.ts';

/** A state folder of its own for one test. */
export function tempDir(): string {
	return mkdtempSync(join(tmpdir(), 'nub-engine-'));
}

export function cleanup(dir: string): void {
	rmSync(dir, { recursive: true, force: true });
}

/** The result of one in-process run: its summary and every event, in order. */
export interface RunResult {
	summary: RunSummary;
	events: NubEvent[];
	/** Names of the tasks that started, in order. */
	started: string[];
}

/**
 * Runs `targets` of the graph built from `roots` in-process, with the state in `dir`, the way
 * `nub run` does (load the state, run, close it), recording the events.
 */
export async function runTasks(
	dir: string,
	roots: Array<Task<unknown>>,
	options: Partial<Omit<RunOptions, 'nodes' | 'state' | 'emit'>> & { targets?: string[]; forceTargets?: string[] } = {},
): Promise<RunResult> {
	const graph = buildGraph(roots);
	const nodes = selectNodes(graph, options.targets ?? roots.map(root => root.name));
	const state = StateStore.load(join(dir, '.nub'));
	const events: NubEvent[] = [];
	const summary = await runGraph({
		nodes,
		state,
		root: dir,
		jobs: 4,
		sealer: createSealer({ stateDir: join(dir, '.nub') }),
		redactor: new Redactor(),
		force: options.forceTargets ? forcedTasks(graph, options.forceTargets) : undefined,
		...options,
		emit: event => events.push(event),
	});
	await state.close();
	const started = events.flatMap(event => (event.type === 'task-start' ? [event.name] : []));
	return { summary, events, started };
}
