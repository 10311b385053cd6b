import { unknownOutput, type ObjectChange } from './changes.ts';
import { messageOf, type GraphNode } from './graph.ts';
import type { PlanEntry } from './plan.ts';
import { eachAtMost } from './pool.ts';
import type { Redactor } from './redact.ts';
import type { Sealer } from './sealer.ts';
import { recordedOutput, type StateStore } from './state-store.ts';
import type { DiffContext, Logger, TaskContext } from './task.ts';

/*
 * `nub plan --diff`: what the tasks a run would run would change, field by field, with nothing
 * run but what is `pure`. Each task's output is, in graph order:
 *
 *   cached          -> its last success (opened from the state)
 *   will/may run    -> pure: run now with its needs' outputs (a Secret manifest from values)
 *                      else: unknownOutput(task), which marks what is made from it "known after apply"
 *
 * and each task with a `diff` that will or may run (every one with `all`) is asked for its
 * records with those outputs as inputs.
 */

export interface DiffOptions {
	nodes: readonly GraphNode[];
	plan: readonly PlanEntry[];
	state: StateStore;
	root: string;
	sealer: Sealer;
	/** Every secret output met is added to it; every record is redacted with it. */
	redactor: Redactor;
	/** Include cached tasks (`--all`): a full audit. */
	all: boolean;
	/** Diffs at once (they wait on the network). */
	jobs: number;
	signal: AbortSignal;
	/** Adds the CLI's services (the cluster) to each diff's context. */
	extendContext: (context: TaskContext) => TaskContext;
}

export interface DiffResults {
	records: ObjectChange[];
	/** Secret tasks whose value a run would make anew (`maybe`: if what they need changes). */
	anew: Array<{ task: string; maybe: boolean }>;
	/** Tasks whose diff failed, with the first line of why. */
	failed: Map<string, string>;
}

export async function diffRun(options: DiffOptions): Promise<DiffResults> {
	const { state, sealer, redactor } = options;
	const actions = new Map(options.plan.map(entry => [entry.name, entry.action]));
	const outputs = new Map<string, unknown>();
	const results: DiffResults = { records: [], anew: [], failed: new Map() };
	const quiet: Logger = { info: () => {}, warn: () => {}, debug: () => {} };
	const digest = keyedDigest(sealer);
	const previous = (node: GraphNode): unknown => {
		const ok = state.lastSuccess(node.name);
		if (!ok) return undefined;
		const output = recordedOutput(node.name, ok, sealer);
		if (ok.sealed !== undefined && node.task.redactsOutput) redactor.add(output);
		return output;
	};
	const contextOf = (node: GraphNode): DiffContext => {
		const base: TaskContext = { name: node.name, signal: options.signal, log: quiet, root: options.root, attempt: 1, previous: previous(node), retried: () => {} };
		return { ...options.extendContext(base), digest };
	};
	const inputsOf = (node: GraphNode) => Object.fromEntries(node.needs.map((need, i) => [node.needKeys[i]!, outputs.get(need.name)]));
	const diffs: Array<() => Promise<void>> = [];
	for (const node of options.nodes) {
		const action = actions.get(node.name) ?? 'cached';
		if (action === 'cached') {
			outputs.set(node.name, previous(node));
		} else if (node.task.pure || node.task.isGroup) {
			try {
				const output = await node.task.execute(inputsOf(node), contextOf(node));
				if (node.task.redactsOutput) redactor.add(output);
				outputs.set(node.name, output);
			} catch {
				outputs.set(node.name, standIn(previous(node) ?? node.task.shape, unknownOutput(node.name)));
			}
		} else {
			outputs.set(node.name, standIn(previous(node) ?? node.task.shape, unknownOutput(node.name)));
			if (node.task.secret && !node.task.isGroup) results.anew.push({ task: node.name, maybe: action === 'maybe' });
		}
		const diff = node.task.diff;
		if (diff && (action !== 'cached' || options.all)) {
			const inputs = inputsOf(node);
			diffs.push(async () => {
				try {
					for (const record of await diff(inputs, contextOf(node))) results.records.push(redacted({ task: node.name, ...record }, redactor));
				} catch (error) {
					results.failed.set(node.name, redactor.redact(messageOf(error)).split('\n')[0]!);
				}
			});
		}
	}
	await eachAtMost(options.jobs, diffs, diff => diff());
	// In graph order, whatever order the diffs finished in.
	const order = new Map(options.nodes.map((node, i) => [node.name, i]));
	results.records.sort((a, b) => order.get(a.task)! - order.get(b.task)!);
	return results;
}

/**
 * The record with its changes (paths too: a list element is named by its value) and note
 * redacted: what a field holds is where a secret could show (the kind and name come from the
 * templates). Only those: the redactor's pattern of every secret's every form is slow to run over
 * text, and an unchanged object has none.
 */
function redacted(record: ObjectChange, redactor: Redactor): ObjectChange {
	const text = (value: string | null) => (value === null ? null : redactor.redact(value));
	return {
		...record,
		changes: record.changes.map(change => ({ path: redactor.redact(change.path), before: text(change.before), after: text(change.after) })),
		...(record.note !== undefined ? { note: redactor.redact(record.note) } : {}),
	};
}

/** The state key's HMAC of a text, or undefined when there is no key yet (nothing secret is recorded either). */
export function keyedDigest(sealer: Sealer): (text: string) => string | undefined {
	return text => {
		try {
			return sealer.digest(text);
		} catch {
			return undefined;
		}
	};
}

/**
 * What stands for an output only the run will know: the marker, in the shape of the last output
 * (or, before the first, of the task's declared `shape`) when it is an object (a certificate's
 * `{ certPem, keyPem }`), so the code that reads it still finds its fields, each the marker.
 */
function standIn(last: unknown, marker: string): unknown {
	if (Array.isArray(last)) return last.map(item => standIn(item, marker));
	if (last !== null && typeof last === 'object') return Object.fromEntries(Object.entries(last).map(([key, value]) => [key, standIn(value, marker)]));
	return marker;
}
