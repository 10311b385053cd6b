// node:fs/promises is loaded on first use (it costs a start about 1 ms): most tasks declare no files.
import { promises as fs } from 'node:fs';
import { isAbsolute, join, relative } from 'node:path';
import { indexBound, messageOf, type GraphNode } from './graph.ts';
import { canonicalJson, contentHash, nodeCrypto, shortDigest } from './json.ts';
import { outputReasons } from './outputs.ts';
import { depsMap, type InputFingerprint, type StateStore, type SuccessRecord } from './state-store.ts';
import type { TaskInputs } from './task.ts';

/*
 * The one place that decides whether a task runs and why. `decideTask` computes the task's input
 * fingerprint, compares its cache key with the one recorded at its last success, and explains any
 * difference as reasons. `nub run` (the scheduler) calls it as each task becomes ready; `nub plan`
 * and `nub graph` call it through `planRun`. So a plan's reasons are the reasons a run starts a
 * task with, and nothing else in nub decides "cached or run".
 *
 * A task's cache key is its name, its input fingerprint and the output hashes of what it needs
 * (by task name, so renaming a need's key in `needs` alone does not rerun anything). The state
 * records the parts rather than a hash of them: they are compared part by part, which is what
 * names the reason. A task that declares output files is reused only when they are still what
 * its last success wrote (outputs.ts): a missing or edited one reruns it, and says so.
 */

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
	/** A declared input cannot be read (a file gone, a credential not given): a run fails the task before it starts. */
	| { kind: 'input-unreadable'; error: string }
	/** What it needs now produces a different output than when it last succeeded. */
	| { kind: 'upstream-changed'; task: string }
	/** It needs other tasks than when it last succeeded. */
	| { kind: 'needs-changed' }
	/** Plan only: a task it needs will run; it reruns only if that output changes. */
	| { kind: 'upstream-pending'; task: string }
	/** Its check found that the world no longer matches its last success (`Deployment hub deleted`). */
	| { kind: 'drifted'; detail: string }
	/** A declared output file (or folder, or glob) is not there. */
	| { kind: 'output-missing'; path: string }
	/** A declared output is not what its last success wrote: `detail` says how (`changed since the last run`). */
	| { kind: 'output-changed'; path: string; detail: string };

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
		case 'output-missing':
			return `output ${reason.path} missing`;
		case 'output-changed':
			return `output ${reason.path} ${reason.detail}`;
	}
}

/**
 * A task whose last success cannot be reused as it is: why it runs or, in a plan, which needs it
 * waits on. A task whose last success is reused is decided `'cached'`, one shared answer: most
 * tasks of a run are cached, and they allocate nothing to say so.
 */
export interface Decision {
	/** Its input fingerprint, recorded with its success (empty when `error` is set). */
	inputs: InputFingerprint;
	/** Why it runs; empty only in a plan, when `pending` decides. */
	reasons: Reason[];
	/** Plan only: the needs whose output is not known because they will run; that output decides. */
	pending: string[];
	/** Why its inputs could not be fingerprinted: a run fails the task with it, a plan shows `input-unreadable`. */
	error?: unknown;
}

/** What deciding takes besides the task: the recorded state and what the run or plan was told. */
export interface DecideOptions {
	state: StateStore;
	/** The Nubfile's folder: the root of declared input files. */
	root: string;
	/** Digests secret inputs under the state key (see `SecretDigest`). */
	secretDigest?: SecretDigest;
	/** Tasks to run even when cached (see `forcedTasks`). */
	forced: ReadonlySet<string>;
	/** What the tasks' checks found drifted (see checks.ts): those rerun, saying why. */
	drift: ReadonlyMap<string, string>;
}

/**
 * Decides one task, given the output hashes of the tasks it needs, by `GraphNode.index`
 * (`undefined` for a need a plan knows will run). A task that declares no files is decided
 * synchronously, so a run of cached tasks waits on no promise per task; one that does hashes its
 * files first.
 */
export function decideTask(node: GraphNode, options: DecideOptions, hashes: ReadonlyArray<string | undefined>): 'cached' | Decision | Promise<'cached' | Decision> {
	const { inputs } = node.task;
	if (inputs.files?.length) {
		return fingerprintInputs(inputs, options.root, options.secretDigest).then(
			fingerprint => compare(node, fingerprint, options, hashes),
			(error: unknown) => unreadable(node, options, error),
		);
	}
	let fingerprint: InputFingerprint;
	try {
		fingerprint = fingerprintValues(inputs, options.secretDigest);
	} catch (error) {
		return unreadable(node, options, error);
	}
	return compare(node, fingerprint, options, hashes);
}

