import { describeObject, type KubeObject } from './objects.ts';

/**
 * What differs between what nub applied and what the cluster has, or undefined when the live
 * object still carries every field nub set. Fields others added (defaults, status, annotations of
 * controllers) are not drift; a field nub set that is gone or changed is. Quantities compare by
 * value (`1000m` is `1`).
 */
export function driftOf(desired: KubeObject, live: KubeObject | undefined): string | undefined {
	if (!live) return `${describeObject(desired)} deleted`;
	const path = firstDifference(desired, live, '');
	return path === undefined ? undefined : `${describeObject(desired)}: ${path} changed`;
}

function firstDifference(desired: unknown, live: unknown, path: string): string | undefined {
	// The API server drops a field whose value is its type's zero (`value: ""`, `readOnly: false`,
	// an empty list) where the field is not a pointer (Go's omitempty): absent is what nub set.
	if (live === undefined && isZero(desired)) return undefined;
	if (Array.isArray(desired)) {
		if (!Array.isArray(live) || live.length !== desired.length) return path || '(the object)';
		for (let i = 0; i < desired.length; i++) {
			const found = firstDifference(desired[i], live[i], `${path}[${i}]`);
			if (found !== undefined) return found;
		}
		return undefined;
	}
	if (desired !== null && typeof desired === 'object') {
		if (live === null || typeof live !== 'object' || Array.isArray(live)) return path || '(the object)';
		for (const [key, value] of Object.entries(desired)) {
			const found = firstDifference(value, (live as Record<string, unknown>)[key], path ? `${path}.${key}` : key);
			if (found !== undefined) return found;
		}
		return undefined;
	}
	return same(desired, live) ? undefined : path;
}

function isZero(value: unknown): boolean {
	if (value === '' || value === false || value === 0 || value === null) return true;
	if (Array.isArray(value)) return value.length === 0;
	return typeof value === 'object' && Object.keys(value as object).length === 0;
}

const quantity = /^([+-]?\d+(?:\.\d+)?)(m|Ki|Mi|Gi|Ti|Pi|k|K|M|G|T|P)?$/;
const factors: Record<string, number> = { m: 1e-3, '': 1, k: 1e3, K: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50 };

function same(desired: unknown, live: unknown): boolean {
	if (desired === live) return true;
	// The API server writes quantities in its canonical form (0.5 -> 500m, 1024Mi -> 1Gi).
	if (typeof desired === 'string' && typeof live === 'string') {
		const a = quantity.exec(desired);
		const b = quantity.exec(live);
		if (a && b) return Math.abs(Number(a[1]) * factors[a[2] ?? '']! - Number(b[1]) * factors[b[2] ?? '']!) < 1e-9;
	}
	return false;
}
