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
	const byTask = new Map<Task<unknown>, MutableNode>();
	const byName = new Map<string, MutableNode>();
	const order: MutableNode[] = [];
	// 0: unseen, 1: on the DFS stack, 2: done.
	const mark = new Map<Task<unknown>, 1 | 2>();

	const resolveNeeds = (owner: Task<unknown>): Array<[string, Task<unknown>]> => {
		let needs: unknown;
		try {
			needs = owner.needs();
		} catch (error) {
			throw new NubError('graph', `task "${owner.name}": computing its needs failed: ${messageOf(error)}`, { cause: error });
		}
		if (typeof needs !== 'object' || needs === null || Array.isArray(needs)) {
			throw new NubError('graph', `task "${owner.name}": needs must be an object of tasks, got ${describe(needs)}`);
		}
		return Object.entries(needs).map(([key, need]) => {
			if (!isTask(need)) {
				throw new NubError('graph', `task "${owner.name}": needs.${key} is not a task (got ${describe(need)})`);
			}
			return [key, need];
		});
	};

	const visit = (root: Task<unknown>) => {
		if (mark.get(root) === 2) return;
		const stack: Array<{ task: Task<unknown>; needs: Array<[string, Task<unknown>]>; next: number }> = [];
		const push = (task: Task<unknown>) => {
			checkName(task);
			mark.set(task, 1);
			stack.push({ task, needs: resolveNeeds(task), next: 0 });
		};
		push(root);
		while (stack.length > 0) {
			const frame = stack[stack.length - 1]!;
			if (frame.next < frame.needs.length) {
				const need = frame.needs[frame.next++]![1];
				const state = mark.get(need);
				if (state === 1) throw cycleError(stack.map(f => f.task), need);
				if (state === undefined) push(need);
				continue;
			}
			stack.pop();
			mark.set(frame.task, 2);
			const node: MutableNode = {
				name: frame.task.name,
				task: frame.task,
				index: order.length,
				needs: frame.needs.map(([key, need]) => ({ key, node: byTask.get(need)! })),
				dependents: [],
			};
			for (const need of node.needs) need.node.dependents.push(node);
			byTask.set(frame.task, node);
			byName.set(node.name, node);
			order.push(node);
		}
	};

	// Names are claimed when a task is first reached, before its node is finished.
	const owners = new Map<string, Task<unknown>>();
	const checkName = (task: Task<unknown>) => {
		if (typeof task.name !== 'string' || !validName.test(task.name)) {
			throw new NubError('graph', `task name ${JSON.stringify(task.name)} is invalid: use letters, digits, "-", "_", "." and ":"`);
		}
		const owner = owners.get(task.name);
		if (owner !== undefined && owner !== task) {
			throw new NubError('graph', `two different tasks are named "${task.name}": task names must be unique`);
		}
		owners.set(task.name, task);
	};

	for (const root of roots) visit(root);
	const targets = [...new Set(roots)].map(root => byTask.get(root)!);
	return { nodes: order, byName, targets };
}

/**
 * The tasks `names` denote and everything they need, in topological order. Unknown names fail
 * with a suggestion. Any task of the graph can be named, not only the exported ones.
 */
export function selectNodes(graph: Graph, names: readonly string[]): GraphNode[] {
	const wanted = new Set<GraphNode>();
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
		if (wanted.has(node)) continue;
		wanted.add(node);
		for (const need of node.needs) stack.push(need.node);
	}
	return [...wanted].sort((a, b) => a.index - b.index);
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
 */
export function forcedTasks(graph: Graph, names: readonly string[]): Set<string> {
	const forced = new Set<string>();
	const stack = names.map(name => graph.byName.get(name)).filter(node => node !== undefined);
	while (stack.length > 0) {
		const node = stack.pop()!;
		if (forced.has(node.name)) continue;
		forced.add(node.name);
		if (node.task.isGroup) for (const need of node.needs) stack.push(need.node);
	}
	return forced;
}
