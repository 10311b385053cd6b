import test from 'ava';
import { deletionOrder, describeApplied, isApplied, orphansOf, undoApplied, type AppliedObject } from '../../lib/k8s/applied.ts';

const deployment: AppliedObject = { apiVersion: 'apps/v1', kind: 'Deployment', name: 'hub', namespace: 'nublado' };
const service: AppliedObject = { apiVersion: 'v1', kind: 'Service', name: 'hub', namespace: 'nublado' };
const role: AppliedObject = { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', name: 'hub' };
const namespace: AppliedObject = { apiVersion: 'v1', kind: 'Namespace', name: 'nublado' };

const shapes: Array<[string, unknown, boolean]> = [
	['an apply task\'s output', { objects: [deployment, namespace] }, true],
	['with orphans', { objects: [], orphans: [role] }, true],
	['no objects list', { orphans: [role] }, false],
	['an object without a name', { objects: [{ apiVersion: 'v1', kind: 'Service' }] }, false],
	['a namespace that is not a string', { objects: [{ ...service, namespace: 3 }] }, false],
	['orphans that are not a list', { objects: [], orphans: 'x' }, false],
	['a string', 'nublado', false],
	['null', null, false],
	['a list', [deployment], false],
];
for (const [title, value, expected] of shapes) {
	test(`isApplied: ${title} -> ${expected}`, t => {
		t.is(isApplied(value), expected);
	});
}

test('deletion order: the reverse of the apply order (workloads, other namespaced objects, cluster-scoped, Namespaces last), each object once', t => {
	const order = deletionOrder([namespace, role, service, deployment, { ...deployment, apiVersion: 'apps/v1beta1' }]);
	t.deepEqual(order.map(describeApplied), ['Deployment nublado/hub', 'Service nublado/hub', 'ClusterRole hub', 'Namespace nublado']);
});

test('orphans: what an earlier output listed (applied or orphaned) that the new objects lack, whatever the version', t => {
	t.deepEqual(orphansOf({ objects: [deployment, service], orphans: [role] }, [{ ...deployment, apiVersion: 'apps/v2' }]), [service, role]);
	t.deepEqual(orphansOf(undefined, [deployment]), []);
	t.deepEqual(orphansOf({ objects: 'not a list' }, [deployment]), []);
});

test('the undo of an apply task describes deleting what it applied and left orphaned, in deletion order', t => {
	t.deepEqual(undoApplied.describe!({ objects: [namespace, deployment], orphans: [role] }), {
		steps: ['delete Deployment nublado/hub', 'delete ClusterRole hub', 'delete Namespace nublado'],
		objects: 3,
	});
});
