import { readdirSync, readFileSync, rmSync, statSync, type Stats } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { contentHash, nodeCrypto, shortDigest } from './json.ts';
import type { Reason } from './plan.ts';

/*
 * A task's declared output files (`outputs: { files }`). After a success each declared path is
 * recorded with the task as one string, `"<hash> <stamp> <path>"`:
 *
 *   hash   the content hash (for a folder or a glob, a hash over each file's relative path and
 *          content hash): what dependents see, and what "changed" means;
 *   stamp  size, modification time and inode (for a folder or a glob, a digest of its
 *          files' own): what a no-op compares, one stat per file, as make does. Only when a stamp
 *          differs is the content hashed again, and only a different hash reruns the task.
 *
 * As with make, an edit that keeps the size and lands within the file system's timestamp
 * granularity of the task's own write is not seen by the stamp.
 */

/** One declared output as it is now: its files, or undefined when there is none. */
interface Present {
	/** The files, absolute, with their relative paths (sorted); a plain file is alone. */
	files: Array<{ path: string; shown: string; info: Stats }>;
	/** A folder or a glob: its hash and stamp cover several files. */
	many: boolean;
}

/** True when the declared path is a glob. */
function isGlob(declared: string): boolean {
	return declared.includes('*') || declared.includes('?');
}

/**
 * What a declared output stands for now: the file, the files of the folder, or the files the
 * glob matches; undefined when the file or folder does not exist or the glob matches nothing.
 */
function present(declared: string, root: string): Present | undefined {
	if (isGlob(declared)) {
		const parts = declared.split('/');
		const first = parts.findIndex(isGlob);
		const base = join(root, ...parts.slice(0, first));
		const pattern = globPattern(parts.slice(first).join('/'));
		const files = listFiles(base).filter(file => pattern.test(relative(base, file.path).split(sep).join('/')));
		return files.length > 0 ? { files: files.map(file => ({ ...file, shown: relative(root, file.path) })), many: true } : undefined;
	}
	const path = join(root, declared);
	const info = statSync(path, { throwIfNoEntry: false });
	if (!info) return undefined;
	if (!info.isDirectory()) return { files: [{ path, shown: declared, info }], many: false };
	return { files: listFiles(path).map(file => ({ ...file, shown: relative(root, file.path) })), many: true };
}

/** The files under a folder, recursively, sorted by path, with their stats ([] when it is not there). */
function listFiles(dir: string): Array<{ path: string; info: Stats }> {
	let entries;
	try {
		entries = readdirSync(dir, { recursive: true, withFileTypes: true });
	} catch {
		return [];
	}
	return entries
		.filter(entry => entry.isFile())
		.map(entry => join(entry.parentPath, entry.name))
		.sort()
		.map(path => ({ path, info: statSync(path) }));
}

/**
 * Whether `path` (relative to the Nubfile's folder, `/`-separated) is, or is inside, what the
 * declared output stands for: `nub watch` ignores what the rounds themselves write.
 */
