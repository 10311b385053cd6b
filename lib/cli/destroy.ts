/**
 * Taking down what tasks made: `nub destroy` (every task of a selection, dependents first) and
 * `nub run --prune` (objects an earlier run applied that nothing produces any more). Both work
 * from what the state recorded: a task's objects are those its last output lists (an `Applied`
 * output: `{ objects: [{ apiVersion, kind, name, namespace? }], orphans?: [...] }`).
 *
 * For each task, in order: its undo (if it declares one), then its objects deleted in the reverse
 * of their apply order (namespaced ones, then cluster-scoped ones, Namespaces last), then a wait
 * until each is gone, before the next task: pods that mount NFS are gone before the fileserver
 * goes. A task fully undone is recorded (`gone`, or its orphans forgotten), so an interrupted
 * destroy, run again, continues with what is left.
 */
import { messageOf, selectNodes, type Graph, type GraphNode } from '../engine/graph.ts';
import type { Json } from '../engine/json.ts';
import type { StateStore } from '../engine/state-store.ts';
import { depsMap } from '../engine/state-store.ts';
import type { Logger, TaskContext } from '../engine/task.ts';
import { undoOf, type Undo } from '../engine/undo.ts';
import type { Kube } from '../k8s/client.ts';
import { applyOrder, describeObject } from '../k8s/objects.ts';

/** An object as a task's output records it. */
export interface RecordedObject {
	apiVersion: string;
	kind: string;
	name: string;
	namespace?: string;
}

/** One task to undo, with what to delete, in order. */
export interface Step {
	name: string;
	/** The task in the graph; absent for a task the state knows that is no longer in it. */
	node?: GraphNode;
	/** The objects to delete, in deletion order. */
	objects: RecordedObject[];
	/** Its undo, if it declares one. */
	undo?: Undo;
	/** Its last recorded output (what the undo is given). */
	previous: unknown;
	/** The names of what it needs (those are not undone when it fails). */
	needs: readonly string[];
	/** Why a prune step deletes: the task left the graph, or its output no longer lists them. */
	reason?: 'no longer in the graph' | 'no longer applied';
}

/** `Deployment nublado/hub`. */
export function describeRecorded(object: RecordedObject): string {
	return describeObject({ kind: object.kind, metadata: { name: object.name, ...(object.namespace ? { namespace: object.namespace } : {}) } });
}

/** The same object whatever the version it was applied under. */
export function objectIdentity(object: RecordedObject): string {
	const slash = object.apiVersion.indexOf('/');
	return `${slash === -1 ? '' : object.apiVersion.slice(0, slash)}/${object.kind}/${object.namespace ?? ''}/${object.name}`;
}

function recordedList(value: unknown): RecordedObject[] {
	if (!Array.isArray(value)) return [];
	return value.filter(
		(item): item is RecordedObject =>
			typeof item === 'object' && item !== null && typeof item.apiVersion === 'string' && typeof item.kind === 'string' && typeof item.name === 'string' && (item.namespace === undefined || typeof item.namespace === 'string'),
	);
}

/** What an output records: its applied objects and its orphans (none for any other output). */
export function recordedObjects(output: unknown): { objects: RecordedObject[]; orphans: RecordedObject[] } {
	if (typeof output !== 'object' || output === null || Array.isArray(output)) return { objects: [], orphans: [] };
	const applied = output as { objects?: unknown; orphans?: unknown };
	return { objects: recordedList(applied.objects), orphans: recordedList(applied.orphans) };
}

/** The reverse of the order they were applied in: namespaced, then cluster-scoped, Namespaces last. */
export function deletionOrder(objects: readonly RecordedObject[]): RecordedObject[] {
	const unique = new Map<string, RecordedObject>();
	for (const object of objects) if (!unique.has(objectIdentity(object))) unique.set(objectIdentity(object), object);
	return applyOrder([...unique.values()]).reverse();
}

function outputOf(state: StateStore, name: string): unknown {
	const ok = state.lastSuccess(name);
	return ok?.sealed === undefined ? ok?.output : undefined;
}

/**
 * The tasks `nub destroy` takes down: with no target, every task of the graph and every task the
 * state knows that is no longer in it; otherwise the targets (a group stands for what it gathers,
 * and a target nothing depends on, like `all`, for everything it needs) and every task that depends
 * on them, transitively.
 */
export function destroySelection(graph: Graph, state: StateStore, targets: readonly string[]): { nodes: GraphNode[]; stale: string[] } {
	if (targets.length === 0) return { nodes: [...graph.nodes], stale: staleTasks(graph, state) };
	const wanted = new Set<GraphNode>();
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
	const dependents = [...roots];
	while (dependents.length > 0) {
		const node = dependents.pop()!;
		if (wanted.has(node)) continue;
		wanted.add(node);
		dependents.push(...node.dependents);
	}
	return { nodes: graph.nodes.filter(node => wanted.has(node)), stale: [] };
}

