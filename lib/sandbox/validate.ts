/**
 * The validation the sandbox shares with the real server, for the mistakes a deployment can
 * make: bad names, workloads whose selector does not select their pods, Service ports without a
 * number, and a body that is not of the type its URL names. Each problem is a StatusCause in the
 * real wording; the caller turns a non-empty list into 422 Invalid.
 */
import type { Json, KubeObject } from './patch.ts';
import { asRecord, canonicalJson, metadataOf } from './object.ts';
import { groupVersionOf, type ResourceType } from './resources.ts';
import type { StatusCause } from './status.ts';

const label1123 = '[a-z0-9]([-a-z0-9]*[a-z0-9])?';
const subdomain1123 = `${label1123}(\\.${label1123})*`;
const label1035 = '[a-z]([-a-z0-9]*[a-z0-9])?';

/** The workload kinds whose `spec.selector` must select `spec.template.metadata.labels`. */
const selectingKinds = new Set(['Deployment', 'DaemonSet', 'StatefulSet', 'ReplicaSet']);

/** Problems with an object about to be stored as `type` (create, update, patch or apply). */
export function validateObject(type: ResourceType, object: KubeObject): StatusCause[] {
	const causes: StatusCause[] = [];
	if (object.apiVersion !== groupVersionOf(type)) {
		causes.push(invalidValue('apiVersion', object.apiVersion, `must be ${groupVersionOf(type)}`));
	}
	if (object.kind !== type.kind) causes.push(invalidValue('kind', object.kind, `must be ${type.kind}`));
	causes.push(...validateName(type, metadataOf(object).name));
	if (selectingKinds.has(type.kind)) causes.push(...validateSelector(object));
	if (type.kind === 'Service') causes.push(...validateServicePorts(object));
	return causes;
}

/** metadata.name by the type's rule, in the messages of k8s.io/apimachinery/pkg/util/validation. */
export function validateName(type: ResourceType, name: string | undefined): StatusCause[] {
	if (!name) return [{ reason: 'FieldValueRequired', message: 'Required value: name or generateName is required', field: 'metadata.name' }];
	const problems: string[] = [];
	switch (type.nameRule) {
		case 'subdomain':
			if (name.length > 253) problems.push('must be no more than 253 characters');
			if (!new RegExp(`^${subdomain1123}$`).test(name)) {
				problems.push(
					`a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '${subdomain1123}')`,
				);
			}
			break;
		case 'label':
			if (name.length > 63) problems.push('must be no more than 63 characters');
			if (!new RegExp(`^${label1123}$`).test(name)) {
				problems.push(
					`a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '${label1123}')`,
				);
			}
			break;
		case 'dns1035':
			if (name.length > 63) problems.push('must be no more than 63 characters');
			if (!new RegExp(`^${label1035}$`).test(name)) {
				problems.push(
					`a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '${label1035}')`,
				);
			}
			break;
		case 'segment':
			if (name === '.' || name === '..') problems.push(`may not be '${name}'`);
			for (const bad of ['/', '%']) if (name.includes(bad)) problems.push(`may not contain '${bad}'`);
			break;
	}
	return problems.map(problem => invalidValue('metadata.name', name, problem));
}

/** A workload's selector must exist and match its pod template's labels. */
function validateSelector(object: KubeObject): StatusCause[] {
	const spec = asRecord(object.spec);
	const selector = asRecord(spec?.selector);
	const templateLabels = (asRecord(asRecord(asRecord(spec?.template)?.metadata)?.labels) ?? {}) as Record<string, string>;
	const mismatch = invalidValue('spec.template.metadata.labels', goMap(templateLabels), '`selector` does not match template `labels`', true);
	// As the real validation: a missing selector selects nothing, so the template cannot match it either.
	if (!selector) return [{ reason: 'FieldValueRequired', message: 'Required value', field: 'spec.selector' }, mismatch];
	const matchLabels = (asRecord(selector.matchLabels) ?? {}) as Record<string, string>;
	const expressions = (selector.matchExpressions ?? []) as Json[];
	const causes: StatusCause[] = [];
	if (Object.keys(matchLabels).length + expressions.length === 0) {
		causes.push(invalidValue('spec.selector', JSON.stringify(selector), `empty selector is invalid for ${object.kind.toLowerCase()}`, true));
	}
	const selects = Object.entries(matchLabels).every(([key, value]) => templateLabels[key] === value) && expressions.every(expression => expressionMatches(asRecord(expression), templateLabels));
	if (!selects) causes.push(mismatch);
	return causes;
}

function expressionMatches(expression: Record<string, Json> | undefined, labels: Record<string, string>): boolean {
	const key = String(expression?.key);
	const values = (expression?.values ?? []) as string[];
	switch (expression?.operator) {
		case 'In':
			return labels[key] !== undefined && values.includes(labels[key]);
		case 'NotIn':
			return labels[key] === undefined || !values.includes(labels[key]);
		case 'Exists':
			return labels[key] !== undefined;
		case 'DoesNotExist':
			return labels[key] === undefined;
		default:
			return false;
	}
}

