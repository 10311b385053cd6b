import type { Task, TaskContext } from './task.ts';

/** What became of one thing an undo removes. */
export type Removal =
	/** It was there and is gone now. */
	| 'deleted'
	/** It was already gone. */
	| 'absent'
	/** It could not be removed (the undo goes on with the rest, then fails). */
	| 'failed';

/** What an undo may touch: a task's context, and where it says what became of each thing it removes. */
export interface UndoContext extends TaskContext {
	/** Reports one thing removed (`Deployment nublado/hub`), and for a failure the error's first line. */
	removed(what: string, removal: Removal, error?: string): void;
}

/** What an undo would do, for `nub destroy --dry-run`. */
export interface UndoPreview {
	/** One line per step, in order: `delete Deployment nublado/hub`. */
	steps: string[];
	/** How many of the cluster's objects it deletes (the dry run's last line counts them). */
	objects: number;
	/** How many of its declared outputs (files, folders, globs) it deletes; none when absent. */
	files?: number;
}

/**
 * How `nub destroy` undoes a task whose output is a `T`: the objects an apply task applied deleted,
 * a DNS record removed, an external resource released. Declared with `withUndo(task, undo)`. A task
 * without one is only forgotten by the state.
 */
export interface Undo<T> {
	/**
	 * Undoes what the task's last success did. `previous` is that success's output (decrypted for a
	 * secret task); the context is a task's (signal, log, root, and the cluster through `kube`).
	 * Throwing fails the undo: the task stays recorded (a later destroy retries it), and so does
	 * everything it needs.
	 */
	run(previous: T, context: UndoContext): Promise<void> | void;
	/**
	 * Undo this task before every other one it may go before: as soon as every task that depends on
	 * it is undone. The DNS record goes first, so nobody is sent to a platform being taken down.
	 */
	first?: boolean;
	/** For `nub destroy --dry-run`: what the undo would do, given `previous`. */
	describe?(previous: T): UndoPreview;
}

/**
 * The undo each task declared. Kept per task object: the Nubfile and lib/ share one engine (see
 * boot/bundle.ts), so a task made by either is found here.
 */
const undos = new WeakMap<Task<unknown>, Undo<never>>();

/** Declares how `nub destroy` undoes `task`, typed by its output; returns the task. */
export function withUndo<T>(task: Task<T>, undo: Undo<T>): Task<T> {
	undos.set(task as Task<unknown>, undo as Undo<never>);
	return task;
}

/** The undo `task` declares, if any. */
export function undoOf<T>(task: Task<T>): Undo<T> | undefined {
	return undos.get(task as Task<unknown>) as Undo<T> | undefined;
}
