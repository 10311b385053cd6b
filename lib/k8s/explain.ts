/**
 * What to do about a hopeless wait (classify.ts), and which change of this run it follows from.
 * The cluster alone tells the generic part (which Secret lacks which key, the command that shows a
 * crash's log); the task that applied the objects knows more (the template or configuration field
 * that set the image, the task that makes a Secret, what its apply changed) and passes it in.
 */
import type { FailureCase, FailureDetail } from './classify.ts';
import { describeObject, type KubeObject } from './objects.ts';

/** What the task that applied the objects knows; all optional. */
export interface ExplainContext {
	/** The objects the task applied, each with what the apply did to it this run. */
	applied?: ReadonlyArray<{ object: KubeObject; action: 'created' | 'configured' | 'unchanged' }>;
	/** The file an object came from (`templates/hub/hub.yaml`), by describeObject's name. */
	fileOf?: (object: string) => string | undefined;
	/** The task whose output an applied object is (`Secret nublado/hub` -> `hub-secret`), by describeObject's name. */
	madeBy?: (object: string) => string | undefined;
	/** The configuration field that set a value: `hub.image in nublado.yaml (or NUBLADO_HUB_IMAGE)`. */
	fieldOf?: (value: string) => string | undefined;
}

/** How the new pods fail, for the note: `the new pods of Deployment nublado/hub crash-loop`. */
const failing: Record<FailureCase, string> = {
	'image-pull': 'cannot pull their image',
	'invalid-image': 'name an invalid image',
	'crash-loop': 'crash-loop',
	'config-error': 'cannot be started',
	oom: 'are OOMKilled',
	unschedulable: 'cannot be scheduled',
	'progress-deadline': 'never become ready',
	'claim-unbound': '',
	'load-balancer': '',
	'job-failed': 'fail',
};

/** The kubelet's words for a missing Secret or ConfigMap, or a key it lacks. */
const missingKey = /couldn't find key (\S+) in (Secret|ConfigMap) ([^/\s]+)\/(\S+)/;
const missingObject = /(secret|configmap) "([^"]+)" not found/i;

/** The detail with `hint` (what to do) and, when a change of this run explains it, `note`. */
export function explainFailure(detail: FailureDetail, context: ExplainContext = {}): FailureDetail {
	const workload = context.applied?.find(({ object }) => describeObject(object) === detail.object)?.object;
	const file = context.fileOf?.(detail.object);
	const inFile = file ? ` in ${file}` : '';
	const note = noteOf(detail, workload, context);
	const hint = hintOf(detail, inFile, context);
	return { ...detail, ...(hint ? { hint } : {}), ...(note ? { note } : {}) };
}

function hintOf(detail: FailureDetail, inFile: string, context: ExplainContext): string | undefined {
	// `Deployment nublado/hub`: the kind, the namespace (none for a cluster-wide object), the name.
	const [, kind = '', namespace, name = ''] = /^(\S+) (?:([^/\s]+)\/)?(\S+)$/.exec(detail.object) ?? [];
	const ns = namespace ? `-n ${namespace} ` : '';
	switch (detail.case) {
		case 'image-pull':
		case 'invalid-image': {
			const field = detail.image ? context.fieldOf?.(detail.image) : undefined;
			const where = field ? `it is set by ${field}` : inFile ? `it is set${inFile}` : 'it is set in the pod template';
			const what = detail.case === 'image-pull' ? 'name an image and tag that exist (and the registry credentials, when it is private)' : 'name a valid image (a lowercase repository)';
			return `${what}; ${where}`;
		}
		case 'config-error': {
			const key = missingKey.exec(detail.message);
			const gone = key ? undefined : missingObject.exec(detail.message);
			const object = key ? `${key[2]} ${key[3]}/${key[4]}` : gone ? `${gone[1] === 'secret' ? 'Secret' : 'ConfigMap'} ${namespace ?? '?'}/${gone[2]}` : undefined;
			if (!object) return `give the container the Secrets, ConfigMaps and keys it names${inFile}`;
			const maker = context.madeBy?.(object);
			const applied = context.applied?.some(({ object: applied }) => describeObject(applied) === object);
			const lacks = key ? `${object} has no key ${key[1]}` : `${object} does not exist`;
			const wrong = `the reference${inFile} names the wrong ${key ? 'key' : 'object'}`;
			const fix = maker
				? `its content comes from task ${maker}, or ${wrong}`
				: applied
					? `this task applies it without that key, or ${wrong}`
					: context.applied
						? `this task does not apply it: make it, or fix the reference${inFile}`
						: `make it, or fix the reference${inFile}`;
			return `${lacks}: ${fix}`;
		}
		case 'crash-loop':
			return detail.pod ? `read its log (kubectl ${ns}logs ${detail.pod}${detail.container ? ` -c ${detail.container}` : ''} --previous)` : undefined;
		case 'oom':
			return `raise the container's memory limit${inFile}`;
		case 'unschedulable':
			return `lower the pod's resource requests${inFile}, or add nodes with room for them`;
		case 'progress-deadline':
			return `see why its newest pods are not ready (kubectl ${ns}describe ${kind.toLowerCase()} ${name})`;
		case 'claim-unbound':
			return `name a StorageClass the cluster has (kubectl get storageclass), or make a volume the claim can bind; a claim's class cannot change in place: delete the claim (kubectl ${ns}delete pvc ${name}) before the next run`;
		case 'load-balancer':
			return 'ask for an address the cloud can give (spec.loadBalancerIP), or none';
		case 'job-failed':
			return `read the log of its pods (kubectl ${ns}logs job/${name})`;
	}
}

