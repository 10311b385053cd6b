import test from 'ava';
import {
	fieldSetOf,
	jsonMergePatch,
	jsonPatch,
	PatchError,
	recordUpdate,
	serverSideApply,
	strategicMergePatch,
	type Json,
	type KubeObject,
} from '../../lib/sandbox/patch.ts';

const t0 = '2024-05-01T10:00:00Z';
const t1 = '2024-05-01T11:00:00Z';
const t2 = '2024-05-01T12:00:00Z';

const configMap = (data: Record<string, string>, labels?: Record<string, string>): KubeObject => ({
	apiVersion: 'v1',
	kind: 'ConfigMap',
	metadata: { name: 'hub-config', namespace: 'nublado', ...(labels ? { labels } : {}) },
	data,
});

interface DeploymentOptions {
	replicas?: number;
	hubImage?: string;
	env?: Array<{ name: string; value: string }>;
	proxy?: boolean;
}

/** The nublado hub: a hub container and a proxy sidecar. */
function deployment({ replicas, hubImage = 'hub:1', env = [{ name: 'LOG_LEVEL', value: 'info' }], proxy = true }: DeploymentOptions = {}): KubeObject {
	const hub = { name: 'hub', image: hubImage, args: ['--debug'], ports: [{ containerPort: 8080 }], env };
	const sidecar = { name: 'proxy', image: 'proxy:1', ports: [{ containerPort: 8000, name: 'http' }] };
	return {
		apiVersion: 'apps/v1',
		kind: 'Deployment',
		metadata: { name: 'hub', namespace: 'nublado', labels: { app: 'hub' } },
		spec: {
			...(replicas === undefined ? {} : { replicas }),
			selector: { matchLabels: { app: 'hub' } },
			template: { metadata: { labels: { app: 'hub' } }, spec: { containers: proxy ? [hub, sidecar] : [hub] } },
		},
	};
}

const service = (ports: Array<{ name: string; port: number; protocol?: string }>): KubeObject => ({
	apiVersion: 'v1',
	kind: 'Service',
	metadata: { name: 'hub', namespace: 'nublado' },
	spec: { selector: { app: 'hub' }, ports },
});

// Small typed readers for assertions.
type Container = { name: string; image?: string; args?: string[]; env?: Array<{ name: string; value?: string }>; ports?: Json[] };
const specOf = (object: KubeObject) => object.spec as { replicas?: number; template: { spec: { containers: Container[]; tolerations?: Json[] } }; ports?: Json[] };
const containersOf = (object: KubeObject) => specOf(object).template.spec.containers;
const containerOf = (object: KubeObject, name: string) => containersOf(object).find(container => container.name === name)!;
const managersOf = (object: KubeObject) => (object.metadata.managedFields ?? []).map(entry => `${entry.manager}/${entry.operation}`);
const fieldsOf = (object: KubeObject, manager: string, operation = 'Apply') =>
	object.metadata.managedFields?.find(entry => entry.manager === manager && entry.operation === operation)?.fieldsV1;
const owns = (object: KubeObject, manager: string, path: string[], operation = 'Apply') => {
	let node = fieldsOf(object, manager, operation) as Record<string, Json> | undefined;
	for (const element of path) node = node?.[element] as Record<string, Json> | undefined;
	return node !== undefined;
};

function apply(live: KubeObject | undefined, applied: KubeObject, manager: string, time = t0, force = false): KubeObject {
	const result = serverSideApply(live, applied, { manager, force, time });
	if (!('object' in result)) throw new Error(`unexpected conflicts: ${JSON.stringify(result.conflicts)}`);
	return result.object;
}

const patchError = (t: import('ava').ExecutionContext, run: () => unknown, reason: PatchError['reason'], message: RegExp) => {
	const error = t.throws(run, { instanceOf: PatchError });
	t.is(error?.reason, reason);
	t.regex(error!.message, message);
};

// ---- JSON merge patch

