import { kube, task, type KubeObject, type Task, type TaskKube } from 'nub';
import { printable } from '../lib/engine/printable.ts';
import { timeoutOf } from '../lib/config/nublado.ts';
import { applyTask, type Applied } from './apply.ts';
import type { Deployment } from './platform.ts';

/**
 * The NFS exports every lab mounts. datasets, software and teststand are read-only, as the
 * fileserver exports them (jupyterlabdemo fileserver/exports) and as the repository's volumes
 * had them (ReadOnlyMany).
 */
export const exports = [
	{ EXPORT: 'home', READ_ONLY: false, ACCESS_MODE: 'ReadWriteMany' },
	{ EXPORT: 'scratch', READ_ONLY: false, ACCESS_MODE: 'ReadWriteMany' },
	{ EXPORT: 'project', READ_ONLY: false, ACCESS_MODE: 'ReadWriteMany' },
	{ EXPORT: 'datasets', READ_ONLY: true, ACCESS_MODE: 'ReadOnlyMany' },
	{ EXPORT: 'software', READ_ONLY: true, ACCESS_MODE: 'ReadOnlyMany' },
	{ EXPORT: 'teststand', READ_ONLY: true, ACCESS_MODE: 'ReadOnlyMany' },
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
			cluster: true,
			needs: { service },
			run: async (_, context) => (await kube(context)).waitForClusterIp(ns, 'fileserver', { timeoutMs: timeoutOf(config, 'nfs-service-ip') }),
			check: async (_, context) => {
				const services = await (await kube(context)).snapshot('v1', 'Service', ns);
				const ip = (services.find(service => service.metadata.name === 'fileserver')?.spec as { clusterIP?: string } | undefined)?.clusterIP;
				// The ClusterIP is the cluster's to write: shown escaped.
				return ip === context.previous ? undefined : `the fileserver's ClusterIP is ${ip === undefined ? 'gone' : printable(String(ip))}, not ${printable(String(context.previous))}`;
			},
		});
		// The server reads no address of its own: it comes after its Service, as in the manual.
		fileserver = applyTask({
			name: 'fileserver-deployment',
			description: 'StorageClass fast, PersistentVolumeClaim physpvc and the NFS server Deployment',
			group: 'fileserver',
			needs: { service },
			templates: ['fileserver/fileserver.yaml'],
			values: () => ({ NAMESPACE: ns, PHYSICAL_SHARED_VOLUME_SIZE: config.nfs.size, STORAGE_PROVISIONER: 'kubernetes.io/gce-pd' }),
			rollouts: [{ kind: 'Deployment', namespace: ns, name: 'fileserver' }],
			timeoutMs: timeoutOf(config, 'fileserver-deployment'),
		});
	} else {
		const address = config.nfs.server;
		nfsServiceIp = task({ name: 'nfs-service-ip', description: 'the external NFS server\'s address', group: 'fileserver', inputs: { config: address }, pure: true, run: () => address });
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
		// Done when every claim is bound: a lab that mounts one before then waits for it.
		claims: exports.map(entry => ({ namespace: ns, name: entry.EXPORT })),
		timeoutMs: timeoutOf(config, 'nfs-volumes'),
		prepare: (objects, cluster, context) => replaceChangedVolumes(objects, cluster, ns, context.log.info),
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
		timeoutMs: timeoutOf(config, 'keepalive'),
	});
	return { fileserver, nfsServiceIp, nfsVolumes, keepalive };
}

/**
 * What a bound volume cannot change in place: a PersistentVolume's source (the NFS server, path
 * and read-only flag) and a claim's access modes. When they differ from the templates' (the
 * fileserver Service was made anew with a new ClusterIP; an export became read-only), the
 * exports' volumes and claims are made anew. The claims go first (a bound volume is held until its
 * claim is gone), and with them the pods that mount them (a claim in use is held until they end;
 * their controllers make new pods, which wait for the new claims); then the volumes (a Retain
 * volume whose claim went is Released, and never bound again). The apply that follows makes both
 * again.
 */
