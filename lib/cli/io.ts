import type { NubErrorKind } from '../engine/errors.ts';
import type { LockEnvironment } from '../engine/lock.ts';
import type { Output } from '../reporters/reporter.ts';

/** Everything the CLI takes from the outside world; `process.ts` passes the real one. */
export interface CliIo {
	argv: readonly string[];
	cwd: string;
	env: Readonly<Record<string, string | undefined>>;
	stdout: Output;
	stderr: Output;
	/** True when stdout is a terminal (live progress). */
	isTTY: boolean;
	/** Cores, for the default `--jobs`. */
	cores: number;
	lock: LockEnvironment;
	/** Aborted on the first Ctrl-C. */
	signal: AbortSignal;
	/**
	 * The module a Nubfile's `import ... from 'nub'` loads, of the engine this CLI runs: dist/index.js
	 * in nub's package, beside the rest of lib/ compiled (see boot/bundle.ts).
	 */
	api: string;
}

/**
 * Exit codes, as documented in `--help` and the README: 0 success; 1 a task failed; 2 nothing ran
 * (a usage, Nubfile, graph, configuration, state, lock or cluster error, found before any task
 * started); 70 a bug in nub; 130 interrupted.
 */
export const exitCodes = { ok: 0, taskFailed: 1, usage: 2, internal: 70, interrupted: 130, /** `nub plan --detailed-exitcode`: the run would change something. */ changes: 2 } as const;

/** The exit code of a failure of `kind`. */
export function exitCodeOf(kind: NubErrorKind): number {
	if (kind === 'task') return exitCodes.taskFailed;
	if (kind === 'internal') return exitCodes.internal;
	return exitCodes.usage;
}
