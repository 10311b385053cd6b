/**
 * The resource types the sandbox serves: what discovery announces and what the REST handlers
 * accept. One table, so discovery, routing, validation and printing never disagree.
 */

/** One served resource type, as discovery describes it. */
export interface ResourceType {
	/** API group; `''` for the core group. */
	group: string;
	version: string;
	/** Plural, lower-case: the URL segment (`deployments`). */
	resource: string;
	singular: string;
	kind: string;
	namespaced: boolean;
	shortNames: string[];
	/** `all` where the real server puts the type in `kubectl get all`. */
	categories: string[];
	/** Whether a `status` subresource exists: then writes to the main resource leave status alone. */
	hasStatus: boolean;
	/** Whether the server keeps metadata.generation (bumped on spec changes). */
	hasGeneration: boolean;
	/** How metadata.name is validated. */
	nameRule: NameRule;
}

/** Which rule the real server applies to metadata.name. */
export type NameRule =
	/** RFC 1123 subdomain (most resources). */
	| 'subdomain'
	/** RFC 1123 label (namespaces). */
	| 'label'
	/** RFC 1035 label, starting with a letter (services). */
	| 'dns1035'
	/** Any path segment: no `/` or `%`, not `.` or `..` (RBAC objects). */
	| 'segment';

/** Verbs of every served type; namespaces have no deletecollection, like the real server. */
const allVerbs = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

type Entry = [resource: string, singular: string, kind: string, namespaced: boolean, shortNames: string[], categories: string[], hasStatus: boolean];

function group(groupName: string, version: string, hasGeneration: boolean, entries: Entry[]): ResourceType[] {
	return entries.map(([resource, singular, kind, namespaced, shortNames, categories, hasStatus]) => ({
		group: groupName,
		version,
		resource,
		singular,
		kind,
		namespaced,
		shortNames,
		categories,
		hasStatus,
		hasGeneration,
		nameRule: groupName === 'rbac.authorization.k8s.io' ? 'segment' : resource === 'namespaces' ? 'label' : resource === 'services' ? 'dns1035' : 'subdomain',
	}));
}

/** Every served type, grouped as discovery lists them. */
export const resourceTypes: readonly ResourceType[] = [
	...group('', 'v1', false, [
		['namespaces', 'namespace', 'Namespace', false, ['ns'], [], true],
		['services', 'service', 'Service', true, ['svc'], ['all'], true],
		['secrets', 'secret', 'Secret', true, [], [], false],
		['configmaps', 'configmap', 'ConfigMap', true, ['cm'], [], false],
		['persistentvolumeclaims', 'persistentvolumeclaim', 'PersistentVolumeClaim', true, ['pvc'], [], true],
		['persistentvolumes', 'persistentvolume', 'PersistentVolume', false, ['pv'], [], true],
		['serviceaccounts', 'serviceaccount', 'ServiceAccount', true, ['sa'], [], false],
		['pods', 'pod', 'Pod', true, ['po'], ['all'], true],
		['endpoints', 'endpoints', 'Endpoints', true, ['ep'], [], false],
		['events', 'event', 'Event', true, ['ev'], [], false],
	]),
	...group('apps', 'v1', true, [
		['deployments', 'deployment', 'Deployment', true, ['deploy'], ['all'], true],
		['daemonsets', 'daemonset', 'DaemonSet', true, ['ds'], ['all'], true],
		['statefulsets', 'statefulset', 'StatefulSet', true, ['sts'], ['all'], true],
		['replicasets', 'replicaset', 'ReplicaSet', true, ['rs'], ['all'], true],
	]),
	...group('batch', 'v1', true, [
		['jobs', 'job', 'Job', true, [], ['all'], true],
		['cronjobs', 'cronjob', 'CronJob', true, ['cj'], ['all'], true],
	]),
	...group('networking.k8s.io', 'v1', true, [
		['ingresses', 'ingress', 'Ingress', true, ['ing'], [], true],
		['ingressclasses', 'ingressclass', 'IngressClass', false, [], [], false],
	]),
	...group('rbac.authorization.k8s.io', 'v1', false, [
		['roles', 'role', 'Role', true, [], [], false],
		['rolebindings', 'rolebinding', 'RoleBinding', true, [], [], false],
		['clusterroles', 'clusterrole', 'ClusterRole', false, [], [], false],
		['clusterrolebindings', 'clusterrolebinding', 'ClusterRoleBinding', false, [], [], false],
	]),
	...group('coordination.k8s.io', 'v1', false, [['leases', 'lease', 'Lease', true, [], [], false]]),
	...group('storage.k8s.io', 'v1', false, [['storageclasses', 'storageclass', 'StorageClass', false, ['sc'], [], false]]),
];

/** The verbs discovery lists for a type. */
export function verbsOf(type: ResourceType): string[] {
	return type.resource === 'namespaces' ? allVerbs.filter(verb => verb !== 'deletecollection') : allVerbs;
}

/** `apps/v1`, or `v1` for the core group. */
export function groupVersionOf(type: Pick<ResourceType, 'group' | 'version'>): string {
	return type.group === '' ? type.version : `${type.group}/${type.version}`;
}

/** The groups and versions served, in discovery order (core group first). */
export function servedGroupVersions(): Array<{ group: string; version: string }> {
	const seen = new Map<string, { group: string; version: string }>();
	for (const type of resourceTypes) seen.set(groupVersionOf(type), { group: type.group, version: type.version });
	return [...seen.values()];
}

/** The type served at `/api(s)/<group>/<version>/<resource>`, if any. */
export function findResourceType(groupName: string, version: string, resource: string): ResourceType | undefined {
	return resourceTypes.find(type => type.group === groupName && type.version === version && type.resource === resource);
}

/** The type of an object from its apiVersion and kind, if served. */
export function findKind(apiVersion: string, kind: string): ResourceType | undefined {
	return resourceTypes.find(type => groupVersionOf(type) === apiVersion && type.kind === kind);
}

/** `deployments.apps`, or `secrets` in the core group: how Status messages name a resource. */
export function qualifiedResource(type: ResourceType): string {
	return type.group === '' ? type.resource : `${type.resource}.${type.group}`;
}

/** `Deployment.apps`, or `Secret` in the core group: how Invalid messages name a kind. */
export function qualifiedKind(type: ResourceType): string {
	return type.group === '' ? type.kind : `${type.kind}.${type.group}`;
}