test('merge patch: objects merge, null deletes a key, other values replace; the target is not changed', t => {
	const target = configMap({ 'hub.yaml': 'a', 'proxy.yaml': 'b' }, { app: 'hub' });
	const patched = jsonMergePatch(target as unknown as Json, { metadata: { labels: { tier: 'web' } }, data: { 'proxy.yaml': null, 'new.yaml': 'c' } });
	t.deepEqual(patched, {
		apiVersion: 'v1',
		kind: 'ConfigMap',
		metadata: { name: 'hub-config', namespace: 'nublado', labels: { app: 'hub', tier: 'web' } },
		data: { 'hub.yaml': 'a', 'new.yaml': 'c' },
	});
	t.deepEqual(target.data, { 'hub.yaml': 'a', 'proxy.yaml': 'b' });
	t.deepEqual(jsonMergePatch({ a: [1, 2] }, { a: [3] }), { a: [3] }, 'lists are replaced');
	t.deepEqual(jsonMergePatch({ a: 1 }, { b: { c: null, d: 1 } }), { a: 1, b: { d: 1 } }, 'nulls inside a new object are dropped');
	t.deepEqual(jsonMergePatch({ a: 1 }, ['x']), ['x'], 'a patch that is not an object replaces the document');
});

test('merge patch: a "__proto__" key stays a data field', t => {
	const patched = jsonMergePatch({}, JSON.parse('{"data": {"__proto__": "x"}}') as Json) as { data: Record<string, Json> };
	t.true(Object.hasOwn(patched.data, '__proto__'));
	t.is(Object.getPrototypeOf(patched.data), Object.prototype);
});

// ---- JSON patch

test('JSON patch: add, remove, replace, move, copy and test', t => {
	const target = deployment({ replicas: 1 }) as unknown as Json;
	const patched = jsonPatch(target, [
		{ op: 'test', path: '/spec/replicas', value: 1 },
		{ op: 'replace', path: '/spec/replicas', value: 3 },
		{ op: 'add', path: '/metadata/labels/tier', value: 'web' },
		{ op: 'add', path: '/spec/template/spec/containers/0/args/-', value: '--port=8080' },
		{ op: 'add', path: '/spec/template/spec/containers/0/args/0', value: '--first' },
		{ op: 'remove', path: '/spec/template/spec/containers/1' },
		{ op: 'copy', from: '/metadata/labels', path: '/metadata/annotations' },
		{ op: 'move', from: '/metadata/annotations/tier', path: '/metadata/annotations/moved~1here' },
	]) as unknown as KubeObject;
	t.is(specOf(patched).replicas, 3);
	t.deepEqual(patched.metadata.labels, { app: 'hub', tier: 'web' });
	t.deepEqual(patched.metadata.annotations, { app: 'hub', 'moved/here': 'web' });
	t.deepEqual(containerOf(patched, 'hub').args, ['--first', '--debug', '--port=8080']);
	t.deepEqual(containersOf(patched).map(container => container.name), ['hub']);
	t.is(specOf(target as unknown as KubeObject).replicas, 1, 'the target is not changed');
	t.deepEqual(jsonPatch({ a: 1 }, [{ op: 'replace', path: '', value: { b: 2 } }]), { b: 2 }, 'the empty pointer is the whole document');
});

test('JSON patch: a failing test refuses the whole patch as Invalid; a malformed patch is a BadRequest', t => {
	const target = { spec: { replicas: 1 } };
	patchError(t, () => jsonPatch(target, [{ op: 'replace', path: '/spec/replicas', value: 5 }, { op: 'test', path: '/spec/replicas', value: 1 }]), 'Invalid', /^testing value \/spec\/replicas failed/);
	t.deepEqual(target, { spec: { replicas: 1 } });
	patchError(t, () => jsonPatch(target, [{ op: 'remove', path: '/spec/missing' }]), 'Invalid', /remove operation does not apply: doc is missing key: \/spec\/missing/);
	patchError(t, () => jsonPatch(target, [{ op: 'replace', path: '/nope/x', value: 1 }]), 'Invalid', /doc is missing path/);
	patchError(t, () => jsonPatch({ list: [1] }, [{ op: 'add', path: '/list/5', value: 1 }]), 'Invalid', /index out of bounds/);
	patchError(t, () => jsonPatch(target, [{ op: 'frobnicate', path: '/spec' }]), 'Invalid', /Unexpected kind/);
	patchError(t, () => jsonPatch(target, { op: 'add' }), 'BadRequest', /must be a list of operations/);
});