async function replaceChangedVolumes(objects: readonly KubeObject[], cluster: TaskKube, namespace: string, log: (line: string) => void): Promise<void> {
	type VolumeSpec = { nfs?: { server?: string; path?: string; readOnly?: boolean }; accessModes?: string[]; claimRef?: { name: string; namespace?: string } };
	type ClaimSpec = { accessModes?: string[]; volumeName?: string };
	const modes = (list: string[] | undefined) => [...(list ?? [])].sort().join(',');
	const desiredVolumes = new Map(objects.filter(object => object.kind === 'PersistentVolume').map(object => [object.metadata.name, object.spec as VolumeSpec]));
	const desiredClaims = new Map(objects.filter(object => object.kind === 'PersistentVolumeClaim').map(object => [object.metadata.name, object.spec as ClaimSpec]));
	const liveVolumes = (await cluster.list('v1', 'PersistentVolume')).filter(volume => desiredVolumes.has(volume.metadata.name));
	const liveClaims = (await cluster.list('v1', 'PersistentVolumeClaim', namespace)).filter(claim => desiredClaims.has(claim.metadata.name));
	const serverOf = (spec: VolumeSpec | undefined) => spec?.nfs?.server;
	const moved = liveVolumes.filter(volume => serverOf(volume.spec as VolumeSpec) !== undefined && serverOf(volume.spec as VolumeSpec) !== serverOf(desiredVolumes.get(volume.metadata.name)));
	const changed = new Set(moved.map(volume => volume.metadata.name));
	for (const volume of liveVolumes) {
		const live = volume.spec as VolumeSpec;
		const desired = desiredVolumes.get(volume.metadata.name)!;
		// The server drops a false readOnly (not a pointer in Go): absent and false are the same.
		if (live.nfs?.path !== desired.nfs?.path || Boolean(live.nfs?.readOnly) !== Boolean(desired.nfs?.readOnly) || modes(live.accessModes) !== modes(desired.accessModes)) changed.add(volume.metadata.name);
	}
	for (const claim of liveClaims) {
		const desired = desiredClaims.get(claim.metadata.name)!;
		if (modes((claim.spec as ClaimSpec).accessModes) !== modes(desired.accessModes) && desired.volumeName) changed.add(desired.volumeName);
	}
	if (changed.size === 0) return;
	const names = [...changed].join(', ');
	if (moved.length > 0) log(`the NFS server moved from ${serverOf(moved[0]!.spec as VolumeSpec)} to ${serverOf(desiredVolumes.get(moved[0]!.metadata.name))}: volumes cannot change their server, so ${names} and their claims are made anew`);
	else log(`${names}: a volume's NFS source and a claim's access modes cannot change in place, so they and their claims are made anew`);
	const claims = new Set([
		...liveVolumes.filter(volume => changed.has(volume.metadata.name)).map(volume => (volume.spec as VolumeSpec).claimRef).filter(ref => ref?.namespace === namespace).map(ref => ref!.name),
		...liveClaims.filter(claim => changed.has(desiredClaims.get(claim.metadata.name)!.volumeName ?? '')).map(claim => claim.metadata.name),
	]);
	const claimRef = (name: string) => ({ apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name, namespace } });
	for (const claim of claims) await cluster.delete(claimRef(claim));
	const pods = (await cluster.list('v1', 'Pod', namespace)).filter(pod =>
		((pod.spec as { volumes?: Array<{ persistentVolumeClaim?: { claimName: string } }> }).volumes ?? []).some(volume => claims.has(volume.persistentVolumeClaim?.claimName ?? '')),
	);
	for (const pod of pods) await cluster.delete({ apiVersion: 'v1', kind: 'Pod', metadata: { name: pod.metadata.name, namespace } });
	for (const claim of claims) await cluster.waitForGone(claimRef(claim));
	for (const volume of liveVolumes.filter(volume => changed.has(volume.metadata.name))) {
		const ref = { apiVersion: 'v1', kind: 'PersistentVolume', metadata: { name: volume.metadata.name } };
		await cluster.delete(ref);
		await cluster.waitForGone(ref);
	}
}