export function outputCovers(declared: string, path: string): boolean {
	const normal = declared.replace(/^\.\//, '').replace(/\/+$/, '');
	if (!isGlob(normal)) return path === normal || path.startsWith(`${normal}/`);
	return globPattern(normal).test(path);
}

/** A glob (`*`, `**`, `?`) over `/`-separated relative paths as a regular expression. */
function globPattern(glob: string): RegExp {
	let source = '';
	for (let i = 0; i < glob.length; i++) {
		const char = glob[i]!;
		if (char === '*' && glob[i + 1] === '*') {
			// `**/` matches any number of folders, none included; a final `**` anything.
			i++;
			if (glob[i + 1] === '/') {
				i++;
				source += '(?:.*/)?';
			} else {
				source += '.*';
			}
		} else if (char === '*') {
			source += '[^/]*';
		} else if (char === '?') {
			source += '[^/]';
		} else {
			source += char.replace(/[.+^${}()|[\]\\]/g, '\\$&');
		}
	}
	return new RegExp(`^${source}$`);
}

/** Size, modification time and inode: what make's mtime check sees, and a file replaced by another. */
function stampOf(info: Stats): string {
	// Whole microseconds: an integer is turned into text several times faster than a fraction.
	return `${info.size}:${Math.round(info.mtimeMs * 1000)}:${info.ino}`;
}

/** The stamp of what a declared output stands for now. */
function stampOfPresent(now: Present): string {
	if (!now.many) return stampOf(now.files[0]!.info);
	const hash = nodeCrypto().createHash('sha256');
	for (const file of now.files) hash.update(`${file.shown}\0${stampOf(file.info)}\n`);
	return shortDigest(hash.digest());
}

/** The content hash of what a declared output stands for now. */
function hashOfPresent(now: Present): string {
	if (!now.many) return contentHash(readFileSync(now.files[0]!.path));
	const hash = nodeCrypto().createHash('sha256');
	for (const file of now.files) hash.update(`${file.shown}\0${contentHash(readFileSync(file.path))}\n`);
	return shortDigest(hash.digest());
}

/**
 * After a success: the record of each declared output (`"<hash> <stamp> <path>"`, in the order
 * declared). Throws, naming it, when one is missing: the task did not write what it declared.
 */
export function recordOutputs(declared: readonly string[], root: string): string[] {
	return declared.map(path => {
		const now = present(path, root);
		if (!now) throw new Error(`declared output ${path} ${isGlob(path) ? 'matches no file' : 'was not written'}`);
		return `${hashOfPresent(now)} ${stampOfPresent(now)} ${path}`;
	});
}

const noReasons: readonly Reason[] = Object.freeze([]);

/**
 * Why the declared outputs no longer are what the last success recorded: each one missing
 * (`output out/a.txt missing`), changed since (its content hash differs), or not recorded at all
 * (the declaration changed). Empty when they are as recorded. A stamp that matches settles an
 * output without reading it.
 */
export function outputReasons(declared: readonly string[], recorded: readonly string[] | undefined, root: string): readonly Reason[] {
	// Allocated on the first reason only: a cached no-op checks every output and finds none.
	let reasons: Reason[] | undefined;
	for (let i = 0; i < declared.length; i++) {
		const path = declared[i]!;
		let entry = recorded?.[i];
		if (entry === undefined || !recordsPath(entry, path)) entry = recorded?.find(line => recordsPath(line, path));
		// A plain file, the common case, is one stat and one string compared: no listing, no object.
		const file = isGlob(path) ? undefined : statSync(`${root}/${path}`, { throwIfNoEntry: false });
		const now = file === undefined || file.isDirectory() ? present(path, root) : undefined;
		if (file === undefined && now === undefined) {
			(reasons ??= []).push({ kind: 'output-missing', path });
			continue;
		}
		if (entry === undefined) {
			(reasons ??= []).push({ kind: 'output-changed', path, detail: 'not recorded by the last run' });
			continue;
		}
		const hashEnd = entry.indexOf(' ');
		const stampEnd = entry.indexOf(' ', hashEnd + 1);
		const stamp = now ? stampOfPresent(now) : stampOf(file!);
		if (entry.length - stampEnd - 1 === path.length && entry.startsWith(stamp, hashEnd + 1) && hashEnd + 1 + stamp.length === stampEnd) continue;
		const hash = now ? hashOfPresent(now) : contentHash(readFileSync(`${root}/${path}`));
		if (!entry.startsWith(hash) || hash.length !== hashEnd) (reasons ??= []).push({ kind: 'output-changed', path, detail: 'changed since the last run' });
	}
	return reasons ?? noReasons;
}

/** Whether a record (`"<hash> <stamp> <path>"`) is that of `path`. */
function recordsPath(record: string, path: string): boolean {
	const start = record.length - path.length;
	return record.endsWith(path) && record.charCodeAt(start - 1) === 32 && record.indexOf(' ', record.indexOf(' ') + 1) === start - 1;
}

/**
 * What the output hash that dependents see is taken of: the task's returned value (as canonical
 * JSON) and, when it declares outputs, their content hashes (same bytes, same hash: dependents
 * stay cached).
 */
export function hashedOutput(valueText: string, records: readonly string[] | undefined): string {
	if (!records || records.length === 0) return valueText;
	let text = valueText;
	for (const record of records) text += `\n${record.slice(0, record.indexOf(' '))}`;
	return text;
}

/** What removing a declared output found: the paths (relative to the Nubfile) deleted, or none. */
export interface RemovedOutput {
	path: string;
	removed: boolean;
}

/**
 * Deletes the declared outputs as they are now (a folder with its contents, a glob's files): a
 * forced rerun starts without them, and `nub destroy` takes them down.
 */
export function removeOutputs(declared: readonly string[], root: string): RemovedOutput[] {
	return declared.map(path => {
		const now = present(path, root);
		if (!now) return { path, removed: false };
		if (isGlob(path)) for (const file of now.files) rmSync(file.path, { force: true });
		else rmSync(join(root, path), { recursive: true, force: true });
		return { path, removed: true };
	});
}

/**
 * Why a declared output path cannot be one: empty, absolute, or reaching outside the Nubfile's
 * folder (destroy deletes outputs: it must never reach past the project); undefined when it can.
 */
export function outputPathProblem(path: unknown): string | undefined {
	if (typeof path !== 'string' || path.trim() === '') return 'is not a path';
	if (path.startsWith('/') || path.startsWith('\\') || (path[1] === ':' && /^[A-Za-z]:/.test(path))) return 'is absolute: give it relative to the Nubfile\'s folder';
	// Checked for every declared output as the graph is built: the split only when `..` is there.
	if (path.includes('..') && path.split(/[\\/]/).includes('..')) return 'reaches outside the Nubfile\'s folder';
	if (path === '.' || path === './') return 'is the whole project folder';
	return undefined;
}
