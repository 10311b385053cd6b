import test, { type ExecutionContext } from 'ava';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Kube } from '../../lib/k8s/client.ts';
import type { Sandbox } from '../../lib/sandbox/index.ts';
import { nub, summaryOf } from '../helpers/project.ts';
import { deployedNublado } from '../helpers/deployed.ts';

/**
 * Pruning: objects an earlier run applied that nothing produces any more (a component switched off,
 * an object removed from a template) are listed by `nub plan`, left by `nub run` with one line
 * saying so, and deleted by `nub run --prune`, and only them.
 */

type Recorded = { apiVersion: string; kind: string; name: string; namespace?: string };

/** The objects each task's last output lists, by task. */
function recordedByTask(dir: string): Map<string, Recorded[]> {
	const byTask = new Map<string, Recorded[]>();
	for (const line of readFileSync(join(dir, '.nub/state.jsonl'), 'utf8').split('\n').slice(1)) {
		if (!line) continue;
		const record = JSON.parse(line) as { t: string; name: string; output?: { objects?: Recorded[] } };
		if (record.t === 'ok' && Array.isArray(record.output?.objects)) byTask.set(record.name, record.output.objects);
		if (record.t === 'gone') byTask.delete(record.name);
	}
	return byTask;
}

const describe = (object: Recorded) => `${object.kind} ${object.namespace ? `${object.namespace}/` : ''}${object.name}`;

/** The resourceVersion of every object, by its description (absent: gone). */
async function versions(kube: Kube, objects: Recorded[]): Promise<Map<string, string | undefined>> {
	const map = new Map<string, string | undefined>();
	for (const object of objects) {
		const live = await kube.read({ apiVersion: object.apiVersion, kind: object.kind, metadata: { name: object.name, ...(object.namespace ? { namespace: object.namespace } : {}) } });
		map.set(describe(object), (live?.metadata as { resourceVersion?: string } | undefined)?.resourceVersion);
	}
	return map;
}

const pruneLines = (stdout: string) => stdout.split('\n').filter(line => line.startsWith('prune  ')).map(line => line.slice('prune  '.length).replace(/\s+from .*$/, '').trim());
const writes = (sandbox: Sandbox) => sandbox.requests.filter(request => request.method !== 'GET').length;

test('firefly switched off: plan lists exactly its objects, run says so, run --prune deletes exactly them, then nothing is left to prune', async t => {
	const { dir, sandbox, kube } = await deployedNublado(t);
	const recorded = recordedByTask(dir);
	const firefly = recorded.get('firefly')!.map(describe);
	t.true(firefly.includes('Deployment nublado/firefly') && firefly.includes('Secret nublado/firefly'), firefly.join(', '));
	const everything = [...recorded.values()].flat();
	const before = await versions(kube, everything);
	const off = { NUBLADO_FIREFLY_ENABLED: 'false' };

	const plan = await nub(dir, ['plan', 'all'], off);
	t.is(plan.code, 0, plan.stderr);
	t.deepEqual(pruneLines(plan.stdout).sort(), [...firefly].sort());
	t.regex(plan.stdout, /^prune  Deployment nublado\/firefly +from firefly \(no longer in the graph\)$/m);
	const planJson = await nub(dir, ['plan', 'all', '--json'], off);
	const pruned = planJson.stdout.trim().split('\n').map(line => JSON.parse(line) as { type?: string; object?: Recorded; name?: string; reason?: string }).filter(entry => entry.type === 'prune-entry');
	t.deepEqual(pruned.map(entry => describe(entry.object!)).sort(), [...firefly].sort());
	t.true(pruned.every(entry => entry.name === 'firefly' && entry.reason === 'no longer in the graph'));

	// Without --prune: left, and said in one line.
	const run = await nub(dir, ['run', 'all', '--json'], off);
	t.is(run.code, 0, run.stderr);
	const said = run.stderr.split('\n').filter(line => line.includes('no longer produced'));
	t.deepEqual(said, [`nub: ${firefly.length} objects an earlier run applied are no longer produced (from firefly): nub run --prune deletes them, nub plan lists them`]);
	t.truthy(await kube.read({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'firefly', namespace: 'nublado' } }));

	// With --prune: exactly firefly's objects go; every other object is as it was.
	const mark = sandbox.requests.length;
	const prune = await nub(dir, ['run', 'all', '--prune', '--json'], off);
	t.is(prune.code, 0, prune.stderr);
	const deleted = sandbox.requests.slice(mark).filter(request => request.method === 'DELETE');
	t.is(deleted.length, firefly.length);
	// --json tells each object deleted, and the run's summary (the last line) what was pruned.
	const events = prune.stdout.trim().split('\n').map(line => JSON.parse(line) as { type?: string; command?: string; name?: string; object?: string; removal?: string });
	t.deepEqual(events.filter(event => event.type === 'undo-object').map(event => `${event.command} ${event.name}: ${event.object} ${event.removal}`).sort(), firefly.map(object => `prune firefly: ${object} deleted`).sort());
	t.deepEqual(summaryOf(prune.stdout).pruned, ['firefly']);
	t.true(sandbox.requests.slice(mark).every(request => request.method === 'GET' || request.method === 'DELETE'), 'prune wrote something else');
	const after = await versions(kube, everything);
	for (const [object, version] of before) {
		if (firefly.includes(object)) t.is(after.get(object), undefined, `${object} pruned`);
		else t.is(after.get(object), version, `${object} unchanged`);
	}

	// Nothing left to prune, nothing to run; nothing written.
	const again = await nub(dir, ['plan', 'all'], off);
	t.deepEqual(pruneLines(again.stdout), []);
	t.regex(again.stdout, /^0 to run, 0 to run if what they need changes, \d+ cached\n$/);
	const writesBefore = writes(sandbox);
	const noop = await nub(dir, ['run', 'all', '--prune', '--json'], off);
	t.deepEqual(summaryOf(noop.stdout).succeeded, []);
	t.false(noop.stderr.includes('no longer produced'));
	t.is(writes(sandbox), writesBefore);

	// Switched on again: firefly is applied anew.
	const on = await nub(dir, ['run', 'all', '--json']);
	t.is(on.code, 0, on.stderr);
	t.true(summaryOf(on.stdout).succeeded.includes('firefly'));
	t.truthy(await kube.read({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'firefly', namespace: 'nublado' } }));
});

