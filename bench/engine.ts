/**
 * The engine benchmark: nub against GNU make on the same random DAG of trivial tasks.
 *
 *   a. cached no-op, 10,000 tasks: `nub run all` vs `make all`, both after a full run (goal <= 6x)
 *   b. full run, 10,000 tasks: nub from an empty `.nub/` vs `make -j2` from no stamps (goal <= 0.25x)
 *   c. scaling: the nub no-op at 100,000 tasks vs at 10,000 (goal <= 12x, i.e. linear)
 *   d. declared outputs: the 10,000-task no-op where each task declares (and wrote) one output
 *      file, which the no-op checks, vs the same DAG without outputs (goal <= 1.5x)
 *   e. the same no-op with outputs vs make's no-op, which also stats every target (goal <= 6x)
 *
 * plus where the no-op's time goes: separate processes that each do a bit more (Node alone, nub's
 * start with its compiled CLI, `nub list`, the no-op), and the phases of a no-op timed inside one
 * process (bench/lib/noop-phases.ts).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describeDag, randomDag, writeProject } from './lib/dag.ts';
import { formatMs, formatPercent, formatRatio } from './lib/format.ts';
import { childEnv, runOnce, statsOf, timeOnce, timeRoundRobin, type CommandSpec, type Stats } from './lib/timing.ts';
import type { BenchContext, BenchGroup, Breakdown, Comparison, GroupResult, Measurement } from './lib/types.ts';

const seed = 20_251_125;
const smallSize = 10_000;
const largeSize = 100_000;

interface Project {
	size: number;
	dir: string;
	nubfile: string;
	makefile: string;
	dag: ReturnType<typeof describeDag>;
	writeMs: number;
}

export const engineBench: BenchGroup = async context => {
	const { repoRoot, repetitions, log } = context;
	const node = process.execPath;
	const nubBin = join(repoRoot, 'bin', 'nub.js');
	const make = findMake();
	if (!make.ok) log(`WARNING: ${make.problem}; the comparisons against make are skipped, nub is still measured.`);
	const onSample = (label: string, ms: number, round: number) => log(`    ${label} [${round + 1}/${repetitions}] ${formatMs(ms)}`);

	// --- Projects -----------------------------------------------------------------------------
	const small = makeProject(context, smallSize, make.ok);
	const large = makeProject(context, largeSize, false);
	const withOutputs = makeProject(context, smallSize, false, true);

	// --- Commands ------------------------------------------------------------------------------
	const nubRun = (project: Project, fresh: boolean): CommandSpec => ({
		label: `nub run all, ${sizeName(project)} ${fresh ? 'full' : 'no-op'}`,
		command: node,
		args: [nubBin, 'run', 'all', '--file', project.nubfile],
		cwd: repoRoot,
		before: fresh ? () => rmSync(join(project.dir, '.nub'), { recursive: true, force: true }) : undefined,
		check: expectSummary(project.size + 1, fresh ? 'succeeded' : 'cached'),
	});
	const makeRun = (project: Project, fresh: boolean): CommandSpec => ({
		label: `make ${fresh ? '-j2 all, full' : 'all, no-op'}, ${sizeName(project)}`,
		command: 'make',
		args: ['-f', project.makefile, '-C', project.dir, ...(fresh ? ['-j2'] : []), 'all'],
		env: childEnv({ LC_ALL: 'C' }),
		before: fresh
			? () => {
					rmSync(join(project.dir, 'stamps'), { recursive: true, force: true });
					mkdirSync(join(project.dir, 'stamps'));
				}
			: undefined,
		check: fresh ? undefined : result => (result.stdout.includes('Nothing to be done') ? undefined : 'make did work on a no-op'),
	});
	const nubList = (project: Project): CommandSpec => ({
		label: `nub list, ${sizeName(project)}`,
		command: node,
		args: [nubBin, 'list', '--file', project.nubfile],
		cwd: repoRoot,
		check: result => (result.stdout.startsWith('all') ? undefined : 'nub list did not list `all`'),
	});
	const nodeBare: CommandSpec = { label: 'node -e 0', command: node, args: ['-e', '0'], cwd: repoRoot };
	const nubVersion: CommandSpec = {
		label: 'nub --version',
		command: node,
		args: [nubBin, '--version'],
		cwd: repoRoot,
		check: result => (/^\d+\.\d+\.\d+/.test(result.stdout) ? undefined : 'nub --version printed no version'),
	};

	// --- b. Full runs, 10k (first, so they also leave both states complete) --------------------
	log(`full runs, ${sizeName(small)}: nub (empty .nub/) vs make -j2 (no stamps), ${repetitions} runs each, interleaved`);
	const nubFull = nubRun(small, true);
	let makeFullStats: Stats | undefined;
	let nubFullStats: Stats;
	if (make.ok) {
		// make's full run is slow and has no cache to warm: no warm-up run for it.
		[makeFullStats, nubFullStats] = timeRoundRobin([{ ...makeRun(small, true), warmups: 0 }, nubFull], { repetitions, warmups: 1, onSample });
		const question = spawnSync('make', ['-q', '-f', small.makefile, '-C', small.dir, 'all'], { env: childEnv({ LC_ALL: 'C' }) });
		if (question.status !== 0) throw new Error(`make -q says the stamps are not up to date after a full make (exit ${question.status})`);
		const stamps = readdirSync(join(small.dir, 'stamps')).length;
		if (stamps !== small.size) throw new Error(`a full make left ${stamps} stamps, expected ${small.size}`);
	} else {
		[nubFullStats] = timeRoundRobin([nubFull], { repetitions, warmups: 1, onSample });
	}

	// The 100k project needs one full run before its no-op can be timed: time that one run too.
	log(`full run, ${sizeName(large)} (once, to fill its state)`);
	const largeFull = runOnce(nubRun(large, true));
	log(`    ${formatMs(largeFull.ms)}`);

	log(`full run, ${sizeName(withOutputs)} with one output file per task (once, to fill its state and out/)`);
	const outputsFull = runOnce(nubRun(withOutputs, true));
	log(`    ${formatMs(outputsFull.ms)}`);
	const outputFiles = readdirSync(join(withOutputs.dir, 'out')).length;
	if (outputFiles !== withOutputs.size) throw new Error(`the full run with outputs left ${outputFiles} files in out/, expected ${withOutputs.size}`);

	// --- a, c, d, e and the breakdown: every no-op-like command in one round-robin --------------------
	const specs = {
		nodeBare,
		nubVersion,
		listSmall: nubList(small),
		noopSmall: nubRun(small, false),
		listLarge: nubList(large),
		noopLarge: nubRun(large, false),
		noopOutputs: { ...nubRun(withOutputs, false), label: `nub run all, ${sizeName(withOutputs)} no-op, one output file per task` },
		...(make.ok ? { makeNoop: makeRun(small, false) } : {}),
	};
	const names = Object.keys(specs) as Array<keyof typeof specs>;
	log(`no-op and startup commands, ${repetitions} rounds of ${names.length} commands, round-robin`);
	const measured = timeRoundRobin(
		names.map(name => specs[name]!),
		{ repetitions, warmups: 1, onSample },
	);
	const stats = Object.fromEntries(names.map((name, i) => [name, measured[i]!])) as Record<keyof typeof specs, Stats>;
	const measurement = (name: keyof typeof specs, shown?: string): Measurement => ({
		name: shown ?? specs[name]!.label,
		command: commandLine(specs[name]!),
		stats: stats[name]!,
	});

	// --- In-process phases --------------------------------------------------------------------
	log(`in-process phases of the no-op (bench/lib/noop-phases.ts), ${repetitions} runs per size`);
	const phasesSmall = measurePhases(context, small, repetitions);
	const phasesLarge = measurePhases(context, large, repetitions);

	// --- Results -------------------------------------------------------------------------------
	const skipped = make.ok ? undefined : 'no GNU make';
	const comparisons: Comparison[] = [
		{
			name: `a. cached no-op, ${sizeName(small)} tasks`,
			baseline: make.ok ? measurement('makeNoop', 'make all (no-op)') : undefined,
			subject: measurement('noopSmall', 'nub run all (no-op)'),
			goalMax: 6,
			skipped,
		},
		{
			name: `b. full run, ${sizeName(small)} tasks`,
			baseline: makeFullStats && { name: 'make -j2 all (full)', command: commandLine(makeRun(small, true)), stats: makeFullStats },
			subject: { name: 'nub run all (full)', command: commandLine(nubFull), stats: nubFullStats },
			goalMax: 0.25,
			skipped,
		},
		{
			name: `c. no-op scaling, ${sizeName(large)} vs ${sizeName(small)}`,
			baseline: measurement('noopSmall', `nub no-op, ${sizeName(small)}`),
			subject: measurement('noopLarge', `nub no-op, ${sizeName(large)}`),
			goalMax: 12,
		},
		{
			name: `d. cached no-op with one declared output per task, ${sizeName(withOutputs)}`,
			baseline: measurement('noopSmall', 'nub run all (no-op, no outputs)'),
			subject: measurement('noopOutputs', 'nub run all (no-op, 10k output files checked)'),
			goalMax: 1.5,
		},
		{
			name: `e. cached no-op with outputs vs make, ${sizeName(withOutputs)} tasks`,
			baseline: make.ok ? measurement('makeNoop', 'make all (no-op, stats 10k stamps)') : undefined,
			subject: measurement('noopOutputs', 'nub run all (no-op, 10k output files checked)'),
			goalMax: 6,
			skipped,
		},
	];

	const breakdowns: Breakdown[] = [startupBreakdown(stats, small, large, make.ok ? stats.makeNoop : undefined)];
	breakdowns.push(phaseBreakdown(phasesSmall, phasesLarge, small, large));
	breakdowns.push({
		title: 'Setup and single runs',
		columns: ['item', sizeName(small), sizeName(large)],
		rows: [
			['tasks / edges / sinks', `${small.dag.tasks} / ${small.dag.edges} / ${small.dag.sinks}`, `${large.dag.tasks} / ${large.dag.edges} / ${large.dag.sinks}`],
			['longest chain (tasks)', String(small.dag.longestChain), String(large.dag.longestChain)],
			['write project (dag.json, Nubfile, Makefile)', formatMs(small.writeMs), formatMs(large.writeMs)],
			['nub full run (median / single run)', formatMs(nubFullStats.median), formatMs(largeFull.ms)],
			['nub full run, one output file per task (single run)', formatMs(outputsFull.ms), 'n/a'],
			['.nub/state.jsonl size', formatBytes(stateSize(small)), formatBytes(stateSize(large))],
		],
		notes: [`seed ${seed}; make: ${make.ok ? make.version : make.problem}; node ${process.version}`],
	});

	const result: GroupResult = {
		group: 'engine',
		comparisons,
		breakdowns,
		raw: {
			seed,
			repetitions,
			make: make.ok ? make.version : null,
			node: process.version,
			projects: Object.fromEntries([small, large].map(p => [p.size, { ...p.dag, writeMs: p.writeMs, stateBytes: stateSize(p) }])),
			measurements: Object.fromEntries(names.map(name => [name, { command: commandLine(specs[name]!), ...stats[name]! }])),
			fullRuns: {
				nubSmall: { command: commandLine(nubFull), ...nubFullStats },
				makeSmall: makeFullStats ? { command: commandLine(makeRun(small, true)), ...makeFullStats } : null,
				nubLargeSingleMs: largeFull.ms,
				nubOutputsSingleMs: outputsFull.ms,
			},
			phases: { [small.size]: phasesSmall, [large.size]: phasesLarge },
		},
	};
	return result;
};

function makeProject(context: BenchContext, size: number, withMakefile: boolean, outputs = false): Project {
	const dir = context.tempDir();
	const dag = randomDag(size, seed);
	const { ms, value } = timeOnce(() => writeProject(dir, { dag, repoRoot: context.repoRoot, makefile: withMakefile, outputs }));
	const project = { size, dir, ...value, dag: describeDag(dag), writeMs: ms };
	context.log(`project ${sizeName(project)}: ${dir} (${project.dag.edges} edges, ${project.dag.sinks} sinks, written in ${formatMs(ms)})`);
	return project;
}

function findMake(): { ok: true; version: string } | { ok: false; problem: string } {
	const result = spawnSync('make', ['--version'], { encoding: 'utf8', env: childEnv({ LC_ALL: 'C' }) });
	if (result.error || result.status !== 0) {
		return { ok: false, problem: `GNU make not found (\`make --version\` failed: ${result.error?.message ?? `exit ${result.status}`}); install it, e.g. apt-get install make` };
	}
	const version = result.stdout.split('\n')[0]!.trim();
	if (!version.startsWith('GNU Make')) return { ok: false, problem: `\`make\` is not GNU make (${version})` };
	return { ok: true, version };
}

/** Checks the plain reporter's last line: `10001 cached in 190 ms` (and nothing else counted). */
function expectSummary(count: number, outcome: 'succeeded' | 'cached') {
	return (result: { stdout: string }) => {
		const last = result.stdout.trimEnd().split('\n').pop() ?? '';
		const pattern = new RegExp(`^${count} ${outcome} in \\d`);
		return pattern.test(last) ? undefined : `expected the summary "${count} ${outcome} in ...", got "${last}"`;
	};
}