/**
 * A change of this run the failure follows from: an object the task's apply changed (not made)
 * that the failing workload's pods read (a ConfigMap, a Secret), else the workload itself.
 */
function noteOf(detail: FailureDetail, workload: KubeObject | undefined, context: ExplainContext): string | undefined {
	if (!workload || !context.applied || !failing[detail.case]) return undefined;
	const changed = context.applied.filter(({ action }) => action === 'configured').map(({ object }) => object);
	const read = referencesOf(workload);
	const cause = changed.find(object => object !== workload && read.has(describeObject(object))) ?? changed.find(object => describeObject(object) === detail.object);
	if (!cause) return undefined;
	const pods = cause === workload ? 'its new pods' : `the new pods of ${detail.object}`;
	return `${describeObject(cause)} changed this run; ${pods} ${failing[detail.case]}`;
}

/** The Secrets and ConfigMaps a workload's pods read (volumes, environment), by describeObject's name. */
function referencesOf(workload: KubeObject): Set<string> {
	const namespace = workload.metadata.namespace;
	const spec = workload.spec as { template?: { spec?: PodSpec }; jobTemplate?: { spec?: { template?: { spec?: PodSpec } } } } | undefined;
	const pod = spec?.template?.spec ?? spec?.jobTemplate?.spec?.template?.spec ?? {};
	const names = new Set<string>();
	const add = (kind: string, name: string | undefined) => name && names.add(`${kind} ${namespace ? `${namespace}/` : ''}${name}`);
	for (const volume of pod.volumes ?? []) {
		add('ConfigMap', volume.configMap?.name);
		add('Secret', volume.secret?.secretName);
		for (const source of volume.projected?.sources ?? []) {
			add('ConfigMap', source.configMap?.name);
			add('Secret', source.secret?.name);
		}
	}
	for (const container of [...(pod.initContainers ?? []), ...(pod.containers ?? [])]) {
		for (const from of container.envFrom ?? []) {
			add('ConfigMap', from.configMapRef?.name);
			add('Secret', from.secretRef?.name);
		}
		for (const env of container.env ?? []) {
			add('ConfigMap', env.valueFrom?.configMapKeyRef?.name);
			add('Secret', env.valueFrom?.secretKeyRef?.name);
		}
	}
	return names;
}

interface Named {
	name?: string;
}
interface Container {
	envFrom?: Array<{ configMapRef?: Named; secretRef?: Named }>;
	env?: Array<{ valueFrom?: { configMapKeyRef?: Named; secretKeyRef?: Named } }>;
}
interface PodSpec {
	volumes?: Array<{ configMap?: Named; secret?: { secretName?: string }; projected?: { sources?: Array<{ configMap?: Named; secret?: Named }> } }>;
	initContainers?: Container[];
	containers?: Container[];
}
