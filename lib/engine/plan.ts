import { fingerprintInputs, fingerprintValues, type SecretDigest } from './cache-key.ts';
import type { GraphNode } from './graph.ts';
import { depsMap, type InputFingerprint, type StateStore, type TaskHistory } from './state-store.ts';

/** Why a task must run (or, for `upstream-pending`, may run). */
export type Reason =
	/** No success of it is recorded. */
	| { kind: 'never-ran' }
	/** Named with `--force`. */
	| { kind: 'forced' }
	/** Its last run failed; `error` is that failure's first line. */
	| { kind: 'failed'; error: string }
	/** Its last run was interrupted. */
	| { kind: 'interrupted' }
	/** A declared input differs from its last success: `input` is `version`, `config` or `file <path>`. */
	| { kind: 'input-changed'; input: string }
	/** Plan only: a declared input cannot be read (a file gone, a credential not given); a run would fail the task. */
	| { kind: 'input-unreadable'; error: string }
	/** What it needs now produces a different output than when it last succeeded. */
	| { kind: 'upstream-changed'; task: string }
	/** It needs other tasks than when it last succeeded. */
	| { kind: 'needs-changed' }
	/** Plan only: a task it needs will run; it reruns only if that output changes. */
	| { kind: 'upstream-pending'; task: string }
	/** Its check found that the world no longer matches its last success (`Deployment hub deleted`). */
	| { kind: 'drifted'; detail: string };

/** One line of English for a reason. */
export function describeReason(reason: Reason): string {
	switch (reason.kind) {
		case 'never-ran':
			return 'never ran';
		case 'forced':
			return 'forced';
		case 'failed':
			return `failed last time: ${reason.error}`;
		case 'interrupted':
			return 'interrupted last time';
		case 'input-changed':
			return `${reason.input} changed`;
		case 'input-unreadable':
			return `an input cannot be read: ${reason.error}`;
		case 'upstream-changed':
			return `output of ${reason.task} changed`;
		case 'needs-changed':
			return 'its needs changed';
		case 'upstream-pending':
			return `${reason.task} will run; reruns only if its output changes`;
		case 'drifted':
			return `drifted: ${reason.detail}`;
	}
}

/** What went into a task and, when its last success cannot be reused, why. */
export interface Decision {
	inputs: InputFingerprint;
	/** Empty when the last success can be reused. */
	reasons: Reason[];
}

/**
 * Decides whether a task runs, given the output hashes of what it needs (by task name). The same
 * function serves `nub run` and `nub plan`, so the plan's reasons are the run's reasons.
 *
 * A task's cache key is its name, its input fingerprint and the output hashes of what it needs
 * (by task name, so renaming a need's key in `needs` alone does not rerun anything). The state
 * records the parts rather than a hash of them: they are compared part by part, which is what
 * names the reason, and a cached no-op hashes nothing.
 */
export function decide(
	name: string,
	inputs: InputFingerprint,
	deps: Record<string, string>,
	history: TaskHistory | undefined,
	forced: boolean,
	/** What its check found changed, when it did. */
	drifted?: string,
): Decision {
	const ok = history?.ok;
	const reasons: Reason[] = [];
	if (forced) reasons.push({ kind: 'forced' });
	if (drifted !== undefined) reasons.push({ kind: 'drifted', detail: drifted });
	if (history?.fail) {
		reasons.push(history.fail.interrupted ? { kind: 'interrupted' } : { kind: 'failed', error: history.fail.error });
	}
	if (!ok) {
		if (!history?.fail) reasons.push({ kind: 'never-ran' });
		return { inputs, reasons };
	}
	reasons.push(...compareInputs(ok.inputs ?? {}, inputs));
	const before = depsMap(ok.deps);
	const namesBefore = Object.keys(before).sort().join('\0');
	const namesNow = Object.keys(deps).sort().join('\0');
	if (namesBefore !== namesNow) reasons.push({ kind: 'needs-changed' });
	else for (const dep of Object.keys(deps)) if (before[dep] !== deps[dep]) reasons.push({ kind: 'upstream-changed', task: dep });
	return { inputs, reasons };
}

