/**
 * `nub plan --diff` and saved plans: what a run would change in the cluster (lib/engine/diff.ts
 * asks each task; here the prune's deletions are added), the plan file `nub plan --out` writes,
 * and the check `nub run --plan` makes before it applies anything.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describeChange, type ObjectChange } from '../engine/changes.ts';
import { diffRun, keyedDigest, type DiffResults } from '../engine/diff.ts';
import { NubError } from '../engine/errors.ts';
import type { Graph, GraphNode } from '../engine/graph.ts';
import type { PlanEntry } from '../engine/plan.ts';
import { Redactor } from '../engine/redact.ts';
import type { Sealer } from '../engine/sealer.ts';
import type { StateStore } from '../engine/state-store.ts';
import type { TaskContext } from '../engine/task.ts';
import { writeAside } from '../files/write-aside.ts';
import { refOf } from '../k8s/applied.ts';
import type { Kube } from '../k8s/client.ts';
import { pruneSteps } from './destroy.ts';

export interface PlanDiffOptions {
	graph: Graph;
	nodes: readonly GraphNode[];
	plan: readonly PlanEntry[];
	state: StateStore;
	root: string;
	sealer: Sealer;
	all: boolean;
	signal: AbortSignal;
	kube: () => Promise<Kube>;
}

/** Every object the run would touch: the tasks' diffs, then what `--prune` would delete. */
export async function planDiff(options: PlanDiffOptions): Promise<DiffResults> {
	const { state, sealer } = options;
	const digest = keyedDigest(sealer);
	const results = await diffRun({
		nodes: options.nodes,
		plan: options.plan,
		state,
		root: options.root,
		sealer,
		redactor: new Redactor(),
		all: options.all,
		jobs: 8,
		signal: options.signal,
		extendContext: (context: TaskContext) => ({ ...context, kube: options.kube }),
	});
	const steps = pruneSteps(options.graph, state);
	if (steps.length > 0) {
		const { liveHash } = await import('../k8s/diff.ts');
		const client = await options.kube();
		for (const step of steps) {
			for (const object of step.objects ?? []) {
				const live = await liveHash(client, refOf(object), digest, { signal: options.signal });
				results.records.push({ task: step.name, kind: object.kind, ...(object.namespace ? { namespace: object.namespace } : {}), name: object.name, action: live === null ? 'none' : 'delete', changes: [], note: live === null ? 'already gone' : `nub run --prune deletes it (${step.reason})`, live, planned: null });
			}
		}
	}
	return results;
}

/** Whether the diff says the run would change anything. */
export function hasChanges(results: DiffResults): boolean {
	return results.anew.length > 0 || results.records.some(record => record.action !== 'none');
}

/** What `nub plan --out` writes: no values, only decisions, what would change and keyed hashes. */
export interface SavedPlan {
	nub: 'plan';
	version: 1;
	targets: string[];
	force: boolean;
	all: boolean;
	decisions: Array<{ task: string; action: PlanEntry['action'] }>;
	objects: ObjectChange[];
	anew: DiffResults['anew'];
}

export function savePlan(file: string, plan: Omit<SavedPlan, 'nub' | 'version'>): void {
	writeAside(file, `${JSON.stringify({ nub: 'plan', version: 1, ...plan }, null, 2)}\n`, { mode: 0o600 });
}

/** Reads a saved plan; a file that is not one is a one-line `plan` error. */
export function readPlan(cwd: string, file: string): SavedPlan {
	let text: string;
	try {
		text = readFileSync(resolve(cwd, file), 'utf8');
	} catch (error) {
		throw new NubError('plan', `--plan ${file}: cannot read it (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
	}
	let plan: SavedPlan;
	try {
		plan = JSON.parse(text) as SavedPlan;
	} catch {
		throw new NubError('plan', `--plan ${file}: not JSON: save a plan with nub plan <targets> --out ${file}`);
	}
	if (plan?.nub !== 'plan' || plan.version !== 1 || !Array.isArray(plan.targets) || !Array.isArray(plan.decisions) || !Array.isArray(plan.objects)) {
		throw new NubError('plan', `--plan ${file}: not a plan nub plan --out wrote (or of another version)`);
	}
	return plan;
}

/**
 * What moved since the plan was saved, one line each: a task decided otherwise, an object that
 * is no longer (or newly) touched, a live object whose fields nub owns changed, or what the dry
 * run answers for it. Empty when the plan still holds.
 */
export function planMoved(saved: SavedPlan, plan: readonly PlanEntry[], now: DiffResults): string[] {
	const moved: string[] = [];
	const decided = new Map(plan.map(entry => [entry.name, entry.action]));
	const was = new Map(saved.decisions.map(entry => [entry.task, entry.action]));
	for (const [task, action] of was) {
		const current = decided.get(task);
		if (current !== action) moved.push(`task ${task}: planned ${action}, now ${current ?? 'not in the run'}`);
	}
	for (const [task, action] of decided) if (!was.has(task)) moved.push(`task ${task}: not in the plan, now ${action}`);
	const key = (record: ObjectChange) => `${record.task} ${describeChange(record)}`;
	const current = new Map(now.records.map(record => [key(record), record]));
	for (const record of saved.objects) {
		const found = current.get(key(record));
		const what = `${describeChange(record)} (${record.task})`;
		if (!found) moved.push(`${what}: no longer in the run`);
		else if (found.live !== record.live) moved.push(`${what}: changed in the cluster since the plan (${record.live === null ? 'made' : found.live === null ? 'deleted' : 'fields nub owns edited'})`);
		else if (found.planned !== record.planned || found.action !== record.action) moved.push(`${what}: the run would now apply something else`);
		current.delete(key(record));
	}
	for (const record of current.values()) moved.push(`${describeChange(record)} (${record.task}): not in the plan`);
	return moved;
}
