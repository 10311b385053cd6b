import type { KubeObject, ObjectSource } from './objects.ts';

// Objects rendered from templates remember their file, so that a schema error or a refusal from
// the server names it. Kept beside the objects rather than in them: what is applied stays exactly
// what the template says.
const sources = new WeakMap<object, ObjectSource>();

/** Records where `object` came from. */
export function recordSource(object: KubeObject, source: ObjectSource): void {
	sources.set(object, source);
}

/** Where `object` came from, if it was recorded. */
export function sourceOf(object: KubeObject): ObjectSource | undefined {
	return sources.get(object);
}
