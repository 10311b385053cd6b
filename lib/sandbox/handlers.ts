/**
 * The REST verbs on resources: get, list, create, update, patch (four content types), delete and
 * deletecollection, with the checks and answers of the real server in its order: authorization,
 * decoding, validation (422), the namespace's existence (404), existence and resourceVersion
 * (409), then the write. Watches are watch.ts.
 */
import { randomBytes } from 'node:crypto';
import { parse as parseYaml } from 'yaml';
import type { Controllers } from './behaviour.ts';
import type { SandboxUser } from './credentials.ts';
import { prepareForStore } from './defaults.ts';
import { asRecord, changed, copy, metadataOf } from './object.ts';
import { jsonMergePatch, jsonPatch, PatchError, recordUpdate, serverSideApply, strategicMergePatch, type Json, type KubeObject } from './patch.ts';
import { decodeProtobufObject } from './protobuf.ts';
import { findResourceType, groupVersionOf, resourceTypes, type ResourceType } from './resources.ts';
import type { ResourceRoute } from './routes.ts';
import { parseFieldSelector, parseLabelSelector, type Selector } from './selectors.ts';
import { ApiError, alreadyExists, applyConflict, badRequest, deleted, failure, forbidden, invalid, methodNotAllowed, notFound, staleConflict, unsupportedMediaType, type StatusCause } from './status.ts';
import type { Store } from './store.ts';
import { toTable, type IncludeObject } from './table.ts';
import { decodingProblem, validateObject, validateUpdate } from './validate.ts';

/** One decoded request to a resource URL. */
export interface ResourceRequest {
	method: string;
	route: ResourceRoute;
	query: URLSearchParams;
	/** The media type of the body, without parameters. */
	contentType: string;
	body: Buffer;
	user: SandboxUser;
	userAgent: string;
	/** Set when the client asked for a Table (kubectl get). */
	table?: { includeObject: IncludeObject };
}

/** A successful answer. */
export interface Answer {
	code: number;
	body: Json;
}

/** What the handlers work on. */
export interface Cluster {
	store: Store;
	controllers: Controllers;
}

/** The verb of a request, as RBAC names it. */
export function verbOf(method: string, route: ResourceRoute, query: URLSearchParams): string {
	const named = route.name !== undefined;
	switch (method) {
		case 'GET':
			return named ? 'get' : isWatch(query) ? 'watch' : 'list';
		case 'POST':
			return 'create';
		case 'PUT':
			return 'update';
		case 'PATCH':
			return 'patch';
		case 'DELETE':
			return named ? 'delete' : 'deletecollection';
		default:
			return method.toLowerCase();
	}
}

/** Whether a GET is a watch (`watch=true` or `watch=1`). */
export function isWatch(query: URLSearchParams): boolean {
	return ['true', '1'].includes(query.get('watch') ?? '');
}

/**
 * What Kubernetes' `view` role lets read, by API group: not Secrets (reading one hands over the
 * credentials it holds: a ServiceAccount token, the state key's records), not Roles and their
 * bindings (who may do what), not the cluster's own objects but namespaces (volumes, storage
 * classes, nodes, cluster roles).
 */
const viewable: Readonly<Record<string, readonly string[]>> = {
	'': ['configmaps', 'endpoints', 'events', 'limitranges', 'namespaces', 'persistentvolumeclaims', 'pods', 'replicationcontrollers', 'resourcequotas', 'serviceaccounts', 'services'],
	apps: ['controllerrevisions', 'daemonsets', 'deployments', 'replicasets', 'statefulsets'],
	autoscaling: ['horizontalpodautoscalers'],
	batch: ['cronjobs', 'jobs'],
	'discovery.k8s.io': ['endpointslices'],
	'networking.k8s.io': ['ingresses', 'networkpolicies'],
	policy: ['poddisruptionbudgets'],
};