/** The tasks the state knows of that the graph no longer has (a component switched off). */
/**
 * Whether anything could need pruning: a task of the state left the graph, or an output lists
 * orphans. Decided without allocating, since every run asks (a 10,000-task no-op included).
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

export function staleTasks(graph: Graph, state: StateStore): string[] {
	return [...state.names()].filter(name => !graph.byName.has(name));
}

/**
 * The order to take tasks down in: every task after all that depend on it (the reverse of the
 * graph's order), and a task whose undo says `first` as early as that allows.
 */
export function destroyOrder(nodes: readonly GraphNode[]): GraphNode[] {
	const selected = new Set(nodes);
	const waiting = new Map<GraphNode, number>();
	for (const node of nodes) waiting.set(node, node.dependents.filter(dependent => selected.has(dependent)).length);
	const firsts = nodes.filter(node => undoOf(node.task)?.first);
	const done = new Set<GraphNode>();
	const order: GraphNode[] = [];
	const finish = (node: GraphNode) => {
		done.add(node);
		order.push(node);
		for (const need of node.needs) if (selected.has(need)) waiting.set(need, waiting.get(need)! - 1);
	};
	const hoist = () => {
		for (let again = true; again; ) {
			again = false;
			for (const node of firsts) {
				if (!done.has(node) && waiting.get(node) === 0) {
					finish(node);
					again = true;
				}
			}
		}
	};
	for (let i = nodes.length - 1; i >= 0; i--) {
		hoist();
		if (!done.has(nodes[i]!)) finish(nodes[i]!);
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
		for (const need of Object.keys(depsMap(state.lastSuccess(name)?.deps ?? ''))) if (set.has(need)) visit(need);
		order.push(name);
	};
	for (const name of [...names].sort()) visit(name);
	return order.reverse();
}

function needsOf(state: StateStore, name: string, node: GraphNode | undefined): string[] {
	return node ? node.needs.map(need => need.name) : Object.keys(depsMap(state.lastSuccess(name)?.deps ?? ''));
}

/** The steps of `nub destroy` for a selection, in order: tasks no longer in the graph first. */
export function destroySteps(state: StateStore, selection: { nodes: readonly GraphNode[]; stale: readonly string[] }, open: (name: string) => unknown): Step[] {
	const steps: Step[] = [];
	for (const name of staleOrder(state, selection.stale)) {
		const previous = outputOf(state, name);
		const { objects, orphans } = recordedObjects(previous);
		steps.push({ name, objects: deletionOrder([...objects, ...orphans]), previous, needs: needsOf(state, name, undefined) });
	}
	for (const node of destroyOrder(selection.nodes)) {
		if (state.get(node.name) === undefined) continue; // never ran (or already gone): nothing to undo
		const undo = undoOf(node.task);
		const ok = state.lastSuccess(node.name);
		const previous = ok === undefined ? undefined : ok.sealed === undefined ? ok.output : undo ? open(node.name) : undefined;
		const { objects, orphans } = recordedObjects(previous);
		steps.push({ name: node.name, node, objects: deletionOrder([...objects, ...orphans]), ...(undo ? { undo } : {}), previous, needs: needsOf(state, node.name, node) });
	}
	return steps;
}

/**
 * What `nub run --prune` would delete: the objects of tasks no longer in the graph, and the orphans
 * of tasks still in it (objects an earlier run applied that the last one did not), except any
 * object a task of the graph still lists as its own (moved from one task to another).
 */
export function pruneSteps(graph: Graph, state: StateStore): Step[] {
	if (!mayPrune(graph, state)) return [];
	const owned = new Set<string>();
	for (const node of graph.nodes) for (const object of recordedObjects(outputOf(state, node.name)).objects) owned.add(objectIdentity(object));
	const unowned = (objects: RecordedObject[]) => deletionOrder(objects.filter(object => !owned.has(objectIdentity(object))));
	const steps: Step[] = [];
	for (const name of staleOrder(state, staleTasks(graph, state))) {
		const previous = outputOf(state, name);
		const { objects, orphans } = recordedObjects(previous);
		const doomed = unowned([...objects, ...orphans]);
		if (doomed.length > 0) steps.push({ name, objects: doomed, previous, needs: needsOf(state, name, undefined), reason: 'no longer in the graph' });
	}
	for (const node of [...graph.nodes].reverse()) {
		const previous = outputOf(state, node.name);
		const { orphans } = recordedObjects(previous);
		if (orphans.length === 0) continue;
		steps.push({ name: node.name, node, objects: unowned(orphans), previous, needs: needsOf(state, node.name, node), reason: 'no longer applied' });
	}
	return steps;
}

