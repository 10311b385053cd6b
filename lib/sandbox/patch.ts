/**
 * How the Kubernetes API server changes an object on a write, without I/O: the three patch
 * formats, server-side apply, and the managedFields bookkeeping of every write. It follows
 * k8s.io/apimachinery's strategicpatch and sigs.k8s.io/structured-merge-diff (merge, compare,
 * prune, fieldpath) closely enough that kubectl and @kubernetes/client-node see what a real
 * kube-apiserver would give them.
 *
 * The Go code knows every field's type from the API's Go structs. Here a table declares, by field
 * path, the lists (and the few atomic maps) a deployment uses; any other map merges key by key and
 * any other list is replaced by a patch and owned whole by an applier, which is what Kubernetes
 * does with lists it declares nothing for.
 *
 * Every exported function returns a new value and leaves its arguments untouched.
 */
import type { Json } from '../engine/json.ts';

export type { Json };

type JsonObject = { [key: string]: Json };

/** One entry of metadata.managedFields: what one manager owns through one kind of write. */
export type ManagedFieldsEntry = {
	manager: string;
	/** `Apply` for server-side apply, `Update` for every other write. */
	operation: 'Apply' | 'Update';
	apiVersion: string;
	/** When the manager last changed the object (RFC 3339). */
	time: string;
	fieldsType: 'FieldsV1';
	/** The owned fields as Kubernetes encodes them: `f:<field>`, `k:<key>`, `v:<value>`, `.` for a node itself. */
	fieldsV1: Json;
	/** Set for writes through a subresource (`status`). */
	subresource?: string;
};

/** Object metadata, with the fields this module reads typed. */
type ObjectMeta = { name?: string; namespace?: string; managedFields?: ManagedFieldsEntry[]; [key: string]: Json | undefined };

/**
 * A Kubernetes object as JSON. The index signature admits ObjectMeta as well as Json because
 * TypeScript does not count a type with optional fields, such as ObjectMeta, as Json.
 */
export type KubeObject = { apiVersion: string; kind: string; metadata: ObjectMeta; [key: string]: Json | ObjectMeta | undefined };

/** A write the API server refuses, with the Status reason it answers with (400, 422 or 415). */
export class PatchError extends Error {
	override name = 'PatchError';
	constructor(
		readonly reason: 'BadRequest' | 'Invalid' | 'UnsupportedMediaType',
		message: string,
	) {
		super(message);
	}
}

// ---------------------------------------------------------------------------------------------
// JSON values

