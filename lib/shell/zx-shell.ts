import type { TaskContext } from '../engine/task.ts';
import type { Shell, ShellOutput } from './task-helpers.ts';

/** zx's core, loaded when a task first runs a command: most runs run none. */
let zx: Promise<typeof import('zx/core')> | undefined;

/** A command that exited with another code than 0 (or was killed by a signal). */
export class ShellError extends Error {
	constructor(
		readonly command: string,
		readonly exitCode: number | null,
		readonly signalName: string | null,
	) {
		super(`\`${command}\` ${exitCode !== null ? `exited with code ${exitCode}` : `was killed by ${signalName ?? 'a signal'}`}`);
		this.name = 'ShellError';
	}
}

/**
 * The shell a task's context gets (`context.$`), built on zx: each command runs in the task's
 * root, in a process group of its own (`detached`), so that the task's signal, aborted on Ctrl-C
 * or on its timeout, kills the command and everything it started. Its stdout and stderr go to
 * the task's log a line at a time (the log redacts secrets); nothing is written to the terminal
 * directly. Binaries of the project's node_modules/.bin are found first, as in npm scripts.
 */
export function zxShell(context: TaskContext): Shell {
	return async (pieces, ...args) => {
		const { $ } = await (zx ??= import('zx/core'));
		context.signal.throwIfAborted();
		const partial = { stdout: '', stderr: '' };
		const flush = (stream: 'stdout' | 'stderr', text: string, end: boolean) => {
			const lines = (partial[stream] + text).split(/\r?\n/);
			partial[stream] = end ? '' : lines.pop()!;
			for (const line of lines) if (line !== '' || !end) context.log.info(line);
		};
		let command = '';
		const run = $({
			cwd: context.root,
			signal: context.signal,
			detached: true,
			quiet: true,
			verbose: false,
			nothrow: true,
			preferLocal: true,
			log: entry => {
				if (entry.kind === 'cmd') {
					command = entry.cmd;
					context.log.info(`$ ${entry.cmd}`);
				} else if (entry.kind === 'stdout' || entry.kind === 'stderr') {
					flush(entry.kind, entry.data.toString(), false);
				}
			},
		});
		const output = await run(pieces, ...args);
		// zx ends an output that lacks its last newline with one after its `end`: flushed once settled.
		flush('stdout', '', true);
		flush('stderr', '', true);
		if (output.exitCode !== 0) throw new ShellError(command, output.exitCode, output.signal);
		return output as ShellOutput;
	};
}
