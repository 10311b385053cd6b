import test from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kube } from '../../lib/k8s/client.ts';
import { KubeError } from '../../lib/k8s/errors.ts';
import { managedByLabel, ownedByNub, withManagedByLabel } from '../../lib/k8s/field-manager.ts';
import type { KubeObject } from '../../lib/k8s/objects.ts';
import { startSandbox } from '../../lib/sandbox/index.ts';

const withManagers = (...managers: string[]): KubeObject => ({
	apiVersion: 'v1',
	kind: 'ConfigMap',
	metadata: { name: 'x', namespace: 'nublado', managedFields: managers.map(manager => ({ manager, operation: 'Apply', fieldsType: 'FieldsV1', fieldsV1: {} })) },
});

test('ownedByNub: only an object whose managedFields name the field manager "nub"', t => {
	t.true(ownedByNub(withManagers('nub')));
	t.true(ownedByNub(withManagers('kube-controller-manager', 'nub')));
	t.false(ownedByNub(withManagers('kubectl-create')));
	t.false(ownedByNub(withManagers('nub-impostor', 'Nub')));
	t.false(ownedByNub(withManagers()));
	t.false(ownedByNub({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'nublado' } }));
	t.false(ownedByNub({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'nublado', managedFields: 'nub' } } as never));
});

test('withManagedByLabel adds the label, keeps the others, and leaves the object given as it was', t => {
	const object: KubeObject = { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'hub', namespace: 'nublado', labels: { app: 'hub' } } };
	const labelled = withManagedByLabel(object);
	t.deepEqual(labelled.metadata, { name: 'hub', namespace: 'nublado', labels: { app: 'hub', [managedByLabel]: 'nub' } });
	t.deepEqual(object.metadata, { name: 'hub', namespace: 'nublado', labels: { app: 'hub' } });
	t.is(withManagedByLabel(labelled), labelled);
});

test('destroy and prune delete what nub applied (a bare ServiceAccount included) and refuse what it does not manage', async t => {
	const dir = mkdtempSync(join(tmpdir(), 'nub-k8s-'));
	const sandbox = await startSandbox({ dir, loadBalancerDelayMs: 300, rolloutDelayMs: 300 });
	t.teardown(async () => {
		await sandbox.close();
		rmSync(dir, { recursive: true, force: true });
	});
	const kube = await Kube.connect({ kubeconfig: sandbox.kubeconfigPath, context: 'nub-sandbox' }, { minRetryMs: 20 });
	// Made by someone else (a plain create, as kubectl create does): a state record naming it is not enough.
	const theirs: KubeObject = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'nublado' } };
	await kube.create(theirs);
	const error = await t.throwsAsync(kube.deleteWith(theirs, { propagationPolicy: 'Foreground' }), { instanceOf: KubeError });
	t.is((error as KubeError).reason, 'not-managed');
	t.regex(error!.message, /^Namespace nublado is not managed by nub \(no field manager "nub" in its managedFields\): not deleted/);
	t.truthy(await kube.read(theirs), 'the namespace nub does not manage was deleted');
	t.false(sandbox.requests.some(request => request.method === 'DELETE'));
	// Applied by nub: a ServiceAccount that sets no field but its name still carries nub's entry.
	const ours: KubeObject = { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'hub', namespace: 'nublado' } };
	await kube.apply([ours]);
	t.true(ownedByNub((await kube.read(ours))!));
	t.true(await kube.deleteWith(ours, { propagationPolicy: 'Foreground' }));
	t.falsy(await kube.read(ours));
	t.false(await kube.deleteWith(ours, { propagationPolicy: 'Foreground' }), 'an object already gone is absent, not refused');
});
