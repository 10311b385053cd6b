/**
 * Everything a command reports: a run's engine events, and what `list`, `plan`, `destroy` and
 * `run --prune` say besides. The CLI emits them; reporters show them (plain lines, JSON lines), so
 * `--json` covers every command.
 */
import type { NubEvent } from '../engine/events.ts';
import type { ChangeAction, ObjectChange } from '../engine/changes.ts';
import type { PlanEntry } from '../engine/plan.ts';
import type { Removal } from '../engine/undo.ts';
import type { AppliedObject } from '../k8s/applied.ts';

/** What takes tasks down: `nub destroy`, or `nub run --prune` after a run. */
export type UndoCommand = 'destroy' | 'prune';

/** Why `nub run --prune` deletes an object. */
export type PruneReason = 'no longer in the graph' | 'no longer applied';

/** One failure of a destroy or a prune: the task, the object (none for an undo's own error) and the error's first line. */
export interface UndoFailure {
	task: string;
	object?: string;
	error: string;
}

/** How a destroy or a prune ended. */
export interface UndoSummary {
	/** Tasks fully undone (and recorded so), in the order they were. */
	done: string[];
	/** Tasks whose undo failed (they stay recorded). */
	failed: string[];
	/** Tasks kept because a task that needs them failed. */
	blocked: Array<{ task: string; by: string }>;
	/** Stopped by Ctrl-C (or a lost team lease) before the end. */
	interrupted: boolean;
	/** Each failure: one per object that could not be deleted, or the undo's error. */
	errors: UndoFailure[];
	/** How many objects the tasks fully undone deleted or found already gone. */
	objects: number;
}

/** What the commands report besides a run's events. */
export type CommandEvent =
	/** `nub list`: one task (the targets, or every task with --all). */
	| { type: 'list-entry'; name: string; description: string | null; target: boolean }
	/** `nub plan`: what a run would do with one task, and why (`why`: the reasons in English). */
	| ({ type: 'plan-entry'; why: string[] } & PlanEntry)
	/** `nub plan`: an object `nub run --prune` would delete, recorded by task `name`. */
	| { type: 'prune-entry'; name: string; object: AppliedObject; reason: PruneReason }
	/** `nub plan --diff`: what the run would do to one object, and each field nub owns that would change. */
	| ({ type: 'diff-object' } & ObjectChange)
	/** `nub plan --diff`: secret task `task` would make its value anew (`maybe`: if what it needs changes). */
	| { type: 'diff-secret'; task: string; maybe: boolean }
	/** `nub plan` is complete: how many tasks would run, run if what they need changes, be reused; with --diff, objects by action. */
	| { type: 'plan-end'; counts: { run: number; maybe: number; cached: number }; diff?: Record<ChangeAction, number> }
	/** `nub destroy --dry-run`: what undoing task `name` would do; `stale` when it left the graph. */
	| { type: 'undo-preview'; name: string; steps: string[]; objects: number; files: number; stale: boolean }
	/** `nub destroy --dry-run` is complete: every task it would forget, and what it would delete. */
	| { type: 'undo-preview-end'; tasks: string[]; objects: number; files: number; undone: number }
	/** Undoing task `name` starts. */
	| { type: 'undo-start'; command: UndoCommand; name: string }
	/** A line the undo logged (secrets redacted). */
	| { type: 'undo-log'; command: UndoCommand; name: string; level: 'info' | 'warn' | 'debug'; message: string }
	/** What became of one object (or other thing) the undo removes. */
	| { type: 'undo-object'; command: UndoCommand; name: string; object: string; removal: Removal; error?: string }
	/** Undoing task `name` ended: done (recorded so), failed or interrupted. */
	| { type: 'undo-end'; command: UndoCommand; name: string; outcome: 'done' | 'failed' | 'interrupted'; durationMs: number; error?: string }
	/** Task `name` is kept: `by`, which needs it, failed. */
	| { type: 'undo-blocked'; command: UndoCommand; name: string; by: string }
	/** A destroy or a prune is over. */
	| { type: 'undo-run-end'; command: UndoCommand; summary: UndoSummary };

/** Every event a reporter shows. */
export type ReportedEvent = NubEvent | CommandEvent;
