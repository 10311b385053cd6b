/**
 * Watches (`GET ...?watch=true`): a chunked response of one JSON event per line,
 * `{"type":"ADDED","object":{...}}`, as kubectl (`get -w`, `delete --wait`, `rollout status`)
 * and informers read them.
 *
 *   resourceVersion unset or "0": ADDED for every current object, then live events
 *   resourceVersion N:             the remembered events after N, then live events
 *                                  (N too old: an ERROR event with 410 Gone, and the end)
 */
import type { ServerResponse } from 'node:http';
import type { Json, KubeObject } from './patch.ts';
import { metadataOf } from './object.ts';
import type { ResourceRoute } from './routes.ts';
import { failure } from './status.ts';
import type { Store, StoreEvent } from './store.ts';
import { selectorOf } from './handlers.ts';
import { toTable, type IncludeObject } from './table.ts';

/** A watch being served. */
export interface WatchOptions {
	route: ResourceRoute;
	query: URLSearchParams;
	/** Set when the client asked for Tables (`kubectl get -w`). */
	table?: { includeObject: IncludeObject };
	/** Content-Type of the answer (the Table media type or JSON). */
	contentType: string;
}

/** Serves one watch on `response` until the client leaves, `timeoutSeconds` pass, or `stop` is called. Returns `stop`. */
export function serveWatch(store: Store, response: ServerResponse, options: WatchOptions): () => void {
	const { route, query, table } = options;
	const selector = selectorOf(query, route.type);
	const matches = (object: KubeObject) =>
		(route.namespace === undefined || metadataOf(object).namespace === route.namespace) && (route.name === undefined || metadataOf(object).name === route.name) && selector(object);
	const send = (type: string, object: Json) => response.write(`${JSON.stringify({ type, object })}\n`);
	const sendObject = (type: string, object: KubeObject) =>
		send(type, table ? toTable(route.type, [object], table.includeObject, metadataOf(object).resourceVersion!) : (object as Json));

	response.writeHead(200, { 'Content-Type': options.contentType, 'Cache-Control': 'no-cache, private' });
	response.flushHeaders();

	const since = query.get('resourceVersion') ?? '';
	if (since === '' || since === '0') {
		for (const object of store.list(route.type, route.namespace).filter(matches)) sendObject('ADDED', object);
	} else {
		const missed = store.eventsSince(Number(since));
		if (!missed) {
			send('ERROR', failure(410, 'Expired', `too old resource version: ${since} (${store.resourceVersion})`) as Json);
			response.end();
			return () => {};
		}
		for (const event of missed.filter(event => event.resourceType === route.type && matches(event.object))) sendObject(event.type, event.object);
	}
	if (query.get('sendInitialEvents') === 'true') {
		// The watch-list protocol: a bookmark marks the end of the initial state.
		send('BOOKMARK', {
			kind: route.type.kind,
			apiVersion: route.type.group === '' ? route.type.version : `${route.type.group}/${route.type.version}`,
			metadata: { resourceVersion: String(store.resourceVersion), annotations: { 'k8s.io/initial-events-end': 'true' } },
		});
	}

	const unsubscribe = store.subscribe((event: StoreEvent) => {
		if (event.resourceType === route.type && matches(event.object)) sendObject(event.type, event.object);
	});
	const timeoutSeconds = Number(query.get('timeoutSeconds') ?? 0);
	const timer = timeoutSeconds > 0 ? setTimeout(() => stop(), timeoutSeconds * 1000) : undefined;
	const stop = () => {
		clearTimeout(timer);
		unsubscribe();
		if (!response.writableEnded) response.end();
	};
	response.on('close', stop);
	return stop;
}
