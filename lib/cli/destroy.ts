/**
 * Taking down what tasks made: `nub destroy` (every task of a selection, dependents first) and
 * `nub run --prune` (objects an earlier run applied that nothing produces any more).
 *
 * Both build a graph of undo steps, the task graph reversed, and run it on the scheduler:
 *
 *     namespace <── fileserver <── nfs-volumes <── keepalive      (the tasks: each needs the one left of it)
 *     undo(keepalive) ──> undo(nfs-volumes) ──> undo(fileserver) ──> undo(namespace)
 *
 * A task's undo is the one it declares (`withUndo`: an apply task deletes what it applied and
 * waits until it is gone; the DNS record is removed), after its declared output files are deleted
 * (unless it keeps them); a task that declares neither is only forgotten.
 * Each undo step, once it succeeds, records the task gone in the state (a prune step forgets the
 * orphans it deleted), so an interrupted destroy, run again, continues with what is left. A step
 * that fails keeps everything it needs (the scheduler blocks them); the rest still goes.
 */
import { buildGraph, selectNodes, type Graph, type GraphNode } from '../engine/graph.ts';
import type { Json } from '../engine/json.ts';
import { removeOutputs } from '../engine/outputs.ts';
import { Redactor } from '../engine/redact.ts';
import { runGraph } from '../engine/scheduler.ts';
import type { Sealer } from '../engine/sealer.ts';
import { depsMap, StateStore } from '../engine/state-store.ts';
import { task, type Task, type TaskContext } from '../engine/task.ts';
import { undoOf, type Undo, type UndoContext, type UndoPreview } from '../engine/undo.ts';
import { deleteApplied, deletionOrder, describeApplied, isApplied, objectIdentity, undoApplied, type AppliedObject } from '../k8s/applied.ts';
import { kubeClient } from '../k8s/task-helpers.ts';
import type { PruneReason, ReportedEvent, UndoCommand, UndoFailure, UndoSummary } from '../reporters/events.ts';

/** One task to undo. */
export interface UndoStep {
	name: string;
	/** The task in the graph; absent for a task the state knows that is no longer in it. */
	node?: GraphNode;
	/** What undoing it does with `previous`; absent: the task is only forgotten. */
	undo?: Undo<unknown>;
	/** Its last success's output (decrypted for a secret task with an undo): what the undo is given. */
	previous: unknown;
	/** The steps that must be undone before this one: those of the tasks that need it. */
	after: string[];
	/** Why a prune step deletes: the task left the graph, or its output no longer lists them. */
	reason?: PruneReason;
	/** The objects a prune step deletes. */
	objects?: AppliedObject[];
}

function outputOf(state: StateStore, name: string): unknown {
	const ok = state.lastSuccess(name);
	return ok?.sealed === undefined ? ok?.output : undefined;
}

/** The tasks the state knows of that the graph no longer has (a component switched off). */
export function staleTasks(graph: Graph, state: StateStore): string[] {
	return [...state.names()].filter(name => !graph.byName.has(name));
}

/**
 * The tasks `nub destroy` takes down: with no target, every task of the graph and every task the
 * state knows that is no longer in it; otherwise the targets (a group stands for what it gathers,
 * and a target nothing depends on, like `all`, for everything it needs) and every task that depends
 * on them, transitively.
 */
export function destroySelection(graph: Graph, state: StateStore, targets: readonly string[]): { nodes: GraphNode[]; stale: string[] } {
	if (targets.length === 0) return { nodes: [...graph.nodes], stale: staleTasks(graph, state) };
	const stack: GraphNode[] = [];
	for (const name of targets) {
		const target = graph.byName.get(name)!;
		stack.push(target);
		// `nub destroy all` takes down what `nub run all` made.
		if (target.dependents.length === 0) for (const need of selectNodes(graph, [name])) stack.push(need);
	}
	// A group's own step does nothing: it stands for the tasks it gathers (as with --force).
	const seen = new Set<GraphNode>();
	const roots: GraphNode[] = [];
	while (stack.length > 0) {
		const node = stack.pop()!;
		if (seen.has(node)) continue;
		seen.add(node);
		roots.push(node);
		if (node.task.isGroup) stack.push(...node.needs);
	}
	const wanted = new Set<GraphNode>();
	const dependents = [...roots];
	while (dependents.length > 0) {
		const node = dependents.pop()!;
		if (wanted.has(node)) continue;
		wanted.add(node);
		dependents.push(...node.dependents);
	}
	return { nodes: graph.nodes.filter(node => wanted.has(node)), stale: [] };
}

/**
 * The steps in the order the undo graph allows and `--dry-run` lists them: each after the steps it
 * waits for (see `needsOf`), as soon as they are listed.
 */
