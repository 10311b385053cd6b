import type { GraphNode } from '../engine/graph.ts';
import { describeReason, type PlanEntry } from '../engine/plan.ts';
import { redactedMarker } from '../engine/redact.ts';
import type { StateStore, TaskHistory } from '../engine/state-store.ts';

/**
 * What `nub graph` says of a task, strongest first: a task in two states shows the first.
 * Every renderer shows the same states, so the order is decided here once.
 */
export type NodeState =
	/** Named with `--force` (or forced by a target): it runs whatever its cache says. */
	| 'forced'
	/** Its last run failed: it runs again. */
	| 'failed'
	/** Its last run was interrupted: it runs again. */
	| 'interrupted'
	/** Not succeeded since something it needs, directly or not, failed or was interrupted. */
	| 'blocked'
	/** No run of it is recorded at all. */
	| 'never-run'
	/** Its check found the cluster no longer as it left it (`Deployment hub deleted`): it runs again. */
	| 'drifted'
	/** The plan runs it: an input or a need's output changed. */
	| 'will-run'
	/** A task it needs will run; it runs only if that output changes. */
	| 'maybe'
	/** Its last success is reused. */
	| 'cached';

/** The states in the order of the rules above. */
export const nodeStates: readonly NodeState[] = ['forced', 'failed', 'interrupted', 'blocked', 'never-run', 'drifted', 'will-run', 'maybe', 'cached'];

/** One task as `nub graph` shows it: plain data, ready for JSON. */
export interface ViewNode {
	name: string;
	description?: string;
	group?: string;
	/** Its output is never shown: `last.output` is the marker `[secret]`. */
	secret: boolean;
	/** A task with no `run` of its own, which only gathers what it needs. */
	isGroup: boolean;
	/** The names of the tasks it needs, in the order of its needs object. */
	needs: string[];
	state: NodeState;
	/** The plan's reasons, in English: `output of nfs-service-ip changed`. */
	why: string[];
	/** For a blocked task: the failed or interrupted tasks it needs (directly or not), in graph order. */
	blockedBy?: string[];
	/** Its last recorded run. */
	last?: LastRun;
}

/** A task's last recorded run: its failure since its last success, or that success. */
export interface LastRun {
	outcome: 'succeeded' | 'failed' | 'interrupted';
	/** When it ended, ISO 8601. */
	at: string;
	durationMs: number;
	/** The error's first line, as recorded (secrets already redacted). */
	error?: string;
	/** The output of a success; for a secret task the marker `[secret]`, never the value. */
	output?: unknown;
}

/** The graph of some targets, each task with its state: what every renderer draws. */
export interface GraphView {
	targets: string[];
	/** In topological order: a task's needs come before it. */
	nodes: ViewNode[];
	/** The groups the tasks belong to, sorted. */
	groups: string[];
}

/**
 * Builds the view of `nodes` (a topological selection, as `selectNodes` gives) from the plan of
 * those nodes, the recorded state and the forced tasks. Pure: it reads and prints nothing.
 */
export function buildView(
	nodes: readonly GraphNode[],
	plan: readonly PlanEntry[],
	state: StateStore,
	forced: ReadonlySet<string>,
	targets: readonly string[],
): GraphView {
	const entries = new Map(plan.map(entry => [entry.name, entry]));
	// By node: the failed or interrupted tasks upstream of it, with their failure times.
	const failedUpstream = new Map<GraphNode, Map<GraphNode, number>>();
	const viewNodes = nodes.map(node => {
		const entry = entries.get(node.name);
		if (entry === undefined) throw new Error(`buildView: the plan has no entry for task "${node.name}"`);
		const history = state.get(node.name);
		const upstream = new Map<GraphNode, number>();
		for (const need of node.needs) {
			const fail = state.get(need.name)?.fail;
			if (fail) upstream.set(need, fail.at);
			for (const [failed, at] of failedUpstream.get(need) ?? []) upstream.set(failed, at);
		}
		failedUpstream.set(node, upstream);
		// A success in the same millisecond as the failure cannot be told to come after it.
		const since = history?.ok?.at ?? -Infinity;
		const blockedBy = [...upstream]
			.filter(([, at]) => at >= since)
			.map(([failed]) => failed)
			.sort((a, b) => a.index - b.index);
		const view: ViewNode = {
			name: node.name,
			...(node.task.description !== undefined ? { description: node.task.description } : {}),
			...(node.task.group !== undefined ? { group: node.task.group } : {}),
			secret: node.task.secret,
			isGroup: node.task.isGroup,
			needs: node.needs.map(need => need.name),
			state: stateOf(entry, history, forced.has(node.name), blockedBy.length > 0),
			why: entry.reasons.map(describeReason),
		};
		if (view.state === 'blocked') view.blockedBy = blockedBy.map(failed => failed.name);
		const last = lastRun(history, node.task.secret);
		if (last) view.last = last;
		return view;
	});
	const groups = [...new Set(viewNodes.flatMap(node => (node.group === undefined ? [] : [node.group])))].sort();
	return { targets: [...targets], nodes: viewNodes, groups };
}

/** The first state of the rules (see `NodeState`) that holds. */
function stateOf(entry: PlanEntry, history: TaskHistory | undefined, forced: boolean, blocked: boolean): NodeState {
	if (forced && entry.action === 'run') return 'forced';
	if (history?.fail) return history.fail.interrupted ? 'interrupted' : 'failed';
	if (blocked) return 'blocked';
	if (history === undefined) return 'never-run';
	if (entry.reasons.some(reason => reason.kind === 'drifted')) return 'drifted';
	if (entry.action === 'run') return 'will-run';
	return entry.action === 'maybe' ? 'maybe' : 'cached';
}

function lastRun(history: TaskHistory | undefined, secret: boolean): LastRun | undefined {
	const fail = history?.fail;
	if (fail) {
		return { outcome: fail.interrupted ? 'interrupted' : 'failed', at: new Date(fail.at).toISOString(), durationMs: fail.ms, error: fail.error };
	}
	const ok = history?.ok;
	if (!ok) return undefined;
	// The task's own flag decides, not the record's form: a task made secret since its last run
	// has its secret recorded in the clear, and it must not show now.
	const output = secret || ok.sealed !== undefined ? redactedMarker : (ok.output ?? null);
	return { outcome: 'succeeded', at: new Date(ok.at).toISOString(), durationMs: ok.ms, output };
}

/** The tasks of each group, in topological order; ungrouped tasks under `undefined`. */
export function tasksByGroup(view: GraphView): Map<string | undefined, ViewNode[]> {
	const groups = new Map<string | undefined, ViewNode[]>();
	for (const node of view.nodes) {
		const members = groups.get(node.group);
		if (members) members.push(node);
		else groups.set(node.group, [node]);
	}
	return groups;
}