// ---- Strategic merge patch

test('SMP merges containers by name and env by name; what the patch leaves out stays', t => {
	const patched = strategicMergePatch(deployment(), {
		spec: { template: { spec: { containers: [{ name: 'hub', image: 'hub:2', env: [{ name: 'HUB_URL', value: '/nb' }, { name: 'LOG_LEVEL', value: 'debug' }] }] } } },
	});
	t.deepEqual(containersOf(patched).map(container => container.name), ['hub', 'proxy']);
	const hub = containerOf(patched, 'hub');
	t.is(hub.image, 'hub:2');
	t.deepEqual(hub.args, ['--debug']);
	t.deepEqual(hub.env, [
		{ name: 'HUB_URL', value: '/nb' },
		{ name: 'LOG_LEVEL', value: 'debug' },
	]);
	t.deepEqual(containerOf(patched, 'proxy'), containerOf(deployment(), 'proxy'));
});

test('SMP: an item new to the list goes before the ones the patch does not name, as in Kubernetes', t => {
	const patched = strategicMergePatch(deployment(), { spec: { template: { spec: { containers: [{ name: 'sidecar', image: 's:1' }] } } } });
	t.deepEqual(containersOf(patched).map(container => container.name), ['sidecar', 'hub', 'proxy']);
});

test('SMP: $patch delete removes a list item by its merge key; $patch replace replaces the list', t => {
	const deleted = strategicMergePatch(deployment(), { spec: { template: { spec: { containers: [{ name: 'proxy', $patch: 'delete' }] } } } });
	t.deepEqual(containersOf(deleted).map(container => container.name), ['hub']);
	const replaced = strategicMergePatch(deployment(), {
		spec: { template: { spec: { containers: [{ name: 'hub', env: [{ $patch: 'replace' }, { name: 'ONLY', value: '1' }] }] } } },
	});
	t.deepEqual(containerOf(replaced, 'hub').env, [{ name: 'ONLY', value: '1' }]);
});

test('SMP: $setElementOrder orders the merged list', t => {
	const patched = strategicMergePatch(deployment(), {
		spec: { template: { spec: { '$setElementOrder/containers': [{ name: 'proxy' }, { name: 'hub' }], containers: [{ name: 'hub', image: 'hub:3' }] } } },
	});
	t.deepEqual(
		containersOf(patched).map(container => `${container.name}=${container.image}`),
		['proxy=proxy:1', 'hub=hub:3'],
	);
	const unordered = strategicMergePatch(deployment(), { spec: { template: { spec: { '$setElementOrder/containers': [], containers: [{ name: 'hub', image: 'hub:4' }] } } } });
	t.deepEqual(containersOf(unordered).map(container => container.name), ['hub', 'proxy'], 'an empty order leaves the merged order');
	patchError(
		t,
		() => strategicMergePatch(deployment(), { spec: { template: { spec: { '$setElementOrder/containers': [{ name: 'proxy' }, { name: 'hub' }], containers: [{ name: 'hub' }, { name: 'proxy' }] } } } }),
		'BadRequest',
		/doesn't match \$setElementOrder list/,
	);
});

test('SMP: lists without a merge key are replaced (args, tolerations)', t => {
	const withTolerations = strategicMergePatch(deployment(), { spec: { template: { spec: { tolerations: [{ key: 'a', operator: 'Exists' }] } } } });
	const patched = strategicMergePatch(withTolerations, {
		spec: { template: { spec: { tolerations: [{ key: 'b', operator: 'Exists' }], containers: [{ name: 'hub', args: ['--quiet'] }] } } },
	});
	t.deepEqual(specOf(patched).template.spec.tolerations, [{ key: 'b', operator: 'Exists' }]);
	t.deepEqual(containerOf(patched, 'hub').args, ['--quiet']);
});

