/**
 * Server-side printing: the meta.k8s.io/v1 Table kubectl asks for (`Accept:
 * application/json;as=Table;v=v1;g=meta.k8s.io`) and prints as it comes, with the columns the
 * real server's printers use for each type.
 */
import type { Json, KubeObject } from './patch.ts';
import { asRecord, metadataOf } from './object.ts';
import type { ResourceType } from './resources.ts';

/** Which object each row carries: kubectl asks for `Object`; the default is `Metadata`. */
export type IncludeObject = 'None' | 'Metadata' | 'Object';

interface Column {
	name: string;
	type: 'string' | 'integer' | 'date';
	/** 0: shown by default; 1: only with `-o wide`. */
	priority: 0 | 1;
	cell: (object: KubeObject) => string | number;
}

const column = (name: string, cell: Column['cell'], priority: 0 | 1 = 0, type: Column['type'] = 'string'): Column => ({ name, type, priority, cell });
const spec = (object: KubeObject) => asRecord(object.spec) ?? {};
const status = (object: KubeObject) => asRecord(object.status) ?? {};
const count = (value: Json | undefined) => (typeof value === 'number' ? value : 0);
const orNone = (text: string) => (text === '' ? '<none>' : text);
const accessModes = (value: Json | undefined) =>
	((value ?? []) as string[]).map(mode => ({ ReadWriteOnce: 'RWO', ReadOnlyMany: 'ROX', ReadWriteMany: 'RWX', ReadWriteOncePod: 'RWOP' })[mode] ?? mode).join(',');
const selectorText = (selector: Json | undefined) =>
	orNone(
		Object.entries(asRecord(asRecord(selector)?.matchLabels) ?? asRecord(selector) ?? {})
			.map(([key, value]) => `${key}=${String(value)}`)
			.join(','),
	);
const containers = (object: KubeObject) => ((asRecord(asRecord(spec(object).template)?.spec)?.containers ?? []) as Json[]).map(container => asRecord(container) ?? {});

/** The type-specific columns, between Name and Age. */
const columnsByKind: Record<string, Column[]> = {
	Namespace: [column('Status', object => String(status(object).phase ?? ''))],
	Service: [
		column('Type', object => String(spec(object).type ?? 'ClusterIP')),
		column('Cluster-IP', object => String(spec(object).clusterIP ?? '<none>')),
		column('External-IP', externalIp),
		column('Port(s)', servicePorts),
	],
	Deployment: [
		column('Ready', object => `${count(status(object).readyReplicas)}/${count(spec(object).replicas)}`),
		column('Up-to-date', object => count(status(object).updatedReplicas), 0, 'integer'),
		column('Available', object => count(status(object).availableReplicas), 0, 'integer'),
	],
	StatefulSet: [column('Ready', object => `${count(status(object).readyReplicas)}/${count(spec(object).replicas)}`)],
	ReplicaSet: [
		column('Desired', object => count(spec(object).replicas), 0, 'integer'),
		column('Current', object => count(status(object).replicas), 0, 'integer'),
		column('Ready', object => count(status(object).readyReplicas), 0, 'integer'),
	],
	DaemonSet: [
		column('Desired', object => count(status(object).desiredNumberScheduled), 0, 'integer'),
		column('Current', object => count(status(object).currentNumberScheduled), 0, 'integer'),
		column('Ready', object => count(status(object).numberReady), 0, 'integer'),
		column('Up-to-date', object => count(status(object).updatedNumberScheduled), 0, 'integer'),
		column('Available', object => count(status(object).numberAvailable), 0, 'integer'),
		column('Node Selector', object => selectorText(asRecord(asRecord(spec(object).template)?.spec)?.nodeSelector)),
	],
	Pod: [
		column('Ready', object => {
			const statuses = ((status(object).containerStatuses ?? []) as Json[]).map(entry => asRecord(entry) ?? {});
			return `${statuses.filter(entry => entry.ready === true).length}/${((spec(object).containers ?? []) as Json[]).length}`;
		}),
		column('Status', podReason),
		column('Restarts', podRestarts),
	],
	ConfigMap: [column('Data', object => Object.keys(asRecord(object.data) ?? {}).length + Object.keys(asRecord(object.binaryData) ?? {}).length, 0, 'integer')],
	Secret: [column('Type', object => String(object.type ?? 'Opaque')), column('Data', object => Object.keys(asRecord(object.data) ?? {}).length, 0, 'integer')],
	ServiceAccount: [column('Secrets', object => ((object.secrets ?? []) as Json[]).length, 0, 'integer')],
	PersistentVolumeClaim: [
		column('Status', object => String(status(object).phase ?? 'Pending')),
		column('Volume', object => String(spec(object).volumeName ?? '')),
		column('Capacity', object => String(asRecord(status(object).capacity)?.storage ?? '')),
		column('Access Modes', object => accessModes(status(object).accessModes)),
		column('StorageClass', object => String(spec(object).storageClassName ?? '<unset>')),
		column('VolumeAttributesClass', () => '<unset>'),
	],
	PersistentVolume: [
		column('Capacity', object => String(asRecord(spec(object).capacity)?.storage ?? '')),
		column('Access Modes', object => accessModes(spec(object).accessModes)),
		column('Reclaim Policy', object => String(spec(object).persistentVolumeReclaimPolicy ?? 'Retain')),
		column('Status', object => String(status(object).phase ?? 'Pending')),
		column('Claim', object => {
			const claim = asRecord(spec(object).claimRef);
			return claim ? `${String(claim.namespace)}/${String(claim.name)}` : '';
		}),
		column('StorageClass', object => String(spec(object).storageClassName ?? '')),
		column('VolumeAttributesClass', () => '<unset>'),
		column('Reason', object => String(status(object).reason ?? '')),
	],
	Job: [
		column('Status', object => (count(status(object).succeeded) > 0 ? 'Complete' : 'Running')),
		column('Completions', object => `${count(status(object).succeeded)}/${count(spec(object).completions ?? 1)}`),
	],
	CronJob: [
		column('Schedule', object => String(spec(object).schedule ?? '')),
		column('Timezone', object => String(spec(object).timeZone ?? '<none>')),
		column('Suspend', object => String(spec(object).suspend ?? false)),
		column('Active', object => ((status(object).active ?? []) as Json[]).length, 0, 'integer'),
		column('Last Schedule', object => (typeof status(object).lastScheduleTime === 'string' ? age(status(object).lastScheduleTime as string) : '<none>')),
	],
	Ingress: [
		column('Class', object => String(spec(object).ingressClassName ?? '<none>')),
		column('Hosts', object => orNone(((spec(object).rules ?? []) as Json[]).map(rule => String(asRecord(rule)?.host ?? '*')).join(','))),
		column('Address', object => ingressAddresses(asRecord(status(object).loadBalancer))),
		column('Ports', object => (((spec(object).tls ?? []) as Json[]).length > 0 ? '80, 443' : '80')),
	],
	StorageClass: [
		column('Provisioner', object => String(object.provisioner ?? '')),
		column('ReclaimPolicy', object => String(object.reclaimPolicy ?? 'Delete')),
		column('VolumeBindingMode', object => String(object.volumeBindingMode ?? 'Immediate')),
		column('AllowVolumeExpansion', object => String(object.allowVolumeExpansion ?? false)),
	],
	RoleBinding: [column('Role', object => `${String(asRecord(object.roleRef)?.kind)}/${String(asRecord(object.roleRef)?.name)}`)],
	ClusterRoleBinding: [column('Role', object => `${String(asRecord(object.roleRef)?.kind)}/${String(asRecord(object.roleRef)?.name)}`)],
	Lease: [column('Holder', object => String(spec(object).holderIdentity ?? ''))],
	Endpoints: [
		column('Endpoints', object =>
			orNone(
				((object.subsets ?? []) as Json[])
					.flatMap(subset => ((asRecord(subset)?.addresses ?? []) as Json[]).map(address => String(asRecord(address)?.ip)))
					.join(','),
			),
		),
	],
};