/** 403 unless the user may do `verb`. The viewer may only read, and only what `view` lets read. */
export function authorize(user: SandboxUser, verb: string, route: ResourceRoute): void {
	if (!user.readOnly) return;
	const readable = viewable[route.type.group]?.includes(route.type.resource) && [undefined, 'status', 'log', 'scale'].includes(route.subresource);
	if (!readable || !['get', 'list', 'watch'].includes(verb)) throw forbidden(user.name, verb, route.type, route.subresource, route.name, route.namespace);
}

/** Handles a non-watch request to a resource URL; throws ApiError for failures. */
export function handleResource(request: ResourceRequest, cluster: Cluster): Answer {
	const { route } = request;
	const verb = verbOf(request.method, route, request.query);
	authorize(request.user, verb, route);
	switch (verb) {
		case 'get':
			return get(request, cluster);
		case 'list':
			return list(request, cluster);
		case 'create':
			if (route.name !== undefined) throw methodNotAllowed();
			if (route.type.namespaced && route.namespace === undefined) throw methodNotAllowed();
			return create(request, cluster);
		case 'update':
			if (route.name === undefined) throw methodNotAllowed();
			return update(request, cluster);
		case 'patch':
			if (route.name === undefined) throw methodNotAllowed();
			return patch(request, cluster);
		case 'delete':
			return remove(request, cluster);
		case 'deletecollection':
			if (route.type.kind === 'Namespace') throw methodNotAllowed();
			return removeCollection(request, cluster);
		default:
			throw methodNotAllowed();
	}
}

function get({ route, table }: ResourceRequest, { store }: Cluster): Answer {
	const object = store.get(route.type, route.namespace, route.name!);
	if (!object) throw notFound(route.type, route.name!);
	if (table) return { code: 200, body: toTable(route.type, [object], table.includeObject, metadataOf(object).resourceVersion!) };
	return { code: 200, body: object as Json };
}

function list(request: ResourceRequest, { store }: Cluster): Answer {
	const { route, query } = request;
	const selector = selectorOf(query, route.type);
	const page = pageOf(query, route, store.list(route.type, route.namespace).filter(selector), String(store.resourceVersion));
	const body = request.table ? toTable(route.type, page.items, request.table.includeObject, page.resourceVersion) : listOf(route.type, page.items, page.resourceVersion);
	const metadata = asRecord(asRecord(body)?.metadata);
	if (metadata && page.continue) {
		metadata.continue = page.continue;
		// Counted only for a list without selectors, as the real server does.
		if (!query.get('labelSelector') && !query.get('fieldSelector')) metadata.remainingItemCount = page.remaining;
	}
	return { code: 200, body };
}

/**
 * A chunk of a list (`limit`, `continue`): the items after the continue token's, at most `limit`,
 * and the token of the next chunk if any. The token is the real server's (unpadded base64url of
 * the list's resourceVersion and the storage key, below the list's, to start after); the sandbox
 * keeps no snapshots, so a later chunk sees the objects as they are now.
 */
function pageOf(query: URLSearchParams, route: ResourceRoute, items: KubeObject[], resourceVersion: string): { items: KubeObject[]; resourceVersion: string; continue?: string; remaining: number } {
	const keyOf = (object: KubeObject) => (route.type.namespaced && route.namespace === undefined ? `/${metadataOf(object).namespace}/${metadataOf(object).name}` : `/${metadataOf(object).name}`);
	let rest = items;
	const token = query.get('continue');
	if (token) {
		let start: string;
		try {
			const decoded = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { rv?: number; start?: string };
			if (typeof decoded.start !== 'string' || typeof decoded.rv !== 'number') throw new Error('incomplete');
			[start, resourceVersion] = [decoded.start, String(decoded.rv)];
		} catch {
			throw badRequest('continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)');
		}
		rest = items.filter(object => `${keyOf(object)}\u0000` > start);
	}
	const limit = Number(query.get('limit') ?? 0);
	if (!(limit > 0) || rest.length <= limit) return { items: rest, resourceVersion, remaining: 0 };
	const chunk = rest.slice(0, limit);
	const next = Buffer.from(JSON.stringify({ v: 'meta.k8s.io/v1', rv: Number(resourceVersion), start: `${keyOf(chunk.at(-1)!)}\u0000` })).toString('base64url');
	return { items: chunk, resourceVersion, continue: next, remaining: rest.length - limit };
}

