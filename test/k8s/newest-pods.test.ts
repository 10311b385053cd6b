import test from 'ava';
import { newestPods, type List } from '../../lib/k8s/newest-pods.ts';
import type { KubeObject } from '../../lib/k8s/objects.ts';

const template = (image: string, hash?: string) => ({ metadata: { labels: { app: 'hub', ...(hash ? { 'pod-template-hash': hash } : {}) } }, spec: { containers: [{ name: 'hub', image }] } });
const deployment: KubeObject = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'hub', namespace: 'nublado', uid: 'd-1' }, spec: { selector: { matchLabels: { app: 'hub' } }, template: template('hub:2') } };
const replicaSet = (hash: string, image: string, owner = 'd-1'): KubeObject => ({
	apiVersion: 'apps/v1',
	kind: 'ReplicaSet',
	metadata: { name: `hub-${hash}`, labels: { app: 'hub', 'pod-template-hash': hash }, ownerReferences: [{ uid: owner }] },
	spec: { template: template(image, hash) },
});

/** A fake list that records the selectors asked for and answers from `byKind`. */
function fakeList(byKind: Record<string, KubeObject[]>) {
	const asked: string[] = [];
	const list: List = async (_apiVersion, kind, namespace, { label }) => {
		asked.push(`${kind} ${namespace} ${label}`);
		return byKind[kind] ?? [];
	};
	return { list, asked };
}

test('a Deployment: the pods of the ReplicaSet made from its current template, not of an older one nor of another owner', async t => {
	const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'hub-bbb-1' } };
	const { list, asked } = fakeList({ ReplicaSet: [replicaSet('aaa', 'hub:1'), replicaSet('ccc', 'hub:2', 'other'), replicaSet('bbb', 'hub:2')], Pod: [pod] });
	t.deepEqual(await newestPods('Deployment', deployment, list), [pod]);
	t.deepEqual(asked, ['ReplicaSet nublado app=hub', 'Pod nublado app=hub,pod-template-hash=bbb']);
});

test('a Deployment whose ReplicaSet for the current template is not made yet has no pods to judge', async t => {
	const { list, asked } = fakeList({ ReplicaSet: [replicaSet('aaa', 'hub:1')] });
	t.deepEqual(await newestPods('Deployment', deployment, list), []);
	t.is(asked.length, 1, 'no pods listed');
});

test('a StatefulSet: the pods of its updateRevision; a DaemonSet: those of its newest ControllerRevision', async t => {
	const statefulSet: KubeObject = { apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name: 'db', namespace: 'n', uid: 's-1' }, spec: { selector: { matchLabels: { app: 'db' } } }, status: { updateRevision: 'db-5f7' } };
	const first = fakeList({});
	await newestPods('StatefulSet', statefulSet, first.list);
	t.deepEqual(first.asked, ['Pod n app=db,controller-revision-hash=db-5f7']);

	const daemonSet: KubeObject = { apiVersion: 'apps/v1', kind: 'DaemonSet', metadata: { name: 'agent', namespace: 'n', uid: 'ds-1' }, spec: { selector: { matchLabels: { app: 'agent' } } } };
	const revision = (hash: string, number: number): KubeObject =>
		({ apiVersion: 'apps/v1', kind: 'ControllerRevision', metadata: { name: `agent-${hash}`, labels: { 'controller-revision-hash': hash }, ownerReferences: [{ uid: 'ds-1' }] }, revision: number }) as KubeObject;
	const second = fakeList({ ControllerRevision: [revision('old', 1), revision('new', 2)] });
	await newestPods('DaemonSet', daemonSet, second.list);
	t.deepEqual(second.asked, ['ControllerRevision n app=agent', 'Pod n app=agent,controller-revision-hash=new']);
});