/** Wide-only columns after Age. */
const wideByKind: Record<string, Column[]> = {
	Service: [column('Selector', object => selectorText(spec(object).selector), 1)],
	Deployment: [
		column('Containers', object => containers(object).map(container => String(container.name)).join(','), 1),
		column('Images', object => containers(object).map(container => String(container.image)).join(','), 1),
		column('Selector', object => selectorText(spec(object).selector), 1),
	],
};

/** Builds the Table of `objects` of one type; `resourceVersion` is the list's (or the object's). */
export function toTable(type: ResourceType, objects: KubeObject[], includeObject: IncludeObject, resourceVersion: string): Json {
	const name = column('Name', object => {
		const objectName = metadataOf(object).name!;
		const isDefault = type.kind === 'StorageClass' && metadataOf(object).annotations?.['storageclass.kubernetes.io/is-default-class'] === 'true';
		return isDefault ? `${objectName} (default)` : objectName;
	});
	const columns = [name, ...(columnsByKind[type.kind] ?? []), column('Age', object => age(metadataOf(object).creationTimestamp)), ...(wideByKind[type.kind] ?? [])];
	return {
		kind: 'Table',
		apiVersion: 'meta.k8s.io/v1',
		metadata: { resourceVersion },
		columnDefinitions: columns.map(definition => ({
			name: definition.name,
			type: definition.type,
			format: definition === name ? 'name' : '',
			description: definition === name ? 'Name must be unique within a namespace.' : `${definition.name} of the ${type.singular}.`,
			priority: definition.priority,
		})),
		rows: objects.map(object => ({ cells: columns.map(definition => definition.cell(object)), ...rowObject(object, includeObject) })),
	};
}

function rowObject(object: KubeObject, includeObject: IncludeObject): { object?: Json } {
	switch (includeObject) {
		case 'None':
			return {};
		case 'Object':
			return { object: object as Json };
		case 'Metadata':
			return { object: { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: object.metadata as Json } };
	}
}

