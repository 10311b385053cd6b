import { printable } from '../engine/printable.ts';
import { describeObject, groupVersion, type KubeObject } from './objects.ts';

/** What kind of failure a KubeError is: code tells them apart by this, never by the message. */
export type KubeReason =
	/** The kubeconfig cannot be read, lacks the context, or names no server. */
	| 'config'
	/** The server cannot be reached (refused, reset, timed out, no such host). */
	| 'unreachable'
	/** The server's certificate is not trusted. */
	| 'tls'
	/** 401: the credentials were refused. */
	| 'unauthorized'
	/** 403: RBAC refused the request. */
	| 'forbidden'
	/** 404 for an object. */
	| 'not-found'
	/** 404 for the kind: the cluster does not serve that group, version or kind. */
	| 'unknown-kind'
	/** 409: AlreadyExists, a stale resourceVersion, or a server-side apply conflict. */
	| 'conflict'
	/** 422 for a field that can be set only when the object is made. */
	| 'immutable'
	/** 422 for anything else the server's validation refused. */
	| 'invalid'
	/** The object is not nub's (its managedFields do not name nub): nub does not delete it. */
	| 'not-managed'
	/** 429. */
	| 'throttled'
	/** 5xx. */
	| 'server-error'
	| 'other';

/** What went wrong talking to the API server, said so an operator can act on it. */
export class KubeError extends Error {
	override readonly name = 'KubeError';
	constructor(
		message: string,
		/** The HTTP status, when the server answered. */
		readonly code: number | undefined,
		/** Worth trying again: 5xx, 429, a reset connection. */
		readonly retryable: boolean,
		/** How long the server asked us to wait (429 Retry-After). */
		readonly retryAfterMs?: number,
		options?: ErrorOptions & { reason?: KubeReason },
	) {
		super(message, options);
		this.reason = options?.reason ?? reasonOfCode(code);
	}

	readonly reason: KubeReason;
}

function reasonOfCode(code: number | undefined): KubeReason {
	if (code === undefined) return 'other';
	if (code === 401) return 'unauthorized';
	if (code === 403) return 'forbidden';
	if (code === 404) return 'not-found';
	if (code === 409) return 'conflict';
	if (code === 422) return 'invalid';
	if (code === 429) return 'throttled';
	return code >= 500 ? 'server-error' : 'other';
}

/** What the failed call was doing, for the message. */
export interface Operation {
	/** `apply`, `read`, `delete`, `list`. */
	verb: string;
	object?: Pick<KubeObject, 'apiVersion' | 'kind' | 'metadata'>;
	/** The API server's URL and the kubeconfig context. */
	server: string;
	context: string;
}

interface Status {
	message?: string;
	reason?: string;
	details?: { name?: string; causes?: Array<{ field?: string; message?: string; reason?: string }> };
}

const tlsCodes = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER|ERR_TLS|ERR_SSL|EPROTO/;
const networkCodes = new Set(['ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ECONNREFUSED', 'EAI_AGAIN', 'ENOTFOUND', 'UND_ERR_SOCKET', 'ECONNABORTED']);
const permissionHint =
	'nub needs cluster-admin on the cluster, as the manual says: kubectl create clusterrolebinding admin-binding --clusterrole=cluster-admin --user=<your account>';

/** Turns whatever the client threw into a KubeError with a message that says what to do. */
export function explainError(error: unknown, operation: Operation): KubeError {
	if (error instanceof KubeError) return error;
	const what = operation.object ? describeObject(operation.object) : operation.server;
	const code = httpCode(error);
	// The client's message may quote the server's answer: escaped as the Status is.
	const message = printable(error instanceof Error ? error.message : String(error));
	// The client looks the kind up in the server's discovery first: a group version the server
	// does not serve fails there with a 404 (client-node says so in its message), an unknown kind in
	// a served one is the client's own error.
	const status = code === undefined ? undefined : statusOf(error);
	const unknownGroup = code === 404 && message.startsWith('Failed to fetch resource metadata for');
	const unknownKind = /^Unrecognized API version and kind: (\S+) (\S+)/.exec(message);
	if ((unknownGroup || unknownKind) && operation.object) {
		const { apiVersion, kind } = operation.object;
		const { group, version } = groupVersion(apiVersion);
		return new KubeError(
			`${what}: the cluster has no kind ${kind} in ${apiVersion} (API group ${group === '' ? '"" (core)' : `"${group}"`}, version ${version}): check apiVersion and kind, or install what defines it`,
			404,
			false,
			undefined,
			{ cause: error, reason: 'unknown-kind' },
		);
	}
	if (code !== undefined) return explainStatus(code, status!, headerOf(error, 'retry-after'), what, operation, error);

	const system = systemCode(error);
	if (system && tlsCodes.test(system)) {
		return new KubeError(
			`TLS error from the API server at ${operation.server} (context "${operation.context}"): ${system}; nub never turns certificate verification off: give the cluster's CA in the kubeconfig (certificate-authority-data)`,
			undefined,
			false,
			undefined,
			{ cause: error, reason: 'tls' },
		);
	}
	if (system && networkCodes.has(system)) {
		return new KubeError(`${operation.verb} ${what}: cannot talk to the API server at ${operation.server}: ${system}`, undefined, true, undefined, { cause: error, reason: 'unreachable' });
	}
	if (/socket hang up|other side closed|ECONNRESET/.test(message)) {
		return new KubeError(`${operation.verb} ${what}: the API server at ${operation.server} closed the connection`, undefined, true, undefined, { cause: error, reason: 'unreachable' });
	}
	return new KubeError(`${operation.verb} ${what}: ${message}`, undefined, false, undefined, { cause: error });
}