function undoOrder(steps: readonly UndoStep[]): UndoStep[] {
	const needs = needsOf(steps);
	const byName = new Map(steps.map(step => [step.name, step]));
	const waiting = new Map(steps.map(step => [step.name, needs.get(step.name)!.length]));
	const waiters = new Map<string, UndoStep[]>();
	for (const step of steps) {
		for (const need of needs.get(step.name)!) {
			const list = waiters.get(need);
			if (list) list.push(step);
			else waiters.set(need, [step]);
		}
	}
	const order = steps.filter(step => waiting.get(step.name) === 0);
	for (let i = 0; i < order.length; i++) {
		for (const waiter of waiters.get(order[i]!.name) ?? []) {
			const left = waiting.get(waiter.name)! - 1;
			waiting.set(waiter.name, left);
			if (left === 0) order.push(byName.get(waiter.name)!);
		}
	}
	return order;
}

/** Tasks no longer in the graph, those that needed others first (by the needs their records name). */
function staleOrder(state: StateStore, names: readonly string[]): string[] {
	const set = new Set(names);
	const order: string[] = [];
	const visited = new Set<string>();
	// Depth first over what each needs: a task comes after its needs; reversed, before them.
	const visit = (name: string) => {
		if (visited.has(name)) return;
		visited.add(name);
		for (const need of recordedNeeds(state, name)) if (set.has(need)) visit(need);
		order.push(name);
	};
	for (const name of [...names].sort()) visit(name);
	return order.reverse();
}

function recordedNeeds(state: StateStore, name: string): string[] {
	return Object.keys(depsMap(state.lastSuccess(name)?.deps ?? ''));
}

/**
 * Links the steps: a task is undone after every task that needs it. In the graph, through tasks
 * that have no step (never ran, or already gone); for a task that left it, by the needs its record
 * names. Tasks that left the graph come first in the list.
 */
function link(steps: UndoStep[], state: StateStore): UndoStep[] {
	const byName = new Map(steps.map(step => [step.name, step]));
	for (const step of steps) {
		if (step.node) {
			const seen = new Set<GraphNode>();
			const stack = [...step.node.dependents];
			while (stack.length > 0) {
				const dependent = stack.pop()!;
				if (seen.has(dependent)) continue;
				seen.add(dependent);
				if (byName.has(dependent.name)) step.after.push(dependent.name);
				else stack.push(...dependent.dependents);
			}
		} else {
			for (const need of recordedNeeds(state, step.name)) byName.get(need)?.after.push(step.name);
		}
	}
	return steps;
}

/**
 * The steps of `nub destroy` for a selection, in the order `--dry-run` lists them: tasks no longer
 * in the graph first (what they recorded, when it is an apply task's record, is deleted), then the
 * graph's, each after what it waits for (see `undoOrder`). A task the state does not know has no
 * step: nothing to undo.
 */
export function destroySteps(state: StateStore, selection: { nodes: readonly GraphNode[]; stale: readonly string[] }, open: (name: string) => unknown): UndoStep[] {
	const steps: UndoStep[] = [];
	for (const name of staleOrder(state, selection.stale)) {
		const previous = outputOf(state, name);
		steps.push({ name, ...(isApplied(previous) ? { undo: undoApplied as Undo<unknown> } : {}), previous, after: [] });
	}
	// The reverse of the graph's order: every task after all that depend on it.
	for (const node of [...selection.nodes].reverse()) {
		if (state.get(node.name) === undefined) continue;
		const ok = state.lastSuccess(node.name);
		// What a success did is undone; a task that only ever failed is forgotten.
		const undo = ok ? withOwnOutputs(node.task, undoOf(node.task)) : undefined;
		const previous = ok === undefined ? undefined : ok.sealed === undefined ? ok.output : undo ? open(node.name) : undefined;
		steps.push({ name: node.name, node, ...(undo ? { undo } : {}), previous, after: [] });
	}
	return undoOrder(link(steps, state));
}

/**
 * A task's undo with its declared output files deleted first: they are the task's own, unless it
 * says `keep: true`. A task with no undo of its own then has this one.
 */
function withOwnOutputs(task: Task<unknown>, undo: Undo<unknown> | undefined): Undo<unknown> | undefined {
	const outputs = task.outputs;
	if (!outputs || outputs.keep) return undo;
	return {
		...(undo?.first ? { first: true } : {}),
		describe: previous => {
			const own = describeUndo(undo, previous);
			return { steps: [...outputs.files.map(path => `delete ${path}`), ...own.steps], objects: own.objects, files: outputs.files.length + (own.files ?? 0) };
		},
		run: async (previous, context) => {
			for (const { path, removed } of removeOutputs(outputs.files, context.root)) context.removed(path, removed ? 'deleted' : 'absent');
			if (undo) await undo.run(previous, context);
		},
	};
}

