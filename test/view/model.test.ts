import test from 'ava';
import { join } from 'node:path';
import { buildGraph, selectNodes } from '../../lib/engine/graph.ts';
import { planRun } from '../../lib/engine/plan.ts';
import { StateStore } from '../../lib/engine/state-store.ts';
import { task } from '../../lib/engine/task.ts';
import { buildView, type GraphView } from '../../lib/view/index.ts';
import { cleanup, runTasks, tempDir } from '../helpers/engine.ts';
import { longError, scenario, secretValue } from './scenario.ts';

const dir = tempDir();
let view: GraphView;
let forcing: (names: string[]) => Promise<GraphView>;
test.before(async () => ({ view, forcing } = await scenario(dir)));
test.after.always(() => cleanup(dir));

const nodeOf = (view: GraphView, name: string) => view.nodes.find(node => node.name === name)!;
const statesOf = (view: GraphView) => Object.fromEntries(view.nodes.map(node => [node.name, node.state]));

test('each task is in the first state whose rule holds', t => {
	t.deepEqual(statesOf(view), {
		namespace: 'cached',
		'hub:token': 'cached',
		'nfs-service-ip': 'will-run',
		fileserver: 'maybe',
		'hub.config': 'failed',
		hub: 'blocked',
		notes: 'blocked',
		landing: 'forced',
		newcomer: 'never-run',
		stuck: 'interrupted',
		all: 'blocked',
	});
});

test('forced comes before failed and blocked', async t => {
	const forced = await forcing(['hub.config', 'hub']);
	t.is(nodeOf(forced, 'hub.config').state, 'forced');
	t.is(nodeOf(forced, 'hub').state, 'forced');
	t.is(nodeOf(forced, 'landing').state, 'cached');
});

test('a blocked task names the failed or interrupted tasks it needs, directly or not, in graph order', t => {
	t.deepEqual(nodeOf(view, 'hub').blockedBy, ['hub.config']);
	t.deepEqual(nodeOf(view, 'all').blockedBy, ['hub.config', 'stuck']);
	t.false('blockedBy' in nodeOf(view, 'fileserver'));
});

test('why is the plan in English', t => {
	t.deepEqual(nodeOf(view, 'nfs-service-ip').why, ['config changed']);
	t.deepEqual(nodeOf(view, 'fileserver').why, ['nfs-service-ip will run; reruns only if its output changes']);
	t.deepEqual(nodeOf(view, 'landing').why, ['forced']);
	t.deepEqual(nodeOf(view, 'namespace').why, []);
	t.is(nodeOf(view, 'hub.config').why[0], `failed last time: ${longError}`);
});

test('the last run: a failure with its first line, a success with its output and times', t => {
	const failed = nodeOf(view, 'hub.config').last!;
	t.like(failed, { outcome: 'failed', error: longError });
	t.false('output' in failed);
	t.like(nodeOf(view, 'stuck').last, { outcome: 'interrupted' });
	const succeeded = nodeOf(view, 'fileserver').last!;
	t.like(succeeded, { outcome: 'succeeded', output: { server: '10.0.0.7' } });
	t.is(new Date(succeeded.at).toISOString(), succeeded.at);
	t.true(succeeded.durationMs >= 0);
	t.false('last' in nodeOf(view, 'newcomer'));
});

test('the node carries the task: description, group, secret, group task, needs in order', t => {
	t.deepEqual(nodeOf(view, 'all'), { ...nodeOf(view, 'all'), description: 'Everything', isGroup: true, needs: ['hub', 'fileserver', 'landing', 'notes', 'newcomer', 'stuck'] });
	t.like(nodeOf(view, 'hub:token'), { group: 'hub', secret: true, isGroup: false, last: { output: '[secret]' } });
	t.false('group' in nodeOf(view, 'landing'));
	t.deepEqual(view.groups, ['core', 'fileserver', 'hub']);
	t.deepEqual(view.targets, ['all']);
	const position = new Map(view.nodes.map((node, i) => [node.name, i]));
	for (const node of view.nodes) for (const need of node.needs) t.true(position.get(need)! < position.get(node.name)!);
});

test('a task made secret since its last run shows the marker, not its recorded output', async t => {
	const here = tempDir();
	t.teardown(() => cleanup(here));
	await runTasks(here, [task({ name: 'token', run: () => secretValue })]);
	const nodes = selectNodes(buildGraph([task({ name: 'token', secret: true, run: () => secretValue })]), ['token']);
	const state = StateStore.load(join(here, '.nub'));
	const secret = buildView(nodes, await planRun(nodes, state, here, new Set()), state, new Set(), ['token']);
	t.is(secret.nodes[0]!.last?.output, '[secret]');
	t.false(JSON.stringify(secret).includes(secretValue));
});

test('a plan without one of the tasks is a bug, said so', async t => {
	const nodes = selectNodes(buildGraph([task({ name: 'lonely', run: () => 1 })]), ['lonely']);
	const state = StateStore.load(join(dir, 'none'));
	t.throws(() => buildView(nodes, [], state, new Set(), ['lonely']), { message: 'buildView: the plan has no entry for task "lonely"' });
});