/** Compares the task's key with its last success: `'cached'` when they are the same. */
function compare(node: GraphNode, inputs: InputFingerprint, options: DecideOptions, hashes: ReadonlyArray<string | undefined>): 'cached' | Decision {
	const { state } = options;
	const name = node.name;
	const forced = options.forced.size > 0 && options.forced.has(name);
	const drifted = options.drift.size > 0 ? options.drift.get(name) : undefined;
	const ok = state.lastSuccess(name);
	// Most tasks of a run are cached: those are found without building any map or list.
	if (ok && !forced && drifted === undefined && !state.failedSince(name) && sameFingerprint(ok.inputs, inputs) && depsMatch(ok.deps, node.needs, hashes)) {
		const outputs = node.task.outputs;
		if (outputs === undefined) return 'cached';
		// Its key matches: it is reused only if the files it wrote are still what it recorded.
		const reasons = outputReasons(outputs.files, ok.outputs, options.root);
		return reasons.length === 0 ? 'cached' : { inputs, reasons: [...reasons], pending: [] };
	}
	return explain(node, inputs, options, hashes, ok, forced, drifted);
}

/** Names every part of the task's key that differs from its last success (`ok`), if any. */
function explain(
	node: GraphNode,
	inputs: InputFingerprint,
	options: DecideOptions,
	hashes: ReadonlyArray<string | undefined>,
	ok: SuccessRecord | undefined,
	forced: boolean,
	drifted: string | undefined,
): 'cached' | Decision {
	const reasons = historyReasons(options, node.name, forced, drifted);
	const needs = uniqueNeeds(node);
	const pending: string[] = [];
	for (const need of needs) if (hashes[need.index] === undefined) pending.push(need.name);
	if (!ok) return { inputs, reasons, pending };
	reasons.push(...compareInputs(ok.inputs ?? {}, inputs));
	if (node.task.outputs) reasons.push(...outputReasons(node.task.outputs.files, ok.outputs, options.root));
	const before = depsMap(ok.deps);
	const namesBefore = Object.keys(before).sort().join('\0');
	const namesNow = needs.map(need => need.name).sort().join('\0');
	if (namesBefore !== namesNow) {
		reasons.push({ kind: 'needs-changed' });
	} else {
		for (const need of needs) {
			const hash = hashes[need.index];
			if (hash !== undefined && before[need.name] !== hash) reasons.push({ kind: 'upstream-changed', task: need.name });
		}
	}
	// Needs recorded in another order (or one need under two keys) make no difference.
	return reasons.length === 0 && pending.length === 0 ? 'cached' : { inputs, reasons, pending };
}

/** The decision for a task whose inputs cannot be fingerprinted: it runs, and a run fails it. */
function unreadable(node: GraphNode, options: DecideOptions, error: unknown): Decision {
	const forced = options.forced.has(node.name);
	const reasons = historyReasons(options, node.name, forced, options.drift.get(node.name));
	reasons.push({ kind: 'input-unreadable', error: messageOf(error).split('\n')[0]! });
	return { inputs: {}, reasons, pending: [], error };
}

/** The reasons that need no fingerprint: forced, drifted, and what its last run left. */
function historyReasons(options: DecideOptions, name: string, forced: boolean, drifted: string | undefined): Reason[] {
	const reasons: Reason[] = [];
	if (forced) reasons.push({ kind: 'forced' });
	if (drifted !== undefined) reasons.push({ kind: 'drifted', detail: drifted });
	const history = options.state.get(name);
	if (history?.fail) reasons.push(history.fail.interrupted ? { kind: 'interrupted' } : { kind: 'failed', error: history.fail.error });
	else if (!history?.ok) reasons.push({ kind: 'never-ran' });
	return reasons;
}

/** A task's needs, each once: one task may be needed under two keys, and is recorded once. */
function uniqueNeeds(node: GraphNode): readonly GraphNode[] {
	const needs = node.needs;
	return new Set(needs).size === needs.length ? needs : [...new Set(needs)];
}

/**
 * True when a success's recorded needs (`"name hash name hash"`, in the order of the needs) are
 * exactly these needs with these output hashes. Compared in place, without splitting the record's
 * string; another order (or a need under two keys) is not a match here, and `compare` then looks
 * closer.
 */
function depsMatch(deps: string, needs: readonly GraphNode[], hashes: ReadonlyArray<string | undefined>): boolean {
	let at = 0;
	for (let i = 0; i < needs.length; i++) {
		const need = needs[i]!;
		const hash = hashes[need.index];
		if (hash === undefined) return false;
		if (i > 0 && deps.charCodeAt(at++) !== 32) return false;
		if (!deps.startsWith(need.name, at)) return false;
		at += need.name.length;
		if (deps.charCodeAt(at++) !== 32 || !deps.startsWith(hash, at)) return false;
		at += hash.length;
	}
	return at === deps.length;
}

/** Equal maps of hashes (declared files' contents). */
function sameHashes(before: Record<string, string>, now: Record<string, string>): boolean {
	let count = 0;
	for (const key in now) {
		if (before[key] !== now[key]) return false;
		count++;
	}
	return Object.keys(before).length === count;
}

/** Equal input fingerprints; a record without one had none. */
function sameFingerprint(before: InputFingerprint | undefined, now: InputFingerprint): boolean {
	if (before?.version !== now.version || before?.config !== now.config || before?.secret !== now.secret || before?.command !== now.command) return false;
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
	if (before.command !== now.command) reasons.push({ kind: 'input-changed', input: 'command' });
	const paths = new Set([...Object.keys(before.files ?? {}), ...Object.keys(now.files ?? {})]);
	for (const path of paths) {
		if (before.files?.[path] !== now.files?.[path]) reasons.push({ kind: 'input-changed', input: `file ${path}` });
	}
	return reasons;
}

