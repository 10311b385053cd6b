/**
 * The secrets benchmark: fresh Diffie-Hellman parameters from makeDhParams (lib/crypto/dhparam.ts,
 * one generator per core racing in worker threads) against `openssl dhparam -out FILE BITS`, one
 * process on one core. Both give a PEM of a fresh safe prime with generator 2 (openssl's default),
 * so the work is the same.
 *
 *   1024 bits: at least 20 runs of each, interleaved round-robin, medians (goal <= 0.6x)
 *   2048 bits: one run of each, in a breakdown table (one sample says little: see its notes)
 *
 * How our side is timed: every sample is its own child process, bench/lib/dh-child.ts, which calls
 * makeDhParams once and writes the PEM. A separate process per run starts each sample cold, like
 * openssl's (fresh worker threads, no JIT warmed by the previous runs, no losing workers of the
 * previous run still winding down on a core: terminate() is asynchronous), and lets the harness
 * interleave it with openssl. The compared figure, though, is the time the child measures around
 * the call and the write: nub calls makeDhParams from a process that is already running, so Node's
 * and tsx's boot is not part of what a deployment waits for its PEM, while openssl's own start (a
 * few ms) is part of what `openssl dhparam` costs. The child's whole wall time is reported too.
 *
 * Every result is checked (checkDhParams: parses, right size, generator 2, p and (p-1)/2 prime),
 * outside the timed span; a bad one throws, so a broken run is never counted.
 */
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { checkDhParams } from '../lib/crypto/dhparam.ts';
import { formatMs, formatRatio } from './lib/format.ts';
import { childEnv, runOnce, statsOf, timeRoundRobin, type CommandSpec, type Stats } from './lib/timing.ts';
import type { BenchGroup, Breakdown, Comparison, GroupResult } from './lib/types.ts';

/** The issue asks for at least 20 runs of each at 1024 bits, with --quick too. */
const minRuns = 20;
const smallBits = 1024;
const largeBits = 2048;
const pemHeader = '-----BEGIN DH PARAMETERS-----';

/** What bench/lib/dh-child.ts prints. */
interface ChildRun {
	bootMs: number;
	importMs: number;
	generateMs: number;
}

/** A command that writes DH parameters to `out`, checked after each run. */
interface DhCommand {
	spec: CommandSpec;
	out: string;
}

/** Our side: the child script, and the figures it printed, one per run (warm-ups included). */
interface OurCommand extends DhCommand {
	runs: ChildRun[];
}

