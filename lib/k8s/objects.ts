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

/**
 * The order to apply in: namespaces first (namespaced objects need theirs), then what defines
 * kinds or permissions others use, then the rest in the order given. Deleting goes the other way.
 */
export function applyOrder<T extends Pick<KubeObject, 'kind'>>(objects: readonly T[]): T[] {
	const rank = (kind: string) => (kind === 'Namespace' ? 0 : kind === 'CustomResourceDefinition' ? 1 : isClusterScoped(kind) ? 2 : 3);
	return objects.map((object, index) => ({ object, index })).sort((a, b) => rank(a.object.kind) - rank(b.object.kind) || a.index - b.index).map(({ object }) => object);
}
