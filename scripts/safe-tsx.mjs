// @ts-check
/**
 * tsx, loaded with its disk cache only when that cache is this user's alone: `node
 * --import=./scripts/safe-tsx.mjs` wherever the tests, the benchmark and the cluster scripts run
 * TypeScript from source (package.json, scripts/setup).
 *
 * tsx keeps the code it compiled in `<tmpdir>/tsx-<uid>`, made without a look at who owns it, and
 * runs what it finds there under a key anyone can compute from the public sources. Another local
 * user who makes that folder first (or finds it writable) can plant code that the next `npm test`
 * runs as you: the attack of issue 17 on nub's own caches. Here the folder is made 0700 when
 * missing; unless it is then a folder of this user's that nobody else can write, in a temporary
 * folder nobody else can swap it out of (its sticky bit, as /tmp's), the cache is off
 * (TSX_DISABLE_CACHE, read by tsx as it loads) and tsx compiles everything afresh.
 */
import { lstatSync, mkdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Whether `<tmpdir>/tsx-<uid>` is safe to run cached code from.
 * @param {number} uid
 */
function ownCache(uid) {
	const parent = tmpdir();
	const dir = join(parent, `tsx-${uid}`);
	try {
		mkdirSync(dir, { mode: 0o700 });
	} catch {
		// There already: checked below.
	}
	try {
		const folder = lstatSync(dir);
		const above = statSync(parent);
		const aboveSafe = (above.uid === uid || above.uid === 0) && ((above.mode & 0o022) === 0 || (above.mode & 0o1000) !== 0);
		return aboveSafe && folder.isDirectory() && folder.uid === uid && (folder.mode & 0o022) === 0;
	} catch {
		return false;
	}
}

const uid = process.geteuid?.();
if (uid !== undefined && !process.env.TSX_DISABLE_CACHE && !ownCache(uid)) {
	process.env.TSX_DISABLE_CACHE = '1';
}
await import('tsx');
