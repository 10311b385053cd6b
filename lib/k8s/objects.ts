/** A Kubernetes object as nub handles it: plain JSON with its type and name. */
export interface KubeObject {
	[key: string]: unknown;
	apiVersion: string;
	kind: string;
	metadata: { name: string; namespace?: string; [key: string]: unknown };
}

/** Where an object came from, for messages: a template file and the document's position in it. */
export interface ObjectSource {
	file?: string;
	/** 1-based position of the YAML document in the file. */
	document?: number;
}

/** `Deployment nublado/hub` or `ClusterRole hub`: how messages name an object. */
export function describeObject(object: Pick<KubeObject, 'kind' | 'metadata'>): string {
	const { name, namespace } = object.metadata ?? {};
	return `${object.kind} ${namespace ? `${namespace}/` : ''}${name ?? '(no name)'}`;
}

/** The group and version of an apiVersion (`apps/v1` -> apps, v1; `v1` -> the core group ""). */
export function groupVersion(apiVersion: string): { group: string; version: string } {
	const slash = apiVersion.indexOf('/');
	return slash === -1 ? { group: '', version: apiVersion } : { group: apiVersion.slice(0, slash), version: apiVersion.slice(slash + 1) };
}

/** Kinds that hold no namespace. Others are namespaced (the server's discovery has the last word). */
const clusterScoped = new Set([
	'Namespace',
	'Node',
	'PersistentVolume',
	'StorageClass',
	'ClusterRole',
	'ClusterRoleBinding',
	'IngressClass',
	'CustomResourceDefinition',
	'PriorityClass',
	'MutatingWebhookConfiguration',
	'ValidatingWebhookConfiguration',
]);

export function isClusterScoped(kind: string): boolean {
	return clusterScoped.has(kind);
}

/** Kinds that make pods: everything their pods read (Services, ConfigMaps, Secrets, claims) goes first. */
const workloads = new Set(['Deployment', 'DaemonSet', 'StatefulSet', 'ReplicaSet', 'Job', 'CronJob', 'Pod']);

/**
 * The stages to apply in, each applied at once, one after the other:
 *
 *   Namespaces -> CustomResourceDefinitions -> other cluster-scoped objects (RBAC, classes, volumes)
 *     -> namespaced objects -> workloads
 *
 * A namespaced object needs its namespace; a pod reads a Service's address from its environment
 * (`<NAME>_SERVICE_HOST`) only if the Service existed when the pod started, and mounts ConfigMaps,
 * Secrets and claims that must exist. Deleting goes the other way. Within a stage, the order given.
 */
export function applyStages<T extends Pick<KubeObject, 'kind'>>(objects: readonly T[]): T[][] {
	const rank = (kind: string) => (kind === 'Namespace' ? 0 : kind === 'CustomResourceDefinition' ? 1 : isClusterScoped(kind) ? 2 : workloads.has(kind) ? 4 : 3);
	const stages: T[][] = [[], [], [], [], []];
	for (const object of objects) stages[rank(object.kind)]!.push(object);
	return stages.filter(stage => stage.length > 0);
}

/** The objects in the order of their stages (see applyStages). */
export function applyOrder<T extends Pick<KubeObject, 'kind'>>(objects: readonly T[]): T[] {
	return applyStages(objects).flat();
}