interface PhaseRun {
	bootMs: number;
	phases: Record<string, number>;
	tasks: number;
}

interface Phases {
	/** Median per phase, in the scripts's order, with `boot` first; undefined when the script failed. */
	medians?: Array<[string, Stats]>;
	error?: string;
}

/** Runs bench/lib/noop-phases.ts `repetitions` times (plus a warm-up) and takes medians per phase. */
function measurePhases(context: BenchContext, project: Project, repetitions: number): Phases {
	const spec: CommandSpec = {
		label: `noop-phases, ${sizeName(project)}`,
		command: process.execPath,
		args: [`--import=${join(context.repoRoot, 'scripts', 'safe-tsx.mjs')}`, join(context.repoRoot, 'bench', 'lib', 'noop-phases.ts'), project.nubfile],
		cwd: context.repoRoot,
	};
	try {
		runOnce(spec);
		const runs: PhaseRun[] = [];
		for (let i = 0; i < repetitions; i++) {
			const { result } = runOnce(spec);
			runs.push(JSON.parse(result.stdout.trim().split('\n').pop()!) as PhaseRun);
		}
		const names = ['Node + tsx boot, script loaded', ...Object.keys(runs[0]!.phases)];
		const valueOf = (run: PhaseRun, name: string) => (name === names[0] ? run.bootMs : run.phases[name]!);
		return { medians: names.map(name => [name, statsOf(runs.map(run => valueOf(run, name)))]) };
	} catch (error) {
		const message = (error as Error).message.split('\n')[0]!;
		context.log(`    in-process phases unavailable for ${sizeName(project)}: ${message}`);
		return { error: message };
	}
}

