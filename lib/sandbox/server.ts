/**
 * The HTTPS front of the sandbox: TLS, bearer-token authentication, injected faults, the request
 * record, content negotiation (JSON or Table), and dispatch to discovery, the resource handlers
 * or a watch. Every answer that is not a success is a Status object.
 *
 *   request ─> record ─> authenticate ─> fault? ─> 401? ─> discovery | watch | handlers ─> JSON / Table
 */
import { randomUUID, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { Controllers } from './behaviour.ts';
import type { Credentials, SandboxUser } from './credentials.ts';
import { discoveryDocument } from './discovery.ts';
import type { FaultInjector, FaultKind } from './faults.ts';
import { authorize, handleResource, isWatch, type ResourceRequest } from './handlers.ts';
import type { Json } from './patch.ts';
import { parseResourcePath } from './routes.ts';
import { cutText, type RequestLog, type RequestRecord } from './request-log.ts';
import { ApiError, failure, notServed, unauthorized, type Status } from './status.ts';
import type { Store } from './store.ts';
import type { IncludeObject } from './table.ts';
import { serveWatch } from './watch.ts';

/** What the HTTPS server serves from. */
export interface ServerParts {
	credentials: Credentials;
	store: Store;
	controllers: Controllers;
	faults: FaultInjector;
	requests: RequestLog;
}

/** Paths anyone may read without a token, as the real server's `system:public-info-viewer` role allows. */
const publicPaths = new Set(['/version', '/healthz', '/livez', '/readyz']);
const tableMediaType = 'application/json;as=Table;v=v1;g=meta.k8s.io';
/** The real server refuses bodies over 3 MiB. */
const maxBodyBytes = 3 * 1024 * 1024;

/** An HTTPS server (not yet listening) answering the Kubernetes API from `parts`. */
export function createSandboxServer(parts: ServerParts): { server: Server; stopWatches: () => void } {
	const watches = new Set<() => void>();
	const server = createServer({ cert: parts.credentials.certPem, key: parts.credentials.keyPem, minVersion: 'TLSv1.2' }, (request, response) => {
		void serve(parts, watches, request, response).catch(error => {
			// A bug, not a client mistake: answer as the real server does, with an InternalError Status.
			if (!response.headersSent) writeStatus(response, failure(500, 'InternalError', `Internal error occurred: ${(error as Error).message}`));
			else response.destroy();
		});
	});
	return { server, stopWatches: () => [...watches].forEach(stop => stop()) };
}

async function serve(parts: ServerParts, watches: Set<() => void>, request: IncomingMessage, response: ServerResponse): Promise<void> {
	const url = new URL(request.url ?? '/', 'https://sandbox');
	const user = authenticate(parts.credentials, request.headers.authorization);
	const record: RequestRecord = {
		method: cutText(request.method ?? 'GET'),
		path: cutText(url.pathname),
		query: cutText(url.search.replace(/^\?/, '')),
		status: 0,
		user: user?.name ?? 'system:anonymous',
	};
	parts.requests.add(record);
	response.on('finish', () => (record.status = response.statusCode));

	const decision = parts.faults.next();
	if (decision.latencyMs > 0) await new Promise(resolve => setTimeout(resolve, decision.latencyMs));
	if (decision.fault) {
		record.fault = decision.fault;
		switch (decision.fault) {
			case 'reset':
				request.socket.destroy();
				return;
			case 'throttle': {
				const seconds = parts.faults.retryAfterSeconds;
				writeStatus(response, failure(429, 'TooManyRequests', 'Too many requests, please try again later.', { retryAfterSeconds: seconds }), { 'Retry-After': String(seconds) });
				return;
			}
			case 'error':
				writeStatus(
					response,
					decision.code === 503
						? failure(503, 'ServiceUnavailable', 'the server is currently unable to handle the request')
						: failure(500, 'InternalError', 'Internal error occurred: the sandbox injected a fault'),
				);
				return;
		}
	}

	try {
		if (!user && (request.headers.authorization !== undefined || !publicPaths.has(url.pathname))) throw unauthorized();
		const body = await readBody(request);
		const route = parseResourcePath(url.pathname);
		if (!route) {
			if (url.pathname === '/healthz' || url.pathname === '/livez' || url.pathname === '/readyz') {
				response.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8' }).end('ok');
				return;
			}
			if (request.method !== 'GET') throw notServed();
			const document = discoveryDocument(url.pathname, request.headers.host ?? '');
			if (document === undefined) {
				// As kube-apiserver answers a path it does not serve, an unknown group version included:
				// not a Status, a line of text.
				response.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' }).end('404 page not found\n');
				return;
			}
			writeJson(response, 200, document);
			return;
		}
		const table = wantsTable(request.headers.accept, url.searchParams);
		if (request.method === 'GET' && route.name === undefined && isWatch(url.searchParams)) {
			authorize(user!, 'watch', route);
			const stop = serveWatch(parts.store, response, { route, query: url.searchParams, table, contentType: table ? tableMediaType : 'application/json' });
			watches.add(stop);
			response.on('close', () => watches.delete(stop));
			return;
		}
		const resourceRequest: ResourceRequest = {
			method: request.method ?? 'GET',
			route,
			query: url.searchParams,
			contentType: (request.headers['content-type'] ?? 'application/json').split(';')[0]!.trim(),
			body,
			user: user!,
			userAgent: request.headers['user-agent'] ?? '',
			table,
		};
		const answer = handleResource(resourceRequest, parts);
		writeJson(response, answer.code, answer.body, table && isTable(answer.body) ? tableMediaType : 'application/json');
	} catch (error) {
		if (!(error instanceof ApiError)) throw error;
		writeStatus(response, error.status);
	}
}

/** The user whose token the Authorization header carries; undefined for none or an unknown one. */
function authenticate(credentials: Credentials, header: string | undefined): SandboxUser | undefined {
	const token = /^Bearer\s+(\S+)$/i.exec(header ?? '')?.[1];
	if (!token) return undefined;
	return [credentials.admin, credentials.viewer].find(user => sameText(user.token, token));
}

/** Compares tokens in constant time, so response timing does not leak how much of a guess was right. */
function sameText(expected: string, given: string): boolean {
	const a = Buffer.from(expected);
	const b = Buffer.from(given);
	return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * Whether the Accept header asks for a meta.k8s.io Table (kubectl get does, with JSON as the
 * fallback), and which object each row should carry (`includeObject`, default Metadata).
 */
function wantsTable(accept: string | undefined, query: URLSearchParams): { includeObject: IncludeObject } | undefined {
	const asksTable = (accept ?? '').split(',').some(range => /(^|;)\s*as=Table\b/.test(range) && /(^|;)\s*g=meta\.k8s\.io\b/.test(range));
	if (!asksTable) return undefined;
	const include = query.get('includeObject');
	return { includeObject: include === 'None' || include === 'Object' ? include : 'Metadata' };
}

function isTable(body: Json): boolean {
	return typeof body === 'object' && body !== null && !Array.isArray(body) && body.kind === 'Table';
}

function readBody(request: IncomingMessage): Promise<Buffer> {
	return new Promise((resolve, reject) => {
		const chunks: Buffer[] = [];
		let size = 0;
		request.on('data', (chunk: Buffer) => {
			size += chunk.length;
			if (size > maxBodyBytes) reject(new ApiError(failure(413, 'RequestEntityTooLarge', 'Request entity too large: limit is 3145728')));
			else chunks.push(chunk);
		});
		request.on('end', () => resolve(Buffer.concat(chunks)));
		request.on('error', reject);
	});
}

function writeJson(response: ServerResponse, code: number, body: Json, contentType = 'application/json'): void {
	const text = JSON.stringify(body);
	response.writeHead(code, {
		'Content-Type': contentType,
		'Content-Length': Buffer.byteLength(text),
		'Cache-Control': 'no-cache, private',
		'Audit-Id': randomUUID(),
	});
	response.end(text);
}

function writeStatus(response: ServerResponse, status: Status, headers: Record<string, string> = {}): void {
	for (const [name, value] of Object.entries(headers)) response.setHeader(name, value);
	writeJson(response, status.code, status as Json);
}
