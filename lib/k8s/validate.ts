import { describeObject, groupVersion, type KubeObject, type ObjectSource } from './objects.ts';

/** A manifest that does not fit its kind's schema: every problem, each naming file, object and field. */
export class ManifestError extends Error {
	override readonly name = 'ManifestError';
	constructor(readonly problems: readonly string[]) {
		super(problems.length === 1 ? problems[0]! : `${problems.length} invalid manifests: ${problems.join('; ')}`);
	}
}

type Validated = { validate(): void };
type ModelClass = new (data: object) => Validated;
type Loader = () => Promise<Record<string, unknown>>;

/**
 * The schemas of the kinds a deployment uses, from kubernetes-models (the OpenAPI schemas of
 * Kubernetes compiled to validators). Each is imported when first needed, by a literal path, so
 * the bundler resolves it once; a kind not listed here falls back to its group version's index
 * (slower to load, as complete).
 */
const kinds: Record<string, Loader> = {
	'v1/Namespace': () => import('kubernetes-models/v1/Namespace'),
	'v1/Service': () => import('kubernetes-models/v1/Service'),
	'v1/Secret': () => import('kubernetes-models/v1/Secret'),
	'v1/ConfigMap': () => import('kubernetes-models/v1/ConfigMap'),
	'v1/PersistentVolumeClaim': () => import('kubernetes-models/v1/PersistentVolumeClaim'),
	'v1/PersistentVolume': () => import('kubernetes-models/v1/PersistentVolume'),
	'v1/ServiceAccount': () => import('kubernetes-models/v1/ServiceAccount'),
	'v1/Pod': () => import('kubernetes-models/v1/Pod'),
	'apps/v1/Deployment': () => import('kubernetes-models/apps/v1/Deployment'),
	'apps/v1/DaemonSet': () => import('kubernetes-models/apps/v1/DaemonSet'),
	'apps/v1/StatefulSet': () => import('kubernetes-models/apps/v1/StatefulSet'),
	'batch/v1/Job': () => import('kubernetes-models/batch/v1/Job'),
	'batch/v1/CronJob': () => import('kubernetes-models/batch/v1/CronJob'),
	'networking.k8s.io/v1/Ingress': () => import('kubernetes-models/networking.k8s.io/v1/Ingress'),
	'networking.k8s.io/v1/IngressClass': () => import('kubernetes-models/networking.k8s.io/v1/IngressClass'),
	'rbac.authorization.k8s.io/v1/Role': () => import('kubernetes-models/rbac.authorization.k8s.io/v1/Role'),
	'rbac.authorization.k8s.io/v1/RoleBinding': () => import('kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding'),
	'rbac.authorization.k8s.io/v1/ClusterRole': () => import('kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRole'),
	'rbac.authorization.k8s.io/v1/ClusterRoleBinding': () => import('kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRoleBinding'),
	'coordination.k8s.io/v1/Lease': () => import('kubernetes-models/coordination.k8s.io/v1/Lease'),
	'storage.k8s.io/v1/StorageClass': () => import('kubernetes-models/storage.k8s.io/v1/StorageClass'),
	'policy/v1/PodDisruptionBudget': () => import('kubernetes-models/policy/v1/PodDisruptionBudget'),
};

/** Whole group versions, for kinds not listed above. */
const groupVersions: Record<string, Loader> = {
	v1: () => import('kubernetes-models/v1'),
	'apps/v1': () => import('kubernetes-models/apps/v1'),
	'batch/v1': () => import('kubernetes-models/batch/v1'),
	'networking.k8s.io/v1': () => import('kubernetes-models/networking.k8s.io/v1'),
	'rbac.authorization.k8s.io/v1': () => import('kubernetes-models/rbac.authorization.k8s.io/v1'),
	'coordination.k8s.io/v1': () => import('kubernetes-models/coordination.k8s.io/v1'),
	'storage.k8s.io/v1': () => import('kubernetes-models/storage.k8s.io/v1'),
	'policy/v1': () => import('kubernetes-models/policy/v1'),
	'autoscaling/v2': () => import('kubernetes-models/autoscaling/v2'),
};

