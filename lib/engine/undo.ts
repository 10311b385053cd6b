import type { Task, TaskContext } from './task.ts';

/**
 * How `nub destroy` undoes a task besides deleting the objects its last output lists: a DNS record
 * removed, an external resource released. Declared with `withUndo(task, undo)`.
 */
export interface Undo {
	/**
	 * Undoes what the task's last success did. `previous` is that success's output (decrypted for a
	 * secret task); the context is a task's (signal, log, root, and the cluster through `kube`).
	 * Throwing reports the failure, and the task is not recorded as gone (a later destroy retries).
	 */
	run(previous: unknown, context: TaskContext): Promise<void> | void;
	/**
	 * Undo this task before every other one it may go before: as soon as every task that depends on
	 * it is done. The DNS record goes first, so nobody is sent to a platform being taken down.
	 */
	first?: boolean;
	/** For `nub destroy --dry-run`: what the undo would do, given `previous`. */
	describe?(previous: unknown): string;
}

/** The undo each task declared. */
const undos = new WeakMap<Task<unknown>, Undo>();

/** Declares how `nub destroy` undoes `task`; returns the task. */
export function withUndo<T extends Task<unknown>>(task: T, undo: Undo): T {
	undos.set(task, undo);
	return task;
}

/** The undo `task` declares, if any. */
export function undoOf(task: Task<unknown>): Undo | undefined {
	return undos.get(task);
}
