import { NubError } from './errors.ts';
import { didYouMean } from './suggest.ts';
import { isTask, type Task } from './task.ts';

/** One task in a validated graph. */
export interface GraphNode {
	readonly name: string;
	readonly task: Task<unknown>;
	/** Position in the graph's topological order: needs always come first. */
	readonly index: number;
	/** What the task needs: the key its `run` receives the output under, and the node. */
	readonly needs: ReadonlyArray<{ readonly key: string; readonly node: GraphNode }>;
	/** The nodes that need this one. */
	readonly dependents: GraphNode[];
}

/** A validated task graph: no cycles, unique names, every need a task. */
export interface Graph {
	/** Every node, in a deterministic topological order. */
	readonly nodes: readonly GraphNode[];
	readonly byName: ReadonlyMap<string, GraphNode>;
	/** The exported tasks: the targets a user names first. */
	readonly targets: readonly GraphNode[];
}

const validName = /^[A-Za-z0-9][A-Za-z0-9_.:-]*$/;

/**
 * Builds and validates the graph of `roots` and everything they need, transitively. Throws a
 * `graph` NubError naming the task for: a need that is not a task, an invalid or duplicate name,
 * a cycle (printed as `a -> b -> a`). Iterative, so a chain of 100,000 tasks cannot overflow the
 * stack.
 */
export function buildGraph(roots: ReadonlyArray<Task<unknown>>): Graph {
	// By task id: its frame while it is on the DFS stack, then its finished node.
	const seen: Array<Frame | MutableNode | undefined> = [];
	// A name is claimed by a task's frame when the task is first reached; its node replaces it.
	const byName = new Map<string, Frame | MutableNode>();
	const order: MutableNode[] = [];

	const push = (stack: Frame[], task: Task<unknown>) => {
		const frame: Frame = { task, keys: [], needs: [], next: 0 };
		claimName(frame, byName);
		const needs = needsOf(task);
		for (const key of Object.keys(needs)) {
			const need = needs[key];
			if (!isTask(need)) throw new NubError('graph', `task "${task.name}": needs.${key} is not a task (got ${describe(need)})`);
			frame.keys.push(key);
			frame.needs.push(need);
		}
		seen[task.id] = frame;
		stack.push(frame);
	};

	const visit = (root: Task<unknown>) => {
		if (seen[root.id] !== undefined) return;
		const stack: Frame[] = [];
		push(stack, root);
		while (stack.length > 0) {
			const frame = stack[stack.length - 1]!;
			if (frame.next < frame.needs.length) {
				const need = frame.needs[frame.next++]!;
				const state = seen[need.id];
				if (state === undefined) push(stack, need);
				else if (isFrame(state)) throw cycleError(stack.map(f => f.task), need);
				continue;
			}
			stack.pop();
			const needs: Array<{ key: string; node: GraphNode }> = new Array(frame.needs.length);
			const node: MutableNode = { name: frame.task.name, task: frame.task, index: order.length, needs, dependents: [] };
			for (let i = 0; i < frame.needs.length; i++) {
				const need = seen[frame.needs[i]!.id] as MutableNode;
				needs[i] = { key: frame.keys[i]!, node: need };
				need.dependents.push(node);
			}
			seen[frame.task.id] = node;
			byName.set(node.name, node);
			order.push(node);
		}
	};

	for (const root of roots) visit(root);
	for (const node of order) checkForces(node, seen as MutableNode[]);
	const targets = [...new Set(roots)].map(root => seen[root.id] as MutableNode);
	return { nodes: order, byName: byName as Map<string, MutableNode>, targets };
}

/** A task's `forces` must be tasks among what it needs, directly or not. */
function checkForces(node: GraphNode, nodes: ReadonlyArray<GraphNode | undefined>) {
	let forces: ReadonlyArray<unknown>;
	try {
		forces = node.task.forces();
	} catch (error) {
		throw new NubError('graph', `task "${node.name}": computing what it forces failed: ${messageOf(error)}`, { cause: error });
	}
	if (forces.length === 0) return;
	const reachable = new Set<GraphNode>();
	const stack = [...node.needs.map(need => need.node)];
	while (stack.length > 0) {
		const next = stack.pop()!;
		if (reachable.has(next)) continue;
		reachable.add(next);
		for (const need of next.needs) stack.push(need.node);
	}
	forces.forEach((forced, i) => {
		if (!isTask(forced)) throw new NubError('graph', `task "${node.name}": forces[${i}] is not a task (got ${describe(forced)})`);
		const target = nodes[forced.id];
		if (target === undefined || !reachable.has(target)) {
			throw new NubError('graph', `task "${node.name}" forces "${forced.name}", which it does not need: add it to its needs (directly or not)`);
		}
	});
}

