/**
 * Errors a user can cause and fix, as opposed to bugs. The CLI prints their message alone (exit 2,
 * or 1 for a task's failure); anything else that escapes is an internal error and shows its stack.
 */
export type NubErrorKind =
	/** The command line is wrong: unknown command, flag or target. */
	| 'usage'
	/** The Nubfile could not be loaded or exports something nub cannot use. */
	| 'nubfile'
	/** The task graph is invalid: a cycle, a duplicate name, a need that is not a task. */
	| 'graph'
	/** The state under `.nub/` cannot be read, decrypted or locked. */
	| 'state'
	/** Another run holds the lock on this state. */
	| 'locked'
	/** A configuration value is missing or wrong. */
	| 'config';

/** An expected, explainable failure: one line for the user, the original error as `cause`. */
export class NubError extends Error {
	override name = 'NubError';
	constructor(
		readonly kind: NubErrorKind,
		message: string,
		options?: { cause?: unknown },
	) {
		super(message, options);
	}
}

/** A task ran longer than its `timeout`. */
export class TaskTimeoutError extends Error {
	override name = 'TaskTimeoutError';
}

/** True for errors that the CLI shows as one line; false for bugs, which show their stack. */
export function isUserError(error: unknown): error is NubError {
	return error instanceof NubError;
}
