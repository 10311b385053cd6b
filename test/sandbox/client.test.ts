import { AppsV1Api, CoreV1Api, KubeConfig, KubernetesObjectApi, PatchStrategy, Watch, type V1Deployment } from '@kubernetes/client-node';
import test from 'ava';
import { eventually, rawRequest, statusOf, withSandbox } from './helpers.ts';

const deployment = (name: string, namespace: string, labels = { app: name }): V1Deployment => ({
	apiVersion: 'apps/v1',
	kind: 'Deployment',
	metadata: { name, namespace },
	spec: {
		replicas: 2,
		selector: { matchLabels: { app: name } },
		template: { metadata: { labels }, spec: { containers: [{ name, image: 'nginx:1.27' }] } },
	},
});

test('CRUD through the real client: create, read, list with selectors, replace, delete', async t => {
	const { kc } = await withSandbox(t);
	const core = kc.makeApiClient(CoreV1Api);
	await core.createNamespace({ body: { metadata: { name: 'nublado' } } });
	const namespace = await core.readNamespace({ name: 'nublado' });
	t.is(namespace.status?.phase, 'Active');
	t.truthy(namespace.metadata?.uid);

	const created = await core.createNamespacedConfigMap({ namespace: 'nublado', fieldManager: 'nub-test', body: { metadata: { name: 'hub-config', labels: { app: 'hub' } }, data: { a: '1' } } });
	await core.createNamespacedConfigMap({ namespace: 'nublado', body: { metadata: { name: 'other' }, data: {} } });
	t.regex(created.metadata!.resourceVersion!, /^\d+$/);
	t.truthy(created.metadata!.creationTimestamp);
	t.deepEqual(
		created.metadata!.managedFields!.map(entry => [entry.manager, entry.operation]),
		[['nub-test', 'Update']],
	);

	const byLabel = await core.listNamespacedConfigMap({ namespace: 'nublado', labelSelector: 'app=hub' });
	t.deepEqual(byLabel.items.map(item => item.metadata!.name), ['hub-config']);
	const byName = await core.listConfigMapForAllNamespaces({ fieldSelector: 'metadata.name=other' });
	t.deepEqual(byName.items.map(item => `${item.metadata!.namespace}/${item.metadata!.name}`), ['nublado/other']);

	const replaced = await core.replaceNamespacedConfigMap({ name: 'hub-config', namespace: 'nublado', body: { ...created, data: { a: '2' } } });
	t.is(replaced.data!.a, '2');
	t.true(Number(replaced.metadata!.resourceVersion) > Number(created.metadata!.resourceVersion));
	t.is(replaced.metadata!.uid, created.metadata!.uid);

	const gone = await core.deleteNamespacedConfigMap({ name: 'hub-config', namespace: 'nublado' });
	t.is(gone.status, 'Success');
	const error = await t.throwsAsync(core.readNamespacedConfigMap({ name: 'hub-config', namespace: 'nublado' }));
	t.like(statusOf(error), { code: 404, reason: 'NotFound', message: 'configmaps "hub-config" not found', details: { name: 'hub-config', kind: 'configmaps' } });
});

test('a list in chunks: limit and continue, the remaining count without selectors', async t => {
	const { kc } = await withSandbox(t);
	const core = kc.makeApiClient(CoreV1Api);
	await core.createNamespace({ body: { metadata: { name: 'nublado' } } });
	for (const name of ['a', 'b', 'c']) await core.createNamespacedConfigMap({ namespace: 'nublado', body: { metadata: { name, labels: { app: 'x' } } } });
	const first = await core.listNamespacedConfigMap({ namespace: 'nublado', limit: 2 });
	t.deepEqual(first.items.map(item => item.metadata!.name), ['a', 'b']);
	t.is(first.metadata!.remainingItemCount, 1);
	t.deepEqual(JSON.parse(Buffer.from(first.metadata!._continue!, 'base64url').toString()), { v: 'meta.k8s.io/v1', rv: Number(first.metadata!.resourceVersion), start: '/b\u0000' });
	const rest = await core.listNamespacedConfigMap({ namespace: 'nublado', limit: 2, _continue: first.metadata!._continue! });
	t.deepEqual(rest.items.map(item => item.metadata!.name), ['c']);
	t.is(rest.metadata!._continue, undefined);
	t.is(rest.metadata!.resourceVersion, first.metadata!.resourceVersion, 'the chunks are of one list');
	const selected = await core.listNamespacedConfigMap({ namespace: 'nublado', labelSelector: 'app=x', limit: 1 });
	t.truthy(selected.metadata!._continue);
	t.is(selected.metadata!.remainingItemCount, undefined);
	t.like(statusOf(await t.throwsAsync(core.listNamespacedConfigMap({ namespace: 'nublado', _continue: 'garbage' }))), { code: 400, reason: 'BadRequest' });
});