/**
 * What `nub run --prune` would delete: the objects of tasks no longer in the graph, and the orphans
 * of tasks still in it (objects an earlier run applied that the last one did not), except any
 * object a task of the graph still lists as its own (moved from one task to another).
 */
export function pruneSteps(graph: Graph, state: StateStore): UndoStep[] {
	if (!mayPrune(graph, state)) return [];
	const owned = new Set<string>();
	for (const node of graph.nodes) {
		const output = outputOf(state, node.name);
		if (isApplied(output)) for (const object of output.objects) owned.add(objectIdentity(object));
	}
	const unowned = (objects: AppliedObject[]) => deletionOrder(objects.filter(object => !owned.has(objectIdentity(object))));
	const steps: UndoStep[] = [];
	const prune = (name: string, node: GraphNode | undefined, previous: unknown, objects: AppliedObject[], reason: PruneReason) => {
		steps.push({ name, ...(node ? { node } : {}), undo: deletion(objects), previous, after: [], reason, objects });
	};
	for (const name of staleOrder(state, staleTasks(graph, state))) {
		const previous = outputOf(state, name);
		if (!isApplied(previous)) continue;
		const doomed = unowned([...previous.objects, ...(previous.orphans ?? [])]);
		if (doomed.length > 0) prune(name, undefined, previous, doomed, 'no longer in the graph');
	}
	for (const node of [...graph.nodes].reverse()) {
		const previous = outputOf(state, node.name);
		if (!isApplied(previous) || !previous.orphans?.length) continue;
		prune(node.name, node, previous, unowned(previous.orphans), 'no longer applied');
	}
	return link(steps, state);
}

/**
 * Whether anything could need pruning: a task of the state left the graph, or an output lists
 * orphans. Every run asks, a cached no-op too: it reads what the state holds, building no steps.
 */
function mayPrune(graph: Graph, state: StateStore): boolean {
	for (const name of state.names()) if (!graph.byName.has(name)) return true;
	const nodes = graph.nodes;
	for (let i = 0; i < nodes.length; i++) {
		const output = outputOf(state, nodes[i]!.name) as { orphans?: unknown } | null | undefined;
		if (typeof output === 'object' && output !== null && Array.isArray(output.orphans) && output.orphans.length > 0) return true;
	}
	return false;
}

/** The undo of a prune step: these objects deleted, whatever the task's output. */
function deletion(objects: readonly AppliedObject[]): Undo<unknown> {
	return {
		describe: () => ({ steps: objects.map(object => `delete ${describeApplied(object)}`), objects: objects.length }),
		run: async (_previous, context) => {
			if (objects.length > 0) await deleteApplied(await kubeClient(context), objects, context);
		},
	};
}

/**
 * What an undo logs, fails with or describes may quote its task's secret output (decrypted from
 * the state): each is redacted as the run redacts the task's own output.
 */
export function redactorOf(steps: readonly UndoStep[]): Redactor {
	const redactor = new Redactor();
	for (const step of steps) if (step.node?.task.redactsOutput && step.previous !== undefined) redactor.add(step.previous);
	return redactor;
}

/** What undoing a step would do, for the dry run, redacted by `redactor` (redactorOf the steps). */
export function previewOf(step: UndoStep, redactor: Redactor): Required<UndoPreview> {
	const preview = describeUndo(step.undo, step.previous);
	return { steps: preview.steps.map(line => redactor.redact(line)), objects: preview.objects, files: preview.files ?? 0 };
}

/** What an undo says it would do; one that does not say is `its undo`; none does nothing. */
function describeUndo(undo: Undo<unknown> | undefined, previous: unknown): UndoPreview {
	if (!undo) return { steps: [], objects: 0 };
	return undo.describe?.(previous) ?? { steps: ['its undo'], objects: 0 };
}

/** After a destroy step: the task is gone from the state. */
export function recordDestroyed(state: StateStore, step: UndoStep): void {
	state.recordGone(step.name);
}

/** After a prune step: a stale task is gone; a task of the graph forgets its orphans. */
export function recordPruned(state: StateStore, step: UndoStep): void {
	if (!step.node) {
		state.recordGone(step.name);
		return;
	}
	const { orphans: _orphans, ...rest } = step.previous as Record<string, Json>;
	state.replaceOutput(step.name, rest as Json);
}

/** What `runUndo` needs. */
export interface UndoOptions {
	command: UndoCommand;
	steps: readonly UndoStep[];
	/** Records a step done, in the real state (the scheduler records the undo run in memory only). */
	record(step: UndoStep): void;
	root: string;
	jobs: number;
	signal: AbortSignal;
	sealer: Sealer;
	/** Adds the CLI's services (the cluster) to each undo's context. */
	extendContext: (context: TaskContext) => TaskContext;
	emit(event: ReportedEvent): void;
}

