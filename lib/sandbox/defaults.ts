/**
 * What the real API server fills in synchronously when it stores an object: field defaults,
 * Service cluster IPs and node ports, the status a new object starts with, and the bookkeeping
 * (uid, creationTimestamp, generation). What controllers do later is behaviour.ts.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { Json, KubeObject } from './patch.ts';
import { asRecord, canonicalJson, metadataOf } from './object.ts';
import { dropOmittedZeros } from './omitempty.ts';
import { findResourceType, type ResourceType } from './resources.ts';
import type { Store } from './store.ts';

/** The Service cluster IP range, 10.96.0.0/12, as kubeadm and kind use. */
const serviceRange = { first: ipNumber('10.96.0.1'), last: ipNumber('10.111.255.254') };
const nodePortRange = { first: 30000, last: 32767 };
/** Where the sandbox's default StorageClass says volumes come from. */
export const sandboxProvisioner = 'nub.sandbox/hostpath';

/**
 * Prepares `object` (already validated) to be stored as `type`, replacing `previous` if any:
 * keeps what a write may not change (uid, creation time, allocated IPs, status outside the status
 * subresource), bumps generation on a spec change, and fills defaults.
 */
export function prepareForStore(type: ResourceType, object: KubeObject, previous: KubeObject | undefined, store: Store, now: string): void {
	const metadata = metadataOf(object);
	if (type.namespaced) metadata.namespace ??= 'default';
	else delete metadata.namespace;
	delete metadata.selfLink;
	if (type.hasStatus) object.status = previous ? (previous.status ?? {}) : initialStatus(type, object);
	if (object.status === undefined) delete object.status;
	dropOmittedZeros(object);
	fillDefaults(type, object, previous, store);
	if (previous) {
		const before = metadataOf(previous);
		metadata.uid = before.uid;
		metadata.creationTimestamp = before.creationTimestamp;
		// Compared after defaulting, so leaving out a defaulted field is not a change.
		if (type.hasGeneration) metadata.generation = (before.generation ?? 1) + (specChanged(previous, object) ? 1 : 0);
	} else {
		metadata.uid = randomUUID();
		metadata.creationTimestamp = now;
		if (type.hasGeneration) metadata.generation = 1;
	}
}

/** Whether the spec changed between two versions (what bumps metadata.generation). */
export function specChanged(before: KubeObject, after: KubeObject): boolean {
	return canonicalJson(before.spec) !== canonicalJson(after.spec);
}

/** The status a new object starts with; most are empty until a controller reports. */
function initialStatus(type: ResourceType, object: KubeObject): Json {
	switch (type.kind) {
		case 'Namespace':
			return { phase: 'Active' };
		case 'PersistentVolumeClaim':
			return { phase: 'Pending' };
		case 'PersistentVolume':
			// The PV controller makes it Available (or Bound) moments later: behaviour.ts.
			return { phase: 'Pending' };
		case 'Service':
			return { loadBalancer: {} };
		default:
			return {};
	}
}

function fillDefaults(type: ResourceType, object: KubeObject, previous: KubeObject | undefined, store: Store): void {
	const spec = (asRecord(object.spec) ?? {}) as Record<string, Json>;
	const metadata = metadataOf(object);
	switch (type.kind) {
		case 'Namespace':
			metadata.labels = { ...metadata.labels, 'kubernetes.io/metadata.name': metadata.name! };
			object.spec = { finalizers: ['kubernetes'], ...spec };
			break;
		case 'Secret':
			object.type ??= 'Opaque';
			break;
		case 'Service':
			defaultService(spec, previous, store);
			object.spec = spec;
			break;
		case 'Deployment':
			defaultPodTemplate(spec);
			spec.replicas ??= 1;
			spec.revisionHistoryLimit ??= 10;
			spec.progressDeadlineSeconds ??= 600;
			spec.strategy ??= { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: '25%', maxSurge: '25%' } };
			object.spec = spec;
			break;
		case 'DaemonSet':
		case 'ReplicaSet':
			defaultPodTemplate(spec);
			break;
		case 'StatefulSet':
			defaultPodTemplate(spec);
			spec.replicas ??= 1;
			spec.podManagementPolicy ??= 'OrderedReady';
			spec.revisionHistoryLimit ??= 10;
			object.spec = spec;
			break;
		case 'PersistentVolume':
			spec.volumeMode ??= 'Filesystem';
			object.spec = spec;
			// The StorageObjectInUseProtection admission plugin, on create only.
			if (!previous) metadata.finalizers = [...new Set([...(metadata.finalizers ?? []), 'kubernetes.io/pv-protection'])];
			break;
		case 'PersistentVolumeClaim':
			spec.volumeMode ??= 'Filesystem';
			if (!previous) metadata.finalizers = [...new Set([...(metadata.finalizers ?? []), 'kubernetes.io/pvc-protection'])];
			// The DefaultStorageClass admission plugin, on create only.
			if (!previous && spec.storageClassName === undefined) {
				const defaultClass = defaultStorageClass(store);
				if (defaultClass) spec.storageClassName = defaultClass;
			}
			object.spec = spec;
			break;
	}
}