test('Status codes: AlreadyExists, stale resourceVersion Conflict, Invalid with causes', async t => {
	const { kc } = await withSandbox(t);
	const core = kc.makeApiClient(CoreV1Api);
	const apps = kc.makeApiClient(AppsV1Api);
	await core.createNamespace({ body: { metadata: { name: 'nublado' } } });
	const first = await core.createNamespacedSecret({ namespace: 'nublado', body: { metadata: { name: 'hub' }, stringData: { token: 'x' } } });

	const exists = await t.throwsAsync(core.createNamespacedSecret({ namespace: 'nublado', body: { metadata: { name: 'hub' } } }));
	t.like(statusOf(exists), { code: 409, reason: 'AlreadyExists', message: 'secrets "hub" already exists' });

	await core.replaceNamespacedSecret({ name: 'hub', namespace: 'nublado', body: { ...first, data: { token: 'eQ==' } } });
	const stale = await t.throwsAsync(core.replaceNamespacedSecret({ name: 'hub', namespace: 'nublado', body: { ...first, data: { token: 'eg==' } } }));
	t.like(statusOf(stale), {
		code: 409,
		reason: 'Conflict',
		message: 'Operation cannot be fulfilled on secrets "hub": the object has been modified; please apply your changes to the latest version and try again',
	});

	const badName = await t.throwsAsync(core.createNamespacedConfigMap({ namespace: 'nublado', body: { metadata: { name: 'Bad_Name' } } }));
	const badNameStatus = statusOf(badName);
	t.like(badNameStatus, { code: 422, reason: 'Invalid', details: { name: 'Bad_Name', kind: 'ConfigMap' } });
	t.regex(badNameStatus.message!, /^ConfigMap "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain must consist of/);
	t.is(badNameStatus.details!.causes![0]!.field, 'metadata.name');

	const valid = deployment('web', 'nublado');
	const noSelector = { ...valid, spec: { ...valid.spec, selector: undefined } } as never;
	const missing = statusOf(await t.throwsAsync(apps.createNamespacedDeployment({ namespace: 'nublado', body: noSelector })));
	t.is(missing.code, 422);
	t.deepEqual(
		missing.details!.causes!.map(cause => [cause.field, cause.reason]),
		[
			['spec.selector', 'FieldValueRequired'],
			['spec.template.metadata.labels', 'FieldValueInvalid'],
		],
	);
	t.regex(missing.message!, /^Deployment.apps "web" is invalid: \[spec.selector: Required value, spec.template.metadata.labels: Invalid value: \{"app":"web"\}: `selector` does not match template `labels`\]$/);

	const mismatch = statusOf(await t.throwsAsync(apps.createNamespacedDeployment({ namespace: 'nublado', body: deployment('web', 'nublado', { app: 'other' }) })));
	t.like(mismatch, { code: 422, details: { group: 'apps', kind: 'Deployment' } });
	t.is(mismatch.message, 'Deployment.apps "web" is invalid: spec.template.metadata.labels: Invalid value: {"app":"other"}: `selector` does not match template `labels`');

	const noPort = statusOf(await t.throwsAsync(core.createNamespacedService({ namespace: 'nublado', body: { metadata: { name: 'hub' }, spec: { ports: [{ name: 'http' } as never] } } })));
	t.like(noPort, { code: 422, reason: 'Invalid' });
	t.is(noPort.details!.causes![0]!.field, 'spec.ports[0].port');

	const wrongKind = statusOf(await t.throwsAsync(core.createNamespacedConfigMap({ namespace: 'nublado', body: { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'x' } } as never })));
	t.like(wrongKind, { code: 422, reason: 'Invalid' });
	t.deepEqual(wrongKind.details!.causes!.map(cause => cause.field), ['kind']);
});

