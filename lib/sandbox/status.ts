/**
 * Status objects, the body of every failed request (and of some successful deletes), with the
 * messages, reasons and details the real API server uses, so clients that parse them (kubectl's
 * "Error from server (NotFound): ...", client-node's ApiException) behave as against a cluster.
 */
import { qualifiedKind, qualifiedResource, type ResourceType } from './resources.ts';

/** One reason for an Invalid or Conflict answer. */
export type StatusCause = {
	reason: string;
	message: string;
	field?: string;
};

/** What a Status says about the object concerned (metav1.StatusDetails). */
export type StatusDetails = { name?: string; group?: string; kind?: string; uid?: string; causes?: StatusCause[]; retryAfterSeconds?: number };

/** A `kind: Status` object (metav1.Status); a type alias, not an interface, so it is assignable to Json. */
export type Status = {
	kind: 'Status';
	apiVersion: 'v1';
	metadata: Record<string, never>;
	status: 'Success' | 'Failure';
	message?: string;
	reason?: string;
	details?: StatusDetails;
	code: number;
};

/** A request that ends in a Status answer: handlers throw it and the server writes `status`. */
export class ApiError extends Error {
	constructor(readonly status: Status) {
		super(status.message);
		this.name = 'ApiError';
	}
}

/** Builds a Failure Status; `details` keeps only the keys given, as the real server omits empty ones. */
export function failure(code: number, reason: string, message: string, details?: StatusDetails): Status {
	const status: Status = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
	if (details) status.details = details;
	return status;
}

/** Names the type as Status details do: the resource plural, plus the group outside the core group. */
function resourceDetails(type: ResourceType, name?: string): StatusDetails {
	return { ...(name === undefined ? {} : { name }), ...(type.group === '' ? {} : { group: type.group }), kind: type.resource };
}

/** 404 for a path the server does not serve at all. */
export function notServed(): ApiError {
	return new ApiError(failure(404, 'NotFound', 'the server could not find the requested resource', {}));
}

/** 404 for a missing object: `deployments.apps "web" not found`. */
export function notFound(type: ResourceType, name: string): ApiError {
	return new ApiError(failure(404, 'NotFound', `${qualifiedResource(type)} "${name}" not found`, resourceDetails(type, name)));
}

/** 409 AlreadyExists on create. */
export function alreadyExists(type: ResourceType, name: string): ApiError {
	return new ApiError(failure(409, 'AlreadyExists', `${qualifiedResource(type)} "${name}" already exists`, resourceDetails(type, name)));
}

/** 409 Conflict for a stale resourceVersion (optimistic concurrency). */
export function staleConflict(type: ResourceType, name: string): ApiError {
	return new ApiError(
		failure(
			409,
			'Conflict',
			`Operation cannot be fulfilled on ${qualifiedResource(type)} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
			resourceDetails(type, name),
		),
	);
}

/** 409 Conflict from server-side apply: `causes` already hold the real wording per field. */
export function applyConflict(message: string, causes: StatusCause[]): ApiError {
	return new ApiError(failure(409, 'Conflict', message, { causes }));
}

/**
 * 422 Invalid: `Deployment.apps "web" is invalid: spec.selector: Required value`, or the causes
 * in brackets when there are several, as the real server joins a field.ErrorList.
 */
export function invalid(type: ResourceType, name: string, causes: StatusCause[]): ApiError {
	const texts = causes.map(cause => (cause.field ? `${cause.field}: ${cause.message}` : cause.message));
	const joined = texts.length === 1 ? texts[0] : `[${texts.join(', ')}]`;
	return new ApiError(
		failure(422, 'Invalid', `${qualifiedKind(type)} "${name}" is invalid: ${joined}`, {
			name,
			...(type.group === '' ? {} : { group: type.group }),
			kind: type.kind,
			causes,
		}),
	);
}

/** 400 BadRequest with a free message (unparsable bodies, unsupported options). */
export function badRequest(message: string): ApiError {
	return new ApiError(failure(400, 'BadRequest', message));
}

/** 401 for a missing or unknown bearer token. */
export function unauthorized(): ApiError {
	return new ApiError(failure(401, 'Unauthorized', 'Unauthorized'));
}

/**
 * 403 in the RBAC authorizer's words:
 * `secrets "x" is forbidden: User "viewer" cannot delete resource "secrets" in API group "" in the namespace "nublado"`.
 */
export function forbidden(user: string, verb: string, type: ResourceType, subresource: string | undefined, name: string | undefined, namespace: string | undefined): ApiError {
	const resource = subresource ? `${type.resource}/${subresource}` : type.resource;
	const subject = name === undefined ? qualifiedResource(type) : `${qualifiedResource(type)} "${name}"`;
	const scope = namespace === undefined ? 'at the cluster scope' : `in the namespace "${namespace}"`;
	return new ApiError(
		failure(403, 'Forbidden', `${subject} is forbidden: User "${user}" cannot ${verb} resource "${resource}" in API group "${type.group}" ${scope}`, resourceDetails(type, name)),
	);
}

/** 405 for a verb the path does not take. */
export function methodNotAllowed(): ApiError {
	return new ApiError(failure(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource', {}));
}

/** 415 for a PATCH content type the server does not know. */
export function unsupportedMediaType(contentType: string): ApiError {
	return new ApiError(failure(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json (got ${contentType})`));
}

/** The Success Status a delete returns for types the real server does not echo. */
export function deleted(type: ResourceType, name: string, uid: string): Status {
	return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details: { ...resourceDetails(type, name), uid }, code: 200 };
}
