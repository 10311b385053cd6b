import { task, type Needs, type Task, type TaskContext, type TaskSpec } from '../engine/task.ts';

/** What a shell command left, once it exited 0. */
export interface ShellOutput {
	readonly stdout: string;
	readonly stderr: string;
	readonly exitCode: number | null;
}

/**
 * Runs a command in the Nubfile's folder, as zx's `$` does (interpolated values are quoted):
 * `` await $`tsc -p ${dir}` ``. Its output goes to the task's log, line by line, secrets
 * redacted; the task's signal (Ctrl-C, its timeout) kills the command's whole process group.
 * A command that exits with another code than 0 throws, naming the command and the code.
 */
export type Shell = (pieces: TemplateStringsArray, ...args: unknown[]) => Promise<ShellOutput>;

/** What the CLI adds to a task's context for shell steps: `context.$`. */
export interface ShellAccess {
	readonly $: Shell;
}

/**
 * The shell of a task's context:
 *
 *     run: async (_, context) => {
 *       const $ = sh(context);
 *       await $`esbuild src/main.ts --outfile=out/main.js`;
 *     }
 */
export function sh(context: TaskContext): Shell {
	const shell = (context as TaskContext & Partial<ShellAccess>).$;
	if (typeof shell !== 'function') {
		throw new Error(`task "${context.name}" runs a shell command, and no shell was given to it (the CLI gives one; in-process runs pass extendContext)`);
	}
	return shell;
}

/** A command line as a template with no values: run as written, nothing quoted. */
function asTemplate(command: string): TemplateStringsArray {
	return Object.assign([command], { raw: [command] });
}

/**
 * A task that runs one shell command, as written, in the Nubfile's folder; the command text is
 * part of its key, so editing the command reruns it (and the plan says `command changed`). Its
 * output is null: what it makes are its declared output files.
 *
 *     export const build = cmd('tsc -p .', {
 *       name: 'build',
 *       inputs: { files: ['src', 'tsconfig.json'] },
 *       outputs: { files: ['dist'] },
 *     });
 */
export function cmd<N extends Needs = {}>(command: string, spec: Omit<TaskSpec<N, null>, 'run'>): Task<null> {
	return task<N, null>({
		...spec,
		inputs: { ...spec.inputs, command },
		run: async (_inputs, context) => {
			await sh(context)(asTemplate(command));
			return null;
		},
	});
}
