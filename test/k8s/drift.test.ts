import test from 'ava';
import { driftOf } from '../../lib/k8s/drift.ts';
import type { KubeObject } from '../../lib/k8s/objects.ts';

const pv = (spec: Record<string, unknown>): KubeObject => ({ apiVersion: 'v1', kind: 'PersistentVolume', metadata: { name: 'home-nublado' }, spec });

const cases: Array<[string, Record<string, unknown>, Record<string, unknown> | undefined, string | undefined]> = [
	['the same fields', { capacity: { storage: '1Gi' } }, { capacity: { storage: '1Gi' }, persistentVolumeReclaimPolicy: 'Retain' }, undefined],
	['a quantity in the server\'s canonical form', { capacity: { storage: '1024Mi' } }, { capacity: { storage: '1Gi' } }, undefined],
	// What a real API server does with Go's omitempty, seen on nub's test control plane.
	['an empty string the server dropped', { storageClassName: '' }, {}, undefined],
	['false the server dropped', { nfs: { server: '10.96.0.9', readOnly: false } }, { nfs: { server: '10.96.0.9' } }, undefined],
	['an empty list the server dropped', { mountOptions: [] }, {}, undefined],
	['a changed value', { nfs: { server: '10.96.0.9' } }, { nfs: { server: '10.96.0.10' } }, 'PersistentVolume home-nublado: spec.nfs.server changed'],
	['a removed value that is not a zero', { mountOptions: ['local_lock=all'] }, {}, 'PersistentVolume home-nublado: spec.mountOptions changed'],
	['a zero replaced by another value', { storageClassName: '' }, { storageClassName: 'fast' }, 'PersistentVolume home-nublado: spec.storageClassName changed'],
	['a deleted object', { storageClassName: '' }, undefined, 'PersistentVolume home-nublado deleted'],
];

for (const [title, desired, live, expected] of cases) {
	test(`driftOf: ${title}`, t => {
		t.is(driftOf(pv(desired), live === undefined ? undefined : pv(live)), expected);
	});
}
