/**
 * Parses resource URLs, in the shapes the real server serves:
 *
 *   /api/v1/<resource>[/<name>[/<subresource>]]                          cluster-scoped, or all namespaces
 *   /api/v1/namespaces/<namespace>/<resource>[/<name>[/<subresource>]]   namespaced
 *   /apis/<group>/<version>/...                                           the same below a named group
 *
 * `/api/v1/namespaces/<name>[/status]` is the Namespace object itself.
 */
import { findResourceType, type ResourceType } from './resources.ts';
import { notServed } from './status.ts';

/** What a resource URL names. */
export interface ResourceRoute {
	type: ResourceType;
	/** Undefined for cluster-scoped types and for lists across all namespaces. */
	namespace?: string;
	name?: string;
	subresource?: string;
}

/**
 * The route of `path`, undefined when it is not below /api or /apis (discovery and other paths),
 * or a 404 ApiError when it is but names nothing served.
 */
export function parseResourcePath(path: string): ResourceRoute | undefined {
	const parts = path.split('/').filter(part => part !== '').map(decodeURIComponent);
	let group: string;
	let rest: string[];
	if (parts[0] === 'api' && parts[1] === 'v1') [group, rest] = ['', parts.slice(2)];
	else if (parts[0] === 'apis' && parts.length >= 3) [group, rest] = [parts[1]!, parts.slice(3)];
	else return undefined;
	const version = group === '' ? 'v1' : parts[2]!;
	if (rest.length === 0) return undefined; // the group version's resource list: discovery

	let namespace: string | undefined;
	if (rest[0] === 'namespaces' && rest.length >= 3 && findResourceType(group, version, rest[2]!)?.namespaced) {
		namespace = rest[1];
		rest = rest.slice(2);
	}
	const [resource, name, subresource, ...extra] = rest as [string, string | undefined, string | undefined, ...string[]];
	const type = findResourceType(group, version, resource);
	if (!type || extra.length > 0) throw notServed();
	if (namespace !== undefined && !type.namespaced) throw notServed();
	if (subresource !== undefined && !(subresource === 'status' && type.hasStatus)) throw notServed();
	return { type, namespace, name, subresource };
}