function startupBreakdown(stats: Record<string, Stats>, small: Project, large: Project, makeNoop: Stats | undefined): Breakdown {
	const steps: Array<[string, string, string]> = [
		['Node alone', 'node -e 0', 'nodeBare'],
		['+ dist check, CLI modules', 'nub --version', 'nubVersion'],
		['+ load Nubfile, build graph', 'nub list --file ...', 'list'],
		['+ read the state, decide, report (all cached)', 'nub run all --file ...', 'noop'],
	];
	const column = (suffix: 'Small' | 'Large') => {
		const total = stats[`noop${suffix}`]!.median;
		let previous = 0;
		return steps.map(([, , key]) => {
			const value = stats[key === 'list' || key === 'noop' ? `${key}${suffix}` : key]!.median;
			const delta = value - previous;
			previous = value;
			return [formatMs(value), `${delta >= 0 ? '+' : ''}${formatMs(delta)}`, formatPercent(delta, total)];
		});
	};
	const smallColumn = column('Small');
	const largeColumn = column('Large');
	return {
		title: 'Where the cached no-op goes (separate processes, each doing a bit more; medians)',
		columns: ['step', 'command', `${sizeName(small)} median`, 'added', 'share', `${sizeName(large)} median`, 'added', 'share'],
		rows: steps.map(([step, command], i) => [step, command, ...smallColumn[i]!, ...largeColumn[i]!]),
		notes: [
			'"added" is the step minus the one above; "share" is that part of the no-op\'s median.',
			...(makeNoop ? [`For scale: make's whole no-op at ${sizeName(small)} takes ${formatMs(makeNoop.median)}; Node alone is ${formatRatio(stats.nodeBare!.median / makeNoop.median)} of it.`] : []),
		],
	};
}