test('namespaced objects need their namespace; deleting a namespace deletes what is in it', async t => {
	const { kc } = await withSandbox(t);
	const core = kc.makeApiClient(CoreV1Api);
	const orphan = statusOf(await t.throwsAsync(core.createNamespacedConfigMap({ namespace: 'nowhere', body: { metadata: { name: 'c' } } })));
	t.like(orphan, { code: 404, reason: 'NotFound', message: 'namespaces "nowhere" not found', details: { name: 'nowhere', kind: 'namespaces' } });

	await core.createNamespace({ body: { metadata: { name: 'doomed' } } });
	await core.createNamespacedConfigMap({ namespace: 'doomed', body: { metadata: { name: 'c' } } });
	await core.createNamespacedService({ namespace: 'doomed', body: { metadata: { name: 's' }, spec: { ports: [{ port: 80 }] } } });
	const answer = await core.deleteNamespace({ name: 'doomed' });
	t.is((answer as { kind?: string }).kind, 'Namespace');
	t.like(statusOf(await t.throwsAsync(core.readNamespace({ name: 'doomed' }))), { code: 404 });
	t.deepEqual((await core.listConfigMapForAllNamespaces()).items.filter(item => item.metadata!.namespace === 'doomed'), []);
	t.deepEqual((await core.listServiceForAllNamespaces()).items.map(item => item.metadata!.name), ['kubernetes']);
});

test('server-side apply: applying twice keeps the resourceVersion; two managers conflict until forced', async t => {
	// No rollout during the test: its status write would change the resourceVersion.
	const { kc } = await withSandbox(t, { rolloutDelayMs: 60_000 });
	const core = kc.makeApiClient(CoreV1Api);
	const objects = KubernetesObjectApi.makeApiClient(kc);
	await core.createNamespace({ body: { metadata: { name: 'nublado' } } });
	const manifest = deployment('hub', 'nublado');
	const first = await objects.patch(manifest, undefined, undefined, 'nub', false, PatchStrategy.ServerSideApply);
	const second = await objects.patch(manifest, undefined, undefined, 'nub', false, PatchStrategy.ServerSideApply);
	t.is(second.metadata!.resourceVersion, first.metadata!.resourceVersion);
	t.is(second.metadata!.generation, 1);
	t.true(second.metadata!.managedFields!.some(entry => entry.manager === 'nub' && entry.operation === 'Apply'));

	const rival = { ...manifest, spec: { ...manifest.spec!, replicas: 5 } };
	const conflict = statusOf(await t.throwsAsync(objects.patch(rival, undefined, undefined, 'someone-else', false, PatchStrategy.ServerSideApply)));
	t.like(conflict, { code: 409, reason: 'Conflict' });
	t.regex(conflict.message!, /^Apply failed with 1 conflict: conflict with "nub": \.spec\.replicas$/);
	t.like(conflict.details!.causes![0], { reason: 'FieldManagerConflict', message: 'conflict with "nub"', field: '.spec.replicas' });

	const forced = await objects.patch(rival, undefined, undefined, 'someone-else', true, PatchStrategy.ServerSideApply);
	t.is(forced.spec!.replicas, 5);
	t.is(forced.metadata!.generation, 2);

	const noManager = statusOf(await t.throwsAsync(objects.patch(manifest, undefined, undefined, undefined, false, PatchStrategy.ServerSideApply)));
	t.like(noManager, { code: 422, reason: 'Invalid' });
});