/** A group Kubernetes itself serves: an unknown kind there is a mistake, not a custom resource. */
function isBuiltInGroup(group: string): boolean {
	return group === '' || !group.includes('.') || group.endsWith('.k8s.io');
}

/**
 * Checks every object against its kind's schema before anything is sent, and throws one
 * ManifestError listing every problem: `templates/hub.yaml (document 2): Deployment nublado/hub:
 * spec.replicas must be integer, got "two"`. Custom resources (kinds of other groups) are left to
 * the server.
 */
export async function validateObjects(objects: readonly KubeObject[], sourceOf: (object: KubeObject) => ObjectSource | undefined = () => undefined): Promise<void> {
	const problems: string[] = [];
	for (const object of objects) {
		const where = describeSource(sourceOf(object));
		const shape = shapeProblem(object);
		if (shape) {
			problems.push(`${where}${shape}`);
			continue;
		}
		const what = `${where}${describeObject(object)}`;
		const Model = await modelOf(object.apiVersion, object.kind);
		if (Model === 'unknown') {
			problems.push(`${what}: Kubernetes has no kind ${object.kind} in ${object.apiVersion}`);
			continue;
		}
		if (Model === undefined) continue;
		try {
			new Model(object).validate();
		} catch (error) {
			const errors = (error as { errors?: Array<{ instancePath: string; message?: string; params?: Record<string, unknown> }> }).errors;
			if (!errors) throw error;
			for (const problem of errors) problems.push(`${what}: ${fieldProblem(object, problem)}`);
		}
	}
	if (problems.length > 0) throw new ManifestError(problems);
}

function describeSource(source: ObjectSource | undefined): string {
	if (!source?.file) return '';
	return `${source.file}${source.document !== undefined ? ` (document ${source.document})` : ''}: `;
}

function shapeProblem(object: unknown): string | undefined {
	if (typeof object !== 'object' || object === null || Array.isArray(object)) return 'a manifest must be an object';
	const o = object as Partial<KubeObject>;
	if (typeof o.apiVersion !== 'string' || o.apiVersion === '') return 'a manifest has no apiVersion';
	if (typeof o.kind !== 'string' || o.kind === '') return `a manifest of ${o.apiVersion} has no kind`;
	if (typeof o.metadata?.name !== 'string' || o.metadata.name === '') return `a ${o.kind} has no metadata.name`;
	return undefined;
}

async function modelOf(apiVersion: string, kind: string): Promise<ModelClass | 'unknown' | undefined> {
	const { group } = groupVersion(apiVersion);
	const load = kinds[`${apiVersion}/${kind}`];
	if (load) return (await load())[kind] as ModelClass;
	const loadAll = groupVersions[apiVersion];
	if (loadAll) {
		const model = (await loadAll())[kind];
		return typeof model === 'function' ? (model as ModelClass) : 'unknown';
	}
	return isBuiltInGroup(group) ? 'unknown' : undefined;
}

/** `spec.template.spec.containers[0].ports[0].containerPort must be integer, got "8081"`. */
function fieldProblem(object: KubeObject, problem: { instancePath: string; message?: string; params?: Record<string, unknown> }): string {
	const segments = problem.instancePath.split('/').slice(1).map(segment => segment.replaceAll('~1', '/').replaceAll('~0', '~'));
	let value: unknown = object;
	for (const segment of segments) value = (value as Record<string, unknown> | undefined)?.[segment];
	const field = segments.reduce((path, segment) => (/^\d+$/.test(segment) ? `${path}[${segment}]` : path ? `${path}.${segment}` : segment), '');
	const missing = problem.params?.missingProperty;
	if (typeof missing === 'string') return `${field ? `${field}.` : ''}${missing} is required`;
	const got = value === undefined ? '' : `, got ${JSON.stringify(value)}`;
	return `${field || '(the object)'} ${problem.message ?? 'is invalid'}${got}`;
}