function phaseBreakdown(phasesSmall: Phases, phasesLarge: Phases, small: Project, large: Project): Breakdown {
	const title = 'In-process phases of the cached no-op (bench/lib/noop-phases.ts; medians; no lock, no output)';
	if (!phasesSmall.medians || !phasesLarge.medians) {
		return { title, columns: ['phase'], rows: [], notes: [`unavailable: ${phasesSmall.error ?? phasesLarge.error}`] };
	}
	const largeByName = new Map(phasesLarge.medians);
	let sumSmall = 0;
	let sumLarge = 0;
	const rows = phasesSmall.medians.map(([name, stats]) => {
		const other = largeByName.get(name);
		sumSmall += stats.median;
		sumLarge += other?.median ?? 0;
		return [name, formatMs(stats.median), other ? formatMs(other.median) : 'n/a', other ? formatRatio(other.median / stats.median) : 'n/a'];
	});
	rows.push(['sum of medians', formatMs(sumSmall), formatMs(sumLarge), formatRatio(sumLarge / sumSmall)]);
	return {
		title,
		columns: ['phase', sizeName(small), sizeName(large), `${sizeName(large)}/${sizeName(small)}`],
		rows,
		notes: [
			'This script runs the engine from source through tsx: its boot figure (performance.now() at its first line) is Node plus tsx,',
			'which nub itself no longer pays (see the table above); the other phases are the same code as the compiled CLI runs.',
		],
	};
}

function sizeName(project: { size: number }): string {
	return project.size % 1000 === 0 ? `${project.size / 1000}k` : String(project.size);
}

function commandLine(spec: CommandSpec): string {
	return [spec.command === process.execPath ? 'node' : spec.command, ...spec.args].join(' ');
}

function stateSize(project: Project): number {
	const file = join(project.dir, '.nub', 'state.jsonl');
	return existsSync(file) ? statSync(file).size : 0;
}

function formatBytes(bytes: number): string {
	if (bytes >= 1024 * 1024) return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
	if (bytes >= 1024) return `${(bytes / 1024).toFixed(0)} kB`;
	return `${bytes} B`;
}
