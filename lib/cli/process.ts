import { availableParallelism, hostname } from 'node:os';
import type { Output } from '../reporters/reporter.ts';
import { exitCodes, main } from './main.ts';

/**
 * The real edge: argv, environment, streams, signals and the exit code; `api` is the module that
 * Nubfiles get for `import ... from 'nub'` (dist/index.js, beside this CLI). Everything else in
 * the CLI takes these through `CliIo`, so tests can run it in-process with fakes.
 *
 * The first Ctrl-C aborts the run (running tasks get their signal, the state is saved, exit
 * 130); a second one exits at once.
 */
export async function runFromProcess(api: string): Promise<void> {
	const controller = new AbortController();
	const onSignal = () => {
		if (controller.signal.aborted) process.exit(exitCodes.interrupted);
		process.stderr.write('\nnub: interrupted; stopping (Ctrl-C again to quit at once)\n');
		controller.abort();
	};
	process.on('SIGINT', onSignal);
	process.on('SIGTERM', onSignal);
	const stdout = streamOutput(process.stdout);
	const stderr = streamOutput(process.stderr);
	const code = await main({
		argv: process.argv.slice(2),
		cwd: process.cwd(),
		env: process.env,
		stdout: stdout.output,
		stderr: stderr.output,
		isTTY: process.stdout.isTTY === true,
		cores: availableParallelism(),
		signal: controller.signal,
		api,
		lock: {
			holder: { pid: process.pid, host: hostname(), started: new Date().toISOString(), command: ['nub', ...process.argv.slice(2)].join(' ') },
			isAlive,
		},
	});
	process.exitCode = code;
	// Interrupted tasks that ignore their signal must not keep the process alive.
	if (code === exitCodes.interrupted) process.exit(code);
	// Exit once the output is out rather than when nothing is left to wait for: what a task left
	// open (a keep-alive connection, a timer) must not hold the process after its run ended.
	await stderr.flush();
	await stdout.flush();
	process.exit();
}

/**
 * `stream` as the CLI's output, and a flush that resolves once what was written has been handed
 * to the system (`process.exit` drops what a pipe has not taken yet). A reader that went away
 * (`nub list | head -1`) gets nothing more, and that is no error.
 */
function streamOutput(stream: NodeJS.WriteStream): { output: Output; flush: () => Promise<void> } {
	let gone = false;
	stream.on('error', error => {
		if ((error as NodeJS.ErrnoException).code !== 'EPIPE') throw error;
		gone = true;
	});
	return {
		output: {
			write(text: string) {
				if (!gone) stream.write(text);
			},
		},
		flush: () => new Promise(resolve => (gone || stream.destroyed ? resolve() : stream.write('', () => resolve()))),
	};
}

function isAlive(pid: number): boolean {
	try {
		process.kill(pid, 0);
		return true;
	} catch (error) {
		return (error as NodeJS.ErrnoException).code === 'EPERM';
	}
}