test('SMP: null deletes; $patch replace and delete on maps; $patch merge is refused as Kubernetes refuses it', t => {
	const base = { ...configMap({ a: '1', b: '2' }, { app: 'hub', tier: 'web' }) };
	t.deepEqual(strategicMergePatch(base, { data: { a: null } }).data, { b: '2' });
	t.deepEqual(strategicMergePatch(base, { metadata: { labels: { $patch: 'replace', only: 'this' } } }).metadata.labels, { only: 'this' });
	t.deepEqual(strategicMergePatch(base, { data: { $patch: 'delete' } }).data, {});
	patchError(t, () => strategicMergePatch(base, { data: { $patch: 'merge', c: '3' } }), 'BadRequest', /unknown patch type: "merge"/);
	patchError(t, () => strategicMergePatch(deployment(), { spec: { template: { spec: { containers: [{ $patch: 'merge' }] } } } }), 'BadRequest', /merging lists cannot yet be specified/);
	patchError(t, () => strategicMergePatch(deployment(), { spec: { template: { spec: { containers: [{ image: 'x' }] } } } }), 'BadRequest', /does not contain declared merge key: name/);
	t.deepEqual(base.data, { a: '1', b: '2' }, 'the target is not changed');
	const added = strategicMergePatch(base, { matrix: [[1, 2], [3]], extra: { kept: 1, dropped: null, $unknown: 1 } });
	t.deepEqual([added.matrix, added.extra], [[[1, 2], [3]], { kept: 1 }], 'a new value is taken without nulls or directives');
});

test('SMP: $retainKeys clears the fields it does not list', t => {
	const rolling = strategicMergePatch(deployment(), { spec: { strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1 } } } });
	const recreate = strategicMergePatch(rolling, { spec: { strategy: { $retainKeys: ['type'], type: 'Recreate' } } });
	t.deepEqual((recreate.spec as Record<string, Json>).strategy, { type: 'Recreate' });
	patchError(t, () => strategicMergePatch(rolling, { spec: { strategy: { $retainKeys: ['type'], type: 'Recreate', other: 1 } } }), 'BadRequest', /retainKeys/);
});

test('SMP: finalizers merge as a set; $deleteFromPrimitiveList removes values', t => {
	const object = { ...configMap({}), metadata: { name: 'x', finalizers: ['a', 'b'] } };
	t.deepEqual(strategicMergePatch(object, { metadata: { finalizers: ['b', 'c'] } }).metadata.finalizers, ['a', 'b', 'c']);
	t.deepEqual(strategicMergePatch(object, { metadata: { '$deleteFromPrimitiveList/finalizers': ['a'] } }).metadata.finalizers, ['b']);
});

test('SMP: Service ports merge by port; container ports by containerPort', t => {
	const patched = strategicMergePatch(service([{ name: 'http', port: 80 }, { name: 'https', port: 443 }]), {
		spec: { ports: [{ port: 80, targetPort: 8080 }] },
	});
	t.deepEqual(specOf(patched).ports, [
		{ name: 'http', port: 80, targetPort: 8080 },
		{ name: 'https', port: 443 },
	]);
	const hubPorts = strategicMergePatch(deployment(), { spec: { template: { spec: { containers: [{ name: 'hub', ports: [{ containerPort: 8080, name: 'http' }] }] } } } });
	t.deepEqual(containerOf(hubPorts, 'hub').ports, [{ containerPort: 8080, name: 'http' }]);
});

// ---- Server-side apply

test('apply creates from nothing: one Apply entry owning exactly the applied fields', t => {
	const object = apply(undefined, configMap({ key: 'some value' }, { 'test-label': 'test' }), 'kubectl');
	// The example of the Server-Side Apply documentation.
	t.deepEqual(object.metadata.managedFields, [
		{
			manager: 'kubectl',
			operation: 'Apply',
			apiVersion: 'v1',
			time: t0,
			fieldsType: 'FieldsV1',
			fieldsV1: { 'f:data': { 'f:key': {} }, 'f:metadata': { 'f:labels': { 'f:test-label': {} } } },
		},
	]);
	t.is(object.data && (object.data as Record<string, Json>).key, 'some value');

	const hub = apply(undefined, deployment({ replicas: 1 }), 'nub');
	t.deepEqual(fieldsOf(hub, 'nub'), {
		'f:metadata': { 'f:labels': { 'f:app': {} } },
		'f:spec': {
			'f:replicas': {},
			'f:selector': {},
			'f:template': {
				'f:metadata': { 'f:labels': { 'f:app': {} } },
				'f:spec': {
					'f:containers': {
						'k:{"name":"hub"}': {
							'.': {},
							'f:args': {},
							'f:env': { 'k:{"name":"LOG_LEVEL"}': { '.': {}, 'f:name': {}, 'f:value': {} } },
							'f:image': {},
							'f:name': {},
							'f:ports': { 'k:{"containerPort":8080,"protocol":"TCP"}': { '.': {}, 'f:containerPort': {} } },
						},
						'k:{"name":"proxy"}': {
							'.': {},
							'f:image': {},
							'f:name': {},
							'f:ports': { 'k:{"containerPort":8000,"protocol":"TCP"}': { '.': {}, 'f:containerPort': {}, 'f:name': {} } },
						},
					},
				},
			},
		},
	});
	t.deepEqual(fieldSetOf(deployment({ replicas: 1 })), fieldsOf(hub, 'nub'), 'fieldSetOf gives what the applier owns');
});

