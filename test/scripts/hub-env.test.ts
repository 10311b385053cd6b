import test from 'ava';
import { chownSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { builtHubEnvironment } from '../helpers/hub-env.ts';
import { useCacheHome } from '../helpers/cache-home.ts';

/*
 * The hub test runs the Python of an environment in the user's cache (issue 17, item 1): one whose
 * completion mark another uid wrote (2002 here, the tests running as root) is not taken as made.
 * Nothing is installed: the environment is only looked for.
 */
test.serial("the hub's Python environment counts as made only when its completion mark is the user's own", t => {
	const cache = useCacheHome(t);
	t.is(builtHubEnvironment(), undefined);
	const [name] = readdirSync(join(cache, 'nub')).filter(entry => entry.startsWith('hubenv-'));
	const dir = join(cache, 'nub', name!);
	writeFileSync(join(dir, '.nub-complete'), '');
	t.is(builtHubEnvironment(), dir, "control: the user's own mark");
	chownSync(join(dir, '.nub-complete'), 2002, 2002);
	t.is(builtHubEnvironment(), undefined);
});
