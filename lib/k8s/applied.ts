/**
 * What an apply task recorded of what it applied, and how that is taken down again: the output
 * of every apply task, which `nub destroy` and `nub run --prune` delete from, and the checks read.
 */
import type { Undo, UndoContext } from '../engine/undo.ts';
import type { Kube, ObjectRef } from './client.ts';
import { applyOrder, describeObject } from './objects.ts';
import { kubeClient } from './task-helpers.ts';

/** One object an apply task applied: enough to find it again. */
export interface AppliedObject {
	apiVersion: string;
	kind: string;
	name: string;
	namespace?: string;
}

/** What an apply task applied: enough to find each object again (for checks and destroy). */
export interface Applied {
	objects: AppliedObject[];
	/**
	 * Objects an earlier run of the task applied that it no longer makes (removed from a template),
	 * kept until `nub run --prune` (or `nub destroy`) deletes them. Absent when there are none.
	 */
	orphans?: AppliedObject[];
}

function isAppliedObject(value: unknown): value is AppliedObject {
	if (typeof value !== 'object' || value === null) return false;
	const object = value as Partial<Record<keyof AppliedObject, unknown>>;
	return typeof object.apiVersion === 'string' && typeof object.kind === 'string' && typeof object.name === 'string' && (object.namespace === undefined || typeof object.namespace === 'string');
}

/**
 * Whether a recorded output is an `Applied`: what the state holds of a task that left the graph
 * (no declaration says what it was) is read only when it has this shape, every object whole.
 */
export function isApplied(value: unknown): value is Applied {
	if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
	const { objects, orphans } = value as { objects?: unknown; orphans?: unknown };
	return Array.isArray(objects) && objects.every(isAppliedObject) && (orphans === undefined || (Array.isArray(orphans) && orphans.every(isAppliedObject)));
}

/** The same object whatever the version it was applied under: `apps/Deployment/nublado/hub`. */
export function objectIdentity(object: AppliedObject): string {
	const slash = object.apiVersion.indexOf('/');
	return `${slash === -1 ? '' : object.apiVersion.slice(0, slash)}/${object.kind}/${object.namespace ?? ''}/${object.name}`;
}

/** `Deployment nublado/hub`. */
export function describeApplied(object: AppliedObject): string {
	return describeObject(refOf(object));
}

/** The reference to read or delete an applied object by. */
export function refOf(object: AppliedObject): ObjectRef {
	return { apiVersion: object.apiVersion, kind: object.kind, metadata: { name: object.name, ...(object.namespace ? { namespace: object.namespace } : {}) } };
}

/** The objects `previous` (an earlier output) listed, applied or orphaned, that `objects` lacks. */
export function orphansOf(previous: unknown, objects: readonly AppliedObject[]): AppliedObject[] {
	if (!isApplied(previous)) return [];
	const current = new Set(objects.map(objectIdentity));
	const orphans = new Map<string, AppliedObject>();
	for (const object of [...previous.objects, ...(previous.orphans ?? [])]) {
		const key = objectIdentity(object);
		if (!current.has(key) && !orphans.has(key)) orphans.set(key, object);
	}
	return [...orphans.values()];
}

/** Each object once, in the reverse of the order they were applied in: namespaced, then cluster-scoped, Namespaces last. */
export function deletionOrder(objects: readonly AppliedObject[]): AppliedObject[] {
	const unique = new Map<string, AppliedObject>();
	for (const object of objects) if (!unique.has(objectIdentity(object))) unique.set(objectIdentity(object), object);
	return applyOrder([...unique.values()]).reverse();
}

/**
 * Deletes the objects in deletion order, then waits until each is gone, not only being deleted:
 * with `Foreground` propagation a Deployment is gone once its pods are, so pods that mount NFS are
 * gone before the fileserver's undo starts. Keeps going past an object that fails, reports each
 * through `context.removed`, and throws at the end naming the first failure.
 */
export async function deleteApplied(client: Kube, objects: readonly AppliedObject[], context: UndoContext): Promise<void> {
	const { signal, log } = context;
	const call = { signal, log: (line: string) => log.info(line), onRetry: (message: string) => context.retried(message) };
	const failures: string[] = [];
	const fail = (object: AppliedObject, error: unknown) => {
		signal.throwIfAborted();
		const message = firstLine(error instanceof Error ? error.message : String(error));
		context.removed(describeApplied(object), 'failed', message);
		failures.push(`${describeApplied(object)}: ${message}`);
	};
	const deleted: AppliedObject[] = [];
	for (const object of deletionOrder(objects)) {
		signal.throwIfAborted();
		try {
			// Quiet: the removal is reported once, through `removed`.
			const existed = await client.deleteWith(refOf(object), { propagationPolicy: 'Foreground' }, { ...call, log: () => {} });
			context.removed(describeApplied(object), existed ? 'deleted' : 'absent');
			if (existed) deleted.push(object);
		} catch (error) {
			fail(object, error);
		}
	}
	for (const object of deleted) {
		try {
			await client.waitForGone(refOf(object), { ...call, timeoutMs: object.kind === 'Namespace' ? 600_000 : 300_000 });
		} catch (error) {
			fail(object, error);
		}
	}
	if (failures.length > 0) throw new Error(failures.length === 1 ? failures[0] : `${failures[0]} (and ${failures.length - 1} more)`);
}

/** What `nub destroy` does with an apply task: delete what its last success applied and what it left orphaned. */
export const undoApplied: Undo<Applied> = {
	describe: previous => {
		const objects = deletionOrder([...previous.objects, ...(previous.orphans ?? [])]);
		return { steps: objects.map(object => `delete ${describeApplied(object)}`), objects: objects.length };
	},
	run: async (previous, context) => {
		const objects = [...previous.objects, ...(previous.orphans ?? [])];
		if (objects.length > 0) await deleteApplied(await kubeClient(context), objects, context);
	},
};

function firstLine(text: string): string {
	return text.split('\n')[0]!;
}
