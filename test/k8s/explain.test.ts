import test from 'ava';
import type { FailureDetail } from '../../lib/k8s/classify.ts';
import { explainFailure } from '../../lib/k8s/explain.ts';
import type { KubeObject } from '../../lib/k8s/objects.ts';

const deployment = (env: unknown[] = [], volumes: unknown[] = []): KubeObject => ({
	apiVersion: 'apps/v1',
	kind: 'Deployment',
	metadata: { name: 'hub', namespace: 'nublado' },
	spec: { template: { spec: { volumes, containers: [{ name: 'hub', image: 'lsstsqre/sciplat-hub:missing', env }] } } },
});
const configMap: KubeObject = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'hub-config', namespace: 'nublado' } };
const secret: KubeObject = { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'hub', namespace: 'nublado' } };
const base = { object: 'Deployment nublado/hub', pod: 'hub-7d9-abcde', container: 'hub' };
const pull: FailureDetail = { ...base, case: 'image-pull', reason: 'ImagePullBackOff', message: 'image x cannot be pulled', image: 'lsstsqre/sciplat-hub:missing' };
const missingKey: FailureDetail = { ...base, case: 'config-error', reason: 'CreateContainerConfigError', message: "the container cannot be made: couldn't find key oauth_secret in Secret nublado/hub" };

test('an image names the configuration field that set it, else the template it is written in, else the pod template', t => {
	const workload = deployment();
	const applied = [{ object: workload, action: 'unchanged' as const }];
	t.regex(explainFailure(pull, { applied, fieldOf: image => (image === pull.image ? 'hub.image in nublado.yaml (or NUBLADO_HUB_IMAGE)' : undefined) }).hint!, /; it is set by hub\.image in nublado\.yaml \(or NUBLADO_HUB_IMAGE\)$/);
	t.regex(explainFailure(pull, { applied, fileOf: object => (object === 'Deployment nublado/hub' ? 'templates/hub/hub.yaml' : undefined) }).hint!, /; it is set in templates\/hub\/hub\.yaml$/);
	t.regex(explainFailure(pull).hint!, /; it is set in the pod template$/);
});

test('a missing key names the Secret and the task its content comes from, or says whose it is', t => {
	const workload = deployment([{ name: 'OAUTH', valueFrom: { secretKeyRef: { name: 'hub', key: 'oauth_secret' } } }]);
	const applied = [
		{ object: secret, action: 'unchanged' as const },
		{ object: workload, action: 'unchanged' as const },
	];
	t.is(explainFailure(missingKey, { applied, madeBy: object => (object === 'Secret nublado/hub' ? 'hub-secret' : undefined) }).hint, 'Secret nublado/hub has no key oauth_secret: its content comes from task hub-secret, or the reference names the wrong key');
	t.is(explainFailure(missingKey, { applied }).hint, 'Secret nublado/hub has no key oauth_secret: this task applies it without that key, or the reference names the wrong key');
	t.is(explainFailure(missingKey, { applied: [{ object: workload, action: 'unchanged' }] }).hint, 'Secret nublado/hub has no key oauth_secret: this task does not apply it: make it, or fix the reference');
	t.is(explainFailure(missingKey).hint, 'Secret nublado/hub has no key oauth_secret: make it, or fix the reference');
	const gone = { ...missingKey, message: 'the container cannot be made: configmap "hub-config" not found' };
	t.is(explainFailure(gone).hint, 'ConfigMap nublado/hub-config does not exist: make it, or fix the reference');
});

test('a change of this run to an object the pods read is noted; else a change to the workload itself; nothing when nothing changed', t => {
	const workload = deployment([], [{ name: 'config', configMap: { name: 'hub-config' } }]);
	const crash: FailureDetail = { ...base, case: 'crash-loop', reason: 'CrashLoopBackOff', message: 'the container keeps exiting' };
	t.is(
		explainFailure(crash, { applied: [{ object: configMap, action: 'configured' }, { object: workload, action: 'configured' }] }).note,
		'ConfigMap nublado/hub-config changed this run; the new pods of Deployment nublado/hub crash-loop',
	);
	t.is(explainFailure(crash, { applied: [{ object: configMap, action: 'unchanged' }, { object: workload, action: 'configured' }] }).note, 'Deployment nublado/hub changed this run; its new pods crash-loop');
	// Made this run, not changed: a first deployment, nothing to trace.
	t.is(explainFailure(crash, { applied: [{ object: configMap, action: 'created' }, { object: workload, action: 'created' }] }).note, undefined);
	// A ConfigMap the pods do not read is no cause.
	const other = { ...configMap, metadata: { name: 'other', namespace: 'nublado' } };
	t.is(explainFailure(crash, { applied: [{ object: other, action: 'configured' }, { object: workload, action: 'unchanged' }] }).note, undefined);
	t.is(explainFailure(crash).note, undefined);
	t.is(explainFailure(crash).hint, 'read its log (kubectl -n nublado logs hub-7d9-abcde -c hub --previous)');
});
