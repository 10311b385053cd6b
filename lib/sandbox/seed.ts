/**
 * What a new cluster already holds before anyone writes to it, as a fresh kubeadm or kind cluster
 * does: the four system namespaces, the `kubernetes` Service in `default` (first cluster IP), and a
 * default StorageClass so claims without a class get a volume.
 */
import { prepareForStore, sandboxProvisioner } from './defaults.ts';
import type { KubeObject } from './patch.ts';
import { recordUpdate } from './patch.ts';
import { findKind } from './resources.ts';
import type { Store } from './store.ts';

/** Stores the initial objects into an empty store. */
export function seedCluster(store: Store): void {
	const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
	const objects: KubeObject[] = [
		...['default', 'kube-system', 'kube-public', 'kube-node-lease'].map(name => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } }) as KubeObject),
		{
			apiVersion: 'v1',
			kind: 'Service',
			metadata: { name: 'kubernetes', namespace: 'default', labels: { component: 'apiserver', provider: 'kubernetes' } },
			spec: { ports: [{ name: 'https', port: 443, protocol: 'TCP', targetPort: 6443 }] },
		} as KubeObject,
		{
			apiVersion: 'storage.k8s.io/v1',
			kind: 'StorageClass',
			metadata: { name: 'standard', annotations: { 'storageclass.kubernetes.io/is-default-class': 'true' } },
			provisioner: sandboxProvisioner,
			reclaimPolicy: 'Delete',
			volumeBindingMode: 'Immediate',
		} as KubeObject,
	];
	for (const object of objects) {
		const type = findKind(object.apiVersion, object.kind)!;
		prepareForStore(type, object, undefined, store, now);
		store.put(type, recordUpdate(undefined, object, { manager: 'kube-apiserver', time: now }));
	}
}
