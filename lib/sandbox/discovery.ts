/**
 * Discovery: the documents clients read before anything else to learn which groups, versions and
 * resources exist (`/version`, `/api`, `/api/v1`, `/apis`, `/apis/<group>/<version>`), and a
 * minimal OpenAPI v3 that tells kubectl the server validates fields itself.
 *
 * Only the legacy (unaggregated) discovery format is served: kubectl asks for the aggregated one
 * first and falls back when the answer is plain `application/json`, as against older servers.
 */
import { createHash } from 'node:crypto';
import type { Json } from './patch.ts';
import { groupVersionOf, resourceTypes, servedGroupVersions, verbsOf, type ResourceType } from './resources.ts';

/** The Kubernetes version the sandbox claims to be. */
export const serverVersion = { major: '1', minor: '32', gitVersion: 'v1.32.4' };

/**
 * The discovery or OpenAPI document at `path`, or undefined if `path` is not one. `host` is the
 * `host:port` clients used, which /api echoes back.
 */
export function discoveryDocument(path: string, host: string): Json | undefined {
	const trimmed = path.replace(/\/+$/, '');
	if (trimmed === '/version') {
		return {
			...serverVersion,
			gitCommit: '0000000000000000000000000000000000000000',
			gitTreeState: 'clean',
			buildDate: '2025-04-22T16:03:39Z',
			goVersion: 'go1.23.8',
			compiler: 'gc',
			platform: 'linux/amd64',
		};
	}
	if (trimmed === '/api') {
		return { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: host }] };
	}
	if (trimmed === '/api/v1') return resourceList('', 'v1');
	if (trimmed === '/apis') {
		return { kind: 'APIGroupList', apiVersion: 'v1', groups: namedGroups().map(name => groupDocument(name)) };
	}
	const match = /^\/apis\/([^/]+)(?:\/([^/]+))?$/.exec(trimmed);
	if (match && namedGroups().includes(match[1]!)) {
		const [, group, version] = match as unknown as [string, string, string | undefined];
		if (version === undefined) return { kind: 'APIGroup', apiVersion: 'v1', ...groupDocument(group) };
		if (servedGroupVersions().some(served => served.group === group && served.version === version)) return resourceList(group, version);
	}
	if (trimmed === '/openapi/v3') return openApiIndex();
	const openApi = /^\/openapi\/v3\/(apis?(?:\/[^/]+)+)$/.exec(trimmed);
	if (openApi) return openApiDocument(openApi[1]!);
	return undefined;
}

/** The named groups (all but the core group), in discovery order. */
function namedGroups(): string[] {
	return [...new Set(servedGroupVersions().map(served => served.group))].filter(group => group !== '');
}

/** An APIGroup entry of /apis: the group with its one served version, preferred. */
function groupDocument(group: string): { [key: string]: Json } {
	const versions = servedGroupVersions()
		.filter(served => served.group === group)
		.map(served => ({ groupVersion: groupVersionOf(served), version: served.version }));
	return { name: group, versions, preferredVersion: versions[0]! };
}

/** The APIResourceList of one group version: every resource, then its status subresource. */
function resourceList(group: string, version: string): Json {
	const resources: Json[] = [];
	for (const type of resourceTypes.filter(candidate => candidate.group === group && candidate.version === version)) {
		resources.push({
			name: type.resource,
			singularName: type.singular,
			namespaced: type.namespaced,
			kind: type.kind,
			verbs: verbsOf(type),
			...(type.shortNames.length > 0 ? { shortNames: type.shortNames } : {}),
			...(type.categories.length > 0 ? { categories: type.categories } : {}),
			storageVersionHash: storageVersionHash(type),
		});
		if (type.hasStatus) {
			resources.push({ name: `${type.resource}/status`, singularName: '', namespaced: type.namespaced, kind: type.kind, verbs: ['get', 'patch', 'update'] });
		}
	}
	// The core group's list has no apiVersion, as the real server's.
	return { kind: 'APIResourceList', ...(group === '' ? {} : { apiVersion: 'v1' }), groupVersion: groupVersionOf({ group, version }), resources };
}

/**
 * The real server's hash of a type's storage version: the first 8 bytes of the SHA-256 of
 * `<group>/<version>/<kind>` (`/v1/ConfigMap` in the core group), in base64. Clients compare it
 * between discoveries and never decode it.
 */
function storageVersionHash(type: ResourceType): string {
	return createHash('sha256').update(`${type.group}/${type.version}/${type.kind}`).digest().subarray(0, 8).toString('base64');
}

/** `/openapi/v3`: where each group version's document is, with a hash clients cache by. */
function openApiIndex(): Json {
	const paths: { [key: string]: Json } = {};
	for (const served of servedGroupVersions()) {
		const path = served.group === '' ? `api/${served.version}` : `apis/${served.group}/${served.version}`;
		const hash = createHash('sha256').update(JSON.stringify(openApiDocument(path))).digest('hex').slice(0, 32).toUpperCase();
		paths[path] = { serverRelativeURL: `/openapi/v3/${path}?hash=${hash}` };
	}
	return { paths };
}

/**
 * A minimal OpenAPI v3 document of one group version: each object path with a PATCH operation
 * tagged with its group-version-kind and the query parameters the server honours. It is what
 * kubectl reads to decide that the server validates fields itself (`fieldValidation`), so it
 * sends objects as they are instead of validating them against a schema it would need first.
 */
function openApiDocument(path: string): Json | undefined {
	const [root, groupOrVersion, maybeVersion] = path.split('/') as [string, string, string | undefined];
	const group = root === 'api' ? '' : groupOrVersion;
	const version = root === 'api' ? groupOrVersion : maybeVersion;
	if (!servedGroupVersions().some(served => served.group === group && served.version === version)) return undefined;
	const paths: { [key: string]: Json } = {};
	for (const type of resourceTypes.filter(candidate => candidate.group === group && candidate.version === version)) {
		const scope = type.namespaced ? '/namespaces/{namespace}' : '';
		const parameters = ['dryRun', 'fieldManager', 'fieldValidation', 'force'].map(name => ({ name, in: 'query', schema: { type: name === 'force' ? 'boolean' : 'string', uniqueItems: true } }));
		paths[`/${path}${scope}/${type.resource}/{name}`] = {
			patch: {
				operationId: `patch${type.namespaced ? 'Namespaced' : ''}${type.kind}`,
				parameters,
				responses: { '200': { description: 'OK' } },
				'x-kubernetes-action': 'patch',
				'x-kubernetes-group-version-kind': { group, version: version!, kind: type.kind },
			},
		};
	}
	return { openapi: '3.0.0', info: { title: 'Kubernetes', version: serverVersion.gitVersion }, paths, components: { schemas: {} } };
}