function isObject(value: Json | undefined): value is JsonObject {
	return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** An own field only: a key such as "__proto__" (a valid ConfigMap key) must never reach the prototype. */
function get(object: JsonObject, key: string): Json | undefined {
	return Object.hasOwn(object, key) ? object[key] : undefined;
}

/** Sets an own field: assigning a "__proto__" key would replace the prototype instead. */
function put(object: JsonObject, key: string, value: Json): void {
	Object.defineProperty(object, key, { value, writable: true, enumerable: true, configurable: true });
}

/** The JSON type of a value, as Go's reflect.TypeOf tells a decoded patch's values apart. */
function kindOf(value: Json): string {
	return value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value;
}

function deepEqual(a: Json | undefined, b: Json | undefined): boolean {
	if (a === b) return true;
	if (Array.isArray(a)) return Array.isArray(b) && a.length === b.length && a.every((item, i) => deepEqual(item, b[i]));
	if (!isObject(a) || !isObject(b)) return false;
	const keys = Object.keys(a);
	return keys.length === Object.keys(b).length && keys.every(key => Object.hasOwn(b, key) && deepEqual(a[key], b[key]));
}

/** The object's fields as JSON (the same data; TypeScript cannot see that ObjectMeta is JSON). */
function asJson(object: KubeObject): JsonObject {
	return object as unknown as JsonObject;
}

function asKube(object: JsonObject): KubeObject {
	return object as unknown as KubeObject;
}

// ---------------------------------------------------------------------------------------------
// JSON merge patch (RFC 7386)

/** RFC 7386 JSON merge patch (`application/merge-patch+json`): objects merge, `null` deletes, anything else replaces. */
export function jsonMergePatch(target: Json, patch: Json): Json {
	return mergePatchInto(structuredClone(target), patch);
}

function mergePatchInto(target: Json, patch: Json): Json {
	if (!isObject(patch)) return structuredClone(patch);
	const result = isObject(target) ? target : {};
	for (const [key, value] of Object.entries(patch)) {
		if (value === null) delete result[key];
		else put(result, key, mergePatchInto(get(result, key) ?? null, value));
	}
	return result;
}

// ---------------------------------------------------------------------------------------------
// JSON patch (RFC 6902)

/**
 * RFC 6902 JSON patch (`application/json-patch+json`): add, remove, replace, move, copy, test.
 * A body that is not a list of operations is a BadRequest; an operation that cannot apply (a
 * missing path, a failed test) is Invalid (422), as the API server answers.
 */
export function jsonPatch(target: Json, operations: Json): Json {
	if (!Array.isArray(operations) || !operations.every(isObject)) {
		throw new PatchError('BadRequest', `a JSON patch must be a list of operations, got ${JSON.stringify(operations)}`);
	}
	let document = structuredClone(target);
	for (const operation of operations) document = applyOperation(document, operation);
	return document;
}

function applyOperation(document: Json, operation: JsonObject): Json {
	const op = get(operation, 'op');
	const path = pointer(operation, 'path', op);
	switch (op) {
		case 'add':
			return addAt(document, path, valueOf(operation, op));
		case 'remove':
			return removeAt(document, path, op);
		case 'replace':
			return replaceAt(document, path, valueOf(operation, op));
		case 'move': {
			const from = pointer(operation, 'from', op);
			if (path.text === from.text) return document;
			if (path.text.startsWith(`${from.text}/`)) throw invalid(`move operation does not apply: ${path.text} is inside ${from.text}`);
			const value = read(document, from, op);
			return addAt(removeAt(document, from, op), path, value);
		}
		case 'copy':
			return addAt(document, path, structuredClone(read(document, pointer(operation, 'from', op), op)));
		case 'test':
			if (!deepEqual(readOptional(document, path.tokens), valueOf(operation, op))) {
				throw invalid(`testing value ${path.text} failed: test failed`);
			}
			return document;
		default:
			throw invalid(`Unexpected kind: ${JSON.stringify(op ?? null)}`);
	}
}

/** A parsed JSON pointer (RFC 6901), keeping its text for messages. */
interface Pointer {
	text: string;
	tokens: string[];
}

function pointer(operation: JsonObject, field: 'path' | 'from', op: Json | undefined): Pointer {
	const text = get(operation, field);
	if (typeof text !== 'string' || (text !== '' && !text.startsWith('/'))) {
		throw invalid(`${String(op)} operation has an invalid ${field}: ${JSON.stringify(text ?? null)}`);
	}
	const tokens = text === '' ? [] : text.slice(1).split('/').map(token => token.replaceAll('~1', '/').replaceAll('~0', '~'));
	return { text, tokens };
}

function valueOf(operation: JsonObject, op: string): Json {
	const value = get(operation, 'value');
	if (value === undefined) throw invalid(`${op} operation has no value`);
	return structuredClone(value);
}

function invalid(message: string): PatchError {
	return new PatchError('Invalid', message);
}

/** An array index token: digits without a leading zero. */
function indexOf(token: string): number | undefined {
	return /^(0|[1-9][0-9]*)$/.test(token) ? Number(token) : undefined;
}

function childAt(node: Json | undefined, token: string): Json | undefined {
	if (Array.isArray(node)) {
		const index = indexOf(token);
		return index === undefined ? undefined : node[index];
	}
	return isObject(node) ? get(node, token) : undefined;
}

function readOptional(document: Json, tokens: string[]): Json | undefined {
	let node: Json | undefined = document;
	for (const token of tokens) node = childAt(node, token);
	return node;
}

function read(document: Json, path: Pointer, op: string): Json {
	const value = readOptional(document, path.tokens);
	if (value === undefined) throw invalid(`${op} operation does not apply: doc is missing path: ${path.text}`);
	return value;
}

/** The object or array holding what the pointer's last token names. */
function parentOf(document: Json, path: Pointer, op: string): { parent: JsonObject | Json[]; last: string } {
	const parent = readOptional(document, path.tokens.slice(0, -1));
	if (!isObject(parent) && !Array.isArray(parent)) throw invalid(`${op} operation does not apply: doc is missing path: ${path.text}`);
	return { parent, last: path.tokens.at(-1)! };
}

function addAt(document: Json, path: Pointer, value: Json): Json {
	if (path.tokens.length === 0) return value;
	const { parent, last } = parentOf(document, path, 'add');
	if (isObject(parent)) {
		put(parent, last, value);
		return document;
	}
	const index = last === '-' ? parent.length : indexOf(last);
	if (index === undefined || index > parent.length) throw invalid(`add operation does not apply: index out of bounds: ${path.text}`);
	parent.splice(index, 0, value);
	return document;
}

function removeAt(document: Json, path: Pointer, op: string): Json {
	const { parent, last } = path.tokens.length === 0 ? failMissing(path, op) : parentOf(document, path, op);
	if (isObject(parent)) {
		if (!Object.hasOwn(parent, last)) failMissing(path, op);
		delete parent[last];
		return document;
	}
	const index = indexOf(last);
	if (index === undefined || index >= parent.length) failMissing(path, op);
	parent.splice(index, 1);
	return document;
}

function replaceAt(document: Json, path: Pointer, value: Json): Json {
	if (path.tokens.length === 0) return value;
	const { parent, last } = parentOf(document, path, 'replace');
	if (isObject(parent)) {
		if (!Object.hasOwn(parent, last)) failMissing(path, 'replace');
		put(parent, last, value);
		return document;
	}
	const index = indexOf(last);
	if (index === undefined || index >= parent.length) failMissing(path, 'replace');
	parent[index] = value;
	return document;
}

function failMissing(path: Pointer, op: string): never {
	throw invalid(`${op} operation does not apply: doc is missing key: ${path.text}`);
}

// ---------------------------------------------------------------------------------------------
// Schema: what Kubernetes declares about the fields a deployment uses

/** A key field of an associative list; `default` stands in when an item leaves it out. */
interface KeyField {
	name: string;
	default?: Json;
}

/**
 * How Kubernetes merges a list, from the Go types' patchStrategy/patchMergeKey (strategic merge
 * patch) and listType/listMapKey (server-side apply) markers.
 */
type ListType =
	/**
	 * Objects told apart by keys, merged item by item. `mergeKey` is the patch merge key; `keys`
	 * are apply's list-map keys, sorted by name (ports add a protocol that defaults to TCP).
	 */
	| { type: 'map'; mergeKey: string; keys: KeyField[] }
	/** Unique scalars, merged as a set. */
	| { type: 'set' }
	/** Replaced whole by a patch and owned whole by an applier: what Kubernetes does with undeclared lists. */
	| { type: 'atomic' };

/** A list whose items are merged and owned one by one. */
type ItemList = Exclude<ListType, { type: 'atomic' }>;

const atomic: ListType = { type: 'atomic' };
const keyed = (mergeKey: string, ...more: KeyField[]): ListType => ({ type: 'map', mergeKey, keys: [{ name: mergeKey }, ...more] });
const tcp: KeyField = { name: 'protocol', default: 'TCP' };

/** Where a pod spec sits: a Pod, a PodTemplate, a workload's template, a CronJob's job template. */
const podSpecs = ['spec', 'template.spec', 'spec.template.spec', 'spec.jobTemplate.spec.template.spec'];
const containerLists = ['containers', 'initContainers'];

/** The declared lists by schema path (list items add `[]`). */
const listTypes = new Map<string, ListType>([
	['metadata.ownerReferences', keyed('uid')],
	['metadata.finalizers', { type: 'set' }],
	['spec.ports', keyed('port', tcp)], // Service
	['spec.rules', atomic], // Ingress
	['spec.tls', atomic], // Ingress
	['rules', atomic], // Role, ClusterRole
	['subjects', atomic], // RoleBinding, ClusterRoleBinding
	...podSpecs.flatMap(podSpec => [
		[`${podSpec}.volumes`, keyed('name')] as const,
		[`${podSpec}.imagePullSecrets`, keyed('name')] as const,
		[`${podSpec}.tolerations`, atomic] as const,
		...containerLists.flatMap(containers => [
			[`${podSpec}.${containers}`, keyed('name')] as const,
			[`${podSpec}.${containers}[].ports`, keyed('containerPort', tcp)] as const,
			[`${podSpec}.${containers}[].env`, keyed('name')] as const,
			[`${podSpec}.${containers}[].envFrom`, atomic] as const,
			[`${podSpec}.${containers}[].volumeMounts`, keyed('mountPath')] as const,
		]),
	]),
]);

/** Maps an applier owns whole (`+structType=atomic`, `+mapType=atomic`), by schema path. */
const atomicMaps = new Set([
	'metadata.ownerReferences[]',
	...podSpecs.flatMap(podSpec => [
		`${podSpec}.nodeSelector`,
		`${podSpec}.imagePullSecrets[]`,
		...containerLists.flatMap(containers =>
			['secretKeyRef', 'configMapKeyRef', 'fieldRef', 'resourceFieldRef'].map(ref => `${podSpec}.${containers}[].env[].valueFrom.${ref}`),
		),
	]),
]);

function listTypeAt(path: string): ListType {
	return listTypes.get(path) ?? atomic;
}

/**
 * `spec.selector` is atomic in every kind: a workload's LabelSelector (`+structType=atomic`), and
 * a Service's or ReplicationController's map of labels too (`+mapType=atomic`).
 */
function isAtomicMap(_kind: string, path: string): boolean {
	return path === 'spec.selector' || atomicMaps.has(path);
}

/** The pod template's structs, below a workload's `spec`. */
const templateStructs = (spec: string) => [`${spec}.template`, `${spec}.template.metadata`, `${spec}.template.spec`];

/**
 * Struct fields that are not pointers in the Go types, by kind: a decoded object always has them
 * (empty: `{}`), so a write never adds or removes one as such, and an Update's fieldsV1 has no `.`
 * for it (`f:spec: {f:replicas: {}}`, where a map's `f:labels: {.: {}, ...}` has one).
 */
const structFields: Record<string, string[]> = {
	Namespace: ['spec', 'status'],
	Service: ['spec', 'status', 'status.loadBalancer'],
	PersistentVolume: ['spec', 'status'],
	PersistentVolumeClaim: ['spec', 'status', 'spec.resources'],
	Pod: ['spec', 'status'],
	Deployment: ['spec', 'status', 'spec.strategy', ...templateStructs('spec')],
	DaemonSet: ['spec', 'status', 'spec.updateStrategy', ...templateStructs('spec')],
	StatefulSet: ['spec', 'status', 'spec.updateStrategy', ...templateStructs('spec')],
	ReplicaSet: ['spec', 'status', ...templateStructs('spec')],
	Job: ['spec', 'status', ...templateStructs('spec')],
	CronJob: ['spec', 'status', 'spec.jobTemplate', 'spec.jobTemplate.metadata', 'spec.jobTemplate.spec', ...templateStructs('spec.jobTemplate.spec')],
	Ingress: ['spec', 'status', 'status.loadBalancer'],
	IngressClass: ['spec'],
	Lease: ['spec'],
	RoleBinding: ['roleRef'],
	ClusterRoleBinding: ['roleRef'],
};

function isStructField(place: Place): boolean {
	return structFields[place.kind]?.includes(place.path) ?? false;
}

const joinPath = (path: string, field: string): string => (path ? `${path}.${field}` : field);

// ---------------------------------------------------------------------------------------------
// Strategic merge patch

const deleteFromPrimitiveList = '$deleteFromPrimitiveList/';
const setElementOrder = '$setElementOrder/';

/**
 * Strategic merge patch (`application/strategic-merge-patch+json`), as kubectl apply and patch
 * send it: maps merge, `null` deletes, declared lists merge by key, other lists are replaced, and
 * the `$patch`, `$retainKeys`, `$setElementOrder/…` and `$deleteFromPrimitiveList/…` directives
 * work as in k8s.io/apimachinery (which refuses `$patch: merge`, so this does too).
 */
export function strategicMergePatch(target: KubeObject, patch: Json): KubeObject {
	if (!isObject(patch)) throw new PatchError('BadRequest', `a strategic merge patch must be a JSON object, got ${JSON.stringify(patch)}`);
	return asKube(mergeMap(structuredClone(asJson(target)), structuredClone(patch), ''));
}

/** Merges `patch` into `original` (both copies, changed in place), as strategicpatch's mergeMap. */
function mergeMap(original: JsonObject, patch: JsonObject, path: string): JsonObject {
	const directive = get(patch, '$patch');
	if (directive !== undefined) return mapDirective(directive, patch);
	retainKeys(original, patch);
	applyElementOrders(original, patch, path);
	for (const [patchKey, value] of Object.entries(patch)) {
		const isDeleteList = patchKey.startsWith(deleteFromPrimitiveList);
		// Other directives were consumed above; any unknown one is dropped, as decoding into the Go type would.
		if (patchKey.startsWith('$') && !isDeleteList) continue;
		const key = isDeleteList ? patchKey.slice(deleteFromPrimitiveList.length) : patchKey;
		if (value === null) {
			delete original[key];
			continue;
		}
		const current = get(original, key);
		if (current === undefined || kindOf(current) !== kindOf(value)) {
			if (!isDeleteList) setCleaned(original, key, value);
		} else if (isObject(current)) {
			put(original, key, mergeMap(current, value as JsonObject, joinPath(path, key)));
		} else if (Array.isArray(current)) {
			put(original, key, mergeList(current, value as Json[], joinPath(path, key), isDeleteList));
		} else {
			put(original, key, value);
		}
	}
	return original;
}

/** `$patch` in a map: `replace` takes the patch as the whole map, `delete` leaves it empty. */
function mapDirective(directive: Json, patch: JsonObject): JsonObject {
	if (directive === 'replace') {
		delete patch.$patch;
		return cleanPatchValue(patch) as JsonObject;
	}
	if (directive === 'delete') return {};
	throw new PatchError('BadRequest', `unknown patch type: ${JSON.stringify(directive)} in map: ${JSON.stringify(patch)}`);
}

/** `$retainKeys`: keeps only the listed fields of the original; the patch may set no other. */
function retainKeys(original: JsonObject, patch: JsonObject): void {
	const keys = get(patch, '$retainKeys');
	if (keys === undefined) return;
	delete patch.$retainKeys;
	const retained = Array.isArray(keys) ? new Set(keys) : undefined;
	const unlisted = Object.entries(patch).some(
		([key, value]) => value !== null && !key.startsWith(deleteFromPrimitiveList) && !key.startsWith(setElementOrder) && !retained?.has(key),
	);
	if (!retained || unlisted) throw new PatchError('BadRequest', 'invalid patch format of retainKeys');
	for (const key of Object.keys(original)) if (!retained.has(key)) delete original[key];
}

/**
 * `$setElementOrder/<list>`: merges the list now, then orders it as the directive says, with items
 * the directive does not name kept in their original relative order.
 */
function applyElementOrders(original: JsonObject, patch: JsonObject, path: string): void {
	for (const [directiveKey, order] of Object.entries(patch)) {
		if (!directiveKey.startsWith(setElementOrder)) continue;
		delete patch[directiveKey];
		const key = directiveKey.slice(setElementOrder.length);
		const current = get(original, key);
		const patchList = get(patch, key);
		if (!Array.isArray(order) || (current !== undefined && !Array.isArray(current)) || (patchList !== undefined && !Array.isArray(patchList))) {
			throw new PatchError('BadRequest', 'invalid patch format of setElementOrder list');
		}
		const list = listTypeAt(joinPath(path, key));
		const mergeKey = list.type === 'map' ? list.mergeKey : undefined;
		checkElementOrder(patchList ?? [], order, mergeKey);
		let merged: Json[];
		if (current && patchList) merged = mergeList(current, patchList, joinPath(path, key), false);
		else if (patchList) merged = cleanPatchValue(patchList) as Json[];
		else if (current) merged = current;
		else continue;
		put(original, key, orderItems(merged, order, current ?? [], mergeKey));
		delete patch[key];
	}
}

/** The patch list must name its items in the order `$setElementOrder` gives them. */
function checkElementOrder(patchList: Json[], order: Json[], mergeKey: string | undefined): void {
	if (order.length === 0) return;
	const items = patchList.filter(item => !(isObject(item) && get(item, '$patch') !== undefined));
	let next = 0;
	for (const wanted of order) {
		if (next < items.length && identityOf(items[next]!, mergeKey) === identityOf(wanted, mergeKey)) next++;
	}
	if (next < items.length) {
		throw new PatchError('BadRequest', `the order in patch list ${JSON.stringify(patchList)} doesn't match $setElementOrder list ${JSON.stringify(order)}`);
	}
}

/** Merges a patch list into a list by the list's declared strategy; undeclared lists are replaced. */
function mergeList(original: Json[], patch: Json[], path: string, isDeleteList: boolean): Json[] {
	const list = listTypeAt(path);
	if (list.type === 'atomic' && !isDeleteList) return cleanPatchValue(patch) as Json[];
	if (original.length === 0 && patch.length === 0) return original;
	const mergeKey = list.type === 'map' ? list.mergeKey : undefined;
	const elementKind = kindOfElements([...original, ...patch]);
	if (elementKind !== 'object') {
		if (isDeleteList) return original.filter(item => !patch.includes(item));
		const merged = [...new Set([...original, ...patch])];
		return orderItems(merged, patch, original, undefined);
	}
	if (mergeKey === undefined) throw new PatchError('BadRequest', `cannot merge lists without merge key for ${path}`);
	const special = applySpecialItems(original, patch as JsonObject[], mergeKey);
	if (special.replace) return cleanPatchValue(special.patch) as Json[];
	const merged = mergeByKey(special.original, special.patch, mergeKey, `${path}[]`);
	return orderItems(merged, special.patch, special.original, mergeKey);
}

/** The one JSON type of a list's items: lists of lists and mixed lists cannot be merged. */
function kindOfElements(items: Json[]): string {
	const kinds = new Set(items.map(kindOf));
	if (kinds.has('array')) throw new PatchError('Invalid', 'lists of lists are not supported');
	if (kinds.size > 1) throw new PatchError('BadRequest', `list element types are not identical: ${JSON.stringify(items)}`);
	return [...kinds][0]!;
}

/** Items with `$patch`: `delete` removes the original items with that key, `replace` makes the rest of the patch the whole list. */
function applySpecialItems(original: Json[], patch: JsonObject[], mergeKey: string): { original: Json[]; patch: JsonObject[]; replace: boolean } {
	const plain: JsonObject[] = [];
	let replace = false;
	for (const item of patch) {
		const directive = get(item, '$patch');
		if (directive === undefined) plain.push(item);
		else if (directive === 'delete') {
			const key = keyValue(item, mergeKey);
			original = original.filter(entry => !(isObject(entry) && get(entry, mergeKey) === key));
		} else if (directive === 'replace') replace = true;
		else if (directive === 'merge') throw new PatchError('BadRequest', 'merging lists cannot yet be specified in the patch');
		else throw new PatchError('BadRequest', `unknown patch type: ${JSON.stringify(directive)} in map: ${JSON.stringify(item)}`);
	}
	return { original, patch: plain, replace };
}

/** Patch items merge into the original item with the same key, or are added. */
function mergeByKey(original: Json[], patch: JsonObject[], mergeKey: string, itemPath: string): Json[] {
	const merged = [...original];
	for (const item of patch) {
		const key = keyValue(item, mergeKey);
		const index = merged.findIndex(entry => isObject(entry) && get(entry, mergeKey) === key);
		if (index >= 0) merged[index] = mergeMap(merged[index] as JsonObject, item, itemPath);
		else merged.push(cleanPatchValue(item) as JsonObject); // no `$patch`: those were taken out
	}
	return merged;
}

function keyValue(item: JsonObject, mergeKey: string): Json {
	const value = get(item, mergeKey);
	if (value === undefined) throw new PatchError('BadRequest', `map: ${JSON.stringify(item)} does not contain declared merge key: ${mergeKey}`);
	return value;
}

/** What tells list items apart when ordering: the merge key's value, or the item itself for scalars. */
function identityOf(item: Json, mergeKey: string | undefined): Json | undefined {
	if (mergeKey === undefined) return item;
	return isObject(item) ? keyValue(item, mergeKey) : undefined;
}

/**
 * Orders a merged list as strategicpatch's normalizeElementOrder: the items named in `order`
 * follow it, the others keep the order of `serverOrder`, and the two are interleaved by their
 * places in `serverOrder`, an item new to the server going before any it cannot be placed after.
 */
function orderItems(merged: Json[], order: Json[], serverOrder: Json[], mergeKey: string | undefined): Json[] {
	const indexIn = (list: Json[], item: Json) => list.findIndex(entry => identityOf(entry, mergeKey) === identityOf(item, mergeKey));
	const byIndexIn = (list: Json[]) => (a: Json, b: Json) => indexIn(list, a) - indexIn(list, b);
	const named = merged.filter(item => indexIn(order, item) >= 0).sort(byIndexIn(order));
	const others = merged.filter(item => indexIn(order, item) < 0).sort(byIndexIn(serverOrder));
	const result: Json[] = [];
	let i = 0;
	let j = 0;
	while (i < others.length && j < named.length) {
		const left = indexIn(serverOrder, others[i]!);
		const right = indexIn(serverOrder, named[j]!);
		result.push(left >= 0 && right >= 0 && left < right ? others[i++]! : named[j++]!);
	}
	return [...result, ...others.slice(i), ...named.slice(j)];
}

function setCleaned(object: JsonObject, key: string, value: Json): void {
	const cleaned = cleanPatchValue(value);
	if (cleaned === undefined) delete object[key];
	else put(object, key, cleaned);
}

/**
 * A patch value taken as it is (nothing in the original to merge with): without null fields and
 * maps holding a `$patch` (as strategicpatch's removeDirectives), and without other `$` keys,
 * which decoding into the Go type drops.
 */
function cleanPatchValue(value: Json): Json | undefined {
	if (Array.isArray(value)) {
		return value.flatMap(item => {
			const cleaned = cleanPatchValue(item);
			return cleaned === undefined ? [] : [cleaned];
		});
	}
	if (!isObject(value)) return value;
	if (get(value, '$patch') !== undefined) return undefined;
	const result: JsonObject = {};
	for (const [key, field] of Object.entries(value)) {
		if (field === null || key.startsWith('$')) continue;
		const cleaned = cleanPatchValue(field);
		if (cleaned !== undefined) put(result, key, cleaned);
	}
	return result;
}

// ---------------------------------------------------------------------------------------------
// Field sets (the fieldsV1 of managedFields)

/**
 * A set of field paths, stored as fieldsV1 lays it out: each node may be a member itself (`.`)
 * and has children by path element (`f:name`, `k:{"name":"hub"}`, `v:"x"`). No node is empty.
 */
class FieldSet {
	member = false;
	readonly children = new Map<string, FieldSet>();

	/** Decodes fieldsV1; undefined if it is not well formed. */
	static decode(fieldsV1: Json): FieldSet | undefined {
		if (!isObject(fieldsV1)) return undefined;
		const set = new FieldSet();
		for (const [element, value] of Object.entries(fieldsV1)) {
			if (element === '.') {
				set.member = true;
				continue;
			}
			const child = isPathElement(element) ? FieldSet.decode(value) : undefined;
			if (!child) return undefined;
			if (child.empty) child.member = true; // `"f:replicas": {}` is a leaf
			set.children.set(element, child);
		}
		return set;
	}

	encode(): JsonObject {
		const json: JsonObject = {};
		if (this.member && this.children.size > 0) json['.'] = {};
		for (const element of this.sortedElements()) json[element] = this.children.get(element)!.encode();
		return json;
	}

	get empty(): boolean {
		return !this.member && this.children.size === 0;
	}

	insert(path: readonly string[]): void {
		let node: FieldSet = this;
		for (const element of path) {
			let child = node.children.get(element);
			if (!child) node.children.set(element, (child = new FieldSet()));
			node = child;
		}
		node.member = true;
	}

	union(other: FieldSet): FieldSet {
		const result = this.difference(undefined);
		result.add(other);
		return result;
	}

	/** Member by member, as fieldpath.Set.Difference: a member of `other` does not remove what lies under it. */
	difference(other: FieldSet | undefined): FieldSet {
		const result = new FieldSet();
		result.member = this.member && !other?.member;
		for (const [element, child] of this.children) {
			const rest = child.difference(other?.children.get(element));
			if (!rest.empty) result.children.set(element, rest);
		}
		return result;
	}

	intersection(other: FieldSet): FieldSet {
		const result = new FieldSet();
		result.member = this.member && other.member;
		for (const [element, child] of this.children) {
			const theirs = other.children.get(element);
			const both = theirs && child.intersection(theirs);
			if (both && !both.empty) result.children.set(element, both);
		}
		return result;
	}

	/** The member paths in structured-merge-diff's order: at each level the members, then the children. */
	*paths(prefix: string[] = []): Generator<string[]> {
		const elements = this.sortedElements();
		for (const element of elements) if (this.children.get(element)!.member) yield [...prefix, element];
		for (const element of elements) yield* this.children.get(element)!.paths([...prefix, element]);
	}

	private add(other: FieldSet): void {
		this.member ||= other.member;
		for (const [element, child] of other.children) {
			let mine = this.children.get(element);
			if (!mine) this.children.set(element, (mine = new FieldSet()));
			mine.add(child);
		}
	}

	private sortedElements(): string[] {
		return [...this.children.keys()].sort(compareElements);
	}
}

/** A well-formed path element: `f:<name>`, `i:<index>`, or `k:`/`v:` and JSON (a client may send any managedFields). */
function isPathElement(element: string): boolean {
	if (element.startsWith('f:')) return true;
	if (element.startsWith('i:')) return indexOf(element.slice(2)) !== undefined;
	if (!element.startsWith('k:') && !element.startsWith('v:')) return false;
	try {
		const value = JSON.parse(element.slice(2)) as Json;
		return element[0] === 'v' || isObject(value);
	} catch {
		return false;
	}
}

/** The order of fieldpath.PathElement: by kind (field, key, value, index), then by content. */
function compareElements(a: string, b: string): number {
	const rank = 'fkvi';
	if (a[0] !== b[0]) return rank.indexOf(a[0]!) - rank.indexOf(b[0]!);
	const [x, y] = [a.slice(2), b.slice(2)];
	switch (a[0]) {
		case 'f':
			return compareText(x, y);
		case 'i':
			return Number(x) - Number(y);
		case 'k': {
			const [left, right] = [Object.entries(JSON.parse(x) as JsonObject), Object.entries(JSON.parse(y) as JsonObject)];
			for (let i = 0; i < Math.min(left.length, right.length); i++) {
				const order = compareText(left[i]![0], right[i]![0]) || valueOrder(left[i]![1], right[i]![1]);
				if (order) return order;
			}
			return left.length - right.length;
		}
		default:
			return valueOrder(JSON.parse(x) as Json, JSON.parse(y) as Json);
	}
}

function compareText(a: string, b: string): number {
	return a < b ? -1 : a > b ? 1 : 0;
}

/** value.Compare's order: numbers, strings, booleans, lists, maps, null. */
function valueOrder(a: Json, b: Json): number {
	const rank = ['number', 'string', 'boolean', 'array', 'object', 'null'];
	const [ka, kb] = [kindOf(a), kindOf(b)];
	if (ka !== kb) return rank.indexOf(ka) - rank.indexOf(kb);
	if (typeof a === 'number') return a - (b as number);
	if (typeof a === 'string' || typeof a === 'boolean') return compareText(String(a), String(b));
	return compareText(JSON.stringify(a), JSON.stringify(b));
}

/** A path as Kubernetes prints it in a conflict: `.spec.template.spec.containers[name="hub"].image`. */
function displayPath(path: string[]): string {
	return path
		.map(element => {
			const body = element.slice(2);
			switch (element[0]) {
				case 'f':
					return `.${body}`;
				case 'k':
					return `[${Object.entries(JSON.parse(body) as JsonObject)
						.map(([name, value]) => `${name}=${JSON.stringify(value)}`)
						.join(',')}]`;
				case 'v':
					return `[=${body}]`;
				default:
					return `[${body}]`;
			}
		})
		.join('');
}

// ---------------------------------------------------------------------------------------------
// Typed walks: structured-merge-diff's ToFieldSet, Compare, Merge and prune over plain JSON

/** Where a walk is: the object's kind (for the few kind-specific types) and the schema path. */
interface Place {
	kind: string;
	path: string;
}

const fieldPlace = (place: Place, name: string): Place => ({ kind: place.kind, path: joinPath(place.path, name) });
const itemPlace = (place: Place): Place => ({ kind: place.kind, path: `${place.path}[]` });

/** How apply sees a value: owned whole (a leaf), walked field by field, or walked item by item. */
function shapeOf(value: Json, place: Place): 'leaf' | 'map' | ItemList {
	if (Array.isArray(value)) {
		const list = listTypeAt(place.path);
		return list.type === 'atomic' ? 'leaf' : list;
	}
	return isObject(value) && !isAtomicMap(place.kind, place.path) ? 'map' : 'leaf';
}

/**
 * A list's items by path element, in order. A repeated key counts once in a stored object; in an
 * applied one it is refused, as the API server refuses it.
 */
function indexItems(items: Json[], list: ItemList, path: string[], strict: boolean): Map<string, Json> {
	const byElement = new Map<string, Json>();
	for (const item of items) {
		const element = itemElement(list, item, path);
		if (byElement.has(element) && strict) {
			throw new PatchError('BadRequest', `${displayPath(path)}: duplicate entries for key ${displayPath([element])}`);
		}
		if (!byElement.has(element)) byElement.set(element, item);
	}
	return byElement;
}

/** The path element of a list item: `k:{"containerPort":80,"protocol":"TCP"}` in an associative list, `v:"x"` in a set. */
function itemElement(list: ItemList, item: Json, path: string[]): string {
	if (list.type === 'set') return `v:${JSON.stringify(item)}`;
	const key: JsonObject = {};
	for (const field of list.keys) {
		const value = (isObject(item) ? get(item, field.name) : undefined) ?? field.default;
		if (value === undefined) {
			throw new PatchError(
				'BadRequest',
				`${displayPath(path)}: associative list with keys has an element that omits key field "${field.name}" (and doesn't have default value)`,
			);
		}
		put(key, field.name, value);
	}
	return `k:${JSON.stringify(key)}`;
}

/** Every field and list item of `value`: what applying it claims (ToFieldSet). */
function fieldsOf(value: Json, place: Place, path: string[], set: FieldSet): void {
	const shape = shapeOf(value, place);
	if (shape === 'leaf') {
		set.insert(path);
	} else if (shape === 'map') {
		for (const [name, field] of Object.entries(value as JsonObject)) {
			const fieldPath = [...path, `f:${name}`];
			// An empty map is owned as such; a full one through its fields.
			if (field === null || (isObject(field) && Object.keys(field).length === 0)) set.insert(fieldPath);
			else fieldsOf(field, fieldPlace(place, name), fieldPath, set);
		}
	} else {
		for (const [element, item] of indexItems(value as Json[], shape, path, true)) {
			fieldsOf(item, itemPlace(place), [...path, element], set);
			set.insert([...path, element]);
		}
	}
}

/** What a write changed, as structured-merge-diff's Comparison. */
interface Comparison {
	added: FieldSet;
	modified: FieldSet;
	removed: FieldSet;
}

function compare(before: JsonObject, after: JsonObject, kind: string): Comparison {
	const comparison = { added: new FieldSet(), modified: new FieldSet(), removed: new FieldSet() };
	compareAt(before, after, { kind, path: '' }, [], comparison, true);
	return comparison;
}

/** `inBoth`: the parent is on both sides (the objects themselves always are, as Go structs). */
function compareAt(lhs: Json | undefined, rhs: Json | undefined, place: Place, path: string[], out: Comparison, inBoth: boolean): void {
	// A struct field Go always has is on both sides, empty where the JSON leaves it out.
	if (inBoth && isStructField(place) && (lhs === undefined) !== (rhs === undefined) && isObject((lhs ?? rhs)!)) {
		lhs ??= {};
		rhs ??= {};
	}
	const sameKind = lhs === undefined || rhs === undefined || kindOf(lhs) === kindOf(rhs);
	const shape = sameKind ? shapeOf((rhs ?? lhs)!, place) : 'leaf';
	// Empty or missing on both sides is compared as a leaf, so `{}` and `null` stay distinct.
	if (shape === 'leaf' || (isEmptyContainer(lhs) && isEmptyContainer(rhs))) {
		if (lhs === undefined) out.added.insert(path);
		else if (rhs === undefined) out.removed.insert(path);
		else if (!deepEqual(lhs, rhs)) out.modified.insert(path);
		return;
	}
	if (shape === 'map') {
		const [left, right] = [(lhs ?? {}) as JsonObject, (rhs ?? {}) as JsonObject];
		for (const name of new Set([...Object.keys(left), ...Object.keys(right)])) {
			compareAt(get(left, name), get(right, name), fieldPlace(place, name), [...path, `f:${name}`], out, lhs !== undefined && rhs !== undefined);
		}
	} else {
		const left = indexItems((lhs ?? []) as Json[], shape, path, false);
		const right = indexItems((rhs ?? []) as Json[], shape, path, false);
		for (const element of new Set([...left.keys(), ...right.keys()])) {
			compareAt(left.get(element), right.get(element), itemPlace(place), [...path, element], out, false);
		}
	}
	// A map or list item that appears or goes is itself added or removed (the `.` of fieldsV1).
	if (lhs === undefined) out.added.insert(path);
	else if (rhs === undefined) out.removed.insert(path);
}

function isEmptyContainer(value: Json | undefined): boolean {
	return value === undefined || (Array.isArray(value) ? value.length === 0 : isObject(value) && Object.keys(value).length === 0);
}

/**
 * The applied configuration laid over the live object (structured-merge-diff's Merge): applied
 * values win, maps merge field by field, associative lists item by item, atomic values are
 * replaced, and an applied `null` clears the field.
 */
function mergeApplied(live: Json | undefined, config: Json | undefined, place: Place, path: string[]): Json | undefined {
	if (config === undefined) return live;
	if (config === null) return undefined;
	const shape = shapeOf(config, place);
	if (live === undefined || kindOf(live) !== kindOf(config) || shape === 'leaf') return withoutNulls(config);
	if (shape === 'map') {
		const result: JsonObject = { ...(live as JsonObject) };
		for (const [name, value] of Object.entries(config as JsonObject)) {
			const merged = mergeApplied(get(result, name), value, fieldPlace(place, name), [...path, `f:${name}`]);
			if (merged === undefined) delete result[name];
			else put(result, name, merged);
		}
		return result;
	}
	return mergeItems(live as Json[], config as Json[], shape, place, path);
}

/**
 * Merges two associative lists in structured-merge-diff's order: items the applier names come in
 * its order, items only the live object has keep their place relative to them.
 */
function mergeItems(live: Json[], config: Json[], list: ItemList, place: Place, path: string[]): Json[] {
	const lhs = indexItems(live, list, path, false);
	const rhs = indexItems(config, list, path, true);
	const left = [...lhs.keys()];
	const right = [...rhs.keys()];
	// The items both have, in applied order: `shared[0]` is the next one the applier places.
	const shared = right.filter(element => lhs.has(element));
	const done = new Set<string>();
	const out: Json[] = [];
	const emit = (element: string) => {
		const item = mergeApplied(lhs.get(element), rhs.get(element), itemPlace(place), [...path, element]);
		if (item !== undefined) out.push(item);
	};
	let l = 0;
	let r = 0;
	while (l < left.length || r < right.length) {
		if (l < left.length && r < right.length) {
			if (left[l] === right[r]) {
				emit(left[l]!);
				done.add(left[l]!);
				shared.shift();
				l++;
				r++;
				continue;
			}
			if (rhs.has(left[l]!) && shared.length > 0 && shared[0] !== left[l]) {
				l++; // an item the applier places later
				continue;
			}
		}
		if (l < left.length && !rhs.has(left[l]!)) {
			emit(left[l++]!);
			continue;
		}
		if (l < left.length && done.has(left[l]!)) {
			l++;
			continue;
		}
		const element = right[r++]!;
		done.add(element);
		emit(element);
		if (shared[0] === element) shared.shift();
	}
	return out;
}

/** The value as the Go types store it: a null field is no field. */
function withoutNulls(value: Json): Json {
	if (Array.isArray(value)) return value.map(withoutNulls);
	if (!isObject(value)) return value;
	const result: JsonObject = {};
	for (const [key, field] of Object.entries(value)) if (field !== null) put(result, key, withoutNulls(field));
	return result;
}

/**
 * Removes what the applier applied last time (`last`) that no manager owns now (`owned`, with the
 * applier's new claim), as structured-merge-diff's prune: a field counts as owned when anything
 * under it is; a list item only when the item itself is, so an item one manager drops goes even
 * if another owns a field inside it.
 */
function prune(value: Json, last: FieldSet, owned: FieldSet | undefined, place: Place, path: string[]): Json {
	const shape = shapeOf(value, place);
	if (shape === 'leaf') return value;
	if (shape === 'map') {
		const result: JsonObject = {};
		for (const [name, field] of Object.entries(value as JsonObject)) {
			const lastChild = last.children.get(`f:${name}`);
			const ownedChild = owned?.children.get(`f:${name}`);
			if (!lastChild) put(result, name, field);
			else if (ownedChild) put(result, name, prune(field, lastChild, ownedChild, fieldPlace(place, name), [...path, `f:${name}`]));
		}
		return result;
	}
	return (value as Json[]).flatMap(item => {
		const element = itemElement(shape, item, path);
		const lastChild = last.children.get(element);
		const ownedChild = owned?.children.get(element);
		if (!lastChild) return [item];
		if (lastChild.member && !ownedChild?.member) return [];
		return [prune(item, lastChild, ownedChild, itemPlace(place), [...path, element])];
	});
}

// ---------------------------------------------------------------------------------------------
// Managed fields

/** A decoded managedFields entry. */
interface Manager {
	manager: string;
	operation: 'Apply' | 'Update';
	apiVersion: string;
	time: string;
	subresource?: string;
	fields: FieldSet;
}

/**
 * Managers are told apart by name, operation and subresource, and Update ones also by API version
 * (the API server's BuildManagerIdentifier): a manager's Apply and Update entries are two managers.
 */
function identity(entry: { manager: string; operation: string; apiVersion: string; subresource?: string }): string {
	return JSON.stringify([entry.manager, entry.operation, entry.operation === 'Update' ? entry.apiVersion : '', entry.subresource ?? '']);
}

/** Decodes managedFields; undefined if any entry is malformed, as DecodeManagedFields fails. */
function decodeManagers(entries: Json | undefined): Map<string, Manager> | undefined {
	const managers = new Map<string, Manager>();
	if (entries === undefined || entries === null) return managers;
	if (!Array.isArray(entries)) return undefined;
	for (const entry of entries) {
		if (!isObject(entry)) return undefined;
		const { manager, operation, apiVersion, time, fieldsType, subresource } = entry;
		const fields = FieldSet.decode(entry.fieldsV1 ?? {});
		if (
			typeof manager !== 'string' ||
			(operation !== 'Apply' && operation !== 'Update') ||
			typeof apiVersion !== 'string' ||
			typeof time !== 'string' ||
			fieldsType !== 'FieldsV1' ||
			(subresource !== undefined && typeof subresource !== 'string') ||
			!fields
		) {
			return undefined;
		}
		fields.member = false;
		const decoded: Manager = { manager, operation, apiVersion, time, fields, ...(subresource ? { subresource } : {}) };
		managers.set(identity(decoded), decoded);
	}
	return managers;
}

/** The order the API server stores entries in: Apply before Update, then by time, manager, API version, subresource. */
function managedFieldsOrder(a: Manager, b: Manager): number {
	const seconds = (time: string) => Math.floor((Date.parse(time) || 0) / 1000);
	return (
		compareText(a.operation, b.operation) ||
		seconds(a.time) - seconds(b.time) ||
		compareText(a.manager, b.manager) ||
		compareText(a.apiVersion, b.apiVersion) ||
		compareText(a.subresource ?? '', b.subresource ?? '')
	);
}

/** The object with its managedFields: the non-empty entries, in the API server's order. */
function withManagers(object: JsonObject, managers: Iterable<Manager>): KubeObject {
	const entries: ManagedFieldsEntry[] = [...managers]
		.filter(entry => !entry.fields.empty)
		.sort(managedFieldsOrder)
		.map(({ manager, operation, apiVersion, time, subresource, fields }) => ({
			manager,
			operation,
			apiVersion,
			time,
			fieldsType: 'FieldsV1',
			fieldsV1: fields.encode(),
			...(subresource ? { subresource } : {}),
		}));
	const result = asKube(structuredClone(object));
	if (entries.length > 0) (result.metadata ??= {}).managedFields = entries;
	return result;
}

/** A copy of the object without managedFields: they are never part of a comparison or a merge. */
function withoutManagedFields(object: KubeObject): JsonObject {
	const copy = structuredClone(asJson(object));
	if (isObject(copy.metadata)) delete copy.metadata.managedFields;
	return copy;
}

/** Fields nobody owns: identity and server bookkeeping (the API server's stripMeta). */
const unownedFields = new FieldSet();
for (const field of ['apiVersion', 'kind', 'metadata']) unownedFields.insert([`f:${field}`]);
for (const field of ['name', 'namespace', 'creationTimestamp', 'selfLink', 'uid', 'clusterName', 'generation', 'managedFields', 'resourceVersion']) {
	unownedFields.insert(['f:metadata', `f:${field}`]);
}

/**
 * The part of a field set a write may own: status through the status subresource, everything but
 * status through the object itself (status is the main resource's reset field).
 */
function inScope(set: FieldSet, subresource: string | undefined): FieldSet {
	const result = set.difference(undefined);
	if (subresource === 'status') {
		for (const element of result.children.keys()) if (element !== 'f:status') result.children.delete(element);
	} else {
		result.children.delete('f:status');
	}
	return result;
}

function comparisonInScope(comparison: Comparison, subresource: string | undefined): Comparison {
	return {
		added: inScope(comparison.added, subresource),
		modified: inScope(comparison.modified, subresource),
		removed: inScope(comparison.removed, subresource),
	};
}

// ---------------------------------------------------------------------------------------------
// Server-side apply and updates

/** Metadata only the server sets: apply ignores what the applied object says about them. */
const serverMetadata = ['managedFields', 'resourceVersion', 'uid', 'creationTimestamp', 'generation'];

/** The object as apply sees it: without status and the metadata only the server sets. */
function applicable(object: KubeObject): JsonObject {
	const config = structuredClone(asJson(object));
	delete config.status;
	if (isObject(config.metadata)) for (const field of serverMetadata) delete config.metadata[field];
	return config;
}

/**
 * Server-side apply (`application/apply-patch+yaml`, already parsed): merges `applied` into `live`
 * (undefined to create), removes what `manager` applied before and no longer applies unless
 * another manager owns it, and records `applied`'s fields as the manager's Apply entry. Changing a
 * field another manager owns is a conflict, reported for every such field, unless `force` moves
 * the field to the applier; setting it to the value it has shares it. Applying the same object
 * again returns the same object.
 */
export function serverSideApply(
	live: KubeObject | undefined,
	applied: KubeObject,
	options: { manager: string; force: boolean; time: string },
): { object: KubeObject } | { conflicts: Array<{ manager: string; field: string }> } {
	checkApplied(applied);
	const config = applicable(applied);
	const place: Place = { kind: applied.kind, path: '' };
	const before = live ? withoutManagedFields(live) : {};
	const managers = decodeManagers(live?.metadata.managedFields as Json | undefined) ?? new Map<string, Manager>();
	const claimed = new FieldSet();
	fieldsOf(config, place, [], claimed);

	const self = identity({ manager: options.manager, operation: 'Apply', apiVersion: applied.apiVersion });
	const previous = managers.get(self);
	const others = [...managers].filter(([id]) => id !== self).map(([, manager]) => manager);
	const merged = mergeApplied(before, config, place, []) as JsonObject;
	const owned = others.reduce((set, manager) => set.union(manager.fields), claimed);
	const after = previous ? (prune(merged, previous.fields, owned, place, []) as JsonObject) : merged;

	const change = compare(before, after, applied.kind);
	const changed = change.modified.union(change.added);
	const conflicts = others.flatMap(manager => [...manager.fields.intersection(changed).paths()].map(path => ({ manager: manager.manager, field: displayPath(path) })));
	if (conflicts.length > 0 && !options.force) return { conflicts: conflicts.sort((a, b) => compareText(a.manager, b.manager)) };

	// Forced or not, other managers lose what this apply changed or removed.
	for (const manager of others) manager.fields = manager.fields.difference(changed).difference(change.removed);
	const unchanged = deepEqual(before, after);
	managers.set(self, {
		manager: options.manager,
		operation: 'Apply',
		apiVersion: applied.apiVersion,
		// The entry's time moves only when the object changes, so a repeated apply changes nothing.
		time: unchanged && previous ? previous.time : options.time,
		fields: claimed.difference(unownedFields),
	});
	return { object: withManagers(after, managers.values()) };
}

/** Refuses an applied object the API server would not decode or accept. */
function checkApplied(applied: KubeObject): void {
	const object = asJson(applied);
	if (!isObject(object)) throw new PatchError('BadRequest', `an applied object must be a JSON object, got ${JSON.stringify(object)}`);
	if (typeof object.apiVersion !== 'string' || object.apiVersion === '') throw new PatchError('BadRequest', "Object 'apiVersion' is missing");
	if (typeof object.kind !== 'string' || object.kind === '') throw new PatchError('BadRequest', "Object 'Kind' is missing");
	if (object.metadata !== undefined && !isObject(object.metadata)) throw new PatchError('BadRequest', 'metadata must be an object');
	const managedFields = isObject(object.metadata) ? get(object.metadata, 'managedFields') : undefined;
	if (managedFields !== undefined && managedFields !== null) throw new PatchError('BadRequest', 'metadata.managedFields must be nil');
}

/**
 * After a write that is not an apply (create, update, any other patch) by `manager`: `after` with
 * managedFields updated as the API server does. The manager's Update entry takes every field the
 * write set or changed, from whoever owned it, without conflict; fields the write removed leave
 * every entry. A write that changes nothing changes no entry. `subresource: 'status'` records a
 * status write (which owns status fields only); without it status is not recorded, as for the
 * main resource of a kind with a status subresource.
 */
export function recordUpdate(
	before: KubeObject | undefined,
	after: KubeObject,
	options: { manager: string; time: string; subresource?: string },
): KubeObject {
	const managers = managersForUpdate(before, after);
	const oldValue = before ? withoutManagedFields(before) : {};
	const newValue = withoutManagedFields(after);
	let change: Comparison;
	try {
		change = comparisonInScope(compare(oldValue, newValue, after.kind), options.subresource);
	} catch (error) {
		// Like the API server's UpdateNoErrors: a write is never refused over managedFields; an
		// object they cannot describe (a list item without its key) just loses them.
		if (error instanceof PatchError) return asKube(newValue);
		throw error;
	}
	const changed = change.modified.union(change.added);
	if (!changed.empty || !change.removed.empty) {
		for (const manager of managers.values()) manager.fields = manager.fields.difference(changed).difference(change.removed);
		const taken = changed.difference(unownedFields);
		if (!taken.empty) {
			const entry = { manager: options.manager, operation: 'Update' as const, apiVersion: after.apiVersion, ...(options.subresource ? { subresource: options.subresource } : {}) };
			const previous = managers.get(identity(entry));
			managers.set(identity(entry), { ...entry, time: options.time, fields: previous ? previous.fields.union(taken) : taken });
		}
	}
	return withManagers(newValue, managers.values());
}

/**
 * The managers a write starts from (the API server's decodeManagedFields): those the written
 * object carries, so a client may edit them, or none if it resets them (`[]` or `[{}]`), else the
 * stored ones (a client that does not know managedFields cannot drop them).
 */
function managersForUpdate(before: KubeObject | undefined, after: KubeObject): Map<string, Manager> {
	const requested = asJson(after).metadata;
	const entries = isObject(requested) ? get(requested, 'managedFields') : undefined;
	const reset = Array.isArray(entries) && (entries.length === 0 || (entries.length === 1 && isObject(entries[0]) && Object.keys(entries[0]).length === 0));
	if (reset) return new Map();
	const decoded = decodeManagers(entries);
	if (decoded && decoded.size > 0) return decoded;
	return decodeManagers(before?.metadata.managedFields as Json | undefined) ?? new Map();
}

/** The fieldsV1 of an object's fields: what a manager owns when it applies this object. */
export function fieldSetOf(object: KubeObject): Json {
	const set = new FieldSet();
	fieldsOf(applicable(object), { kind: object.kind, path: '' }, [], set);
	return set.difference(unownedFields).encode();
}
