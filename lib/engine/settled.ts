import { closeSync, fsyncSync, openSync, readFileSync, renameSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { GraphNode } from './graph.ts';
import { canonicalJson } from './json.ts';
import type { InputFingerprint } from './state-store.ts';

/**
 * The settled mark: a note beside the state log that the last run over a selection of tasks left
 * every one of them cached for the next run, with what that depends on besides the log:
 *
 *   - `stamp`: the log as that run left it (size, modification and change times, inode). Any
 *     record appended since (another run, `nub destroy`, a download of team state) changes it.
 *   - `key`: the selection's tasks in order, each with the tasks it needs and the fingerprint of
 *     its declared inputs as recorded (see `settledKey`).
 *   - `sealed`: one secret output of the state, if it holds any, to check the state key against.
 *
 * When the log is unchanged and the key computed now equals the mark's, every task's cache key is
 * the one its last success recorded, no task failed since, and each task's needs still give the
 * outputs it ran with: the run would find every task cached. `nub run` then reads no state and
 * decides nothing task by task (see `settledRun` in the scheduler). Anything else (no mark, a
 * different log or key, a force, drift checks to make, team state) takes the usual path, which
 * writes a new mark when it leaves every task cached.
 */
export interface SettledMark {
	stamp: string;
	key: string;
	sealed?: { name: string; sealed: string };
}

const fileName = 'settled.json';
const version = 1;

/**
 * What a run's decisions depend on besides the state log: for each task in order, its name, the
 * graph positions of what it needs and its input fingerprint (`fingerprintOf` gives it: computed
 * now to check a mark, as recorded to write one).
 */
export function settledKey(nodes: readonly GraphNode[], fingerprintOf: (node: GraphNode) => InputFingerprint | undefined): string {
	let key = '';
	for (let i = 0; i < nodes.length; i++) {
		const node = nodes[i]!;
		key += `${node.index} ${node.name}`;
		const needs = node.needs;
		for (let j = 0; j < needs.length; j++) key += `${j === 0 ? ' <' : ','}${needs[j]!.index}`;
		const fingerprint = fingerprintOf(node);
		if (fingerprint !== undefined && hasFields(fingerprint)) key += ` ${canonicalJson(fingerprint)}`;
		key += '\n';
	}
	return key;
}

/** The state log's stamp now: `none` when there is no log. */
export function stateStamp(stateDir: string): string {
	try {
		const info = statSync(join(stateDir, 'state.jsonl'), { bigint: true });
		return `${info.size}:${info.mtimeNs}:${info.ctimeNs}:${info.ino}`;
	} catch {
		return 'none';
	}
}

/** The mark, when there is one that is whole and this nub's. */
export function readSettled(stateDir: string): SettledMark | undefined {
	try {
		const mark = JSON.parse(readFileSync(join(stateDir, fileName), 'utf8')) as Partial<SettledMark> & { version?: number };
		if (mark.version !== version || typeof mark.stamp !== 'string' || typeof mark.key !== 'string') return undefined;
		return { stamp: mark.stamp, key: mark.key, ...(mark.sealed ? { sealed: mark.sealed } : {}) };
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