/** A `<Kind>List`; items carry no apiVersion and kind, as the real server's. */
function listOf(type: ResourceType, items: KubeObject[], resourceVersion: string): Json {
	const bare = items.map(item => {
		const { apiVersion: _apiVersion, kind: _kind, ...rest } = item;
		return rest as Json;
	});
	return { kind: `${type.kind}List`, apiVersion: groupVersionOf(type), metadata: { resourceVersion }, items: bare };
}

/** The label and field selectors of a list, watch or deletecollection, as one predicate. */
export function selectorOf(query: URLSearchParams, type: ResourceType): Selector {
	const labels = parseLabelSelector(query.get('labelSelector') ?? '');
	const fields = parseFieldSelector(query.get('fieldSelector') ?? '', type);
	return object => labels(object) && fields(object);
}

function create(request: ResourceRequest, cluster: Cluster): Answer {
	const { route } = request;
	const object = decodeObject(request, parseBody(request));
	checkDecodable(route.type, object);
	const metadata = metadataOf(object);
	if (!metadata.name && metadata.generateName) metadata.name = `${metadata.generateName}${randomSuffix()}`;
	delete metadata.resourceVersion;
	checkValid(route.type, object);
	requireNamespace(cluster.store, route.type, metadata.namespace);
	if (cluster.store.get(route.type, metadata.namespace, metadata.name!)) throw alreadyExists(route.type, metadata.name!);
	const now = timestamp();
	prepareForStore(route.type, object, undefined, cluster.store, now);
	const recorded = recordUpdate(undefined, object, { manager: fieldManager(request), time: now });
	return { code: 201, body: commit(request, cluster, recorded, undefined) as Json };
}

function update(request: ResourceRequest, cluster: Cluster): Answer {
	const { route } = request;
	const existing = cluster.store.get(route.type, route.namespace, route.name!);
	const sent = decodeObject(request, parseBody(request));
	checkDecodable(route.type, sent);
	if (!existing) throw notFound(route.type, route.name!);
	const sentVersion = metadataOf(sent).resourceVersion;
	if (sentVersion !== undefined && sentVersion !== '' && sentVersion !== metadataOf(existing).resourceVersion) throw staleConflict(route.type, route.name!);
	return { code: 200, body: replace(request, cluster, existing, sent) as Json };
}

function patch(request: ResourceRequest, cluster: Cluster): Answer {
	const { route } = request;
	const existing = cluster.store.get(route.type, route.namespace, route.name!);
	if (request.contentType === 'application/apply-patch+yaml') return apply(request, cluster, existing);
	const operations = parseBody(request);
	if (!existing) throw notFound(route.type, route.name!);
	let patched: Json;
	try {
		switch (request.contentType) {
			case 'application/merge-patch+json':
				patched = jsonMergePatch(existing as Json, operations);
				break;
			case 'application/json-patch+json':
				patched = jsonPatch(existing as Json, operations);
				break;
			case 'application/strategic-merge-patch+json':
				patched = strategicMergePatch(existing, operations) as Json;
				break;
			default:
				throw unsupportedMediaType(request.contentType);
		}
	} catch (error) {
		if (error instanceof PatchError && error.reason === 'Invalid' && request.contentType === 'application/json-patch+json') {
			// The real server answers an operation that does not apply with a generic 422 and loses
			// the reason (apiserver's jsonPatcher: errors.NewGenericServerResponse).
			throw new ApiError(failure(422, 'Invalid', 'the server rejected our request due to an error in our request', {}));
		}
		throw error instanceof PatchError ? patchFailure(error, route.type, route.name!) : error;
	}
	const object = asRecord(patched) as KubeObject | undefined;
	if (!object || !asRecord(object.metadata)) throw badRequest('the patched object is not a Kubernetes object');
	checkIdentity(route, object);
	if (metadataOf(object).resourceVersion !== metadataOf(existing).resourceVersion) throw staleConflict(route.type, route.name!);
	return { code: 200, body: replace(request, cluster, existing, object) as Json };
}

