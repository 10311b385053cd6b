import type { Json } from '../engine/json.ts';

/** A Kubernetes Secret manifest, ready to apply: values are base64 under `data`. */
export interface SecretManifest {
	[key: string]: Json;
	apiVersion: 'v1';
	kind: 'Secret';
	metadata: { name: string; namespace?: string; labels?: Record<string, string> };
	type: string;
	data: Record<string, string>;
}

/** What `secretManifest` takes: values as text (UTF-8) or bytes, never pre-encoded. */
export interface SecretSpec {
	name: string;
	namespace?: string;
	/** Default `Opaque`. */
	type?: string;
	labels?: Record<string, string>;
	data: Record<string, string | Uint8Array>;
}

const dnsSubdomain = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const dataKey = /^[-._a-zA-Z0-9]+$/;
/** The API server refuses a Secret over 1 MiB. */
const maxBytes = 1024 * 1024;

/**
 * Builds a Secret from values: each is base64-encoded here, bytes as they are and text as UTF-8,
 * so binary files and any character survive, and no value is ever pasted into a template (where a
 * quote or a newline would break the YAML, or worse, inject into it). Checks what the API server
 * would refuse, naming the Secret and the key.
 */
export function secretManifest(spec: SecretSpec): SecretManifest {
	const what = `Secret ${spec.namespace ? `${spec.namespace}/` : ''}${spec.name}`;
	if (spec.name.length > 253 || !dnsSubdomain.test(spec.name)) {
		throw new Error(`${what}: the name must be a DNS subdomain (lower-case letters, digits, "-" and ".", at most 253)`);
	}
	const data: Record<string, string> = {};
	let bytes = 0;
	for (const key of Object.keys(spec.data).sort()) {
		if (key.length > 253 || !dataKey.test(key)) {
			throw new Error(`${what}: key ${JSON.stringify(key)} is invalid: use letters, digits, "-", "_" and "." (at most 253)`);
		}
		const value = spec.data[key]!;
		const raw = typeof value === 'string' ? Buffer.from(value, 'utf8') : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
		bytes += raw.length;
		data[key] = raw.toString('base64');
	}
	if (bytes > maxBytes) throw new Error(`${what}: ${bytes} bytes of data, over the API server's limit of 1 MiB`);
	return {
		apiVersion: 'v1',
		kind: 'Secret',
		metadata: {
			name: spec.name,
			...(spec.namespace ? { namespace: spec.namespace } : {}),
			...(spec.labels ? { labels: { ...spec.labels } } : {}),
		},
		type: spec.type ?? 'Opaque',
		data,
	};
}

/** The value of one key of a Secret built by `secretManifest`, as bytes. */
export function secretValue(secret: SecretManifest, key: string): Buffer {
	const value = secret.data[key];
	if (value === undefined) throw new Error(`Secret ${secret.metadata.name} has no key ${JSON.stringify(key)}`);
	return Buffer.from(value, 'base64');
}
