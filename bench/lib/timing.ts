import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { performance } from 'node:perf_hooks';

/** Wall times of repeated runs, in milliseconds. */
export interface Stats {
	samples: number[];
	median: number;
	min: number;
	max: number;
}

/** Median, min and max of some samples (the median of an even count is the mean of the middle two). */
export function statsOf(samples: readonly number[]): Stats {
	if (samples.length === 0) throw new Error('statsOf: no samples');
	const sorted = [...samples].sort((a, b) => a - b);
	const middle = Math.floor(sorted.length / 2);
	const median = sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
	return { samples: [...samples], median, min: sorted[0]!, max: sorted[sorted.length - 1]! };
}

/** One command to time. */
export interface CommandSpec {
	/** Shown in progress lines and errors. */
	label: string;
	command: string;
	args: readonly string[];
	cwd?: string;
	env?: NodeJS.ProcessEnv;
	/** Runs before each repetition (and each warm-up), outside the timed span: e.g. remove the state. */
	before?: () => void;
	/** Returns a problem with a finished run (wrong output, say), or undefined when it is fine. */
	check?: (result: SpawnSyncReturns<string>) => string | undefined;
	/** Untimed runs first, overriding `TimeOptions.warmups`. */
	warmups?: number;
}

export interface TimeOptions {
	repetitions: number;
	/** Untimed runs first (default 0): they warm the page cache and tsx's transform cache. */
	warmups?: number;
	/** Called with each sample, for progress output. */
	onSample?: (label: string, ms: number, index: number) => void;
}

/** The environment children get: the caller's, without NODE_OPTIONS (so every run loads the same). */
export function childEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
	const env = { ...process.env, ...extra };
	delete env.NODE_OPTIONS;
	return env;
}

/**
 * Runs `spec` once, synchronously, with stdout and stderr on pipes, and returns the result and
 * the wall time of the spawn. Throws when the command cannot start, exits non-zero or fails
 * `check`.
 */
export function runOnce(spec: CommandSpec): { ms: number; result: SpawnSyncReturns<string> } {
	const started = performance.now();
	const result = spawnSync(spec.command, spec.args, {
		cwd: spec.cwd,
		env: spec.env ?? childEnv(),
		encoding: 'utf8',
		stdio: ['ignore', 'pipe', 'pipe'],
		// A full run prints a line per task: 100,000 tasks is a few MB.
		maxBuffer: 512 * 1024 * 1024,
	});
	const ms = performance.now() - started;
	if (result.error) throw new Error(`${spec.label}: cannot run ${spec.command}: ${result.error.message}`);
	if (result.status !== 0) {
		const why = result.signal ? `was killed by ${result.signal}` : `exited with ${result.status}`;
		throw new Error(`${spec.label}: \`${[spec.command, ...spec.args].join(' ')}\` ${why}\n${tail(result.stderr || result.stdout)}`);
	}
	const problem = spec.check?.(result);
	if (problem) throw new Error(`${spec.label}: ${problem}\n${tail(result.stdout)}`);
	return { ms, result };
}

/** Times `spec` over `repetitions` runs (after `warmups` untimed ones). */
export function timeCommand(spec: CommandSpec, options: TimeOptions): Stats {
	for (let i = 0; i < (spec.warmups ?? options.warmups ?? 0); i++) {
		spec.before?.();
		runOnce(spec);
	}
	const samples: number[] = [];
	for (let i = 0; i < options.repetitions; i++) {
		spec.before?.();
		const { ms } = runOnce(spec);
		samples.push(ms);
		options.onSample?.(spec.label, ms, i);
	}
	return statsOf(samples);
}

/**
 * Times several commands with their runs interleaved round-robin, the starting command rotating
 * each round, so that a change in the machine's load during the bench weighs on all of them
 * alike. Each command gets its `warmups` (or `options.warmups`) untimed runs first.
 */
export function timeRoundRobin(specs: readonly CommandSpec[], options: TimeOptions): Stats[] {
	for (const spec of specs) {
		for (let i = 0; i < (spec.warmups ?? options.warmups ?? 0); i++) {
			spec.before?.();
			runOnce(spec);
		}
	}
	const samples: number[][] = specs.map(() => []);
	for (let round = 0; round < options.repetitions; round++) {
		for (let k = 0; k < specs.length; k++) {
			const which = (round + k) % specs.length;
			const spec = specs[which]!;
			spec.before?.();
			const { ms } = runOnce(spec);
			samples[which]!.push(ms);
			options.onSample?.(spec.label, ms, round);
		}
	}
	return samples.map(statsOf);
}

/** Times a synchronous function once. */
export function timeOnce<T>(fn: () => T): { ms: number; value: T } {
	const started = performance.now();
	const value = fn();
	return { ms: performance.now() - started, value };
}

function tail(text: string, lines = 15): string {
	const all = text.trimEnd().split('\n');
	return all.slice(-lines).join('\n');
}