/**
 * Server-side apply (`application/apply-patch+yaml`): merges the applied configuration through
 * patch.ts, which owns the field-ownership rules; creates the object when it does not exist.
 */
function apply(request: ResourceRequest, cluster: Cluster, existing: KubeObject | undefined): Answer {
	const { route } = request;
	const manager = request.query.get('fieldManager');
	if (!manager) {
		throw new ApiError(
			failure(422, 'Invalid', 'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch', {
				group: 'meta.k8s.io',
				kind: 'PatchOptions',
				causes: [{ reason: 'FieldValueRequired', message: 'Required value: is required for apply patch', field: 'fieldManager' }],
			}),
		);
	}
	if (route.subresource === 'status' && !existing) throw notFound(route.type, route.name!);
	const applied = decodeObject(request, parseBody(request));
	checkIdentity(route, applied);
	const now = timestamp();
	const force = ['true', '1'].includes(request.query.get('force') ?? '');
	let result: ReturnType<typeof serverSideApply>;
	try {
		result = serverSideApply(existing, applied, { manager, force, time: now });
	} catch (error) {
		throw error instanceof PatchError ? patchFailure(error, route.type, route.name!) : error;
	}
	if ('conflicts' in result) throw conflictError(result.conflicts, existing);
	const object = result.object;
	checkValid(route.type, object);
	if (!existing) {
		requireNamespace(cluster.store, route.type, metadataOf(object).namespace);
		prepareForStore(route.type, object, undefined, cluster.store, now);
		return { code: 201, body: commit(request, cluster, object, undefined) as Json };
	}
	if (route.subresource === 'status') {
		// Through the status subresource only the status (and the apply's ownership record) counts.
		const updated: KubeObject = { ...existing, metadata: { ...existing.metadata, managedFields: object.metadata.managedFields }, status: object.status };
		return { code: 200, body: commit(request, cluster, updated, existing) as Json };
	}
	prepareForStore(route.type, object, existing, cluster.store, now);
	checkValidUpdate(route.type, object, existing);
	return { code: 200, body: commit(request, cluster, object, existing) as Json };
}

/**
 * The 409 of a server-side apply conflict, worded as the real server's (printManager in
 * k8s.io/apimachinery's managedfields): each conflict names the manager, its subresource if any,
 * and for a manager that did not apply, the API version of its update (the manager's identity
 * there carries no time, so none is printed).
 */
function conflictError(conflicts: Array<{ manager: string; field: string }>, existing: KubeObject | undefined): ApiError {
	const entries = (existing ? (metadataOf(existing).managedFields ?? []) : []).map(entry => asRecord(entry) ?? {});
	const describe = (manager: string) => {
		const entry = entries.find(candidate => candidate.manager === manager);
		if (!entry) return JSON.stringify(manager);
		const named = `${JSON.stringify(manager)}${entry.subresource ? ` with subresource ${JSON.stringify(entry.subresource)}` : ''}`;
		return entry.operation === 'Update' ? `${named} using ${String(entry.apiVersion)}` : named;
	};
	const causes: StatusCause[] = conflicts.map(conflict => ({ reason: 'FieldManagerConflict', message: `conflict with ${describe(conflict.manager)}`, field: conflict.field }));
	if (conflicts.length === 1) return applyConflict(`Apply failed with 1 conflict: conflict with ${describe(conflicts[0]!.manager)}: ${conflicts[0]!.field}`, causes);
	const lines: string[] = [];
	for (const manager of [...new Set(conflicts.map(conflict => conflict.manager))].sort()) {
		lines.push(`conflicts with ${describe(manager)}:`);
		for (const conflict of conflicts.filter(candidate => candidate.manager === manager)) lines.push(`- ${conflict.field}`);
	}
	return applyConflict(`Apply failed with ${conflicts.length} conflicts: ${lines.join('\n')}`, causes);
}