/** After a prune step: the stale task is gone; a task of the graph forgets its orphans. */
export function recordPruned(state: StateStore, step: Step): void {
	if (!step.node) {
		state.recordGone(step.name);
		return;
	}
	const { orphans: _orphans, ...rest } = step.previous as Record<string, Json>;
	state.replaceOutput(step.name, rest as Json);
}

/** What happened to one object. */
export type ObjectAction = 'deleted' | 'absent' | 'failed';

/** One failure: the task, the object (none for its undo) and the error's first line. */
export interface StepFailure {
	task: string;
	object?: string;
	error: string;
}

export interface ExecuteOptions {
	steps: readonly Step[];
	kube: () => Promise<Kube>;
	/** The context the undo of a task gets, besides its own fields (the cluster, as for a task). */
	extendContext: (context: TaskContext) => TaskContext;
	root: string;
	signal: AbortSignal;
	/** How long to wait for one object to be gone. */
	timeoutMs?: number;
	log(task: string, line: string): void;
	object(task: string, object: RecordedObject, action: ObjectAction, error?: string): void;
	/** The task is fully undone: record it. */
	done(step: Step): void;
}

export interface ExecuteResult {
	done: string[];
	failures: StepFailure[];
	/** Tasks not undone because a task that needs them failed. */
	blocked: Array<{ task: string; by: string }>;
	interrupted: boolean;
}

/**
 * Takes the steps down one task after the other, keeping going past failures: a task that failed
 * keeps what it needs (the fileserver stays while a lab that mounts it could not be deleted), and
 * everything else goes. Stops between objects when `signal` is aborted.
 */
export async function executeSteps(options: ExecuteOptions): Promise<ExecuteResult> {
	const result: ExecuteResult = { done: [], failures: [], blocked: [], interrupted: false };
	const blockedBy = new Map<string, string>();
	const needsByName = new Map(options.steps.map(step => [step.name, step.needs]));
	const block = (name: string, by: string) => {
		const stack = [...(needsByName.get(name) ?? [])];
		while (stack.length > 0) {
			const need = stack.pop()!;
			if (blockedBy.has(need)) continue;
			blockedBy.set(need, by);
			stack.push(...(needsByName.get(need) ?? []));
		}
	};
	for (const step of options.steps) {
		if (options.signal.aborted) {
			result.interrupted = true;
			break;
		}
		const by = blockedBy.get(step.name);
		if (by !== undefined) {
			result.blocked.push({ task: step.name, by });
			continue;
		}
		const failures = await executeStep(step, options);
		if (options.signal.aborted) {
			result.interrupted = true;
			break;
		}
		if (failures.length > 0) {
			result.failures.push(...failures);
			block(step.name, step.name);
		} else {
			options.done(step);
			result.done.push(step.name);
		}
	}
	return result;
}

async function executeStep(step: Step, options: ExecuteOptions): Promise<StepFailure[]> {
	const failures: StepFailure[] = [];
	const log = (line: string) => options.log(step.name, line);
	if (step.undo) {
		const logger: Logger = { info: log, warn: log, debug: () => {} };
		const base: TaskContext = { name: step.name, signal: options.signal, log: logger, root: options.root, attempt: 1, previous: step.previous, retried: log };
		try {
			await step.undo.run(step.previous, options.extendContext(base));
		} catch (error) {
			if (options.signal.aborted) return failures;
			failures.push({ task: step.name, error: firstLine(messageOf(error)) });
		}
	}
	if (step.objects.length === 0) return failures;
	const cluster = await options.kube();
	const call = { signal: options.signal, log, onRetry: log };
	const deleted: RecordedObject[] = [];
	for (const object of step.objects) {
		if (options.signal.aborted) return failures;
		try {
			const existed = await cluster.deleteWith(refOf(object), { propagationPolicy: 'Foreground' }, { ...call, log: () => {} });
			options.object(step.name, object, existed ? 'deleted' : 'absent');
			if (existed) deleted.push(object);
		} catch (error) {
			if (options.signal.aborted) return failures;
			const message = firstLine(messageOf(error));
			options.object(step.name, object, 'failed', message);
			failures.push({ task: step.name, object: describeRecorded(object), error: message });
		}
	}
	// Gone, not only being deleted, before the next task: what it owned (pods) with it.
	for (const object of deleted) {
		try {
			await cluster.waitForGone(refOf(object), { ...call, timeoutMs: options.timeoutMs ?? (object.kind === 'Namespace' ? 600_000 : 300_000) });
		} catch (error) {
			if (options.signal.aborted) return failures;
			const message = firstLine(messageOf(error));
			options.object(step.name, object, 'failed', message);
			failures.push({ task: step.name, object: describeRecorded(object), error: message });
		}
	}
	return failures;
}

function refOf(object: RecordedObject) {
	return { apiVersion: object.apiVersion, kind: object.kind, metadata: { name: object.name, ...(object.namespace ? { namespace: object.namespace } : {}) } };
}

function firstLine(text: string): string {
	return text.split('\n')[0]!;
}