/**
 * Whether the task's declared inputs are those of its last success and it has not failed since:
 * what its preflight checked about them then still holds. Inputs that cannot be read are not.
 */
export async function inputsUnchanged(node: GraphNode, state: StateStore, root: string, secretDigest?: SecretDigest): Promise<boolean> {
	const ok = state.lastSuccess(node.name);
	if (!ok || state.failedSince(node.name)) return false;
	try {
		return sameFingerprint(ok.inputs, await fingerprintInputs(node.task.inputs, root, secretDigest));
	} catch {
		return false;
	}
}

/** Digests a secret input under the state key (an HMAC): a plain hash of a password can be guessed. */
export type SecretDigest = (text: string) => string;

const noInputs: InputFingerprint = Object.freeze({});

/**
 * The fingerprint of a task's declared inputs: its version, a hash of its configuration value,
 * a keyed digest of its secret input, and a content hash of each file or folder. Recorded beside
 * the key so that a plan can name the input that changed.
 */
export async function fingerprintInputs(inputs: TaskInputs, root: string, secretDigest?: SecretDigest): Promise<InputFingerprint> {
	const fingerprint = { ...fingerprintValues(inputs, secretDigest) };
	if (inputs.files && inputs.files.length > 0) {
		const files: Record<string, string> = {};
		for (const path of inputs.files) {
			const secret = inputs.secretFiles?.includes(path) === true;
			if (secret && !secretDigest) throw new Error(`the secret input file "${path}" needs the state key to be fingerprinted`);
			// The digest of a secret file is keyed: its content goes in as base64 (the digest takes text).
			const digest = secret ? (content: Buffer) => secretDigest!(content.toString('base64')) : contentHash;
			files[path] = await hashPath(isAbsolute(path) ? path : join(root, path), path, digest);
		}
		fingerprint.files = files;
	}
	return fingerprint;
}

/**
 * The part of the fingerprint that needs no I/O: enough for tasks that declare no files (a secret
 * input given as a function reads its value now). A secret input is digested with `secretDigest`
 * (the sealer's keyed digest), never hashed in clear.
 */
export function fingerprintValues(inputs: TaskInputs, secretDigest?: SecretDigest): InputFingerprint {
	if (inputs.version === undefined && inputs.config === undefined && inputs.secret === undefined && inputs.command === undefined) return noInputs;
	const fingerprint: InputFingerprint = {};
	if (inputs.version !== undefined) fingerprint.version = inputs.version;
	if (inputs.command !== undefined) fingerprint.command = inputs.command;
	if (inputs.config !== undefined) fingerprint.config = contentHash(canonicalJson(inputs.config));
	if (inputs.secret !== undefined) {
		if (!secretDigest) throw new Error('a secret input needs the state key to be fingerprinted');
		const secret = typeof inputs.secret === 'function' ? inputs.secret() : inputs.secret;
		fingerprint.secret = secretDigest(canonicalJson(secret));
	}
	return fingerprint;
}

/** A file's content hash, or a folder's hash over its entries' relative paths and contents. */
async function hashPath(path: string, shown: string, digest: (content: Buffer) => string): Promise<string> {
	let info;
	try {
		info = await fs.stat(path);
	} catch (error) {
		if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
			throw new Error(`declared input "${shown}" does not exist`);
		}
		throw error;
	}
	if (!info.isDirectory()) return digest(await fs.readFile(path));
	const hash = nodeCrypto().createHash('sha256');
	const entries = (await fs.readdir(path, { recursive: true, withFileTypes: true }))
		.filter(entry => entry.isFile())
		.map(entry => join(entry.parentPath, entry.name))
		.sort();
	for (const file of entries) {
		hash.update(`${relative(path, file)}\0${digest(await fs.readFile(file))}\n`);
	}
	return shortDigest(hash.digest());
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
 * What `nub run` would do, without running or writing anything: each task decided as a run
 * would decide it when it became ready. A task downstream of one that will run is `maybe`: the
 * upstream output decides, and only running it can tell.
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
	const options: DecideOptions = { state, root, secretDigest, forced, drift };
	// The output hash of each task the plan reuses, by index; a task that will run (or may) has none yet.
	const hashes: Array<string | undefined> = new Array(indexBound(nodes));
	const plan: PlanEntry[] = [];
	for (const node of nodes) {
		const decision = await decideTask(node, options, hashes);
		if (decision === 'cached') {
			plan.push({ name: node.name, action: 'cached', reasons: [], secret: node.task.secret });
			hashes[node.index] = state.lastSuccess(node.name)!.outHash;
			continue;
		}
		const runs = decision.reasons.length > 0;
		const reasons = runs ? decision.reasons : decision.pending.map(task => ({ kind: 'upstream-pending', task }) as Reason);
		plan.push({ name: node.name, action: runs ? 'run' : 'maybe', reasons, secret: node.task.secret });
	}
	return plan;
}
