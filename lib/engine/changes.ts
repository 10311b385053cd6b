/**
 * What `nub plan --diff` says a run would change: one record per object of the outside world (a
 * Kubernetes object, for the apply tasks), the fields that would change in it, and the keyed hashes
 * a saved plan (`nub plan --out`) is held to by `nub run --plan`. The engine knows their shape,
 * never how they are computed: a task's `diff` (lib/k8s/diff.ts for the apply tasks) does that.
 */

/** What a run would do to one object. */
export type ChangeAction = 'create' | 'update' | 'delete' | 'none';

/** One field that would change: its path in the object, its value now and after (shown text; null: absent). */
export interface FieldChange {
	path: string;
	before: string | null;
	after: string | null;
}

/** One object a task would apply (or a prune would delete), as a task's `diff` reports it. */
export interface ObjectDiff {
	kind: string;
	namespace?: string;
	name: string;
	action: ChangeAction;
	changes: FieldChange[];
	/** Why the server was not asked (`namespace nublado does not exist yet: not dry-run`). */
	note?: string;
	/** Keyed hash (state key) of the fields nub owns in the live object; null when there is none. */
	live: string | null;
	/** Keyed hash of the fields nub would own after the apply, as the dry run answered. */
	planned: string | null;
}

/** An object's record with the task it belongs to: `nub plan --diff --json`'s `diff-object`. */
export interface ObjectChange extends ObjectDiff {
	task: string;
}

/** How a value that exists only once the run made it is shown. */
export const knownAfterApply = '(known after apply)';

/**
 * What stands, in a diff, for the output of a task that will run (or may) and that only running
 * can tell (an address the cluster assigns, a secret to be made). Rendered into the objects, it
 * marks every field made from it as known after apply.
 */
export function unknownOutput(task: string): string {
	return `(known after apply: ${task})`;
}

/** Whether a value (text) was made from an output only the run will know. */
export function madeFromUnknown(text: string): boolean {
	return text.includes('(known after apply: ');
}

/** `Deployment nublado/firefly`. */
export function describeChange(change: Pick<ObjectDiff, 'kind' | 'namespace' | 'name'>): string {
	return `${change.kind} ${change.namespace ? `${change.namespace}/` : ''}${change.name}`;
}