export const secretsBench: BenchGroup = async context => {
	const { repoRoot, log } = context;
	const repetitions = Math.max(minRuns, context.repetitions);
	const cores = availableParallelism();
	const dir = context.tempDir();
	const openssl = findOpenssl();
	if (!openssl.ok) log(`WARNING: ${openssl.problem}; the comparison against openssl is skipped, makeDhParams is still measured.`);

	const oursCommand = (bits: number): OurCommand => {
		const out = join(dir, `nub-${bits}.pem`);
		const runs: ChildRun[] = [];
		const spec: CommandSpec = {
			label: `makeDhParams ${bits}`,
			command: process.execPath,
			args: [`--import=${join(repoRoot, 'scripts', 'safe-tsx.mjs')}`, join(repoRoot, 'bench', 'lib', 'dh-child.ts'), String(bits), out],
			cwd: repoRoot,
			before: () => rmSync(out, { force: true }),
			check: result => {
				const run = parseChildRun(result);
				if (typeof run === 'string') return run;
				runs.push(run);
				return checkPemFile(out, bits);
			},
		};
		return { spec, out, runs };
	};
	const opensslCommand = (bits: number): DhCommand => {
		const out = join(dir, `openssl-${bits}.pem`);
		const spec: CommandSpec = {
			label: `openssl dhparam ${bits}`,
			command: 'openssl',
			args: ['dhparam', '-out', out, String(bits)],
			before: () => rmSync(out, { force: true }),
			check: () => checkPemFile(out, bits),
		};
		return { spec, out };
	};

	// --- 1024 bits: round-robin -----------------------------------------------------------------
	const ours = oursCommand(smallBits);
	const theirs = opensslCommand(smallBits);
	// One warm-up each: the page cache, tsx's transform cache and openssl's libraries.
	const warmups = 1;
	const onSample = (label: string, ms: number, round: number) => {
		// check() has just recorded this run's own figure: show it next to the child's wall time.
		const inner = label === ours.spec.label ? ` (in the call: ${formatMs(ours.runs[ours.runs.length - 1]!.generateMs)})` : '';
		log(`    ${label} [${round + 1}/${repetitions}] ${formatMs(ms)}${inner}`);
	};
	log(`${smallBits}-bit DH parameters: makeDhParams (${cores} workers) vs openssl dhparam, ${repetitions} runs each, interleaved`);
	let opensslStats: Stats | undefined;
	let childWallStats: Stats;
	if (openssl.ok) {
		[opensslStats, childWallStats] = timeRoundRobin([theirs.spec, ours.spec], { repetitions, warmups, onSample });
	} else {
		[childWallStats] = timeRoundRobin([ours.spec], { repetitions, warmups, onSample });
	}
	if (ours.runs.length !== warmups + repetitions) throw new Error(`dh-child reported ${ours.runs.length} runs, expected ${warmups + repetitions}`);
	const timedRuns = ours.runs.slice(warmups);
	const generateStats = statsOf(timedRuns.map(run => run.generateMs));
	const bootStats = statsOf(timedRuns.map(run => run.bootMs));
	const importStats = statsOf(timedRuns.map(run => run.importMs));

	// --- 2048 bits: one run of each ----------------------------------------------------------------
	log(`${largeBits}-bit DH parameters: one run of each (each can take from a few to tens of seconds)`);
	const oursLarge = oursCommand(largeBits);
	const largeOurs = runOnce(oursLarge.spec);
	const largeOursRun = oursLarge.runs[0]!;
	log(`    ${oursLarge.spec.label} ${formatMs(largeOurs.ms)} (in the call: ${formatMs(largeOursRun.generateMs)})`);
	let largeOpensslMs: number | undefined;
	if (openssl.ok) {
		const theirsLarge = opensslCommand(largeBits);
		largeOpensslMs = runOnce(theirsLarge.spec).ms;
		log(`    ${theirsLarge.spec.label} ${formatMs(largeOpensslMs)}`);
	}

	// --- Results -----------------------------------------------------------------------------------
	const oursName = `makeDhParams ${smallBits} (in the call)`;
	const comparisons: Comparison[] = [
		{
			name: `fresh DH parameters, ${smallBits} bits`,
			baseline: opensslStats && { name: `openssl dhparam ${smallBits}`, command: commandLine(theirs.spec), stats: opensslStats },
			subject: { name: oursName, command: `makeDhParams({ bits: ${smallBits} }) + write, timed inside ${commandLine(ours.spec)}`, stats: generateStats },
			goalMax: 0.6,
			skipped: openssl.ok ? undefined : 'no openssl',
		},
	];

	const dash = 'n/a';
	const breakdowns: Breakdown[] = [
		{
			title: `Fresh DH parameters, ${smallBits} bits: the child process of our side (medians of ${repetitions} runs)`,
			columns: ['step', 'median', 'min', 'max'],
			rows: [
				['Node + tsx boot, dh-child.ts loaded', ...spread(bootStats)],
				['import lib/crypto/dhparam.ts', ...spread(importStats)],
				['makeDhParams + write the PEM (compared)', ...spread(generateStats)],
				['whole child process (wall)', ...spread(childWallStats)],
				['openssl dhparam, whole process (wall)', ...(opensslStats ? spread(opensslStats) : [dash, dash, dash])],
			],
			notes: [
				`makeDhParams races ${cores} worker threads (os.availableParallelism()); openssl dhparam searches on one core.`,
				...(opensslStats
					? [`Counting our whole child process (boot and import, which a running nub has already paid) the ratio would be ${formatRatio(childWallStats.median / opensslStats.median)}.`]
					: []),
				'A safe-prime search takes a random time (the first hit in a random walk): expect a wide min..max on both sides.',
			],
		},
		{
			title: `Fresh DH parameters, ${largeBits} bits: one run of each`,
			columns: ['command', 'time', `ratio to openssl`],
			rows: [
				[`openssl dhparam ${largeBits}`, largeOpensslMs === undefined ? dash : formatMs(largeOpensslMs), largeOpensslMs === undefined ? dash : '1.00x'],
				[`makeDhParams ${largeBits} (in the call)`, formatMs(largeOursRun.generateMs), largeOpensslMs === undefined ? dash : formatRatio(largeOursRun.generateMs / largeOpensslMs)],
				[`makeDhParams ${largeBits}, whole child process`, formatMs(largeOurs.ms), largeOpensslMs === undefined ? dash : formatRatio(largeOurs.ms / largeOpensslMs)],
			],
			notes: [
				'Single samples: at this size one search can take several times another, so this ratio is indicative only.',
				`openssl: ${openssl.ok ? openssl.version : openssl.problem}; node ${process.version}; ${cores} cores`,
			],
		},
	];

	const result: GroupResult = {
		group: 'secrets',
		comparisons,
		breakdowns,
		raw: {
			repetitions,
			warmups,
			cores,
			openssl: openssl.ok ? openssl.version : null,
			node: process.version,
			[smallBits]: {
				openssl: opensslStats ? { command: commandLine(theirs.spec), ...opensslStats } : null,
				makeDhParams: { command: commandLine(ours.spec), ...generateStats },
				childWall: childWallStats,
				childRuns: timedRuns,
			},
			[largeBits]: {
				opensslMs: largeOpensslMs ?? null,
				makeDhParams: { command: commandLine(oursLarge.spec), wallMs: largeOurs.ms, ...largeOursRun },
			},
		},
	};
	return result;
};

