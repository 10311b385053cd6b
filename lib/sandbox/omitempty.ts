/**
 * The zero values the real API server drops. It decodes an object into its Go struct and encodes
 * it back: a field that is not a pointer and is tagged `omitempty` loses its zero value (`""`,
 * `false`, `0`) on the way, so a manifest's `value: ""` is stored as no value at all. A pointer
 * field keeps its zero (a claim's `storageClassName: ""` means "no class" and stays). The
 * sandbox has no Go structs, so this table names the non-pointer fields of the kinds a deployment
 * uses that manifests set to a zero value (nub's templates do: an empty environment value, a
 * volume's `readOnly: false`, a PersistentVolume's `storageClassName: ""`).
 *
 * Paths are dotted; `[]` stands for every item of a list.
 */
import type { Json, KubeObject } from './patch.ts';
import { asRecord } from './object.ts';

/** Non-pointer omitempty fields of a PodSpec, relative to it. */
const podSpecFields = [
	'hostNetwork',
	'hostPID',
	'hostIPC',
	'volumes[].nfs.readOnly',
	'volumes[].persistentVolumeClaim.readOnly',
	...['containers', 'initContainers'].flatMap(list => [
		`${list}[].env[].value`,
		`${list}[].volumeMounts[].readOnly`,
		`${list}[].volumeMounts[].subPath`,
		`${list}[].workingDir`,
		`${list}[].stdin`,
		`${list}[].tty`,
		`${list}[].ports[].name`,
		`${list}[].ports[].hostPort`,
	]),
];

/** Where each kind keeps a PodSpec. */
const podSpecAt: Record<string, string> = {
	Pod: 'spec',
	Deployment: 'spec.template.spec',
	DaemonSet: 'spec.template.spec',
	StatefulSet: 'spec.template.spec',
	ReplicaSet: 'spec.template.spec',
	Job: 'spec.template.spec',
	CronJob: 'spec.jobTemplate.spec.template.spec',
};

/** The other kinds' non-pointer omitempty fields that manifests set to zero. */
const kindFields: Record<string, string[]> = {
	PersistentVolume: ['spec.storageClassName', 'spec.nfs.readOnly'],
	Service: ['spec.loadBalancerIP', 'spec.externalName', 'spec.ports[].name', 'spec.ports[].nodePort'],
};

/** The paths dropped when zero for `kind`. */
function fieldsOf(kind: string): string[] {
	const podSpec = podSpecAt[kind];
	return [...(kindFields[kind] ?? []), ...(podSpec ? podSpecFields.map(field => `${podSpec}.${field}`) : [])];
}

/** Removes, in place, the zero values the real server would not store. */
export function dropOmittedZeros(object: KubeObject): void {
	for (const path of fieldsOf(object.kind)) drop(object as unknown as Json, path.replaceAll('[]', '.[]').split('.'));
}

function drop(node: Json | undefined, steps: string[]): void {
	const [step, ...rest] = steps;
	if (step === '[]') {
		if (Array.isArray(node)) for (const item of node) drop(item, rest);
		return;
	}
	const record = asRecord(node);
	if (!record || step === undefined || !Object.hasOwn(record, step)) return;
	if (rest.length > 0) drop(record[step], rest);
	else if (record[step] === '' || record[step] === false || record[step] === 0) delete record[step];
}