/** Stores `sent` over `existing` (update and non-apply patch): on the status subresource only its status counts. */
function replace(request: ResourceRequest, cluster: Cluster, existing: KubeObject, sent: KubeObject): KubeObject {
	const { route } = request;
	const now = timestamp();
	const manager = fieldManager(request);
	if (route.subresource === 'status') {
		const object = copy(existing);
		object.status = sent.status;
		return commit(request, cluster, recordUpdate(existing, object, { manager, time: now, subresource: 'status' }), existing);
	}
	checkValid(route.type, sent);
	prepareForStore(route.type, sent, existing, cluster.store, now);
	checkValidUpdate(route.type, sent, existing);
	return commit(request, cluster, recordUpdate(existing, sent, { manager, time: now }), existing);
}

/**
 * Stores the prepared object unless this is a dry run or nothing changed: then the answer is what
 * would have been stored, or the unchanged object with its old resourceVersion.
 */
function commit(request: ResourceRequest, cluster: Cluster, object: KubeObject, existing: KubeObject | undefined): KubeObject {
	if (existing && !changed(existing, object)) return existing;
	// A dry run stores nothing, so the answer keeps the stored version (the real server's does).
	if (isDryRun(request.query)) return existing ? { ...object, metadata: { ...metadataOf(object), resourceVersion: metadataOf(existing).resourceVersion } } as KubeObject : object;
	const stored = cluster.store.put(request.route.type, object);
	cluster.controllers.observe(request.route.type, stored, existing);
	return stored;
}

/**
 * The kinds whose DELETE answers with the deleted object instead of a Success Status
 * (ReturnDeletedObject in the real server's registry).
 */
const returnsDeletedObject = new Set(['Namespace', 'Pod', 'Service', 'ServiceAccount', 'PersistentVolume', 'PersistentVolumeClaim', 'StorageClass']);

/**
 * DELETE of one object. On the real server an object with finalizers (its own, or
 * `foregroundDeletion` or `orphan` added by the propagation policy) stays, being deleted, until
 * controllers have done them, and the answer is that object; here every finalizer is done at
 * once: the object and (unless orphaned) what it owns go now, and the answer is what the real
 * server answers first. A client waiting for the object to go sees it gone.
 */
function remove(request: ResourceRequest, cluster: Cluster): Answer {
	const { route } = request;
	const { store } = cluster;
	const existing = store.get(route.type, route.namespace, route.name!);
	if (!existing) throw notFound(route.type, route.name!);
	const options = deleteOptions(request);
	checkPreconditions(options, route.type, existing);
	if (route.type.kind === 'Namespace' && ['default', 'kube-system', 'kube-public'].includes(route.name!)) {
		throw new ApiError(failure(403, 'Forbidden', `namespaces "${route.name}" is forbidden: this namespace may not be deleted`, { name: route.name!, kind: 'namespaces' }));
	}
	if (route.type.kind === 'Namespace') {
		// The real server answers with the namespace Terminating and empties it in the background;
		// here the emptying is immediate, so a client waiting for the namespace to go sees it gone.
		const terminating = copy(existing);
		metadataOf(terminating).deletionTimestamp = timestamp();
		terminating.status = { phase: 'Terminating' };
		if (!isDryRun(request.query)) {
			for (const type of resourceTypes.filter(candidate => candidate.namespaced)) {
				for (const object of store.list(type, route.name)) store.remove(type, route.name, metadataOf(object).name!);
			}
			store.remove(route.type, undefined, route.name!);
		}
		return { code: 200, body: terminating as Json };
	}
	const policy = options.propagationPolicy;
	const finalizers = [...new Set([...(metadataOf(existing).finalizers ?? []), ...(policy === 'Foreground' ? ['foregroundDeletion'] : policy === 'Orphan' ? ['orphan'] : [])])];
	if (!isDryRun(request.query)) removeWithDependents(store, route.type, existing, policy !== 'Orphan');
	if (finalizers.length > 0) {
		const deleting = copy(existing);
		const metadata = metadataOf(deleting);
		Object.assign(metadata, { deletionTimestamp: timestamp(), deletionGracePeriodSeconds: 0, finalizers });
		// Setting deletionTimestamp is a change of what the object is asked to be (rest.BeforeDelete).
		if ((metadata.generation ?? 0) > 0) metadata.generation! += 1;
		return { code: 200, body: deleting as Json };
	}
	if (returnsDeletedObject.has(route.type.kind)) return { code: 200, body: existing as Json };
	return { code: 200, body: deleted(route.type, route.name!, metadataOf(existing).uid!) as Json };
}

