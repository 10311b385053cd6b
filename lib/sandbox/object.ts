/**
 * Small helpers over stored objects: typed access to the metadata fields the server keeps, deep
 * copies, and the comparison that tells a real change from a no-op write.
 */
import type { Json, KubeObject } from './patch.ts';

/** The metadata fields the sandbox reads or sets. */
export interface Metadata {
	name?: string;
	generateName?: string;
	namespace?: string;
	uid?: string;
	resourceVersion?: string;
	generation?: number;
	creationTimestamp?: string;
	deletionTimestamp?: string;
	labels?: Record<string, string>;
	annotations?: Record<string, string>;
	managedFields?: Array<{ [key: string]: Json }>;
	finalizers?: string[];
	[key: string]: Json | undefined;
}

/** The object's metadata with the fields typed. */
export function metadataOf(object: KubeObject): Metadata {
	return object.metadata as Metadata;
}

/** A deep copy: stored objects are never handed out, so nobody mutates the store by accident. */
export function copy<T>(value: T): T {
	return structuredClone(value);
}

/** A JSON object (not an array, not null) at `value`, or undefined. */
export function asRecord(value: unknown): Record<string, Json> | undefined {
	return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, Json>) : undefined;
}

/**
 * Whether `after` differs from `before` in anything but its resourceVersion and the times in
 * managedFields. Why: the real server keeps the resourceVersion of a write that changes nothing
 * (so re-applying the same manifest is a no-op), and ignores an updated managedFields timestamp.
 */
export function changed(before: KubeObject, after: KubeObject): boolean {
	return comparable(before) !== comparable(after);
}

function comparable(object: KubeObject): string {
	const clone = copy(object);
	const metadata = metadataOf(clone);
	delete metadata.resourceVersion;
	for (const entry of metadata.managedFields ?? []) delete entry.time;
	return canonicalJson(clone);
}

/** JSON with sorted keys, so key order never counts as a change. */
export function canonicalJson(value: unknown): string {
	if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
	if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
	const record = value as Record<string, unknown>;
	return `{${Object.keys(record)
		.filter(key => record[key] !== undefined)
		.sort()
		.map(key => `${JSON.stringify(key)}:${canonicalJson(record[key])}`)
		.join(',')}}`;
}