test('an object removed from a template stays known as an orphan until pruned, then is forgotten; nothing else reruns', async t => {
	const { dir, sandbox, kube } = await deployedNublado(t);
	// The prepuller's template without its Role and RoleBinding.
	const file = join(dir, 'templates/prepuller/prepuller.yaml');
	const documents = readFileSync(file, 'utf8').split(/^---\n/m);
	const kept = documents.filter(document => !/^kind: (Role|RoleBinding)$/m.test(document));
	t.is(documents.length - kept.length, 2);
	writeFileSync(file, kept.join('---\n'));

	const run = await nub(dir, ['run', 'all', '--json']);
	t.is(run.code, 0, run.stderr);
	t.deepEqual(summaryOf(run.stdout).succeeded, ['prepuller', 'all']);
	t.regex(run.stderr, /^nub: 2 objects an earlier run applied are no longer produced \(from prepuller\): nub run --prune deletes them, nub plan lists them$/m);
	// Known across runs: a later run (the prepuller forced again) keeps them.
	const forced = await nub(dir, ['run', 'prepuller', '--force', '--json']);
	t.is(forced.code, 0, forced.stderr);
	const plan = await nub(dir, ['plan', 'all']);
	t.deepEqual(pruneLines(plan.stdout).sort(), ['Role nublado/prepuller', 'RoleBinding nublado/prepuller']);
	t.regex(plan.stdout, /^prune  RoleBinding nublado\/prepuller +from prepuller \(no longer applied\)$/m);

	const mark = sandbox.requests.length;
	const prune = await nub(dir, ['run', 'all', '--prune', '--json']);
	t.is(prune.code, 0, prune.stderr);
	t.deepEqual(summaryOf(prune.stdout).succeeded, []);
	t.deepEqual(sandbox.requests.slice(mark).filter(request => request.method !== 'GET').map(request => `${request.method} ${request.path.split('/').slice(-2).join('/')}`).sort(), ['DELETE rolebindings/prepuller', 'DELETE roles/prepuller']);
	t.falsy(await kube.read({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'prepuller', namespace: 'nublado' } }));
	t.truthy(await kube.read({ apiVersion: 'batch/v1', kind: 'CronJob', metadata: { name: 'prepuller', namespace: 'nublado' } }));

	// Forgotten: nothing to prune, nothing to run (the orphans were the prepuller's bookkeeping only).
	const after = await nub(dir, ['plan', 'all']);
	t.deepEqual(pruneLines(after.stdout), []);
	t.regex(after.stdout, /^0 to run, 0 to run if what they need changes, \d+ cached\n$/);
	const state = readFileSync(join(dir, '.nub/state.jsonl'), 'utf8');
	t.false(state.trim().split('\n').at(-1)!.includes('orphans'));
});