test('patch content types: merge, JSON patch, strategic merge; dryRun stores nothing', async t => {
	const { kc } = await withSandbox(t);
	const core = kc.makeApiClient(CoreV1Api);
	const objects = KubernetesObjectApi.makeApiClient(kc);
	await core.createNamespace({ body: { metadata: { name: 'nublado' } } });
	const map = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', namespace: 'nublado' }, data: { a: '1', b: '2' } };
	await objects.create(map);
	await objects.patch({ ...map, data: { b: null } } as never, undefined, undefined, undefined, undefined, PatchStrategy.MergePatch);
	t.deepEqual((await core.readNamespacedConfigMap({ name: 'c', namespace: 'nublado' })).data, { a: '1' });
	await objects.patch({ ...map, data: { c: '3' } }, undefined, undefined, undefined, undefined, PatchStrategy.StrategicMergePatch);
	t.deepEqual((await core.readNamespacedConfigMap({ name: 'c', namespace: 'nublado' })).data, { a: '1', c: '3' });
	await core.patchNamespacedConfigMap({ name: 'c', namespace: 'nublado', body: [{ op: 'replace', path: '/data/a', value: 'one' }] });
	t.deepEqual((await core.readNamespacedConfigMap({ name: 'c', namespace: 'nublado' })).data, { a: 'one', c: '3' });

	const dry = await core.createNamespacedConfigMap({ namespace: 'nublado', body: { metadata: { name: 'dry' } }, dryRun: 'All' });
	t.is(dry.metadata!.name, 'dry');
	t.like(statusOf(await t.throwsAsync(core.readNamespacedConfigMap({ name: 'dry', namespace: 'nublado' }))), { code: 404 });
});

test('Services get a cluster IP from 10.96.0.0/12; LoadBalancers get an ingress IP after the delay', async t => {
	const { kc } = await withSandbox(t, { loadBalancerDelayMs: 300 });
	const core = kc.makeApiClient(CoreV1Api);
	await core.createNamespace({ body: { metadata: { name: 'ingress-nginx' } } });
	const plain = await core.createNamespacedService({ namespace: 'ingress-nginx', body: { metadata: { name: 'backend' }, spec: { ports: [{ port: 80 }] } } });
	t.regex(plain.spec!.clusterIP!, /^10\.(9[6-9]|10[0-9]|11[01])\.\d+\.\d+$/);
	t.deepEqual(plain.spec!.clusterIPs, [plain.spec!.clusterIP]);
	const headless = await core.createNamespacedService({ namespace: 'ingress-nginx', body: { metadata: { name: 'headless' }, spec: { clusterIP: 'None', ports: [{ port: 80 }] } } });
	t.is(headless.spec!.clusterIP, 'None');

	const started = Date.now();
	const balancer = await core.createNamespacedService({
		namespace: 'ingress-nginx',
		body: { metadata: { name: 'ingress-nginx' }, spec: { type: 'LoadBalancer', externalTrafficPolicy: 'Local', ports: [{ port: 443, name: 'https' }] } },
	});
	t.is(balancer.status?.loadBalancer?.ingress, undefined);
	t.true(balancer.spec!.ports![0]!.nodePort! >= 30000);
	const ready = await eventually(
		() => core.readNamespacedService({ name: 'ingress-nginx', namespace: 'ingress-nginx' }),
		service => service.status?.loadBalancer?.ingress?.[0]?.ip !== undefined,
	);
	t.true(Date.now() - started >= 250);
	t.regex(ready.status!.loadBalancer!.ingress![0]!.ip!, /^\d+\.\d+\.\d+\.\d+$/);
	t.true(Number(ready.metadata!.resourceVersion) > Number(balancer.metadata!.resourceVersion));
});

