import { createRequire } from 'node:module';

let loadedCrypto: typeof import('node:crypto') | undefined;
/**
 * node:crypto, loaded on first use: loading it costs a start about 3 ms, and a cached no-op
 * usually hashes nothing.
 */
export function nodeCrypto(): typeof import('node:crypto') {
	return (loadedCrypto ??= createRequire(import.meta.url)('node:crypto') as typeof import('node:crypto'));
}

/** A JSON value: what a task may return, and what the state records. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/**
 * Serializes a value with object keys sorted, so equal values always give equal text and
 * therefore equal hashes, whatever order their keys were built in.
 */
export function canonicalJson(value: unknown): string {
	if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
	if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
	const object = value as Record<string, unknown>;
	const keys = Object.keys(object).filter(key => object[key] !== undefined).sort();
	return `{${keys.map(key => `${JSON.stringify(key)}:${canonicalJson(object[key])}`).join(',')}}`;
}

/**
 * The digest the cache uses everywhere: SHA-256 cut to its first 128 bits, in base64url (22
 * characters). 128 bits keep accidental collisions out of reach (2^64 hashes for an even chance)
 * and make the state a third of the size it would be with hex SHA-256, which is what a cached
 * no-op spends its time reading.
 */
export function contentHash(text: string | Uint8Array): string {
	return shortDigest(nodeCrypto().createHash('sha256').update(text).digest());
}

/** The first 128 bits of a digest, base64url. */
export function shortDigest(digest: Buffer): string {
	return digest.subarray(0, 16).toString('base64url');
}

/**
 * Describes the first place where `value` is not plain JSON, or returns undefined when it is.
 * Outputs are recorded and reused from the cache, so a Date, a Map or a function would come back
 * as something else: refuse them when they are made, not when they are reused.
 */
export function findNonJson(value: unknown, path = 'output'): string | undefined {
	switch (typeof value) {
		case 'string':
		case 'boolean':
			return undefined;
		case 'number':
			return Number.isFinite(value) ? undefined : `${path} is ${value}`;
		case 'object': {
			if (value === null) return undefined;
			if (Array.isArray(value)) {
				for (let i = 0; i < value.length; i++) {
					const found = findNonJson(value[i], `${path}[${i}]`);
					if (found) return found;
				}
				return undefined;
			}
			const proto = Object.getPrototypeOf(value);
			if (proto !== Object.prototype && proto !== null) {
				return `${path} is a ${proto?.constructor?.name ?? 'non-plain object'}`;
			}
			for (const [key, item] of Object.entries(value)) {
				if (item === undefined) continue;
				const found = findNonJson(item, `${path}.${key}`);
				if (found) return found;
			}
			return undefined;
		}
		default:
			return `${path} is ${typeof value === 'undefined' ? 'undefined' : `a ${typeof value}`}`;
	}
}