/** Every Service port needs a number in 1..65535; a Service that is not headless needs ports. */
function validateServicePorts(object: KubeObject): StatusCause[] {
	const spec = asRecord(object.spec) ?? {};
	const ports = (Array.isArray(spec.ports) ? spec.ports : []) as Json[];
	if (ports.length === 0 && spec.clusterIP !== 'None' && spec.type !== 'ExternalName') {
		return [{ reason: 'FieldValueRequired', message: 'Required value', field: 'spec.ports' }];
	}
	const causes: StatusCause[] = [];
	ports.forEach((port, index) => {
		const number = asRecord(port)?.port;
		if (typeof number !== 'number' || !Number.isInteger(number) || number < 1 || number > 65535) {
			causes.push(invalidValue(`spec.ports[${index}].port`, typeof number === 'number' ? number : 0, 'must be between 1 and 65535, inclusive'));
		}
	});
	return causes;
}

/**
 * Problems with an update of `previous` to `object` (both as they would be stored, defaults
 * filled): the fields a deployment may try to change that the real server keeps as they were
 * made. A workload's selector, a Service's cluster IPs, a volume's source, a claim's spec (but its
 * requests once bound), a StatefulSet's spec (but its replicas, template and a few more), an
 * immutable ConfigMap's or Secret's data. The real server appends a diff of its Go structs to
 * the volume's and claim's messages; the sandbox cannot print Go's structs and stops at the line.
 */
export function validateUpdate(type: ResourceType, object: KubeObject, previous: KubeObject): StatusCause[] {
	const spec = asRecord(object.spec) ?? {};
	const before = asRecord(previous.spec) ?? {};
	const same = (a: Json | undefined, b: Json | undefined) => canonicalJson(a) === canonicalJson(b);
	const forbidden = (field: string, message: string): StatusCause => ({ reason: 'FieldValueForbidden', message: `Forbidden: ${message}`, field });
	const causes: StatusCause[] = [];
	// A StatefulSet's selector is part of its spec, refused below with the rest of it.
	if (selectingKinds.has(type.kind) && type.kind !== 'StatefulSet' && !same(spec.selector, before.selector)) {
		causes.push(invalidValue('spec.selector', labelSelectorJson(spec.selector), 'field is immutable', true));
	}
	switch (type.kind) {
		case 'StatefulSet': {
			const mutable = ['replicas', 'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy', 'minReadySeconds'];
			const rest = (value: Record<string, Json>) => Object.fromEntries(Object.entries(value).filter(([key]) => !mutable.includes(key)));
			if (!same(rest(spec), rest(before))) {
				causes.push(forbidden('spec', "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"));
			}
			break;
		}
		case 'Service': {
			// validateUpgradeDowngradeClusterIPs: the primary address never changes, nor any when
			// their number stays.
			if (spec.type === 'ExternalName' || before.type === 'ExternalName' || (before.clusterIP === 'None' && spec.clusterIP === 'None')) break;
			const oldIps = (before.clusterIPs ?? []) as string[];
			let newIps = (spec.clusterIPs ?? []) as string[];
			// A changed clusterIP beside unchanged clusterIPs is a change of the first of them.
			if (typeof spec.clusterIP === 'string' && spec.clusterIP !== before.clusterIP && same(newIps, oldIps)) newIps = [spec.clusterIP, ...oldIps.slice(1)];
			const changed = newIps.length === oldIps.length ? oldIps.flatMap((ip, index) => (newIps[index] !== ip ? [index] : [])) : oldIps.length > 0 && newIps.length > 0 && newIps[0] !== oldIps[0] ? [0] : [];
			for (const index of changed) causes.push(invalidValue(`spec.clusterIPs[${index}]`, JSON.stringify(newIps), 'may not change once set', true));
			break;
		}
		case 'PersistentVolume':
			if (!same(volumeSource(spec), volumeSource(before))) causes.push(forbidden('spec.persistentvolumesource', 'spec.persistentvolumesource is immutable after creation'));
			if (!same(spec.volumeMode, before.volumeMode)) causes.push(invalidValue('volumeMode', spec.volumeMode, 'field is immutable'));
			break;
		case 'PersistentVolumeClaim': {
			const newSpec = structuredClone(spec);
			const oldSpec = structuredClone(before);
			// The PV controller sets volumeName once; a class may be set once on a claim that had none.
			const takeNew = (field: string) => (newSpec[field] === undefined ? delete oldSpec[field] : (oldSpec[field] = newSpec[field]!));
			if (!oldSpec.volumeName) takeNew('volumeName');
			if (oldSpec.storageClassName === undefined) takeNew('storageClassName');
			if (asRecord(object.status)?.phase === 'Bound') {
				// A bound claim may ask for more storage, and another attributes class.
				const requests = asRecord(asRecord(newSpec.resources)?.requests);
				const oldRequests = asRecord(asRecord(oldSpec.resources)?.requests);
				if (requests && oldRequests) requests.storage = oldRequests.storage ?? null;
				delete newSpec.volumeAttributesClassName;
				delete oldSpec.volumeAttributesClassName;
			}
			if (!same(newSpec, oldSpec)) causes.push(forbidden('spec', 'spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims'));
			if (!same(spec.volumeMode, before.volumeMode)) causes.push(invalidValue('volumeMode', spec.volumeMode, 'field is immutable'));
			break;
		}
		case 'ConfigMap':
		case 'Secret':
			if (previous.immutable !== true) break;
			if (object.immutable !== true) causes.push(forbidden('immutable', 'field is immutable when `immutable` is set'));
			if (!same(object.data as Json, previous.data as Json)) causes.push(forbidden('data', 'field is immutable when `immutable` is set'));
			if (type.kind === 'ConfigMap' && !same(object.binaryData as Json, previous.binaryData as Json)) causes.push(forbidden('binaryData', 'field is immutable when `immutable` is set'));
			break;
	}
	return causes;
}

