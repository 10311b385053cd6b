import type { Json } from './json.ts';
import type { Reason } from './plan.ts';

/** How a task ended in a run. */
export type Outcome =
	/** It ran and succeeded. */
	| 'succeeded'
	/** Its key matched its last success: it did not run and its recorded output was reused. */
	| 'cached'
	/** It ran and failed (after its retries). */
	| 'failed'
	/** It was running when the run was interrupted. */
	| 'interrupted'
	/** Something it needs failed or was interrupted, so it could not run. */
	| 'blocked'
	/** It was not started because the run stopped after a failure or an interrupt. */
	| 'skipped';

/** The result of a run: task names by outcome, in the graph's topological order. */
export interface RunSummary {
	succeeded: string[];
	cached: string[];
	failed: string[];
	interrupted: string[];
	blocked: string[];
	skipped: string[];
	/** Tasks that ran and produced a different output than last time. */
	changed: string[];
	/** Retries made, by task name (only tasks that retried). */
	retries: Record<string, number>;
	/** The first line of each failure, by task name (secrets redacted). */
	errors: Record<string, string>;
	durationMs: number;
	/** `nub run --prune` only: the tasks whose objects it deleted, and those whose prune failed. */
	pruned?: string[];
	pruneFailed?: string[];
}

/**
 * What the engine reports while it runs. Reporters (listr2, plain lines, JSON lines, a recorder
 * in tests) turn these into output; the engine never prints.
 */
export type NubEvent =
	/** The run begins with these tasks, in topological order. */
	| { type: 'run-start'; tasks: string[]; jobs: number }
	/** A task's key matched: it will not run. */
	| { type: 'task-cached'; name: string }
	/** A task starts, and why it must run. */
	| { type: 'task-start'; name: string; reasons: Reason[] }
	/** A line a task logged (secrets redacted). */
	| { type: 'task-log'; name: string; level: 'info' | 'warn' | 'debug'; message: string }
	/** An attempt failed and another follows. */
	| { type: 'task-retry'; name: string; attempt: number; retriesLeft: number; error: string }
	/** A task that ran has ended. `output` is omitted for secret tasks. */
	| {
			type: 'task-end';
			name: string;
			outcome: 'succeeded' | 'failed' | 'interrupted';
			durationMs: number;
			changed?: boolean;
			error?: string;
			stack?: string;
			/** The failure as fields, when the error carries a JSON `detail` (a rollout's case, pod, container). */
			detail?: Json;
			output?: Json;
			secret?: boolean;
	  }
	/** A task cannot run because `by` failed. */
	| { type: 'task-blocked'; name: string; by: string }
	/** The run is over. */
	| { type: 'run-end'; summary: RunSummary };
