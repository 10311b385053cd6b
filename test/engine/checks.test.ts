import test from 'ava';
import { join } from 'node:path';
import { runChecks } from '../../lib/engine/checks.ts';
import { buildGraph } from '../../lib/engine/graph.ts';
import { Redactor } from '../../lib/engine/redact.ts';
import { createSealer } from '../../lib/engine/sealer.ts';
import { StateStore } from '../../lib/engine/state-store.ts';
import { task } from '../../lib/engine/task.ts';
import { cleanup, runTasks, tempDir } from '../helpers/engine.ts';

test('checks run for cached tasks with what their needs gave; drift reruns exactly the drifted task, saying why', async t => {
	const dir = tempDir();
	t.teardown(() => cleanup(dir));
	const world = { address: '10.0.0.1', deleted: false };
	const seen: unknown[] = [];
	const roots = () => {
		const address = task({ name: 'address', run: () => world.address, check: (_, { previous }) => (previous === world.address ? undefined : `address is now ${world.address}`) });
		const deploy = task({
			name: 'deploy',
			needs: { address },
			run: ({ address }) => ({ applied: address }),
			check: ({ address }, { previous }) => {
				seen.push([address, previous]);
				if (world.deleted) return 'Deployment demo/web deleted';
				return undefined;
			},
		});
		const failing = task({ name: 'unreachable', run: () => 1, check: () => Promise.reject(new Error('cannot talk to the API server: ECONNREFUSED')) });
		return [deploy, failing];
	};
	await runTasks(dir, roots());
	const check = async (force: Set<string> = new Set()) => {
		const nodes = buildGraph(roots()).nodes;
		const stateDir = join(dir, '.nub');
		return runChecks({ nodes, state: StateStore.load(stateDir), root: dir, sealer: createSealer({ stateDir }), redactor: new Redactor(), jobs: 4, force });
	};
	const clean = await check();
	t.deepEqual([...clean.drifted], []);
	t.deepEqual([...clean.failed], [['unreachable', 'cannot talk to the API server: ECONNREFUSED']]);
	t.deepEqual(seen.at(-1), ['10.0.0.1', { applied: '10.0.0.1' }]);
	t.is(clean.checked, 3);

	world.deleted = true;
	const drifted = await check();
	t.deepEqual([...drifted.drifted], [['deploy', 'Deployment demo/web deleted']]);
	const repaired = await runTasks(dir, roots(), { drift: drifted.drifted });
	t.deepEqual(repaired.started, ['deploy']);
	const start = repaired.events.find(event => event.type === 'task-start');
	t.deepEqual(start?.type === 'task-start' ? start.reasons : undefined, [{ kind: 'drifted', detail: 'Deployment demo/web deleted' }]);

	// A forced task is not checked: it runs anyway.
	const forced = await check(new Set(['deploy']));
	t.false(forced.drifted.has('deploy'));
	t.is(forced.checked, 2);
});

test('a drift message quoting the cluster shows its control characters escaped', async t => {
	const dir = tempDir();
	t.teardown(() => cleanup(dir));
	const live = 'web\u001b]0;pwned\u0007\u001b[2J';
	const roots = () => [
		task({ name: 'image', run: () => 'web', check: (_, { previous }) => `the image is ${live}, not ${String(previous)}` }),
		task({ name: 'broken', run: () => 1, check: () => Promise.reject(new Error(`the API server said \u001b[31m${live}`)) }),
	];
	await runTasks(dir, roots());
	const stateDir = join(dir, '.nub');
	const checked = await runChecks({ nodes: buildGraph(roots()).nodes, state: StateStore.load(stateDir), root: dir, sealer: createSealer({ stateDir }), redactor: new Redactor(), jobs: 2 });
	t.deepEqual([...checked.drifted], [['image', 'the image is web\\x1b]0;pwned\\x07\\x1b[2J, not web']]);
	t.deepEqual([...checked.failed], [['broken', 'the API server said \\x1b[31mweb\\x1b]0;pwned\\x07\\x1b[2J']]);
});