test('re-applying the same object gives a deep-equal object, time included', t => {
	const first = apply(undefined, deployment({ replicas: 2 }), 'nub', t0);
	const again = apply(first, deployment({ replicas: 2 }), 'nub', t1);
	t.deepEqual(again, first);
	const changed = apply(first, deployment({ replicas: 3 }), 'nub', t1);
	t.is(changed.metadata.managedFields?.[0]?.time, t1, 'a change moves the time');
});

test('apply dropping a field it owned removes it from the object', t => {
	const env = [{ name: 'LOG_LEVEL', value: 'info' }, { name: 'HUB_URL', value: '/nb' }];
	const first = apply(undefined, { ...deployment({ replicas: 2, env }), metadata: { name: 'hub', namespace: 'nublado', labels: { app: 'hub', tier: 'web' } } }, 'nub');
	const second = apply(first, deployment({ env: [{ name: 'LOG_LEVEL', value: 'info' }], proxy: false }), 'nub', t1);
	t.deepEqual(second.metadata.labels, { app: 'hub' });
	t.is(specOf(second).replicas, undefined);
	t.deepEqual(containersOf(second).map(container => container.name), ['hub']);
	t.deepEqual(containerOf(second, 'hub').env, [{ name: 'LOG_LEVEL', value: 'info' }]);
	t.false(owns(second, 'nub', ['f:spec', 'f:replicas']));
});

test('two managers: a different value is a conflict naming every field and its manager', t => {
	const live = apply(undefined, deployment({ replicas: 2 }), 'nub');
	const result = serverSideApply(live, deployment({ replicas: 3, hubImage: 'hub:2' }), { manager: 'helm', force: false, time: t1 });
	t.deepEqual(result, {
		conflicts: [
			{ manager: 'nub', field: '.spec.replicas' },
			{ manager: 'nub', field: '.spec.template.spec.containers[name="hub"].image' },
		],
	});
});

test('two managers with force: the value changes and ownership moves to the applier', t => {
	const live = apply(undefined, deployment({ replicas: 2 }), 'nub');
	const forced = apply(live, deployment({ replicas: 3 }), 'helm', t1, true);
	t.is(specOf(forced).replicas, 3);
	t.false(owns(forced, 'nub', ['f:spec', 'f:replicas']));
	t.true(owns(forced, 'helm', ['f:spec', 'f:replicas']));
	t.true(owns(forced, 'nub', ['f:spec', 'f:template']), 'the rest stays shared');
	// Now nub's old value conflicts with helm.
	const back = serverSideApply(forced, deployment({ replicas: 2 }), { manager: 'nub', force: false, time: t2 });
	t.deepEqual(back, { conflicts: [{ manager: 'helm', field: '.spec.replicas' }] });
});

test('an equal value is shared ownership, and then any change of it conflicts', t => {
	const live = apply(undefined, deployment({ replicas: 2 }), 'nub');
	const shared = apply(live, deployment({ replicas: 2 }), 'helm', t1);
	t.deepEqual(managersOf(shared), ['nub/Apply', 'helm/Apply']);
	t.true(owns(shared, 'nub', ['f:spec', 'f:replicas']));
	t.true(owns(shared, 'helm', ['f:spec', 'f:replicas']));
	t.is(shared.metadata.managedFields?.find(entry => entry.manager === 'helm')?.time, t1);
	const change = serverSideApply(shared, deployment({ replicas: 4 }), { manager: 'nub', force: false, time: t2 });
	t.deepEqual(change, { conflicts: [{ manager: 'helm', field: '.spec.replicas' }] });
});