/**
 * Removes `object` and, with `cascade`, every object that names it (by uid) in its
 * ownerReferences, theirs in turn: the garbage collector's work, done at once.
 */
export function removeWithDependents(store: Store, type: ResourceType, object: KubeObject, cascade: boolean): void {
	const { namespace, name, uid } = metadataOf(object);
	store.remove(type, namespace, name!);
	if (!cascade) return;
	for (const dependentType of resourceTypes.filter(candidate => candidate.namespaced)) {
		for (const dependent of store.list(dependentType, type.namespaced ? namespace : undefined)) {
			const owners = (metadataOf(dependent).ownerReferences ?? []) as Json[];
			if (owners.some(owner => asRecord(owner)?.uid === uid)) removeWithDependents(store, dependentType, dependent, true);
		}
	}
}

function removeCollection(request: ResourceRequest, { store }: Cluster): Answer {
	const { route } = request;
	const selector = selectorOf(request.query, route.type);
	const victims = store.list(route.type, route.namespace).filter(selector);
	const cascade = deleteOptions(request).propagationPolicy !== 'Orphan';
	if (!isDryRun(request.query)) for (const object of victims) if (store.get(route.type, metadataOf(object).namespace, metadataOf(object).name!)) removeWithDependents(store, route.type, object, cascade);
	return { code: 200, body: listOf(route.type, victims, String(store.resourceVersion)) };
}

/** What a delete asks, from its DeleteOptions body and its query (the query wins, as on the real server). */
interface DeleteOptions {
	preconditions?: Record<string, Json>;
	/** `Foreground`, `Background` (the default) or `Orphan`. */
	propagationPolicy: string;
}

function deleteOptions(request: ResourceRequest): DeleteOptions {
	const body = request.body.toString('utf8').trim() === '' ? undefined : asRecord(parseBody(request));
	const orphan = request.query.get('orphanDependents') ?? (typeof body?.orphanDependents === 'boolean' ? String(body.orphanDependents) : undefined);
	const policy = request.query.get('propagationPolicy') ?? (typeof body?.propagationPolicy === 'string' ? body.propagationPolicy : undefined);
	return { preconditions: asRecord(body?.preconditions), propagationPolicy: policy ?? (orphan === 'true' ? 'Orphan' : 'Background') };
}

/** DeleteOptions.preconditions: a delete only of the expected uid or resourceVersion. */
function checkPreconditions(options: DeleteOptions, type: ResourceType, existing: KubeObject): void {
	const { preconditions } = options;
	const metadata = metadataOf(existing);
	if (typeof preconditions?.uid === 'string' && preconditions.uid !== metadata.uid) {
		throw new ApiError(failure(409, 'Conflict', `Precondition failed: UID in precondition: ${preconditions.uid}, UID in object meta: ${metadata.uid}`, { name: metadata.name!, kind: type.resource }));
	}
	if (typeof preconditions?.resourceVersion === 'string' && preconditions.resourceVersion !== metadata.resourceVersion) {
		throw staleConflict(type, metadata.name!);
	}
}

/** The body as JSON, YAML (apply's own type included) or, from kubectl's typed clients, protobuf. */
function parseBody(request: ResourceRequest): Json {
	if (request.contentType === 'application/vnd.kubernetes.protobuf') return decodeProtobufObject(request.body);
	const text = request.body.toString('utf8');
	try {
		return (request.contentType.includes('yaml') ? parseYaml(text) : JSON.parse(text)) as Json;
	} catch (error) {
		throw badRequest(`the body of the request could not be decoded: ${(error as Error).message}`);
	}
}