/**
 * Runs the undo graph of `steps` on the scheduler, keeping going past failures, and reports it as
 * undo events: what the scheduler says of a task is said of its undo. Returns the summary (also
 * emitted as the last event).
 */
export async function runUndo(options: UndoOptions): Promise<UndoSummary> {
	const { command, emit } = options;
	const redactor = redactorOf(options.steps);
	const byName = new Map(options.steps.map(step => [step.name, step]));
	const needs = needsOf(options.steps);
	const tasks = new Map<string, Task<null>>();
	for (const step of options.steps) {
		tasks.set(
			step.name,
			task({
				name: step.name,
				needs: () => Object.fromEntries(needs.get(step.name)!.map(name => [name, tasks.get(name)!])),
				run: async (_inputs, context) => {
					if (step.undo) await step.undo.run(step.previous, context as UndoContext);
					// Interrupted meanwhile, the scheduler has already counted the step as such and the
					// command may be closing the state: the step is recorded by the next destroy instead.
					context.signal.throwIfAborted();
					options.record(step);
					return null;
				},
			}),
		);
	}
	const graph = buildGraph([...tasks.values()]);
	const objectFailures: UndoFailure[] = [];
	const blocked: Array<{ task: string; by: string }> = [];
	const translate = (event: ReportedEvent) => {
		switch (event.type) {
			case 'task-start':
				return emit({ type: 'undo-start', command, name: event.name });
			case 'task-log':
				return emit({ type: 'undo-log', command, name: event.name, level: event.level, message: event.message });
			case 'task-retry':
				return emit({ type: 'undo-log', command, name: event.name, level: 'warn', message: `attempt ${event.attempt} failed, retrying: ${event.error}` });
			case 'task-end': {
				const outcome = event.outcome === 'succeeded' ? 'done' : event.outcome;
				return emit({ type: 'undo-end', command, name: event.name, outcome, durationMs: event.durationMs, ...(event.error ? { error: event.error.split('\n')[0]! } : {}) });
			}
			case 'task-blocked':
				blocked.push({ task: event.name, by: event.by });
				return emit({ type: 'undo-blocked', command, name: event.name, by: event.by });
			default:
				return;
		}
	};
	const summary = await runGraph({
		nodes: graph.nodes,
		state: StateStore.inMemory(),
		root: options.root,
		jobs: options.jobs,
		keepGoing: true,
		signal: options.signal,
		emit: translate,
		sealer: options.sealer,
		redactor,
		extendContext: context => {
			const removed: UndoContext['removed'] = (what, removal, error) => {
				const message = error === undefined ? undefined : redactor.redact(error);
				if (removal === 'failed') objectFailures.push({ task: context.name, object: what, error: message ?? '' });
				emit({ type: 'undo-object', command, name: context.name, object: what, removal, ...(message !== undefined ? { error: message } : {}) });
			};
			return { ...options.extendContext(context), removed } as UndoContext;
		},
	});
	const errors: UndoFailure[] = [];
	for (const name of summary.failed) {
		const objects = objectFailures.filter(failure => failure.task === name);
		errors.push(...(objects.length > 0 ? objects : [{ task: name, error: summary.errors[name] ?? 'failed' }]));
	}
	const result: UndoSummary = {
		done: summary.succeeded,
		failed: summary.failed,
		blocked,
		interrupted: summary.interrupted.length > 0 || summary.skipped.length > 0 || options.signal.aborted,
		errors,
		objects: summary.succeeded.reduce((sum, name) => sum + previewOf(byName.get(name)!, redactor).objects, 0),
	};
	emit({ type: 'undo-run-end', command, summary: result });
	return result;
}

/**
 * What each step waits for: the steps of the tasks that need it, and a step whose undo says
 * `first`, unless that one waits for it. Each `first` step is worked out after the other over the
 * needs so far, so that no two steps wait for each other.
 */
function needsOf(steps: readonly UndoStep[]): Map<string, string[]> {
	const needs = new Map(steps.map(step => [step.name, [...new Set(step.after)]]));
	for (const first of steps.filter(step => step.undo?.first)) {
		const waitsFor = new Set<string>();
		const stack = [...needs.get(first.name)!];
		while (stack.length > 0) {
			const name = stack.pop()!;
			if (waitsFor.has(name)) continue;
			waitsFor.add(name);
			stack.push(...(needs.get(name) ?? []));
		}
		for (const step of steps) if (step !== first && !waitsFor.has(step.name)) needs.get(step.name)!.push(first.name);
	}
	return needs;
}