/** Pod template defaults of workloads, the ones kubectl describe shows (a port's protocol, pull policy). */
function defaultPodTemplate(spec: Record<string, Json>): void {
	const podSpec = asRecord(asRecord(spec.template)?.spec);
	if (!podSpec) return;
	podSpec.restartPolicy ??= 'Always';
	podSpec.dnsPolicy ??= 'ClusterFirst';
	podSpec.schedulerName ??= 'default-scheduler';
	podSpec.terminationGracePeriodSeconds ??= 30;
	podSpec.securityContext ??= {};
	for (const container of [...((podSpec.initContainers ?? []) as Json[]), ...((podSpec.containers ?? []) as Json[])].map(asRecord)) {
		if (!container) continue;
		const image = String(container.image ?? '');
		container.imagePullPolicy ??= image.endsWith(':latest') || !/:[^/]+$/.test(image) ? 'Always' : 'IfNotPresent';
		container.terminationMessagePath ??= '/dev/termination-log';
		container.terminationMessagePolicy ??= 'File';
		// A struct, not a pointer, in Go: always there, empty when nothing is asked.
		container.resources ??= {};
		for (const port of ((container.ports ?? []) as Json[]).map(asRecord)) if (port) port.protocol ??= 'TCP';
	}
}

/** Service defaults and allocations; allocated values survive an update that leaves them out, as on the real server. */
function defaultService(spec: Record<string, Json>, previous: KubeObject | undefined, store: Store): void {
	const before = asRecord(previous?.spec) ?? {};
	spec.type ??= 'ClusterIP';
	spec.sessionAffinity ??= 'None';
	if (spec.type !== 'ExternalName') {
		spec.clusterIP ??= before.clusterIP ?? allocateClusterIp(store);
		spec.clusterIPs ??= [spec.clusterIP!];
		if (spec.clusterIP !== 'None') {
			spec.ipFamilies ??= ['IPv4'];
			spec.ipFamilyPolicy ??= 'SingleStack';
		}
		spec.internalTrafficPolicy ??= 'Cluster';
	}
	const wantsNodePorts = spec.type === 'NodePort' || spec.type === 'LoadBalancer';
	if (wantsNodePorts) spec.externalTrafficPolicy ??= 'Cluster';
	if (spec.type === 'LoadBalancer') spec.allocateLoadBalancerNodePorts ??= true;
	const oldPorts = (Array.isArray(before.ports) ? before.ports : []).map(port => asRecord(port) ?? {});
	const ports = (Array.isArray(spec.ports) ? spec.ports : []).map(port => asRecord(port) ?? {});
	for (const port of ports) {
		port.protocol ??= 'TCP';
		port.targetPort ??= port.port ?? null;
		if (wantsNodePorts && port.nodePort === undefined) {
			const old = oldPorts.find(candidate => candidate.port === port.port && (candidate.protocol ?? 'TCP') === port.protocol);
			port.nodePort = old?.nodePort ?? allocateNodePort(store);
		}
	}
	if (ports.length > 0) spec.ports = ports;
}

/** The lowest free address of the Service range. */
function allocateClusterIp(store: Store): string {
	const used = new Set(servicesOf(store).map(service => asRecord(service.spec)?.clusterIP));
	for (let ip = serviceRange.first; ip <= serviceRange.last; ip++) if (!used.has(ipText(ip))) return ipText(ip);
	throw new Error('the sandbox ran out of Service cluster IPs');
}

/** A free node port, picked by hash order so ports look spread like the real allocator's. */
function allocateNodePort(store: Store): number {
	const used = new Set(servicesOf(store).flatMap(service => ((asRecord(service.spec)?.ports ?? []) as Json[]).map(port => asRecord(port)?.nodePort)));
	const size = nodePortRange.last - nodePortRange.first + 1;
	const start = createHash('sha256').update(String(used.size)).digest().readUInt32BE(0) % size;
	for (let offset = 0; offset < size; offset++) {
		const port = nodePortRange.first + ((start + offset) % size);
		if (!used.has(port)) return port;
	}
	throw new Error('the sandbox ran out of node ports');
}

function servicesOf(store: Store): KubeObject[] {
	return store.list(findResourceType('', 'v1', 'services')!);
}

/** The name of the StorageClass annotated as the default, if any. */
export function defaultStorageClass(store: Store): string | undefined {
	const classes = store.list(findResourceType('storage.k8s.io', 'v1', 'storageclasses')!);
	const chosen = classes.find(candidate => metadataOf(candidate).annotations?.['storageclass.kubernetes.io/is-default-class'] === 'true');
	return chosen && metadataOf(chosen).name;
}

function ipNumber(text: string): number {
	return text.split('.').reduce((sum, part) => sum * 256 + Number(part), 0);
}

function ipText(value: number): string {
	return [24, 16, 8, 0].map(shift => (value >>> shift) & 255).join('.');
}
