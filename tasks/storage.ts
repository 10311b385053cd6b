import { kube, task, type Task } from 'nub';
import { applyTask, type Applied } from './apply.ts';
import type { Deployment } from './platform.ts';

/** The NFS exports every lab mounts; datasets and software read-only. */
export const exports = [
	{ EXPORT: 'home', READ_ONLY: false },
	{ EXPORT: 'scratch', READ_ONLY: false },
	{ EXPORT: 'project', READ_ONLY: false },
	{ EXPORT: 'datasets', READ_ONLY: true },
	{ EXPORT: 'software', READ_ONLY: true },
	{ EXPORT: 'teststand', READ_ONLY: false },
] as const;

/**
 * Shared storage: an in-cluster fileserver (its Service first: every mount names its ClusterIP) or
 * an external NFS server's address; a PersistentVolume and claim per export; keepalive.
 */
export function storageTasks({ config }: Deployment, namespace: Task<Applied>) {
	const ns = config.namespace;
	let fileserver: Task<Applied> | undefined;
	let nfsServiceIp: Task<string>;
	if (config.nfs.server === 'in-cluster') {
		const service = applyTask({
			name: 'fileserver-service',
			description: 'Service fileserver (NFS)',
			group: 'fileserver',
			needs: { namespace },
			templates: ['fileserver/service.yaml'],
			values: () => ({ NAMESPACE: ns }),
		});
		nfsServiceIp = task({
			name: 'nfs-service-ip',
			description: 'the fileserver Service\'s ClusterIP: what NFS mounts name',
			group: 'fileserver',
			needs: { service },
			run: async (_, context) => (await kube(context)).waitForClusterIp(ns, 'fileserver'),
			check: async (_, context) => {
				const services = await (await kube(context)).snapshot('v1', 'Service', ns);
				const ip = (services.find(service => service.metadata.name === 'fileserver')?.spec as { clusterIP?: string } | undefined)?.clusterIP;
				return ip === context.previous ? undefined : `the fileserver's ClusterIP is ${ip ?? 'gone'}, not ${String(context.previous)}`;
			},
		});
		fileserver = applyTask({
			name: 'fileserver-deployment',
			description: 'StorageClass fast, PersistentVolumeClaim physpvc and the NFS server Deployment',
			group: 'fileserver',
			needs: { nfsIp: nfsServiceIp },
			templates: ['fileserver/fileserver.yaml'],
			values: ({ nfsIp }) => ({ NAMESPACE: ns, NFS_SERVER_IP: nfsIp, PHYSICAL_SHARED_VOLUME_SIZE: config.nfs.size, STORAGE_PROVISIONER: 'kubernetes.io/gce-pd' }),
			preview: { nfsIp: '10.96.0.10' },
			rollouts: [{ kind: 'Deployment', namespace: ns, name: 'fileserver' }],
		});
	} else {
		const address = config.nfs.server;
		nfsServiceIp = task({ name: 'nfs-service-ip', description: 'the external NFS server\'s address', group: 'fileserver', inputs: { config: address }, run: () => address });
	}
	// 95% of the physical volume, as the old deployment sized them.
	const size = `${Math.floor((config.nfs.sizeBytes * 0.95) / 2 ** 20)}Mi`;
	const nfsVolumes = applyTask({
		name: 'nfs-volumes',
		description: 'a PersistentVolume and claim for each NFS export',
		group: 'fileserver',
		// The volumes name the server; with an in-cluster one, after it is up.
		needs: { nfsIp: nfsServiceIp, namespace, ...(fileserver ? { fileserver } : {}) } as { nfsIp: Task<string>; namespace: Task<Applied>; fileserver?: Task<Applied> },
		templates: ['nfs/volume.yaml'],
		values: ({ nfsIp }) => ({ NAMESPACE: ns, NFS_SERVER_IP: nfsIp, SIZE: size }),
		each: exports,
		preview: { nfsIp: '10.96.0.10' },
	});
	const keepalive = applyTask({
		name: 'keepalive',
		description: 'keeps the six NFS exports mounted',
		group: 'keepalive',
		needs: { nfsIp: nfsServiceIp, nfsVolumes },
		templates: ['keepalive/deployment.yaml'],
		values: ({ nfsIp }) => ({ NAMESPACE: ns, NFS_SERVER_IP: nfsIp }),
		preview: { nfsIp: '10.96.0.10' },
		rollouts: [{ kind: 'Deployment', namespace: ns, name: 'keepalive' }],
	});
	return { fileserver, nfsServiceIp, nfsVolumes, keepalive };
}