/** A pod's container statuses, init containers or the others. */
const containerStatuses = (pod: KubeObject, field: 'initContainerStatuses' | 'containerStatuses') => ((status(pod)[field] ?? []) as Json[]).map(entry => asRecord(entry) ?? {});
const stateOf = (container: Record<string, Json>, state: string) => asRecord(asRecord(container.state)?.[state]);

/**
 * The Status column of a pod, as the real printer (printPod) reasons: the phase, unless an init
 * container has not finished (`Init:CrashLoopBackOff`, `Init:0/1`), or a container waits
 * (`ImagePullBackOff`, `CrashLoopBackOff`) or has terminated; `Terminating` while being deleted.
 */
function podReason(pod: KubeObject): string {
	let reason = String(status(pod).reason ?? status(pod).phase ?? 'Pending');
	const init = containerStatuses(pod, 'initContainerStatuses');
	const initializing = init.findIndex(container => !(stateOf(container, 'terminated')?.exitCode === 0));
	if (initializing >= 0) {
		const container = init[initializing]!;
		const terminated = stateOf(container, 'terminated');
		const waiting = String(stateOf(container, 'waiting')?.reason ?? '');
		if (terminated) reason = `Init:${String(terminated.reason ?? `ExitCode:${String(terminated.exitCode)}`)}`;
		else if (waiting !== '' && waiting !== 'PodInitializing') reason = `Init:${waiting}`;
		else reason = `Init:${initializing}/${((spec(pod).initContainers ?? []) as Json[]).length}`;
	} else {
		for (const container of containerStatuses(pod, 'containerStatuses').reverse()) {
			const waiting = String(stateOf(container, 'waiting')?.reason ?? '');
			const terminated = stateOf(container, 'terminated');
			if (waiting !== '') reason = waiting;
			else if (terminated) reason = String(terminated.reason ?? `ExitCode:${String(terminated.exitCode)}`);
		}
	}
	return metadataOf(pod).deletionTimestamp ? 'Terminating' : reason;
}

/** The Restarts column: the containers' restarts, and how long ago the last one ended (`1 (5s ago)`). */
function podRestarts(pod: KubeObject): string {
	const all = [...containerStatuses(pod, 'initContainerStatuses'), ...containerStatuses(pod, 'containerStatuses')];
	const restarts = all.reduce((sum, container) => sum + count(container.restartCount), 0);
	const finished = all.map(container => asRecord(asRecord(container.lastState)?.terminated)?.finishedAt).filter((time): time is string => typeof time === 'string').sort();
	return restarts > 0 && finished.length > 0 ? `${restarts} (${age(finished.at(-1))} ago)` : String(restarts);
}

function externalIp(service: KubeObject): string {
	const serviceSpec = spec(service);
	const external = (serviceSpec.externalIPs ?? []) as string[];
	switch (serviceSpec.type) {
		case 'LoadBalancer': {
			const addresses = ingressAddresses(asRecord(status(service).loadBalancer));
			if (addresses === '') return external.length > 0 ? external.join(',') : '<pending>';
			return [addresses, ...external].join(',');
		}
		case 'ExternalName':
			return String(serviceSpec.externalName ?? '<none>');
		default:
			return external.length > 0 ? external.join(',') : '<none>';
	}
}

function ingressAddresses(loadBalancer: Record<string, Json> | undefined): string {
	return ((loadBalancer?.ingress ?? []) as Json[]).map(entry => String(asRecord(entry)?.ip ?? asRecord(entry)?.hostname ?? '')).join(',');
}

function servicePorts(service: KubeObject): string {
	const ports = ((spec(service).ports ?? []) as Json[]).map(port => asRecord(port) ?? {});
	if (ports.length === 0) return '<none>';
	return ports.map(port => `${String(port.port)}${port.nodePort === undefined ? '' : `:${String(port.nodePort)}`}/${String(port.protocol ?? 'TCP')}`).join(',');
}

/**
 * How long ago `timestamp` was, in kubectl's compact form (`45s`, `3m12s`, `5h`, `12d`), the
 * rules of k8s.io/apimachinery's duration.HumanDuration.
 */
export function age(timestamp: string | undefined, now = Date.now()): string {
	if (!timestamp) return '<unknown>';
	const seconds = Math.floor((now - Date.parse(timestamp)) / 1000);
	if (seconds < -1) return '<invalid>';
	if (seconds < 0) return '0s';
	if (seconds < 120) return `${seconds}s`;
	const minutes = Math.floor(seconds / 60);
	if (minutes < 10) return seconds % 60 === 0 ? `${minutes}m` : `${minutes}m${seconds % 60}s`;
	if (minutes < 180) return `${minutes}m`;
	const hours = Math.floor(minutes / 60);
	if (hours < 8) return minutes % 60 === 0 ? `${hours}h` : `${hours}h${minutes % 60}m`;
	if (hours < 48) return `${hours}h`;
	if (hours < 192) return hours % 24 === 0 ? `${Math.floor(hours / 24)}d` : `${Math.floor(hours / 24)}d${hours % 24}h`;
	if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24)}d`;
	const years = Math.floor(hours / 24 / 365);
	if (years < 8) return `${years}y${Math.floor(hours / 24) % 365}d`;
	return `${years}y`;
}
