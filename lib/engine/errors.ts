/**
 * The kinds of failure nub tells apart. The CLI prints a NubError's message alone, and its exit
 * code follows from its kind (lib/cli/io.ts exitCodeOf: 2 for what stops a command before it runs
 * anything, 1 for a task, 70 for a bug); anything else that escapes is `internal` and shows its stack.
 */
export type NubErrorKind =
	/** The command line is wrong: unknown command, flag or target. */
	| 'usage'
	/** The Nubfile could not be loaded or exports something nub cannot use. */
	| 'nubfile'
	/** The task graph is invalid: a cycle, a duplicate name, a need that is not a task. */
	| 'graph'
	/** A configuration value is missing or wrong. */
	| 'config'
	/** The state under `.nub/` (or in the cluster) cannot be read or decrypted. */
	| 'state'
	/** Another run holds the lock on this state, or this run lost it. */
	| 'lock'
	/** The cluster cannot be reached, refused the credentials, or the kubeconfig lacks the context. */
	| 'cluster'
	/** A saved plan (`nub run --plan`) no longer holds: the decisions or the live objects moved since. */
	| 'plan'
	/** A task failed. */
	| 'task'
	/** A bug in nub. */
	| 'internal';

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
