import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { GraphNode } from './graph.ts';
import { canonicalJson } from './json.ts';
import type { InputFingerprint } from './state-store.ts';

export { stateStamp } from './state-store.ts';

/**
 * The settled mark: a note beside the state log that the last run over a selection of tasks left
 * every one of them cached for the next run, with what that depends on besides the log:
 *
 *   - `stamp`: the log as that run left it (size, modification and change times, inode). Any
 *     record appended since (another run, `nub destroy`, a download of team state) changes it.
 *   - the key: the selection's tasks in order, each with the tasks it needs and the fingerprint
 *     of its declared inputs as recorded (see `SettledKey`).
 *   - `sealed`: one secret output of the state, if it holds any, to check the state key against.
 *
 * When the log is unchanged and the key computed now equals the mark's, every task's cache key is
 * the one its last success recorded, no task failed since, and each task's needs still give the
 * outputs it ran with: the run would find every task cached. `nub run` then reads no state and
 * decides nothing task by task (see `settledRun` in the scheduler). Anything else (no mark, a
 * different log or key, a force, drift checks to make, team state) takes the usual path, which
 * writes a new mark when it leaves every task cached.
 */
export interface SettledMark extends SettledKey {
	stamp: string;
	sealed?: { name: string; sealed: string };
}

/**
 * What a run's decisions depend on besides the state log (`settledKey`): the tasks' names in
 * order; what each needs, as positions in that order (`[count, position...]` per task, base64 of
 * 32-bit integers); and each input fingerprint, by position.
 */
export interface SettledKey {
	names: string;
	needs: string;
	inputs: string;
}

const fileName = 'settled.json';
const version = 2;

/**
 * The key of a selection of tasks (see `SettledKey`). `fingerprintOf` gives a task's input
 * fingerprint: computed now to check a mark, as recorded to write one. Built of few strings and
 * an integer array, so that checking it costs a cached no-op of 10,000 tasks about a millisecond.
 */
export function settledKey(nodes: readonly GraphNode[], fingerprintOf: (node: GraphNode) => InputFingerprint | undefined): SettledKey {
	return { names: namesOf(nodes), needs: Buffer.from(needsOf(nodes).buffer).toString('base64'), inputs: inputsOf(nodes, fingerprintOf) };
}

/** Whether `mark` was written for exactly these tasks, needs and inputs. */
export function settledMatches(mark: SettledKey, nodes: readonly GraphNode[], fingerprintOf: (node: GraphNode) => InputFingerprint | undefined): boolean {
	if (mark.names !== namesOf(nodes)) return false;
	const bytes = Buffer.from(mark.needs, 'base64');
	const aligned = bytes.byteOffset % 4 === 0 ? bytes : Buffer.from(bytes);
	const recorded = new Int32Array(aligned.buffer, aligned.byteOffset, aligned.length >> 2);
	// Compared as it is walked, without building the array it would be.
	const position = positions(nodes);
	let at = 0;
	for (let i = 0; i < nodes.length; i++) {
		const list = nodes[i]!.needs;
		if (recorded[at++] !== list.length) return false;
		for (let j = 0; j < list.length; j++) if (recorded[at++] !== position[list[j]!.index]) return false;
	}
	return at === recorded.length && mark.inputs === inputsOf(nodes, fingerprintOf);
}

function namesOf(nodes: readonly GraphNode[]): string {
	const names = new Array<string>(nodes.length);
	for (let i = 0; i < nodes.length; i++) names[i] = nodes[i]!.name;
	return names.join('\n');
}

/** Each task's position in `nodes`, by its graph index. */
function positions(nodes: readonly GraphNode[]): Int32Array {
	let size = 0;
	for (let i = 0; i < nodes.length; i++) size = Math.max(size, nodes[i]!.index + 1);
	const position = new Int32Array(size).fill(-1);
	for (let i = 0; i < nodes.length; i++) position[nodes[i]!.index] = i;
	return position;
}

function needsOf(nodes: readonly GraphNode[]): Int32Array {
	let count = nodes.length;
	for (let i = 0; i < nodes.length; i++) count += nodes[i]!.needs.length;
	const position = positions(nodes);
	const needs = new Int32Array(count);
	let at = 0;
	for (let i = 0; i < nodes.length; i++) {
		const list = nodes[i]!.needs;
		needs[at++] = list.length;
		for (let j = 0; j < list.length; j++) needs[at++] = position[list[j]!.index]!;
	}
	return needs;
}

function inputsOf(nodes: readonly GraphNode[], fingerprintOf: (node: GraphNode) => InputFingerprint | undefined): string {
	let inputs = '';
	for (let i = 0; i < nodes.length; i++) {
		const fingerprint = fingerprintOf(nodes[i]!);
		if (fingerprint !== undefined && hasFields(fingerprint)) inputs += `${i} ${canonicalJson(fingerprint)}\n`;
	}
	return inputs;
}

/** The mark, when there is one that is whole and this nub's. */
export function readSettled(stateDir: string): SettledMark | undefined {
	try {
		const mark = JSON.parse(readFileSync(join(stateDir, fileName), 'utf8')) as Partial<SettledMark> & { version?: number };
		if (mark.version !== version) return undefined;
		const { stamp, names, needs, inputs, sealed } = mark;
		if (typeof stamp !== 'string' || typeof names !== 'string' || typeof needs !== 'string' || typeof inputs !== 'string') return undefined;
		return { stamp, names, needs, inputs, ...(sealed ? { sealed } : {}) };
	} catch {
		return undefined;
	}
}

/** Writes the mark (aside, then renamed over the old one; 0600 like the rest of the state). */
export function writeSettled(stateDir: string, mark: SettledMark): void {
	const path = join(stateDir, fileName);
	const temporary = `${path}.tmp`;
	const fd = openSync(temporary, 'w', 0o600);
	try {
		writeSync(fd, JSON.stringify({ version, ...mark }));
		fsyncSync(fd);
	} finally {
		closeSync(fd);
	}
	renameSync(temporary, path);
}

function hasFields(fingerprint: InputFingerprint): boolean {
	for (const name in fingerprint) if (fingerprint[name as keyof InputFingerprint] !== undefined) return true;
	return false;
}