test('a Deployment becomes available after the rollout delay, and again after a spec change', async t => {
	const { kc } = await withSandbox(t, { rolloutDelayMs: 200 });
	const core = kc.makeApiClient(CoreV1Api);
	const apps = kc.makeApiClient(AppsV1Api);
	await core.createNamespace({ body: { metadata: { name: 'nublado' } } });
	const created = await apps.createNamespacedDeployment({ namespace: 'nublado', body: deployment('hub', 'nublado') });
	t.is(created.metadata!.generation, 1);
	t.is(created.status?.availableReplicas, undefined);
	const available = (deployment: V1Deployment) =>
		deployment.status?.observedGeneration === deployment.metadata!.generation && deployment.status?.conditions?.some(condition => condition.type === 'Available' && condition.status === 'True') === true;
	const done = await eventually(() => apps.readNamespacedDeployment({ name: 'hub', namespace: 'nublado' }), available);
	t.like(done.status, { observedGeneration: 1, replicas: 2, updatedReplicas: 2, readyReplicas: 2, availableReplicas: 2 });

	const scaled = await apps.patchNamespacedDeployment({ name: 'hub', namespace: 'nublado', body: [{ op: 'replace', path: '/spec/replicas', value: 3 }] });
	t.is(scaled.metadata!.generation, 2);
	t.is(scaled.status!.observedGeneration, 1);
	const again = await eventually(() => apps.readNamespacedDeployment({ name: 'hub', namespace: 'nublado' }), available);
	t.like(again.status, { observedGeneration: 2, availableReplicas: 3 });

	const labelled = await apps.patchNamespacedDeployment({ name: 'hub', namespace: 'nublado', body: [{ op: 'add', path: '/metadata/labels', value: { tier: 'hub' } }] });
	t.is(labelled.metadata!.generation, 2, 'metadata changes do not bump generation');
});

test('a PersistentVolumeClaim gets bound to a provisioned volume', async t => {
	const { kc } = await withSandbox(t, { rolloutDelayMs: 100 });
	const core = kc.makeApiClient(CoreV1Api);
	await core.createNamespace({ body: { metadata: { name: 'nublado' } } });
	const claim = await core.createNamespacedPersistentVolumeClaim({
		namespace: 'nublado',
		body: { metadata: { name: 'physpvc' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '20Gi' } } } },
	});
	t.is(claim.status!.phase, 'Pending');
	t.is(claim.spec!.storageClassName, 'standard');
	const bound = await eventually(() => core.readNamespacedPersistentVolumeClaim({ name: 'physpvc', namespace: 'nublado' }), value => value.status?.phase === 'Bound');
	t.truthy(bound.spec!.volumeName);
	t.is(bound.status!.capacity!.storage, '20Gi');
	const volume = await core.readPersistentVolume({ name: bound.spec!.volumeName! });
	t.like(volume.spec!.claimRef, { namespace: 'nublado', name: 'physpvc' });
	t.is(volume.status!.phase, 'Bound');
});

test('a missing or wrong token is 401; the viewer reads but gets 403 Forbidden on writes', async t => {
	const { kc, sandbox } = await withSandbox(t);
	const anonymous = new KubeConfig();
	anonymous.loadFromOptions({
		clusters: [{ name: 'c', server: sandbox.url, caData: Buffer.from(sandbox.caPem).toString('base64') }],
		users: [{ name: 'u', token: 'wrong' }],
		contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
		currentContext: 'x',
	});
	t.is(statusOf(await t.throwsAsync(anonymous.makeApiClient(CoreV1Api).listNamespace())).code, 401);

	const viewer = new KubeConfig();
	viewer.loadFromFile(sandbox.kubeconfigPath);
	viewer.setCurrentContext('nub-sandbox-viewer');
	const core = viewer.makeApiClient(CoreV1Api);
	t.true((await core.listNamespace()).items.some(item => item.metadata!.name === 'default'));
	await kc.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: 'nublado' } } });
	const denied = statusOf(await t.throwsAsync(core.createNamespacedSecret({ namespace: 'nublado', body: { metadata: { name: 's' } } })));
	t.like(denied, {
		code: 403,
		reason: 'Forbidden',
		message: 'secrets is forbidden: User "viewer" cannot create resource "secrets" in API group "" in the namespace "nublado"',
	});
	t.is(sandbox.requests.at(-1)!.user, 'viewer');
	t.is(sandbox.requests.at(-1)!.status, 403);
});

