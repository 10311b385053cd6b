import test from 'ava';
import { ManifestError, validateObjects } from '../../lib/k8s/validate.ts';
import type { KubeObject } from '../../lib/k8s/objects.ts';

const deployment = (spec: Record<string, unknown>): KubeObject => ({
	apiVersion: 'apps/v1',
	kind: 'Deployment',
	metadata: { name: 'hub', namespace: 'nublado' },
	spec: { selector: { matchLabels: { app: 'hub' } }, template: { metadata: { labels: { app: 'hub' } }, spec: { containers: [{ name: 'hub', image: 'lsstsqre/jld-hub' }] } }, ...spec },
});

test('valid objects of the kinds a deployment uses pass', async t => {
	await t.notThrowsAsync(
		validateObjects([
			{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'nublado' } },
			deployment({ replicas: 1 }),
			{ apiVersion: 'v1', kind: 'Service', metadata: { name: 'hub', namespace: 'nublado' }, spec: { ports: [{ port: 8081 }], selector: { app: 'hub' } } },
			{ apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', metadata: { name: 'hub', namespace: 'nublado' }, spec: { tls: [{ secretName: 'tls' }] } },
			{ apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'custom' }, spec: { anything: true } },
		]),
	);
});

test('every problem is reported at once, naming file, document, object and field, with what was found', async t => {
	const bad = deployment({ replicas: 'two' });
	const sources = new Map<KubeObject, { file: string; document: number }>([[bad, { file: 'templates/hub/deployment.yaml', document: 2 }]]);
	const error = await t.throwsAsync(
		validateObjects(
			[
				bad,
				{ apiVersion: 'v1', kind: 'Service', metadata: { name: 'hub', namespace: 'nublado' }, spec: { ports: [{ port: '8081' }] } },
				{ apiVersion: 'apps/v1', kind: 'Deploymnet', metadata: { name: 'typo' } },
				{ apiVersion: 'v1', kind: 'ConfigMap', metadata: {} } as unknown as KubeObject,
			],
			object => sources.get(object),
		),
		{ instanceOf: ManifestError },
	);
	t.deepEqual(error!.problems, [
		'templates/hub/deployment.yaml (document 2): Deployment nublado/hub: spec.replicas must be integer, got "two"',
		'Service nublado/hub: spec.ports[0].port must be integer, got "8081"',
		'Deploymnet typo: Kubernetes has no kind Deploymnet in apps/v1',
		'a ConfigMap has no metadata.name',
	]);
});

test('a missing required field names it', async t => {
	const error = await t.throwsAsync(validateObjects([{ apiVersion: 'v1', kind: 'Service', metadata: { name: 's' }, spec: { ports: [{ name: 'http' }] } }]), { instanceOf: ManifestError });
	t.is(error!.message, 'Service s: spec.ports[0].port is required');
});