function explainStatus(code: number, status: Status, retryAfter: string | undefined, what: string, operation: Operation, cause: unknown): KubeError {
	const message = status.message ?? `HTTP ${code}`;
	const causes = (status.details?.causes ?? []).filter(c => c.message || c.field);
	switch (true) {
		case code === 401:
			return new KubeError(
				`the API server at ${operation.server} refused the credentials of context "${operation.context}" (401 Unauthorized): log in again, or fix the user of that context in the kubeconfig`,
				code,
				false,
				undefined,
				{ cause },
			);
		case code === 403:
			return new KubeError(`${operation.verb} ${what}: forbidden: ${message}; ${permissionHint}`, code, false, undefined, { cause });
		case code === 422: {
			// A field that is set once (a volume's source, a selector, a Service's clusterIP): the
			// object must be made anew to change it.
			const immutable = causes.length > 0 && causes.every(c => /immutable|may not change once set|updates to .* are forbidden/i.test(c.message ?? ''));
			return new KubeError(
				`${what} is invalid: ${causes.length > 0 ? causes.map(c => `${c.field ?? '(object)'}: ${c.message ?? c.reason}`).join('; ') : message}${
					immutable ? `; it cannot be changed in place: delete ${what} (kubectl delete), then run again to make it anew` : ''
				}`,
				code,
				false,
				undefined,
				{ cause, reason: immutable ? 'immutable' : 'invalid' },
			);
		}
		case code === 409:
			return new KubeError(
				`${operation.verb} ${what}: conflict: ${message}${causes.length > 0 ? ` (${causes.map(c => c.field ?? c.message).join(', ')})` : ''}`,
				code,
				false,
				undefined,
				{ cause },
			);
		case code === 429:
			return new KubeError(`${operation.verb} ${what}: the API server is throttling requests (429)`, code, true, retryAfterMs(retryAfter), { cause });
		case code >= 500:
			return new KubeError(`${operation.verb} ${what}: the API server failed (${code} ${status.reason ?? ''}): ${message}`.replace(' )', ')'), code, true, retryAfterMs(retryAfter), {
				cause,
			});
		default:
			return new KubeError(`${operation.verb} ${what}: ${message} (${code})`, code, false, undefined, { cause });
	}
}

function httpCode(error: unknown): number | undefined {
	const code = (error as { code?: unknown })?.code;
	return typeof code === 'number' && code >= 100 && code < 600 ? code : undefined;
}

/** The Status the server sent, whether the client parsed the body or left it a string. */
/**
 * The Status the API server answered, every text in it escaped (printable): a message, a reason or
 * a cause comes from the cluster (an admission webhook writes its own), and goes into messages
 * shown on a terminal.
 */
function statusOf(error: unknown): Status {
	const body = (error as { body?: unknown }).body;
	if (typeof body === 'string') {
		try {
			return escapeStrings(JSON.parse(body) as Status);
		} catch {
			return { message: printable(body.trim().split('\n')[0]!) };
		}
	}
	return typeof body === 'object' && body !== null ? escapeStrings(body as Status) : {};
}

/** `value` with every string in it, at any depth, escaped by printable. */
function escapeStrings<T>(value: T): T {
	if (typeof value === 'string') return printable(value) as T;
	if (Array.isArray(value)) return value.map(escapeStrings) as T;
	if (typeof value === 'object' && value !== null) return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, escapeStrings(item)])) as T;
	return value;
}

function headerOf(error: unknown, name: string): string | undefined {
	const headers = (error as { headers?: Record<string, string> }).headers;
	if (!headers) return undefined;
	for (const [key, value] of Object.entries(headers)) if (key.toLowerCase() === name) return value;
	return undefined;
}

function retryAfterMs(header: string | undefined): number | undefined {
	if (header === undefined) return undefined;
	const seconds = Number(header);
	if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
	const date = Date.parse(header);
	return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

/** The system error code (ECONNRESET, SELF_SIGNED_CERT_IN_CHAIN, ...) anywhere in the cause chain. */
function systemCode(error: unknown): string | undefined {
	for (let current = error, depth = 0; current && depth < 5; current = (current as { cause?: unknown }).cause, depth++) {
		const code = (current as { code?: unknown }).code;
		if (typeof code === 'string') return code;
	}
	return undefined;
}