/** A task on the DFS stack: its needs, and the next one to visit. */
interface Frame {
	task: Task<unknown>;
	keys: string[];
	needs: Array<Task<unknown>>;
	next: number;
}

function isFrame(value: Frame | MutableNode): value is Frame {
	return (value as Partial<Frame>).next !== undefined;
}

/** The task's needs object, checked to be one. */
function needsOf(owner: Task<unknown>): Record<string, unknown> {
	let needs: unknown;
	try {
		needs = owner.needs();
	} catch (error) {
		throw new NubError('graph', `task "${owner.name}": computing its needs failed: ${messageOf(error)}`, { cause: error });
	}
	if (typeof needs !== 'object' || needs === null || Array.isArray(needs)) {
		throw new NubError('graph', `task "${owner.name}": needs must be an object of tasks, got ${describe(needs)}`);
	}
	return needs as Record<string, unknown>;
}

function claimName(frame: Frame, byName: Map<string, Frame | MutableNode>) {
	const { task } = frame;
	if (typeof task.name !== 'string' || !validName.test(task.name)) {
		throw new NubError('graph', `task name ${JSON.stringify(task.name)} is invalid: use letters, digits, "-", "_", "." and ":"`);
	}
	const owner = byName.get(task.name);
	if (owner !== undefined && owner.task !== task) {
		throw new NubError('graph', `two different tasks are named "${task.name}": task names must be unique`);
	}
	byName.set(task.name, frame);
}

/**
 * The tasks `names` denote and everything they need, in topological order. Unknown names fail
 * with a suggestion. Any task of the graph can be named, not only the exported ones.
 */
export function selectNodes(graph: Graph, names: readonly string[]): GraphNode[] {
	const wanted = new Uint8Array(graph.nodes.length);
	const stack: GraphNode[] = [];
	for (const name of names) {
		const node = graph.byName.get(name);
		if (!node) {
			const known = [...graph.targets.map(t => t.name), ...graph.byName.keys()];
			throw new NubError('usage', `unknown target "${name}"${didYouMean(name, known)}; \`nub list\` shows the targets`);
		}
		stack.push(node);
	}
	while (stack.length > 0) {
		const node = stack.pop()!;
		if (wanted[node.index]) continue;
		wanted[node.index] = 1;
		for (const need of node.needs) if (!wanted[need.node.index]) stack.push(need.node);
	}
	return graph.nodes.filter(node => wanted[node.index] === 1);
}

type MutableNode = GraphNode & { dependents: GraphNode[] };

function cycleError(path: Array<Task<unknown>>, back: Task<unknown>): NubError {
	const start = path.indexOf(back);
	const names = [...path.slice(start), back].map(t => t.name);
	return new NubError('graph', `dependency cycle: ${names.join(' -> ')}`);
}

function describe(value: unknown): string {
	if (value === null) return 'null';
	if (Array.isArray(value)) return 'an array';
	if (typeof value === 'object') return `an object with keys ${JSON.stringify(Object.keys(value as object))}`;
	if (typeof value === 'string') return `the string ${JSON.stringify(value)}`;
	return `${typeof value} ${String(value)}`;
}

/** The message of a thrown value, whatever was thrown. */
export function messageOf(error: unknown): string {
	if (error instanceof Error) return error.message;
	return `non-Error value thrown: ${describe(error)}`;
}

/**
 * The tasks `--force` reruns for the named targets: the targets themselves and, for a group
 * target (one with no `run`), the tasks it gathers, through nested groups. So `nub run prepuller
 * --force` reruns the prepuller's tasks, not the group's empty step nor what the tasks need.
 * Without `--force` (`force: false`), only what the targets' `forces` name.
 */
export function forcedTasks(graph: Graph, names: readonly string[], options: { force: boolean } = { force: true }): Set<string> {
	const forced = new Set<string>();
	const named = names.map(name => graph.byName.get(name)).filter(node => node !== undefined);
	const stack = options.force ? [...named] : [];
	// A target's `forces` rerun whenever it is named, --force or not.
	for (const node of named) for (const task of node.task.forces() as Array<Task<unknown>>) stack.push(graph.byName.get(task.name)!);
	while (stack.length > 0) {
		const node = stack.pop()!;
		if (forced.has(node.name)) continue;
		forced.add(node.name);
		if (node.task.isGroup) for (const need of node.needs) stack.push(need.node);
	}
	return forced;
}