/** Equal maps of hashes (needs' outputs, or declared files' contents). */
function sameHashes(before: Record<string, string>, now: Record<string, string>): boolean {
	let count = 0;
	for (const dep in now) {
		if (before[dep] !== now[dep]) return false;
		count++;
	}
	return Object.keys(before).length === count;
}

/** Equal input fingerprints; a record without one had none. */
export function sameFingerprint(before: InputFingerprint | undefined, now: InputFingerprint): boolean {
	if (before?.version !== now.version || before?.config !== now.config || before?.secret !== now.secret) return false;
	if (before?.files === undefined && now.files === undefined) return true;
	return sameHashes(before?.files ?? {}, now.files ?? {});
}

function compareInputs(before: InputFingerprint, now: InputFingerprint): Reason[] {
	const reasons: Reason[] = [];
	if (before.version !== now.version) {
		reasons.push({ kind: 'input-changed', input: `version (${before.version ?? 'none'} -> ${now.version ?? 'none'})` });
	}
	if (before.config !== now.config) reasons.push({ kind: 'input-changed', input: 'config' });
	if (before.secret !== now.secret) reasons.push({ kind: 'input-changed', input: 'secret input' });
	const paths = new Set([...Object.keys(before.files ?? {}), ...Object.keys(now.files ?? {})]);
	for (const path of paths) {
		if (before.files?.[path] !== now.files?.[path]) reasons.push({ kind: 'input-changed', input: `file ${path}` });
	}
	return reasons;
}

/** One task in a plan. */
export interface PlanEntry {
	name: string;
	/** `run`: it will run; `maybe`: only if a task it needs changes its output; `cached`: it will not. */
	action: 'run' | 'maybe' | 'cached';
	reasons: Reason[];
	secret: boolean;
}

/**
 * What `nub run` would do, without running or writing anything. A task downstream of one that
 * will run is `maybe`: the upstream output decides, and only running it can tell.
 */
export async function planRun(
	nodes: readonly GraphNode[],
	state: StateStore,
	root: string,
	forced: ReadonlySet<string>,
	/** Digests secret inputs under the state key; it throws when there is no key yet. */
	secretDigest?: SecretDigest,
	/** What the tasks' checks found drifted (see checks.ts). */
	drift: ReadonlyMap<string, string> = new Map(),
): Promise<PlanEntry[]> {
	const hashes = new Map<GraphNode, string | undefined>();
	const plan: PlanEntry[] = [];
	for (const node of nodes) {
		const history = state.get(node.name);
		let inputs: InputFingerprint;
		try {
			inputs = node.task.inputs.files?.length ? await fingerprintInputs(node.task.inputs, root, secretDigest) : fingerprintValues(node.task.inputs, secretDigest);
		} catch (error) {
			plan.push({ name: node.name, action: 'run', reasons: [{ kind: 'input-unreadable', error: (error as Error).message.split('\n')[0]! }], secret: node.task.secret });
			hashes.set(node, undefined);
			continue;
		}
		const pending = node.needs.filter(need => hashes.get(need) === undefined).map(need => need.name);
		const recorded = history?.ok ? depsMap(history.ok.deps) : {};
		const deps: Record<string, string> = {};
		for (const need of node.needs) deps[need.name] = hashes.get(need) ?? recorded[need.name] ?? '';
		const decision = decide(node.name, inputs, deps, history, forced.has(node.name), drift.get(node.name));
		const runs = decision.reasons.length > 0;
		const action = runs ? 'run' : pending.length > 0 ? 'maybe' : 'cached';
		const reasons = runs ? decision.reasons : pending.map(task => ({ kind: 'upstream-pending', task }) as Reason);
		plan.push({ name: node.name, action, reasons, secret: node.task.secret });
		hashes.set(node, action === 'cached' ? history!.ok!.outHash : undefined);
	}
	return plan;
}
