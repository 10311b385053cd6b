import test from 'ava';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkAncestors, projectCacheDir, userCacheDir } from '../../lib/files/user-cache.ts';
import { useCacheHome } from '../helpers/cache-home.ts';

/* Another user is uid 2002 (the tests run as root); a folder of mode 777 is one others can write. */
const other = 2002;

function folder(t: { teardown: (fn: () => void) => void }): string {
	const dir = mkdtempSync(join(tmpdir(), 'nub-user-cache-'));
	t.teardown(() => rmSync(dir, { recursive: true, force: true }));
	return dir;
}

test('a folder above the cache that others can write, without a sticky bit, is refused; with one it is not', t => {
	const dir = folder(t);
	chmodSync(dir, 0o777);
	t.throws(() => checkAncestors(join(dir, 'nub')), { message: `${dir} can be written by others (mode 777, no sticky bit), who could replace nub's cache in it: nub keeps no code there; chmod go-w it or set XDG_CACHE_HOME to a folder of your own` });
	chmodSync(dir, 0o1777);
	t.notThrows(() => checkAncestors(join(dir, 'nub')));
	chmodSync(dir, 0o775);
	t.throws(() => checkAncestors(join(dir, 'nub')), { message: /can be written by others \(mode 775/ });
});

test("a folder above the cache that belongs to another user (not root) is refused, however deep", t => {
	const dir = folder(t);
	mkdirSync(join(dir, 'a/b'), { recursive: true });
	chownSync(join(dir, 'a'), other, other);
	t.throws(() => checkAncestors(join(dir, 'a/b/nub')), { message: `${join(dir, 'a')} belongs to uid ${other}, who could replace nub's cache in it: nub keeps no code there; set XDG_CACHE_HOME to a folder of your own` });
});

test('links above the cache are followed: the folders checked are the real ones', t => {
	const dir = folder(t);
	mkdirSync(join(dir, 'open'));
	chmodSync(join(dir, 'open'), 0o777);
	symlinkSync(join(dir, 'open'), join(dir, 'link'));
	t.throws(() => checkAncestors(join(dir, 'link/nub')), { message: new RegExp(`^${join(dir, 'open')} can be written by others`) });
});

test.serial("the user's cache: XDG_CACHE_HOME/nub made 0700; a link in its place or a folder of another user's refused; a project's node_modules of another user's falls back to it", t => {
	const dir = folder(t);
	useCacheHome(t, join(dir, 'cache'));
	t.is(userCacheDir('x'), join(dir, 'cache/nub/x'));

	const project = join(dir, 'project');
	mkdirSync(join(project, 'node_modules'), { recursive: true });
	t.is(projectCacheDir(project, 'y'), join(project, 'node_modules/.cache/nub/y'));
	chownSync(join(project, 'node_modules'), other, other);
	t.is(projectCacheDir(project, 'y'), join(dir, 'cache/nub/y'));

	rmSync(join(dir, 'cache/nub'), { recursive: true });
	mkdirSync(join(dir, 'elsewhere'));
	symlinkSync(join(dir, 'elsewhere'), join(dir, 'cache/nub'));
	t.throws(() => userCacheDir('x'), { message: `${join(dir, 'cache/nub')} is not a folder (a link or a file): nub does not use it as its cache; remove it` });
	rmSync(join(dir, 'cache/nub'));
	mkdirSync(join(dir, 'cache/nub'));
	chownSync(join(dir, 'cache/nub'), other, other);
	t.throws(() => userCacheDir('x'), { message: /belongs to uid 2002, not to you/ });
});