test('a field one manager stops applying stays while another manager owns it', t => {
	const live = apply(apply(undefined, deployment({ replicas: 2 }), 'nub'), deployment({ replicas: 2 }), 'helm', t1);
	const dropped = apply(live, deployment(), 'nub', t2);
	t.is(specOf(dropped).replicas, 2);
	t.false(owns(dropped, 'nub', ['f:spec', 'f:replicas']));
	t.true(owns(dropped, 'helm', ['f:spec', 'f:replicas']));
	// And once the last owner drops it, it goes.
	t.is(specOf(apply(dropped, deployment(), 'helm', t2)).replicas, undefined);
});

test('a list item the applier drops goes even if another manager owns a field inside it', t => {
	const live = apply(undefined, deployment(), 'nub');
	const edited = recordUpdate(live, strategicMergePatch(live, { spec: { template: { spec: { containers: [{ name: 'proxy', image: 'proxy:2' }] } } } }), {
		manager: 'kubectl-set',
		time: t1,
	});
	const dropped = apply(edited, deployment({ proxy: false }), 'nub', t2);
	t.deepEqual(containersOf(dropped).map(container => container.name), ['hub']);
	t.deepEqual(managersOf(dropped), ['nub/Apply'], 'the editor owned only what was dropped');
});

test('apply merges Service ports by port and protocol, and owns status never', t => {
	const live = apply(undefined, service([{ name: 'http', port: 80 }, { name: 'dns', port: 53, protocol: 'UDP' }]), 'nub');
	t.deepEqual(Object.keys((fieldsOf(live, 'nub') as Record<string, Record<string, Json>>)['f:spec']!['f:ports'] as Json[]), [
		'k:{"port":53,"protocol":"UDP"}',
		'k:{"port":80,"protocol":"TCP"}',
	]);
	const withStatus = { ...live, status: { loadBalancer: { ingress: [{ ip: '10.0.0.1' }] } } };
	const again = apply(withStatus, { ...service([{ name: 'http', port: 80 }]), status: { loadBalancer: {} } }, 'nub', t1);
	t.deepEqual(specOf(again).ports, [{ name: 'http', port: 80 }], 'the dropped port goes');
	t.deepEqual(again.status, withStatus.status, 'applied status is ignored');
	t.false(owns(again, 'nub', ['f:status']));
});

test('apply refuses managedFields, duplicate keys and items without their key, as the API server does', t => {
	const withManagedFields = { ...configMap({}), metadata: { name: 'x', managedFields: [] } };
	patchError(t, () => serverSideApply(undefined, withManagedFields, { manager: 'nub', force: false, time: t0 }), 'BadRequest', /^metadata.managedFields must be nil$/);
	const twice = deployment({ env: [{ name: 'A', value: '1' }, { name: 'A', value: '2' }] });
	patchError(t, () => serverSideApply(undefined, twice, { manager: 'nub', force: false, time: t0 }), 'BadRequest', /^\.spec\.template\.spec\.containers\[name="hub"\]\.env: duplicate entries for key \[name="A"\]$/);
	const nameless = { ...deployment(), spec: { template: { spec: { containers: [{ image: 'x' }] } } } };
	patchError(t, () => serverSideApply(undefined, nameless, { manager: 'nub', force: false, time: t0 }), 'BadRequest', /omits key field "name"/);
	patchError(t, () => serverSideApply(undefined, { metadata: { name: 'x' } } as unknown as KubeObject, { manager: 'nub', force: false, time: t0 }), 'BadRequest', /apiVersion/);
});

// ---- Updates