/**
 * The body as an object of the route's type: apiVersion and kind default to the URL's (a
 * mismatch is Invalid), the namespace to the URL's (a different one is a 400, as on the real server).
 */
function decodeObject(request: ResourceRequest, body: Json): KubeObject {
	const { route } = request;
	const object = asRecord(body);
	if (!object) throw badRequest('the body of the request must be a JSON object');
	object.apiVersion ??= groupVersionOf(route.type);
	object.kind ??= route.type.kind;
	const metadata = (asRecord(object.metadata) ?? (object.metadata = {})) as Record<string, Json>;
	if (route.type.namespaced) {
		if (metadata.namespace !== undefined && metadata.namespace !== '' && metadata.namespace !== route.namespace) {
			throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
		}
		if (route.namespace !== undefined) metadata.namespace = route.namespace;
	}
	if (route.name !== undefined && metadata.name === undefined) metadata.name = route.name;
	checkIdentity(route, object as KubeObject);
	return object as KubeObject;
}

/** A body naming another object than the URL is a 400. */
function checkIdentity(route: ResourceRoute, object: KubeObject): void {
	const name = metadataOf(object).name;
	if (route.name !== undefined && name !== route.name) {
		throw badRequest(`the name of the object (${String(name)}) does not match the name on the URL (${route.name})`);
	}
	const namespace = metadataOf(object).namespace;
	if (route.type.namespaced && route.namespace !== undefined && namespace !== undefined && namespace !== route.namespace) {
		throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
	}
}

/** A body the real server cannot decode into its Go type is a 400, before any validation. */
function checkDecodable(type: ResourceType, object: KubeObject): void {
	const problem = decodingProblem(object);
	if (problem) throw badRequest(`${type.kind} in version ${JSON.stringify(type.version)} cannot be handled as a ${type.kind}: ${problem}`);
}

function checkValid(type: ResourceType, object: KubeObject): void {
	const causes = validateObject(type, object);
	if (causes.length > 0) throw invalid(type, String(metadataOf(object).name ?? ''), causes);
}

/** An update's object (defaults filled) against what it replaces: the fields fixed once made. */
function checkValidUpdate(type: ResourceType, object: KubeObject, existing: KubeObject): void {
	const causes = validateUpdate(type, object, existing);
	if (causes.length > 0) throw invalid(type, String(metadataOf(object).name ?? ''), causes);
}

/** Namespaced objects need their namespace: `namespaces "x" not found`. */
function requireNamespace(store: Store, type: ResourceType, namespace: string | undefined): void {
	if (!type.namespaced || namespace === undefined) return;
	const namespaces = findResourceType('', 'v1', 'namespaces')!;
	if (!store.get(namespaces, undefined, namespace)) throw notFound(namespaces, namespace);
}

function patchFailure(error: PatchError, type: ResourceType, name: string): ApiError {
	switch (error.reason) {
		case 'Invalid':
			return invalid(type, name, [{ reason: 'FieldValueInvalid', message: error.message }]);
		case 'UnsupportedMediaType':
			return new ApiError(failure(415, 'UnsupportedMediaType', error.message));
		default:
			return badRequest(error.message);
	}
}

/**
 * The field manager of a non-apply write: the `fieldManager` parameter, else the user agent up
 * to its first `/` (what the real server does: `kubectl/v1.32.4 (...)` becomes `kubectl`).
 */
function fieldManager(request: ResourceRequest): string {
	return request.query.get('fieldManager') || request.userAgent.split('/')[0]!.slice(0, 128) || 'unknown';
}

function isDryRun(query: URLSearchParams): boolean {
	return query.getAll('dryRun').includes('All');
}

/** Five characters of the alphabet generateName uses (no vowels, no look-alikes). */
function randomSuffix(): string {
	const alphabet = 'bcdfghjklmnpqrstvwxz2456789';
	return [...randomBytes(5)].map(byte => alphabet[byte % alphabet.length]).join('');
}

function timestamp(): string {
	return new Date().toISOString().replace(/\.\d+Z$/, 'Z');
}
