import { NubError } from './errors.ts';
import { outputPathProblem } from './outputs.ts';
import { didYouMean } from './suggest.ts';
import { declaredTasks, isTask, type Task } from './task.ts';

/** One task in a validated graph. */
export interface GraphNode {
	readonly name: string;
	readonly task: Task<unknown>;
	/** Position in the graph's topological order: needs always come first. */
	readonly index: number;
	/** What the task needs, in the order of its needs object. */
	readonly needs: readonly GraphNode[];
	/** The key its `run` receives each of `needs`' output under: `needKeys[i]` for `needs[i]`. */
	readonly needKeys: readonly string[];
	/** The nodes that need this one, in topological order. */
	readonly dependents: readonly GraphNode[];
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
 *
 * This runs once per task, mostly before V8 has optimized it: loops are indexed (a `for...of`
 * costs an iterator step per element until then) and arrays are made at their final size.
 */
export function buildGraph(roots: ReadonlyArray<Task<unknown>>): Graph {
	// By task id: its node, from when the task is first reached; its index is -1 until it is done.
	// Sized up front: a store far past the end of an array (the target, declared last, is reached
	// first) would turn it into a slow dictionary.
	const seen: Array<MutableNode | undefined> = new Array(declaredTasks());
	const byName = new Map<string, MutableNode>();
	const order: MutableNode[] = [];
	// The DFS stack as parallel arrays, which allocate nothing per task: the node, the tasks it
	// needs and the position of the next one to visit.
	const stack: MutableNode[] = [];
	const stackNeeds: Array<unknown[]> = [];
	const stackNext: number[] = [];

	const push = (task: Task<unknown>) => {
		claimName(task, byName);
		const needs = needsOf(task);
		const keys = Object.keys(needs);
		const tasks = Object.values(needs);
		for (let i = 0; i < tasks.length; i++) {
			const need = tasks[i];
			if (!isTask(need)) throw new NubError('graph', `task "${task.name}": needs.${keys[i]} is not a task (got ${describe(need)})`);
		}
		if (task.outputs) checkOutputPaths(task);
		const node: MutableNode = { name: task.name, task, index: -1, needs: new Array(tasks.length), needKeys: keys, dependents: none };
		seen[task.id] = node;
		byName.set(task.name, node);
		stack.push(node);
		stackNeeds.push(tasks);
		stackNext.push(0);
	};

	const visit = (root: Task<unknown>) => {
		if (seen[root.id] !== undefined) return;
		push(root);
		while (stack.length > 0) {
			const top = stack.length - 1;
			const node = stack[top]!;
			const next = stackNext[top]!;
			if (next < node.needs.length) {
				const need = stackNeeds[top]![next] as Task<unknown>;
				const needNode = seen[need.id];
				if (needNode === undefined) {
					push(need);
				} else if (needNode.index === -1) {
					throw cycleError(stack.map(n => n.task), need);
				} else {
					node.needs[next] = needNode;
					stackNext[top] = next + 1;
				}
				continue;
			}
			stack.pop();
			stackNeeds.pop();
			stackNext.pop();
			node.index = order.length;
			order.push(node);
		}
	};

	for (let i = 0; i < roots.length; i++) visit(roots[i]!);
	linkDependents(order);
	for (let i = 0; i < order.length; i++) checkForces(order[i]!, seen as MutableNode[]);
	const targets = [...new Set(roots)].map(root => seen[root.id] as MutableNode);
	return { nodes: order, byName, targets };
}

const none: readonly GraphNode[] = Object.freeze([]);

/** Declared outputs are deleted by destroy and --force: each must be a path inside the project. */
function checkOutputPaths(task: Task<unknown>) {
	const files = task.outputs!.files;
	for (let i = 0; i < files.length; i++) {
		const problem = outputPathProblem(files[i]);
		if (problem) throw new NubError('graph', `task "${task.name}": outputs.files[${i}] ${JSON.stringify(files[i])} ${problem}`);
	}
}

/**
 * Fills in `dependents` once every node is known, each array allocated at its final size (one
 * grown by `push` reserves 17 slots for its first element) and in topological order.
 */
function linkDependents(order: readonly MutableNode[]) {
	const counts = new Uint32Array(order.length);
	for (let i = 0; i < order.length; i++) {
		const needs = order[i]!.needs;
		for (let j = 0; j < needs.length; j++) counts[needs[j]!.index]!++;
	}
	for (let i = 0; i < order.length; i++) if (counts[i]! > 0) order[i]!.dependents = new Array(counts[i]);
	counts.fill(0);
	for (let i = 0; i < order.length; i++) {
		const needs = order[i]!.needs;
		for (let j = 0; j < needs.length; j++) {
			const need = needs[j]!;
			(need.dependents as GraphNode[])[counts[need.index]!++] = order[i]!;
		}
	}
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
	const stack = [...node.needs];
	while (stack.length > 0) {
		const next = stack.pop()!;
		if (reachable.has(next)) continue;
		reachable.add(next);
		for (const need of next.needs) stack.push(need);
	}
	forces.forEach((forced, i) => {
		if (!isTask(forced)) throw new NubError('graph', `task "${node.name}": forces[${i}] is not a task (got ${describe(forced)})`);
		const target = nodes[forced.id];
		if (target === undefined || !reachable.has(target)) {
			throw new NubError('graph', `task "${node.name}" forces "${forced.name}", which it does not need: add it to its needs (directly or not)`);
		}
	});
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

/** Checks the task's name, that no other task has it, and that its secret files are inputs. */
function claimName(task: Task<unknown>, byName: ReadonlyMap<string, MutableNode>) {
	if (typeof task.name !== 'string' || !validName.test(task.name)) {
		throw new NubError('graph', `task name ${JSON.stringify(task.name)} is invalid: use letters, digits, "-", "_", "." and ":"`);
	}
	const owner = byName.get(task.name);
	if (owner !== undefined && owner.task !== task) {
		throw new NubError('graph', `two different tasks are named "${task.name}": task names must be unique`);
	}
	// A secret file that is not an input would be neither hashed nor keyed: a mistake to say now.
	const stray = task.inputs.secretFiles?.find(path => !task.inputs.files?.includes(path));
	if (stray !== undefined) throw new NubError('graph', `task "${task.name}": inputs.secretFiles names "${stray}", which is not in inputs.files`);
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
		const needs = node.needs;
		for (let i = 0; i < needs.length; i++) if (!wanted[needs[i]!.index]) stack.push(needs[i]!);
	}
	return graph.nodes.filter(node => wanted[node.index] === 1);
}

/** A node while the graph is built. */
interface MutableNode extends GraphNode {
	index: number;
	readonly needs: GraphNode[];
	dependents: readonly GraphNode[];
}

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

/**
 * A thrown value that is not an Error, wrapped for what wants Errors (p-retry, `cause` chains).
 * Its message is made from the value only when it is shown (messageOf), so that it is redacted
 * whole before it is cut: cut first, a secret's start would escape the redactor.
 */
export class NonErrorThrown extends Error {
	override readonly name = 'NonErrorThrown';
	constructor(readonly value: unknown) {
		super('non-Error value thrown', { cause: value });
	}
}

/**
 * The message of a thrown value, whatever was thrown: an object shows its contents (as JSON, cut
 * to 300 characters). `redact` is applied to the whole text before any cut.
 */
export function messageOf(error: unknown, redact: (text: string) => string = text => text): string {
	if (error instanceof NonErrorThrown) return messageOf(error.value, redact);
	if (error instanceof Error) return redact(error.message);
	if (typeof error === 'object' && error !== null && !Array.isArray(error)) {
		let json: string | undefined;
		try {
			json = JSON.stringify(error);
		} catch {
			json = undefined;
		}
		if (json !== undefined) {
			const shown = redact(json);
			return `non-Error value thrown: ${shown.length > 300 ? `${shown.slice(0, 297)}...` : shown}`;
		}
	}
	return `non-Error value thrown: ${redact(describe(error))}`;
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
		if (node.task.isGroup) for (const need of node.needs) stack.push(need);
	}
	return forced;
}

/** The length of a table indexed by `GraphNode.index` that holds every one of `nodes`. */
export function indexBound(nodes: readonly GraphNode[]): number {
	let size = 0;
	for (let i = 0; i < nodes.length; i++) size = Math.max(size, nodes[i]!.index + 1);
	return size;
}