test('an update takes the fields it changes without conflict; a later apply of another value then conflicts with it', t => {
	const live = apply(undefined, deployment({ replicas: 2 }), 'nub');
	const scaled = recordUpdate(live, strategicMergePatch(live, { spec: { replicas: 5 } }), { manager: 'kubectl-scale', time: t1 });
	t.deepEqual(managersOf(scaled), ['nub/Apply', 'kubectl-scale/Update'], 'Apply entries come first');
	t.deepEqual(fieldsOf(scaled, 'kubectl-scale', 'Update'), { 'f:spec': { 'f:replicas': {} } });
	t.false(owns(scaled, 'nub', ['f:spec', 'f:replicas']));
	const result = serverSideApply(scaled, deployment({ replicas: 2 }), { manager: 'nub', force: false, time: t2 });
	t.deepEqual(result, { conflicts: [{ manager: 'kubectl-scale', field: '.spec.replicas' }] });
	// Applying the value the updater set is no conflict: nub shares it again.
	t.true(owns(apply(scaled, deployment({ replicas: 5 }), 'nub', t2), 'nub', ['f:spec', 'f:replicas']));
});

test('create records an Update entry; a write that changes nothing changes no entry; removed fields leave every entry', t => {
	const created = recordUpdate(undefined, configMap({ a: '1' }, { app: 'hub' }), { manager: 'kubectl-create', time: t0 });
	t.deepEqual(created.metadata.managedFields, [
		{
			manager: 'kubectl-create',
			operation: 'Update',
			apiVersion: 'v1',
			time: t0,
			fieldsType: 'FieldsV1',
			fieldsV1: { 'f:data': { '.': {}, 'f:a': {} }, 'f:metadata': { 'f:labels': { '.': {}, 'f:app': {} } } },
		},
	]);
	t.deepEqual(recordUpdate(created, structuredClone(created), { manager: 'kubectl-edit', time: t1 }), created);
	const edited = recordUpdate(created, strategicMergePatch(created, { data: { a: null, b: '2' } }), { manager: 'kubectl-edit', time: t1 });
	// The creator still owns the data map itself (`{}`: a member with nothing under it), not a.
	t.deepEqual(fieldsOf(edited, 'kubectl-create', 'Update'), { 'f:data': {}, 'f:metadata': { 'f:labels': { '.': {}, 'f:app': {} } } });
	t.deepEqual(fieldsOf(edited, 'kubectl-edit', 'Update'), { 'f:data': { 'f:b': {} } });
});

test('an update may reset managedFields with [{}]; one that drops them keeps the stored ones', t => {
	const live = apply(undefined, configMap({ a: '1' }), 'nub');
	const withoutField = { ...live, metadata: { name: live.metadata.name, namespace: live.metadata.namespace } };
	t.deepEqual(recordUpdate(live, withoutField, { manager: 'client', time: t1 }).metadata.managedFields, live.metadata.managedFields);
	const reset = { ...live, metadata: { ...live.metadata, managedFields: [{}] } } as unknown as KubeObject;
	t.is(recordUpdate(live, reset, { manager: 'client', time: t1 }).metadata.managedFields, undefined);
	const garbled = { ...live, metadata: { ...live.metadata, managedFields: [{ ...live.metadata.managedFields![0]!, fieldsV1: { 'k:{not json': {} } }] } };
	t.deepEqual(recordUpdate(live, garbled, { manager: 'client', time: t1 }).metadata.managedFields, live.metadata.managedFields, 'malformed ones fall back to the stored ones');
});

test('status writes are recorded only through the status subresource', t => {
	const live = apply(undefined, deployment({ replicas: 1 }), 'nub');
	const after = { ...structuredClone(live), status: { readyReplicas: 1 } };
	t.deepEqual(recordUpdate(live, after, { manager: 'kube-controller-manager', time: t1 }).metadata.managedFields, live.metadata.managedFields);
	const status = recordUpdate(live, after, { manager: 'kube-controller-manager', time: t1, subresource: 'status' });
	t.deepEqual(status.metadata.managedFields?.at(-1), {
		manager: 'kube-controller-manager',
		operation: 'Update',
		apiVersion: 'apps/v1',
		time: t1,
		fieldsType: 'FieldsV1',
		// status is a struct (not a pointer) in Go: always there, so never added itself (no `.`).
		fieldsV1: { 'f:status': { 'f:readyReplicas': {} } },
		subresource: 'status',
	});
});
