import { lstatSync, mkdirSync, realpathSync, type Stats } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join } from 'node:path';

/**
 * A folder of the user's own cache (`$XDG_CACHE_HOME/nub/<name>`, else `~/.cache/nub/<name>`) for
 * what nub runs code from: made 0700, and refused unless it is a real folder (not a link) that
 * belongs to this user and that nobody else can write, in folders that nobody else can change (see
 * `checkAncestors`). Code found in a cache someone else could have written is never run.
 * `XDG_CACHE_HOME` is used only when absolute, as the XDG specification says.
 */
export function userCacheDir(...names: string[]): string {
	const env = process.env.XDG_CACHE_HOME;
	const base = env && isAbsolute(env) ? env : join(homedir(), '.cache');
	mkdirSync(base, { recursive: true, mode: 0o700 });
	checkAncestors(join(base, 'nub'));
	let dir = join(base, 'nub');
	for (const name of ['', ...names]) {
		if (name) dir = join(dir, name);
		mkdirSync(dir, { recursive: true, mode: 0o700 });
		checkOwnFolder(dir);
	}
	return dir;
}

/** Throws unless `dir` is a folder (not a link) owned by this user and writable by nobody else. */
export function checkOwnFolder(dir: string): void {
	const stat = lstatSync(dir);
	const uid = process.getuid?.();
	if (!stat.isDirectory()) throw new Error(`${dir} is not a folder (a link or a file): nub does not use it as its cache; remove it`);
	if (uid !== undefined && stat.uid !== uid) throw new Error(`${dir} belongs to uid ${stat.uid}, not to you (uid ${uid}): nub does not use it as its cache; remove it`);
	if ((stat.mode & 0o022) !== 0) throw new Error(`${dir} can be written by others (mode ${(stat.mode & 0o777).toString(8)}): nub does not use it as its cache; chmod 700 it or remove it`);
}

/**
 * Throws unless `file` is a regular file (not a link) owned by this user and writable by nobody
 * else: what nub reads from its cache folder before trusting it (a file planted while the folder
 * was open to others stays there when the folder is closed again).
 */
export function checkOwnFile(file: string): void {
	const stat = lstatSync(file);
	const uid = process.getuid?.();
	if (!stat.isFile()) throw new Error(`${file} is not a file`);
	if (uid !== undefined && stat.uid !== uid) throw new Error(`${file} belongs to uid ${stat.uid}, not to you (uid ${uid})`);
	if ((stat.mode & 0o022) !== 0) throw new Error(`${file} can be written by others (mode ${(stat.mode & 0o777).toString(8)})`);
}

/**
 * Throws unless nobody but this user and root can rename or replace `path` or any folder above it:
 * each folder from its parent up to `/` (links resolved) belongs to this user or to root, and is
 * writable by nobody else unless its sticky bit keeps others from renaming what is not theirs (as
 * /tmp's does). Checking the cache folder alone is not enough: whoever can write the folder above
 * it can swap it for their own between the check and the import.
 */
export function checkAncestors(path: string): void {
	const uid = process.getuid?.();
	if (uid === undefined) return;
	let dir = realpathSync(dirname(path));
	for (;;) {
		const stat: Stats = lstatSync(dir);
		if (stat.uid !== uid && stat.uid !== 0) throw new Error(`${dir} belongs to uid ${stat.uid}, who could replace nub's cache in it: nub keeps no code there; set XDG_CACHE_HOME to a folder of your own`);
		if ((stat.mode & 0o022) !== 0 && (stat.mode & 0o1000) === 0) {
			throw new Error(`${dir} can be written by others (mode ${(stat.mode & 0o777).toString(8)}, no sticky bit), who could replace nub's cache in it: nub keeps no code there; chmod go-w it or set XDG_CACHE_HOME to a folder of your own`);
		}
		const parent = dirname(dir);
		if (parent === dir) return;
		dir = parent;
	}
}

/**
 * A cache folder for a project (`<root>/node_modules/.cache/nub/<name>`) when its node_modules is
 * a folder of this user's that nobody else can write, in folders nobody else can change, else one
 * of the user's own cache (`userCacheDir`). Either way checked as `userCacheDir` checks: made
 * 0700, a folder of this user's that nobody else can write.
 */
export function projectCacheDir(root: string, ...names: string[]): string {
	try {
		const modules = join(root, 'node_modules');
		checkAncestors(modules);
		checkOwnFolder(modules);
		let dir = modules;
		for (const name of ['.cache', 'nub', ...names]) {
			dir = join(dir, name);
			mkdirSync(dir, { mode: 0o700, recursive: true });
			checkOwnFolder(dir);
		}
		return dir;
	} catch {
		return userCacheDir(...names);
	}
}