function findOpenssl(): { ok: true; version: string } | { ok: false; problem: string } {
	const result = spawnSync('openssl', ['version'], { encoding: 'utf8', env: childEnv() });
	if (result.error || result.status !== 0) {
		return { ok: false, problem: `openssl not found (\`openssl version\` failed: ${result.error?.message ?? `exit ${result.status}`}); install it, e.g. apt-get install openssl` };
	}
	return { ok: true, version: result.stdout.trim() };
}

/** The last stdout line of bench/lib/dh-child.ts, or a problem. */
function parseChildRun(result: SpawnSyncReturns<string>): ChildRun | string {
	const last = result.stdout.trimEnd().split('\n').pop() ?? '';
	try {
		const run = JSON.parse(last) as Partial<ChildRun>;
		const fields = [run.bootMs, run.importMs, run.generateMs];
		if (fields.every(value => typeof value === 'number' && Number.isFinite(value) && value >= 0)) return run as ChildRun;
	} catch {
		// reported below
	}
	return `dh-child printed no figures: "${last}"`;
}

/**
 * Checks the PEM a command wrote: a `DH PARAMETERS` block of safe-prime parameters, `bits` bits,
 * generator 2. Returns a problem, or undefined when it is fine.
 */
function checkPemFile(file: string, bits: number): string | undefined {
	if (!existsSync(file)) return `wrote no ${file}`;
	const pem = readFileSync(file, 'utf8');
	if (!pem.startsWith(pemHeader)) return `${file} does not start with ${pemHeader}`;
	try {
		const params = checkDhParams(pem);
		if (params.bits !== bits) return `${file} holds a ${params.bits}-bit prime, expected ${bits}`;
		if (params.generator !== 2n) return `${file} has generator ${params.generator}, expected 2`;
	} catch (error) {
		return `${file} is not valid DH parameters: ${(error as Error).message}`;
	}
	return undefined;
}

function spread(stats: Stats): string[] {
	return [formatMs(stats.median), formatMs(stats.min), formatMs(stats.max)];
}

function commandLine(spec: CommandSpec): string {
	return [spec.command === process.execPath ? 'node' : spec.command, ...spec.args].join(' ');
}
