import { statSync } from 'node:fs';
import { join } from 'node:path';
import { AppsV1Api, CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import test from 'ava';
import { findRunningSandbox, resetSandbox, startSandbox } from '../../lib/sandbox/index.ts';
import { eventually, statusOf, tempDir, withSandbox } from './helpers.ts';

test('state survives a restart: same objects, same CA and tokens; a pending rollout finishes after it', async t => {
	const dir = tempDir(t);
	const first = await startSandbox({ dir, rolloutDelayMs: 600 });
	const kc = new KubeConfig();
	kc.loadFromFile(first.kubeconfigPath);
	const core = kc.makeApiClient(CoreV1Api);
	await core.createNamespace({ body: { metadata: { name: 'nublado' } } });
	const map = await core.createNamespacedConfigMap({ namespace: 'nublado', body: { metadata: { name: 'c' }, data: { a: '1' } } });
	await kc.makeApiClient(AppsV1Api).createNamespacedDeployment({
		namespace: 'nublado',
		body: { metadata: { name: 'hub' }, spec: { selector: { matchLabels: { app: 'hub' } }, template: { metadata: { labels: { app: 'hub' } }, spec: { containers: [{ name: 'hub', image: 'hub' }] } } } },
	});
	await first.close(); // before the rollout is due
	t.is(findRunningSandbox(dir), undefined);

	const second = await startSandbox({ dir, rolloutDelayMs: 600 });
	t.teardown(() => second.close());
	t.is(second.caPem, first.caPem);
	const again = new KubeConfig();
	again.loadFromFile(second.kubeconfigPath);
	t.is(again.getCurrentUser()!.token, kc.getCurrentUser()!.token);
	const read = await again.makeApiClient(CoreV1Api).readNamespacedConfigMap({ name: 'c', namespace: 'nublado' });
	t.is(read.metadata!.uid, map.metadata!.uid);
	t.is(read.metadata!.resourceVersion, map.metadata!.resourceVersion);
	const created = await again.makeApiClient(CoreV1Api).createNamespacedConfigMap({ namespace: 'nublado', body: { metadata: { name: 'd' } } });
	t.true(Number(created.metadata!.resourceVersion) > Number(map.metadata!.resourceVersion), 'the resourceVersion counter continues');
	const rolled = await eventually(
		() => again.makeApiClient(AppsV1Api).readNamespacedDeployment({ name: 'hub', namespace: 'nublado' }),
		deployment => deployment.status?.availableReplicas === 1,
	);
	t.is(rolled.status!.observedGeneration, 1);
});

test('one sandbox per folder; findRunningSandbox sees the live one; files are private', async t => {
	const { sandbox, dir } = await withSandbox(t);
	await t.throwsAsync(startSandbox({ dir }), { message: /already runs on/ });
	t.like(findRunningSandbox(dir), { url: sandbox.url, kubeconfigPath: sandbox.kubeconfigPath, pid: process.pid });
	t.is(statSync(dir).mode & 0o777, 0o700);
	for (const name of ['ca.key', 'server.key', 'tokens.json', 'kubeconfig', 'state.json']) t.is(statSync(join(dir, name)).mode & 0o777, 0o600, name);
});

test('resetSandbox empties the cluster and keeps the credentials', async t => {
	const { sandbox, dir, kc } = await withSandbox(t);
	const core = kc.makeApiClient(CoreV1Api);
	await core.createNamespace({ body: { metadata: { name: 'nublado' } } });
	await resetSandbox(dir);
	t.like(statusOf(await t.throwsAsync(core.readNamespace({ name: 'nublado' }))), { code: 404 });
	t.true((await core.listNamespace()).items.some(item => item.metadata!.name === 'default'));

	await core.createNamespace({ body: { metadata: { name: 'nublado' } } });
	await sandbox.close();
	await resetSandbox(dir);
	const next = await startSandbox({ dir });
	t.teardown(() => next.close());
	t.is(next.caPem, sandbox.caPem);
	const fresh = new KubeConfig();
	fresh.loadFromFile(next.kubeconfigPath);
	t.like(statusOf(await t.throwsAsync(fresh.makeApiClient(CoreV1Api).readNamespace({ name: 'nublado' }))), { code: 404 });
});
