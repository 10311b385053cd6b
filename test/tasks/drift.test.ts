import test, { type ExecutionContext } from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Sandbox } from '../../lib/sandbox/index.ts';
import { nub, summaryOf } from '../helpers/project.ts';
import { kubectl } from '../sandbox/helpers.ts';
import { deployedNublado } from '../helpers/deployed.ts';

/**
 * Cached is not the same as true: the nublado deployment on a sandbox this test serves, then
 * objects changed behind nub's back. Each time `nub plan` names the drift, `nub run all` repairs
 * exactly the affected tasks, and the run after does nothing and writes nothing.
 */

const writes = (sandbox: Sandbox) => sandbox.requests.filter(request => request.method !== 'GET').length;

async function repairs(t: ExecutionContext, dir: string, sandbox: Sandbox, drift: RegExp, expected: string[]) {
	const plan = await nub(dir, ['plan', 'all']);
	t.is(plan.code, 0, plan.stderr);
	t.regex(plan.stdout, drift);
	const repair = await nub(dir, ['run', 'all', '--json']);
	t.is(repair.code, 0, repair.stderr);
	t.deepEqual(summaryOf(repair.stdout).succeeded, expected);
	const before = writes(sandbox);
	const after = await nub(dir, ['run', 'all', '--json']);
	t.deepEqual(summaryOf(after.stdout).succeeded, []);
	t.is(writes(sandbox), before, 'a run with nothing drifted wrote to the cluster');
}

test('a deleted Deployment: the plan names it, the run re-applies the hub and nothing else', async t => {
	const { dir, sandbox, kube } = await deployedNublado(t);
	const before = writes(sandbox);
	// Nothing drifted: checks read, they never write.
	t.deepEqual(summaryOf((await nub(dir, ['run', 'all', '--json'])).stdout).succeeded, []);
	t.is(writes(sandbox), before);
	await kube.delete({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'hub', namespace: 'nublado' } });
	// nub graph marks it too, and writes nothing either.
	const graph = await nub(dir, ['graph', 'all']);
	t.regex(graph.stdout, /hub +\[hub\] +≠ drifted: Deployment nublado\/hub deleted/);
	t.regex(graph.stdout, /1 drifted/);
	await repairs(t, dir, sandbox, /run +hub +drifted: Deployment nublado\/hub deleted/, ['hub']);
	t.truthy(await kube.read({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'hub', namespace: 'nublado' } }));
});

test('a ConfigMap edited by hand is put back', async t => {
	const { dir, sandbox, kube } = await deployedNublado(t);
	const ref = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'fs-mounts', namespace: 'nublado' } };
	const live = (await kube.read(ref))!;
	// Someone edits the data by hand.
	const home = mkdtempSync(join(tmpdir(), 'nub-kubectl-'));
	t.teardown(() => rmSync(home, { recursive: true, force: true }));
	const edit = await kubectl(sandbox.kubeconfigPath, home, ['patch', 'configmap', 'fs-mounts', '-n', 'nublado', '--type', 'merge', '-p', '{"data":{"mountpoints.json":"[]"}}']);
	t.is(edit.code, 0, edit.stderr);
	await repairs(t, dir, sandbox, /run +hub +drifted: ConfigMap nublado\/fs-mounts: data\.mountpoints\.json changed/, ['hub']);
	t.deepEqual((await kube.read(ref))!.data, live.data);
});

test('the ingress controller\'s namespace deleted: the controller is re-applied; a changed address reaches the DNS task', async t => {
	const { dir, sandbox, kube } = await deployedNublado(t);
	await kube.delete({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'ingress-nginx' } });
	const plan = await nub(dir, ['plan', 'all']);
	t.regex(plan.stdout, /run +ingress-controller +drifted: Namespace ingress-nginx deleted \(and \d+ more\)/);
	t.regex(plan.stdout, /run +ingress-ip +drifted: the ingress address is gone/);
	const repair = await nub(dir, ['run', 'all', '--json']);
	t.is(repair.code, 0, repair.stderr);
	const succeeded = summaryOf(repair.stdout).succeeded;
	t.true(succeeded.includes('ingress-controller') && succeeded.includes('ingress-ip'));
	t.true(succeeded.every(name => ['ingress-controller', 'ingress-ip', 'ingress', 'dns'].includes(name)), succeeded.join(', '));
	t.truthy(await kube.read({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'ingress-nginx', namespace: 'ingress-nginx' } }));
	const before = writes(sandbox);
	t.deepEqual(summaryOf((await nub(dir, ['run', 'all', '--json'])).stdout).succeeded, []);
	t.is(writes(sandbox), before);
});

test('a check that cannot reach the API is reported as such, not as drift; --no-check trusts the cache', async t => {
	const { dir, sandbox } = await deployedNublado(t);
	sandbox.setFaults({ errorRate: 1 });
	const failed = await nub(dir, ['run', 'all']);
	t.is(failed.code, 1);
	t.regex(failed.stderr, /^nub: checking task "[a-z-]+" failed: list .*: the API server failed \(50[03]/m);
	t.regex(failed.stderr, /nub: nothing ran: the cache cannot be checked \(--no-check trusts it as it is\)\n$/);
	t.false(failed.stdout.includes('drifted'));
	const trusted = await nub(dir, ['run', 'all', '--no-check', '--json']);
	t.is(trusted.code, 0, trusted.stderr);
	t.deepEqual(summaryOf(trusted.stdout).succeeded, []);
});
