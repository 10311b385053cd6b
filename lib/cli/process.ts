import { availableParallelism, hostname } from 'node:os';
import { exitCodes, main } from './main.ts';

/**
 * The real edge: argv, environment, streams, signals and the exit code; `api` is the module that
 * Nubfiles get for `import ... from 'nub'` (the bundled `lib/index.ts` beside this CLI). Everything else in the
 * CLI takes these through `CliIo`, so tests can run it in-process with fakes.
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
	const code = await main({
		argv: process.argv.slice(2),
		cwd: process.cwd(),
		env: process.env,
		stdout: process.stdout,
		stderr: process.stderr,
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
	// Nothing is left to do once the output is written. Exit then rather than when the event loop
	// empties: by then V8 has often begun a full garbage collection of everything the run read
	// (10-20 ms for 10,000 tasks), which Node lets finish first.
	process.stderr.write('', () => process.stdout.write('', () => process.exit()));
}

function isAlive(pid: number): boolean {
	try {
		process.kill(pid, 0);
		return true;
	} catch (error) {
		return (error as NodeJS.ErrnoException).code === 'EPERM';
	}
}
