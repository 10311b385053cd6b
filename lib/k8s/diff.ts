/**
 * What applying objects would change, field by field, for `nub plan --diff`: each object is sent
 * as server-side apply with `dryRun=All` and field manager `nub`, and the answer is compared with
 * the live object on the fields nub's manager owns (its managedFields entries, before and after),
 * so server defaults and what other managers own never show. A Secret's values never show: each
 * is named by an HMAC under the state key. A namespaced object whose namespace does not exist yet
 * cannot be dry-run: it is shown as rendered.
 */
import { canonicalJson, contentHash } from '../engine/json.ts';
import { knownAfterApply, madeFromUnknown, type FieldChange, type ObjectDiff } from '../engine/changes.ts';
import type { CallOptions, Kube, ObjectRef } from './client.ts';
import { KubeError } from './errors.ts';
import { fieldManager, withManagedByLabel } from './field-manager.ts';
import type { KubeObject } from './objects.ts';

/** A keyed digest (the state key's HMAC), or undefined when there is no key yet. */
export type Digest = (text: string) => string | undefined;

/** One step of a field's path: a key, a list element by its key fields or its value, an index. */
type Step = { key: string } | { match: Record<string, unknown> } | { value: unknown } | { index: number };

/** The records of the objects a task would apply. */
export async function diffObjects(client: Kube, desired: readonly KubeObject[], digest: Digest, call: CallOptions = {}): Promise<ObjectDiff[]> {
	return Promise.all(desired.map(object => diffObject(client, withManagedByLabel(object), digest, call)));
}

async function diffObject(client: Kube, desired: KubeObject, digest: Digest, call: CallOptions): Promise<ObjectDiff> {
	const { name, namespace } = desired.metadata;
	const identity = { kind: desired.kind, ...(namespace ? { namespace } : {}), name };
	const live = await liveObject(client, desired, call);
	let after: KubeObject;
	let afterPaths: Step[][];
	let note: string | undefined;
	if (namespace && !(await client.snapshot('v1', 'Namespace', undefined, call)).some(ns => ns.metadata.name === namespace)) {
		after = desired;
		afterPaths = leafPaths(desired);
		note = `namespace ${namespace} does not exist yet: shown as rendered, without a dry run`;
	} else {
		try {
			after = await client.dryRunApply(desired, call);
			afterPaths = ownedPaths(after);
		} catch (error) {
			if (!(error instanceof KubeError) || error.retryable) throw error;
			after = desired;
			afterPaths = leafPaths(desired);
			note = `the dry run was refused (${error.message.split('\n')[0]}): shown as rendered`;
		}
	}
	const beforePaths = live ? ownedPaths(live) : [];
	const paths = new Map<string, Step[]>();
	for (const path of [...beforePaths, ...afterPaths]) paths.set(pathText(path), path);
	const secret = desired.kind === 'Secret';
	const changes: FieldChange[] = [];
	for (const [text, path] of paths) {
		const before = live ? valueAt(live, path) : undefined;
		const now = valueAt(after, path);
		if (live && canonicalJson(before ?? null) === canonicalJson(now ?? null)) continue;
		const secretValue = secret && (path[0] as { key?: string }).key !== undefined && ['data', 'stringData'].includes((path[0] as { key: string }).key) && path.length > 1;
		changes.push({ path: text, before: shown(before, secretValue, digest), after: shown(now, secretValue, digest) });
	}
	return {
		...identity,
		action: !live ? 'create' : changes.length > 0 ? 'update' : 'none',
		changes,
		...(note ? { note } : {}),
		live: live ? ownedHash(live, beforePaths, digest) : null,
		planned: ownedHash(after, afterPaths, digest),
	};
}

/** The live object of a reference (one LIST per kind and namespace, shared), or undefined. */
export async function liveObject(client: Kube, ref: ObjectRef, call: CallOptions = {}): Promise<KubeObject | undefined> {
	return (await client.snapshot(ref.apiVersion, ref.kind, ref.metadata.namespace, call)).find(object => object.metadata.name === ref.metadata.name);
}

/** The keyed hash of the fields nub owns in the live object (null when there is none): what a saved plan is held to. */
export async function liveHash(client: Kube, ref: ObjectRef, digest: Digest, call: CallOptions = {}): Promise<string | null> {
	const live = await liveObject(client, ref, call);
	return live ? ownedHash(live, ownedPaths(live), digest) : null;
}

function ownedHash(object: KubeObject, paths: Step[][], digest: Digest): string {
	const fields = canonicalJson(paths.map(path => [pathText(path), valueAt(object, path) ?? null]).sort((a, b) => String(a[0]).localeCompare(String(b[0]))));
	// Without a state key nothing secret is hashed in clear: a Secret's values are left out.
	return digest(fields) ?? contentHash(object.kind === 'Secret' ? canonicalJson(paths.map(pathText).sort()) : fields);
}