test("the viewer cannot get, list or watch Secrets, Roles or the cluster's own objects (Kubernetes' view role leaves them out): 403 in the real server's words; what view lets read it reads", async t => {
	const { kc, sandbox } = await withSandbox(t);
	const admin = kc.makeApiClient(CoreV1Api);
	await admin.createNamespace({ body: { metadata: { name: 'nublado' } } });
	await admin.createNamespacedSecret({ namespace: 'nublado', body: { metadata: { name: 'hub' }, stringData: { key: 'sealed' } } });
	await admin.createNamespacedConfigMap({ namespace: 'nublado', body: { metadata: { name: 'hub' }, data: {} } });
	const token = kc.getUser('nub-sandbox-viewer')!.token!;
	const cases: Array<[string, string]> = [
		['/api/v1/namespaces/nublado/secrets/hub', 'secrets "hub" is forbidden: User "viewer" cannot get resource "secrets" in API group "" in the namespace "nublado"'],
		['/api/v1/namespaces/nublado/secrets', 'secrets is forbidden: User "viewer" cannot list resource "secrets" in API group "" in the namespace "nublado"'],
		['/api/v1/secrets', 'secrets is forbidden: User "viewer" cannot list resource "secrets" in API group "" at the cluster scope'],
		['/api/v1/namespaces/nublado/secrets?watch=true', 'secrets is forbidden: User "viewer" cannot watch resource "secrets" in API group "" in the namespace "nublado"'],
	];
	for (const [path, message] of cases) {
		const answer = await rawRequest(sandbox, path, { token });
		t.is(answer.status, 403, path);
		t.like(answer.body, { kind: 'Status', reason: 'Forbidden', code: 403, message }, path);
		t.false(JSON.stringify(answer.body).includes('c2VhbGVk'), `${path}: the Secret's data reached the viewer`);
	}
	t.is((await rawRequest(sandbox, '/api/v1/namespaces/nublado/configmaps/hub', { token })).status, 200);
	// Nor who may do what, nor the cluster's own objects but namespaces, as view.
	for (const path of ['/apis/rbac.authorization.k8s.io/v1/namespaces/nublado/roles', '/apis/rbac.authorization.k8s.io/v1/namespaces/nublado/rolebindings', '/apis/rbac.authorization.k8s.io/v1/clusterroles', '/api/v1/persistentvolumes', '/apis/storage.k8s.io/v1/storageclasses']) {
		const answer = await rawRequest(sandbox, path, { token });
		t.is(answer.status, 403, path);
		t.regex((answer.body as { message: string }).message, /is forbidden: User "viewer" cannot list resource/, path);
	}
	for (const path of ['/api/v1/namespaces', '/apis/apps/v1/namespaces/nublado/deployments', '/api/v1/namespaces/nublado/pods', '/apis/networking.k8s.io/v1/namespaces/nublado/ingresses']) {
		t.is((await rawRequest(sandbox, path, { token })).status, 200, path);
	}
	t.is((await rawRequest(sandbox, '/api/v1/namespaces/nublado/secrets/hub', { token: kc.getUser('nub-sandbox')!.token! })).status, 200, 'the admin reads it');
});

test('watch streams ADDED, MODIFIED and DELETED events to the real client', async t => {
	const { kc } = await withSandbox(t);
	const core = kc.makeApiClient(CoreV1Api);
	await core.createNamespace({ body: { metadata: { name: 'nublado' } } });
	const events: string[] = [];
	const seen = new Promise<void>(resolve => {
		void new Watch(kc)
			.watch('/api/v1/namespaces/nublado/configmaps', {}, (type, object: { metadata: { name: string } }) => {
				events.push(`${type} ${object.metadata.name}`);
				if (type === 'DELETED') resolve();
			}, () => {})
			.then(request => t.teardown(() => request.abort()));
	});
	await new Promise(resolve => setTimeout(resolve, 200));
	await core.createNamespacedConfigMap({ namespace: 'nublado', body: { metadata: { name: 'c' } } });
	await core.replaceNamespacedConfigMap({ name: 'c', namespace: 'nublado', body: { metadata: { name: 'c' }, data: { a: '1' } } });
	await core.deleteNamespacedConfigMap({ name: 'c', namespace: 'nublado' });
	await seen;
	t.deepEqual(events, ['ADDED c', 'MODIFIED c', 'DELETED c']);
});
