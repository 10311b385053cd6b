import { fstatSync, writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism, hostname } from 'node:os';
import type { Output } from '../reporters/reporter.ts';
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
	// A terminal gets the stream (listr2 draws on it); anything else the file descriptor.
	const isTTY = isTerminal(1);
	const stdout = isTTY ? { output: process.stdout, flush: flushStream(() => process.stdout) } : descriptorOutput(1, () => process.stdout);
	const stderr = descriptorOutput(2, () => process.stderr);
	const code = await main({
		argv: process.argv.slice(2),
		cwd: process.cwd(),
		env: process.env,
		stdout: stdout.output,
		stderr: stderr.output,
		isTTY,
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
	await stderr.flush();
	await stdout.flush();
	process.exit();
}

/**
 * Output written straight to a file descriptor. Node's `process.stdout` for a pipe is a socket
 * stream whose modules take a start about 7 ms to load, which a cached no-op that prints one line
 * need not pay. What is written in one turn of the event loop goes out in one write at its end
 * (10,000 `--json` lines are not 10,000 system calls), or at once past 64 KiB, and whatever is
 * left when the process exits. Should the descriptor refuse to block (EAGAIN, a non-blocking pipe
 * that is full), the rest goes through the stream. A reader gone (EPIPE) gets nothing more.
 */
function descriptorOutput(fd: number, stream: () => NodeJS.WriteStream): { output: Output; flush: () => Promise<void> } {
	let fallback: NodeJS.WriteStream | undefined;
	let closed = false;
	let pending: string[] = [];
	let pendingLength = 0;
	let scheduled = false;
	const send = () => {
		scheduled = false;
		if (pending.length === 0) return;
		let bytes = Buffer.from(pending.join(''));
		pending = [];
		pendingLength = 0;
		if (closed) return;
		if (fallback) {
			fallback.write(bytes);
			return;
		}
		while (bytes.length > 0) {
			try {
				bytes = bytes.subarray(writeSync(fd, bytes));
			} catch (error) {
				const code = (error as NodeJS.ErrnoException).code;
				if (code === 'EPIPE') {
					closed = true;
					return;
				}
				if (code !== 'EAGAIN') throw error;
				fallback = stream();
				fallback.write(bytes);
				return;
			}
		}
	};
	process.on('exit', send);
	const output: Output = {
		write(text: string) {
			pending.push(text);
			pendingLength += text.length;
			if (pendingLength >= 64 * 1024) send();
			else if (!scheduled) {
				scheduled = true;
				setImmediate(send);
			}
		},
	};
	const flush = async () => {
		send();
		if (fallback) await flushStream(() => fallback!)();
	};
	return { output, flush };
}

/**
 * Whether the descriptor is a terminal. Only a character device can be: a pipe or a file (CI, a
 * log) is told so without loading node:tty, which loads the socket and stream modules with it.
 */
function isTerminal(fd: number): boolean {
	try {
		if (!fstatSync(fd).isCharacterDevice()) return false;
	} catch {
		return false;
	}
	const { isatty } = createRequire(import.meta.url)('node:tty') as typeof import('node:tty');
	return isatty(fd);
}

/** Resolves once what was written to the stream so far has been handed to the system. */
function flushStream(stream: () => NodeJS.WriteStream): () => Promise<void> {
	return () => new Promise(resolve => stream().write('', () => resolve()));
}

function isAlive(pid: number): boolean {
	try {
		process.kill(pid, 0);
		return true;
	} catch (error) {
		return (error as NodeJS.ErrnoException).code === 'EPERM';
	}
}