/** How a value is shown: text as it is (cut), others as JSON; a Secret's by keyed hash; what the run will make, as known after apply. */
function shown(value: unknown, secret: boolean, digest: Digest): string | null {
	if (value === undefined || value === null) return null;
	if (secret && typeof value === 'string') {
		if (madeFromUnknown(Buffer.from(value, 'base64').toString('utf8'))) return knownAfterApply;
		const keyed = digest(value);
		return keyed === undefined ? '(hidden)' : `sha256 ${Buffer.from(keyed, 'base64url').toString('hex').slice(0, 8)}…`;
	}
	const text = typeof value === 'string' ? value : JSON.stringify(value);
	if (madeFromUnknown(text)) return knownAfterApply;
	const lines = text.split('\n');
	const first = lines[0]!.length > 80 ? `${lines[0]!.slice(0, 79)}…` : lines[0]!;
	return lines.length > 1 ? `${first}… (${lines.length} lines)` : first;
}

/** The paths of the fields manager `nub` owns in the object (its managedFields), as steps. */
export function ownedPaths(object: KubeObject): Step[][] {
	const entries = ((object.metadata as { managedFields?: Array<{ manager?: string; fieldsV1?: unknown }> }).managedFields ?? []).filter(entry => entry.manager === fieldManager);
	const paths: Step[][] = [];
	const walk = (fields: Record<string, unknown>, path: Step[]) => {
		const children = Object.keys(fields).filter(key => key !== '.');
		if (children.length === 0) {
			if (path.length > 0) paths.push(path);
			return;
		}
		for (const key of children) walk((fields[key] ?? {}) as Record<string, unknown>, [...path, stepOf(key)]);
	};
	for (const entry of entries) if (entry.fieldsV1 && typeof entry.fieldsV1 === 'object') walk(entry.fieldsV1 as Record<string, unknown>, []);
	return paths;
}

function stepOf(key: string): Step {
	const kind = key.slice(0, 2);
	const rest = key.slice(2);
	if (kind === 'f:') return { key: rest };
	if (kind === 'k:') return { match: JSON.parse(rest) as Record<string, unknown> };
	if (kind === 'v:') return { value: JSON.parse(rest) as unknown };
	if (kind === 'i:') return { index: Number(rest) };
	return { key };
}

/** Every leaf of an object as rendered (no dry run): list elements by name where they have one. */
function leafPaths(object: KubeObject): Step[][] {
	const paths: Step[][] = [];
	const walk = (value: unknown, path: Step[]) => {
		if (Array.isArray(value) && value.length > 0) {
			value.forEach((item, index) => {
				const name = item && typeof item === 'object' && typeof (item as { name?: unknown }).name === 'string' ? (item as { name: string }).name : undefined;
				walk(item, [...path, name !== undefined ? { match: { name } } : { index }]);
			});
		} else if (value !== null && typeof value === 'object' && !Array.isArray(value) && Object.keys(value).length > 0) {
			for (const [key, item] of Object.entries(value)) walk(item, [...path, { key }]);
		} else if (path.length > 0) {
			paths.push(path);
		}
	};
	const { metadata, apiVersion: _v, kind: _k, ...rest } = object;
	walk({ metadata: { ...(metadata.labels ? { labels: metadata.labels } : {}), ...(metadata.annotations ? { annotations: metadata.annotations } : {}) }, ...rest }, []);
	return paths;
}

function valueAt(object: unknown, path: readonly Step[]): unknown {
	let here: unknown = object;
	for (const step of path) {
		if (here === undefined || here === null) return undefined;
		if ('key' in step) here = typeof here === 'object' && !Array.isArray(here) ? (here as Record<string, unknown>)[step.key] : undefined;
		else if (!Array.isArray(here)) return undefined;
		else if ('index' in step) here = here[step.index];
		else if ('match' in step) here = here.find(item => item && typeof item === 'object' && Object.entries(step.match).every(([k, v]) => canonicalJson((item as Record<string, unknown>)[k]) === canonicalJson(v)));
		else here = here.find(item => canonicalJson(item) === canonicalJson(step.value));
	}
	return here;
}

/** `spec.template.spec.containers[name=firefly].image`, `metadata.labels[app.kubernetes.io/name]`. */
function pathText(path: readonly Step[]): string {
	let text = '';
	for (const step of path) {
		if ('key' in step) text += /^[A-Za-z0-9_-]+$/.test(step.key) ? `${text ? '.' : ''}${step.key}` : `[${step.key}]`;
		else if ('index' in step) text += `[${step.index}]`;
		else if ('match' in step) text += `[${Object.entries(step.match).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`).join(',')}]`;
		else text += `[${typeof step.value === 'string' ? step.value : JSON.stringify(step.value)}]`;
	}
	return text;
}
