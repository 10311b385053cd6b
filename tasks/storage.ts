import { kube, task, type KubeObject, type Task, type TaskKube } from 'nub';
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
		prepare: (objects, cluster, context) => replaceMovedVolumes(objects, cluster, ns, context.log.info),
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

/**
 * A PersistentVolume's source is immutable: when the NFS server's address moved (the fileserver
 * Service was made anew, with a new ClusterIP), the exports' volumes and claims are made anew. The
 * claims go first (a bound volume is held until its claim is gone), and with them the pods that
 * mount them (a claim in use is held until they end; their controllers make new pods, which wait
 * for the new claims); then the volumes. The apply that follows makes both again.
 */
async function replaceMovedVolumes(objects: readonly KubeObject[], cluster: TaskKube, namespace: string, log: (line: string) => void): Promise<void> {
	const desired = new Map(objects.filter(object => object.kind === 'PersistentVolume').map(object => [object.metadata.name, (object.spec as { nfs: { server: string } }).nfs.server]));
	const moved = (await cluster.list('v1', 'PersistentVolume')).filter(volume => {
		const server = (volume.spec as { nfs?: { server?: string } } | undefined)?.nfs?.server;
		return desired.has(volume.metadata.name) && server !== undefined && server !== desired.get(volume.metadata.name);
	});
	if (moved.length === 0) return;
	const from = (moved[0]!.spec as { nfs: { server: string } }).nfs.server;
	log(`the NFS server moved from ${from} to ${desired.get(moved[0]!.metadata.name)}: volumes cannot change their server, so ${moved.map(v => v.metadata.name).join(', ')} and their claims are made anew`);
	const claims = new Set(moved.map(volume => (volume.spec as { claimRef?: { name: string; namespace?: string } }).claimRef).filter(ref => ref?.namespace === namespace).map(ref => ref!.name));
	const claimRef = (name: string) => ({ apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name, namespace } });
	for (const claim of claims) await cluster.delete(claimRef(claim));
	const pods = (await cluster.list('v1', 'Pod', namespace)).filter(pod =>
		((pod.spec as { volumes?: Array<{ persistentVolumeClaim?: { claimName: string } }> }).volumes ?? []).some(volume => claims.has(volume.persistentVolumeClaim?.claimName ?? '')),
	);
	for (const pod of pods) await cluster.delete({ apiVersion: 'v1', kind: 'Pod', metadata: { name: pod.metadata.name, namespace } });
	for (const claim of claims) await cluster.waitForGone(claimRef(claim));
	for (const volume of moved) {
		const ref = { apiVersion: 'v1', kind: 'PersistentVolume', metadata: { name: volume.metadata.name } };
		await cluster.delete(ref);
		await cluster.waitForGone(ref);
	}
}
