/**
 * Timing a command without blocking this process: for a benchmark whose counterpart runs in the
 * bench itself (the sandbox Kubernetes API server of bench/nublado.ts), which spawnSync would
 * starve. Otherwise like runOnce of ./timing.ts, plus the arrival time of every
 * stdout line (for `--json` event streams).
 */
import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { childEnv } from './timing.ts';

/** One command to run asynchronously. */
export interface AsyncCommandSpec {
	/** Shown in progress lines and errors. */
	label: string;
	command: string;
	args: readonly string[];
	cwd?: string;
	env?: NodeJS.ProcessEnv;
	/** Returns a problem with a finished run (wrong output, say), or undefined when it is fine. */
	check?: (run: AsyncRun) => string | undefined;
}

/** A stdout line and when it arrived, in ms after the spawn. */
export interface TimedLine {
	atMs: number;
	text: string;
}

/** A finished run. */
export interface AsyncRun {
	/** Wall time from the spawn to the `close` event (exit and both pipes drained). */
	ms: number;
	code: number | null;
	signal: NodeJS.Signals | null;
	stdout: string;
	stderr: string;
	/** Every stdout line (a final unterminated one included), with its arrival time. */
	lines: TimedLine[];
}

/**
 * Runs `spec` once with stdout and stderr on pipes, letting this process's event loop run
 * meanwhile, and resolves when the child has closed. Rejects when the command cannot start, exits
 * non-zero or fails `check`.
 */
export async function runAsync(spec: AsyncCommandSpec): Promise<AsyncRun> {
	const started = performance.now();
	const child = spawn(spec.command, [...spec.args], { cwd: spec.cwd, env: spec.env ?? childEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
	const lines: TimedLine[] = [];
	const stdoutChunks: string[] = [];
	const stderrChunks: string[] = [];
	let partial = '';
	child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
		const atMs = performance.now() - started;
		stdoutChunks.push(chunk);
		const parts = (partial + chunk).split('\n');
		partial = parts.pop()!;
		for (const text of parts) lines.push({ atMs, text });
	});
	child.stderr.setEncoding('utf8').on('data', (chunk: string) => stderrChunks.push(chunk));
	const { code, signal } = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
		child.once('error', error => reject(new Error(`${spec.label}: cannot run ${spec.command}: ${error.message}`)));
		child.once('close', (code, signal) => resolve({ code, signal }));
	});
	const ms = performance.now() - started;
	if (partial !== '') lines.push({ atMs: ms, text: partial });
	const run: AsyncRun = { ms, code, signal, stdout: stdoutChunks.join(''), stderr: stderrChunks.join(''), lines };
	if (code !== 0) {
		const why = signal ? `was killed by ${signal}` : `exited with ${code}`;
		throw new Error(`${spec.label}: \`${[spec.command, ...spec.args].join(' ')}\` ${why}\n${tail(run.stderr || run.stdout)}`);
	}
	const problem = spec.check?.(run);
	if (problem) throw new Error(`${spec.label}: ${problem}\n${tail(run.stdout)}`);
	return run;
}

function tail(text: string, lines = 15): string {
	const all = text.trimEnd().split('\n');
	return all.slice(-lines).join('\n');
}
