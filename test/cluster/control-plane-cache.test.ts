import test from 'ava';
import { chmodSync, chownSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { builtNubkube } from '../../cluster/control-plane.ts';
import { useCacheHome } from '../helpers/cache-home.ts';

/*
 * The control plane's binary is run from the user's cache (issue 17, item 1): one there that is
 * not the user's (uid 2002 here, the tests running as root), or that others can write, is not
 * taken for a build. Needs no control plane: nothing is built or started.
 */
test.serial("a control-plane binary in the cache that another uid owns, or others can write, is not taken for a build", t => {
	const cache = useCacheHome(t);
	t.is(builtNubkube(), undefined);
	// Its folder, made and checked by the look above.
	const [name] = readdirSync(join(cache, 'nub')).filter(entry => entry.startsWith('nubkube-'));
	const dir = join(cache, 'nub', name!);
	writeFileSync(join(dir, 'nubkube'), '#!/bin/sh\necho planted\n', { mode: 0o755 });
	symlinkSync('nubkube', join(dir, 'kubectl'));
	t.is(builtNubkube()?.binary, join(dir, 'nubkube'), "control: a binary of the user's own is a build");
	chownSync(join(dir, 'nubkube'), 2002, 2002);
	t.is(builtNubkube(), undefined, 'a binary of another uid was taken for a build');
	chownSync(join(dir, 'nubkube'), process.getuid!(), process.getgid!());
	chmodSync(join(dir, 'nubkube'), 0o777);
	t.is(builtNubkube(), undefined, 'a binary others can write was taken for a build');
	chmodSync(join(dir, 'nubkube'), 0o755);
	rmSync(join(dir, 'kubectl'));
	symlinkSync('/bin/sh', join(dir, 'kubectl'));
	t.is(builtNubkube(), undefined, 'a kubectl linked elsewhere was taken for a build');
});