/** The PersistentVolumeSource of a volume's spec: which storage it is (nfs, hostPath, csi...). */
function volumeSource(spec: Record<string, Json>): Json {
	const sources = ['nfs', 'hostPath', 'local', 'csi', 'iscsi', 'fc', 'cephfs', 'rbd', 'glusterfs', 'flexVolume', 'azureFile', 'azureDisk', 'awsElasticBlockStore', 'gcePersistentDisk', 'cinder', 'flocker', 'vsphereVolume', 'quobyte', 'portworxVolume', 'scaleIO', 'storageos', 'photonPersistentDisk'];
	return Object.fromEntries(sources.filter(source => spec[source] !== undefined).map(source => [source, spec[source]!]));
}

/** A LabelSelector as Go's JSON gives it: matchLabels (keys sorted), then matchExpressions. */
function labelSelectorJson(selector: Json | undefined): string {
	const record = asRecord(selector) ?? {};
	const labels = asRecord(record.matchLabels);
	return JSON.stringify({
		...(labels && Object.keys(labels).length > 0 ? { matchLabels: Object.fromEntries(Object.keys(labels).sort().map(key => [key, labels[key]])) } : {}),
		...(Array.isArray(record.matchExpressions) && record.matchExpressions.length > 0 ? { matchExpressions: record.matchExpressions } : {}),
	});
}

/** A FieldValueInvalid cause: `Invalid value: "Bad_Name": <problem>` (strings quoted, as Go's %#v). */
function invalidValue(field: string, value: Json | undefined, problem: string, raw = false): StatusCause {
	const shown = raw ? String(value) : JSON.stringify(value ?? null);
	return { reason: 'FieldValueInvalid', message: `Invalid value: ${shown}: ${problem}`, field };
}

/**
 * A string map as a field error shows it: Go's JSON of it, keys sorted (`{"app":"web"}`). Releases
 * before 1.34 printed `map[string]string{"app":"web"}` (%#v); the test control plane's 1.36 does not.
 */
function goMap(map: Record<string, string>): string {
	const entries = Object.keys(map)
		.sort()
		.map(key => `${JSON.stringify(key)}:${JSON.stringify(map[key])}`);
	return `{${entries.join(',')}}`;
}

/** The fields the real server decodes as MicroTime (RFC 3339 with exactly six fractional digits), by kind. */
const microTimeFields: Record<string, string[]> = { Lease: ['acquireTime', 'renewTime'] };
const microTimeLayout = '2006-01-02T15:04:05.000000Z07:00';

/**
 * Why the real server could not decode `object` into its Go type, or undefined. Only MicroTime is
 * checked: a JavaScript time (`.764Z`, three digits) is a 400 there, in Go's time.Parse words.
 */
export function decodingProblem(object: KubeObject): string | undefined {
	const spec = asRecord(object.spec);
	for (const field of microTimeFields[object.kind] ?? []) {
		const value = spec?.[field];
		if (typeof value !== 'string' || /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}(Z|[+-]\d\d:\d\d)$/.test(value)) continue;
		// Where Go's parser stops: past the seconds, the fraction or the zone; else at the start.
		const seconds = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d/.test(value);
		const fraction = seconds && /^\.\d{6}/.test(value.slice(19));
		const [rest, element] = fraction ? [value.slice(26), 'Z07:00'] : seconds ? [value.slice(19), '.000000'] : [value, '2006'];
		return `parsing time ${JSON.stringify(value)} as ${JSON.stringify(microTimeLayout)}: cannot parse ${JSON.stringify(rest)} as ${JSON.stringify(element)}`;
	}
	return undefined;
}
