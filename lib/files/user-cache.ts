import { lstatSync, mkdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { isAbsolute, join } from 'node:path';

/**
 * A folder of the user's own cache (`$XDG_CACHE_HOME/nub/<name>`, else `~/.cache/nub/<name>`) for
 * what nub runs code from: made 0700, and refused unless it is a real folder (not a link) that
 * belongs to this user and that nobody else can write. Code found in a cache someone else could
 * have written is never run.
 */
export function userCacheDir(...names: string[]): string {
	const env = process.env.XDG_CACHE_HOME;
	const base = env && isAbsolute(env) ? env : join(homedir(), '.cache');
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
 * A cache folder for a project (`<root>/node_modules/.cache/nub/<name>`) when its node_modules is
 * a folder of this user's that nobody else can write, else one of the user's own cache
 * (`userCacheDir`). Either way checked as `userCacheDir` checks: made 0700, a folder of this
 * user's that nobody else can write.
 */
export function projectCacheDir(root: string, ...names: string[]): string {
	try {
		const modules = join(root, 'node_modules');
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
