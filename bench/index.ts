/**
 * nub's benchmarks: `npm run bench` (all groups) or `node --import=./scripts/safe-tsx.mjs bench/index.ts GROUP...`.
 *
 * Benchmarks print figures and ratios against a baseline measured in the same run; they never
 * fail on a goal, only on a broken measurement (a command that exits non-zero or does the wrong
 * work). To add a group, write `bench/NAME.ts` exporting a `BenchGroup` (see bench/lib/types.ts)
 * and list it in `groups` below.
 *
 * Options:
 *   --quick         3 runs per measurement instead of 5 (or NUB_BENCH_QUICK=1); the secrets group
 *                   always takes at least 20
 *   --runs N        N runs per measurement (or NUB_BENCH_RUNS=N)
 *   --keep          keep the temporary projects (their paths are printed)
 *   --json          also print the raw figures as JSON at the end of stdout
 *
 * Groups: engine (nub against make on a random DAG), secrets (DH parameters against openssl),
 * nublado (the repository's deployment against the sandbox API server: wall vs critical path),
 * kube (the deployment on a real control plane against kubectl the manual's way; needs
 * `npm run cluster -- build` first).
 *
 * Progress goes to stderr, the report to stdout; the raw figures are always written to
 * $TMPDIR/nub-bench-results-TIMESTAMP.json.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { engineBench } from './engine.ts';
import { kubeBench } from './kube.ts';
import { breakdownText, comparisonTable, formatMs, spreadTable } from './lib/format.ts';
import { ratioOf, type BenchContext, type BenchGroup, type GroupResult } from './lib/types.ts';
import { nubladoBench } from './nublado.ts';
import { secretsBench } from './secrets.ts';

const groups: Record<string, BenchGroup> = {
	engine: engineBench,
	secrets: secretsBench,
	nublado: nubladoBench,
	kube: kubeBench,
};

const repoRoot = dirname(dirname(fileURLToPath(import.meta.url)));

function parseOptions() {
	const { values, positionals } = parseArgs({
		allowPositionals: true,
		options: {
			quick: { type: 'boolean' },
			runs: { type: 'string' },
			keep: { type: 'boolean' },
			json: { type: 'boolean' },
			help: { type: 'boolean', short: 'h' },
		},
	});
	if (values.help) {
		process.stdout.write(`usage: node --import=./scripts/safe-tsx.mjs bench/index.ts [GROUP...] [--quick] [--runs N] [--keep] [--json]\ngroups: ${Object.keys(groups).join(', ')}\n`);
		process.exit(0);
	}
	const quick = values.quick === true || isTrue(process.env.NUB_BENCH_QUICK);
	const runsText = values.runs ?? process.env.NUB_BENCH_RUNS;
	const runs = runsText === undefined ? (quick ? 3 : 5) : Number(runsText);
	if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs must be a whole number of at least 1, got "${runsText}"`);
	const unknown = positionals.filter(name => !(name in groups));
	if (unknown.length > 0) throw new Error(`unknown benchmark group ${unknown.map(n => `"${n}"`).join(', ')}; known: ${Object.keys(groups).join(', ')}`);
	const selected = positionals.length > 0 ? [...new Set(positionals)] : Object.keys(groups);
	return { quick, runs, keep: values.keep === true, json: values.json === true, selected };
}

function isTrue(value: string | undefined) {
	return value !== undefined && value !== '' && value !== '0' && value.toLowerCase() !== 'false';
}

async function mainBench() {
	const options = parseOptions();
	const tempDirs: string[] = [];
	const cleanup = () => {
		if (options.keep) {
			for (const dir of tempDirs) process.stderr.write(`kept ${dir}\n`);
			return;
		}
		for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
	};
	// Ctrl-C reaches the child being timed too; once spawnSync returns, clean up and leave.
	const onSignal = (signal: NodeJS.Signals) => {
		process.stderr.write(`\nbench: ${signal}; removing the temporary projects\n`);
		cleanup();
		process.exit(130);
	};
	process.on('SIGINT', onSignal);
	process.on('SIGTERM', onSignal);

	const started = performance.now();
	const startedAt = new Date();
	const loadBefore = loadavg()[0]!;
	const context: BenchContext = {
		repetitions: options.runs,
		quick: options.quick,
		repoRoot,
		tempDir() {
			const dir = mkdtempSync(join(tmpdir(), 'nub-bench-'));
			tempDirs.push(dir);
			return dir;
		},
		log: line => process.stderr.write(`${line}\n`),
	};
	context.log(`nub bench: ${options.selected.join(', ')}; ${options.runs} runs per measurement${options.quick ? ' (quick)' : ''}`);

	const results: GroupResult[] = [];
	try {
		for (const name of options.selected) {
			context.log(`== ${name}`);
			const groupStarted = performance.now();
			const result = await groups[name]!(context);
			context.log(`== ${name} done in ${formatMs(performance.now() - groupStarted)}`);
			results.push(result);
		}
	} finally {
		cleanup();
	}
	const totalMs = performance.now() - started;
	const loadAfter = loadavg()[0]!;

	const out: string[] = [
		`nub bench, ${startedAt.toISOString()}: ${options.runs} runs per measurement; node ${process.version}; 1-minute load average ${loadBefore.toFixed(2)} before, ${loadAfter.toFixed(2)} after`,
	];
	for (const result of results) {
		out.push('', `## ${result.group}`, '', comparisonTable(result.comparisons), '', spreadTable(result.comparisons));
		for (const breakdown of result.breakdowns) out.push('', breakdownText(breakdown));
	}
	const record = {
		startedAt: startedAt.toISOString(),
		totalMs,
		runs: options.runs,
		quick: options.quick,
		loadAverage: { before: loadBefore, after: loadAfter },
		node: process.version,
		groups: results.map(result => ({
			group: result.group,
			comparisons: result.comparisons.map(c => ({ ...c, ratio: ratioOf(c) ?? null, met: ratioOf(c) === undefined ? null : ratioOf(c)! <= c.goalMax })),
			raw: result.raw,
		})),
	};
	const recordFile = join(tmpdir(), `nub-bench-results-${startedAt.toISOString().replace(/[:.]/g, '-')}.json`);
	writeFileSync(recordFile, `${JSON.stringify(record, null, 2)}\n`);
	out.push('', `whole bench: ${formatMs(totalMs)}; raw figures: ${recordFile}`);
	if (options.json) out.push('', JSON.stringify(record));
	process.stdout.write(`${out.join('\n')}\n`);
}

try {
	await mainBench();
} catch (error) {
	process.stderr.write(`bench: ${error instanceof Error ? error.message : String(error)}\n`);
	process.exitCode = 1;
}
