/**
 * The nublado benchmark: the repository's own deployment (Nubfile.ts, tasks/, templates/) run by
 * the real `nub` against the embedded sandbox Kubernetes API server, with realistic latencies: 20 ms
 * per request, 2 s for a LoadBalancer's address, 1 s for a rollout.
 *
 *   a. full deployment, from an empty state and an empty cluster: `nub run all --json`, wall time
 *      against the run's critical path, the longest chain of task durations through the graph
 *      (goal <= 1.15x: the engine adds little to what the tasks themselves must wait for)
 *   b. cached no-op after a full run, trusting the cache: `nub run all --no-check`, against a fixed
 *      budget of 500 ms (goal <= 1x)
 *   c. the same no-op with its drift checks (the default: one LIST per kind and namespace), against
 *      a fixed budget of 1 s (goal <= 1x)
 *
 * plus where the full run's wall time goes (start, the run, the end, from the arrival time of each
 * --json line), its API requests, its critical path and its slowest tasks.
 *
 * The sandbox runs in this process (so it can count the requests and be emptied between runs),
 * and `nub` finds it through .nub/sandbox/server.json; the children are therefore spawned
 * asynchronously (bench/lib/spawn.ts): spawnSync would leave the sandbox unable to answer. The
 * critical path uses the graph of the Nubfile imported here, under tsx, and each task's duration
 * as the run's task-end event gives it. The configuration takes the RFC 7919 group for the DH
 * parameters, so no safe-prime search (seconds, at random) muddies the figures.
 */
import { cpSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { buildGraph } from '../lib/engine/graph.ts';
import { isTask } from '../lib/engine/task.ts';
import { resetSandbox, startSandbox, type RequestRecord } from '../lib/sandbox/index.ts';
import { criticalPath, readRunEvents, type CriticalPath, type PathNode, type RunEvents } from './lib/critical-path.ts';
import { formatMs, formatPercent, formatRatio } from './lib/format.ts';
import { runAsync, type AsyncCommandSpec, type AsyncRun } from './lib/spawn.ts';
import { childEnv, statsOf, type Stats } from './lib/timing.ts';
import type { BenchContext, BenchGroup, Breakdown, Comparison, GroupResult } from './lib/types.ts';

const nubladoYaml = `hostname: nublado.bench.test
oauth: { provider: jwt, jwtCertificate: hub/example-signing-certificate.crt }
dhparam: { group: ffdhe2048 }
prepuller: { minute: 10 }
`;
const sandboxOptions = { loadBalancerDelayMs: 2000, rolloutDelayMs: 1000, faults: { latencyMs: 20 } };
/** The cached no-op's budgets: trusting the cache, and checking it against the cluster. */
const noopBudgetMs = 500;
const checkedBudgetMs = 1000;
const topTasks = 5;

/** One timed full deployment, read. */
interface FullRun {
	wallMs: number;
	events: RunEvents;
	path: CriticalPath;
	/** Spawn to the run-start line: Node, the dist check, the Nubfile, preflights, lock, state. */
	startMs: number;
	/** The run-start line to the last task-end line. */
	runMs: number;
	/** Summed over the chain: when the engine took a task up minus the end of the last of its needs (or the run's start). */
	chainGapsMs: number;
	/** The last task-end line to the summary line. */
	endMs: number;
	/** The summary line to the child's close: state and cluster connection closed, process exit. */
	exitMs: number;
	requests: RequestCounts;
}

interface RequestCounts {
	total: number;
	/** GETs of one object or a list (not watches). */
	reads: number;
	watches: number;
	/** Everything but GET, by method. */
	writes: Record<string, number>;
	/** Answered with a status of 400 or more (404s of the reads before a create included). */
	failed: number;
}

export const nubladoBench: BenchGroup = async context => {
	const { repoRoot, repetitions, log } = context;
	const nubBin = join(repoRoot, 'bin', 'nub.js');

	// --- Project, graph, sandbox --------------------------------------------------------------------
	const project = makeNubladoProject(context);
	log(`project: ${project}`);
	const nodes = await loadGraph(project);
	const edges = nodes.reduce((sum, node) => sum + node.needs.length, 0);
	log(`graph of all: ${nodes.length} tasks, ${edges} edges (Nubfile imported in this process)`);
	const sandboxDir = join(project, '.nub', 'sandbox');
	const sandbox = await startSandbox({ dir: sandboxDir, ...sandboxOptions });
	log(`sandbox: ${sandbox.url}, latency ${sandboxOptions.faults.latencyMs} ms per request, load balancer ${sandboxOptions.loadBalancerDelayMs} ms, rollout ${sandboxOptions.rolloutDelayMs} ms`);

	try {
		const env = nubEnv();
		const fullSpec: AsyncCommandSpec = {
			label: 'nub run all --json (full)',
			command: process.execPath,
			args: [nubBin, 'run', 'all', '--json'],
			cwd: project,
			env,
			check: run => checkFullRun(run, nodes),
		};
		const noopSpec: AsyncCommandSpec = {
			label: 'nub run all --no-check (no-op)',
			command: process.execPath,
			args: [nubBin, 'run', 'all', '--no-check'],
			cwd: project,
			env,
			check: run => {
				const last = run.stdout.trimEnd().split('\n').pop() ?? '';
				return new RegExp(`^${nodes.length} cached in \\d`).test(last) ? undefined : `expected the summary "${nodes.length} cached in ...", got "${last}"`;
			},
		};
		const checkedSpec: AsyncCommandSpec = { ...noopSpec, label: 'nub run all (no-op, checked)', args: [nubBin, 'run', 'all'] };
		const reset = async () => {
			// Both the log and its high-water mark: the log alone gone is refused as cut short.
			for (const file of ['state.jsonl', 'state.seq']) rmSync(join(project, '.nub', file), { force: true });
			await resetSandbox(sandboxDir);
		};
		const full = async (): Promise<FullRun> => {
			await reset();
			const first = sandbox.requests.length;
			const run = await runAsync(fullSpec);
			return readFullRun(run, nodes, sandbox.requests.slice(first));
		};

		// One untimed round first: the Nubfile's bundle, the page cache, the sandbox's JIT.
		log(`warm-up: one full deployment and one no-op, untimed`);
		const warm = await full();
		log(`    full ${formatMs(warm.wallMs)} (critical path ${formatMs(warm.path.totalMs)}); no-op ${formatMs((await runAsync(noopSpec)).ms)}`);

		// Rounds of a full deployment then a no-op of what it left, so that a change in the
		// machine's load weighs on both alike.
		log(`${repetitions} rounds: reset (state and cluster emptied), full deployment, cached no-op`);
		const runs: FullRun[] = [];
		const noops: number[] = [];
		const checkedNoops: number[] = [];
		const noopRequests: RequestCounts[] = [];
		const checkedRequests: RequestCounts[] = [];
		for (let round = 0; round < repetitions; round++) {
			const run = await full();
			runs.push(run);
			log(
				`    ${fullSpec.label} [${round + 1}/${repetitions}] ${formatMs(run.wallMs)}; critical path ${formatMs(run.path.totalMs)}, ${formatRatio(run.wallMs / run.path.totalMs)}; ${run.requests.total} requests`,
			);
			const before = sandbox.requests.length;
			const noop = await runAsync(noopSpec);
			noops.push(noop.ms);
			noopRequests.push(countRequests(sandbox.requests.slice(before)));
			log(`    ${noopSpec.label} [${round + 1}/${repetitions}] ${formatMs(noop.ms)}`);
			const beforeChecked = sandbox.requests.length;
			const checked = await runAsync(checkedSpec);
			checkedNoops.push(checked.ms);
			checkedRequests.push(countRequests(sandbox.requests.slice(beforeChecked)));
			log(`    ${checkedSpec.label} [${round + 1}/${repetitions}] ${formatMs(checked.ms)}`);
		}

		// --- Results ----------------------------------------------------------------------------
		const wallStats = statsOf(runs.map(run => run.wallMs));
		const pathStats = statsOf(runs.map(run => run.path.totalMs));
		const noopStats = statsOf(noops);
		const comparisons: Comparison[] = [
			{
				name: 'a. full deployment, wall vs critical path',
				baseline: { name: 'critical path (longest chain of task durations)', command: 'the run\'s task-end durationMs, summed along the longest chain of the graph', stats: pathStats },
				subject: { name: 'nub run all --json (full)', command: commandLine(fullSpec), stats: wallStats },
				goalMax: 1.15,
			},
			{
				name: 'b. cached no-op, trusting the cache',
				baseline: { name: `budget: ${formatMs(noopBudgetMs)} (fixed)`, command: 'none: a fixed figure', stats: statsOf([noopBudgetMs]) },
				subject: { name: noopSpec.label, command: commandLine(noopSpec), stats: noopStats },
				goalMax: 1,
			},
			{
				name: 'c. cached no-op, checking for drift',
				baseline: { name: `budget: ${formatMs(checkedBudgetMs)} (fixed)`, command: 'none: a fixed figure', stats: statsOf([checkedBudgetMs]) },
				subject: { name: checkedSpec.label, command: commandLine(checkedSpec), stats: statsOf(checkedNoops) },
				goalMax: 1,
			},
		];
		const breakdowns: Breakdown[] = [
			wallBreakdown(runs, wallStats),
			requestBreakdown(runs, nodes, noopRequests, checkedRequests),
			pathBreakdown(runs, nodes),
			slowestBreakdown(runs),
		];

		const result: GroupResult = {
			group: 'nublado',
			comparisons,
			breakdowns,
			raw: {
				repetitions,
				node: process.version,
				nubladoYaml,
				sandbox: sandboxOptions,
				graph: { tasks: nodes.length, edges, nodes },
				full: { command: commandLine(fullSpec), ...wallStats, criticalPath: pathStats },
				noop: { command: commandLine(noopSpec), budgetMs: noopBudgetMs, ...noopStats, requests: noopRequests },
				checkedNoop: { command: commandLine(checkedSpec), budgetMs: checkedBudgetMs, ...statsOf(checkedNoops), requests: checkedRequests },
				warmUp: summarize(warm),
				runs: runs.map(summarize),
			},
		};
		return result;
	} finally {
		await sandbox.close();
	}
};

/**
 * A copy of the repository's nublado deployment in a fresh temporary folder, as
 * test/helpers/project.ts makeNubladoProject makes one: its parts copied, lib/ linked to this
 * checkout, `nub` resolved to it through node_modules/nub; plus the bench's nublado.yaml (or `yaml`).
 */
export function makeNubladoProject(context: BenchContext, yaml: string = nubladoYaml): string {
	const dir = context.tempDir();
	mkdirSync(join(dir, 'node_modules'));
	symlinkSync(context.repoRoot, join(dir, 'node_modules', 'nub'));
	writeFileSync(join(dir, 'package.json'), '{"type":"module"}\n');
	for (const part of ['Nubfile.ts', 'tasks', 'templates', 'hub', 'landing']) cpSync(join(context.repoRoot, part), join(dir, part), { recursive: true });
	symlinkSync(join(context.repoRoot, 'lib'), join(dir, 'lib'));
	writeFileSync(join(dir, 'nublado.yaml'), yaml);
	return dir;
}

/**
 * The graph of `all`, from the project's Nubfile imported in this process (under tsx, `nub`
 * resolves to this checkout's lib/index.ts, so its tasks are this process's tasks). NUBLADO_*
 * variables, which would override the configuration, are hidden from it as from the children.
 */
export async function loadGraph(project: string): Promise<PathNode[]> {
	const hidden = Object.entries(process.env).filter(([name]) => name.startsWith('NUBLADO_'));
	for (const [name] of hidden) delete process.env[name];
	let exports: Record<string, unknown>;
	try {
		exports = (await import(pathToFileURL(join(project, 'Nubfile.ts')).href)) as Record<string, unknown>;
	} finally {
		for (const [name, value] of hidden) process.env[name] = value;
	}
	const all = exports.all;
	if (!isTask(all)) throw new Error(`${project}/Nubfile.ts: its export \`all\` is not a task of this checkout's engine`);
	return buildGraph([all]).nodes.map(node => ({ name: node.name, needs: node.needs.map(need => need.name) }));
}

/** The children's environment: plain output, the state key from .nub/key, no configuration overrides. */
export function nubEnv(): NodeJS.ProcessEnv {
	const env = childEnv({ CI: 'true', NO_COLOR: '1' });
	delete env.NUB_STATE_KEY;
	for (const name of Object.keys(env)) if (name.startsWith('NUBLADO_')) delete env[name];
	return env;
}

/** A full run must use this process's sandbox, run every task of the graph and have them all succeed. */
function checkFullRun(run: AsyncRun, nodes: readonly PathNode[]): string | undefined {
	if (!run.stderr.includes(`served by pid ${process.pid} `)) return `nub did not use the bench's sandbox (pid ${process.pid}); its stderr:\n${run.stderr.trim()}`;
	let events: RunEvents;
	try {
		events = readRunEvents(run.lines);
	} catch (error) {
		return `cannot read its --json output: ${(error as Error).message}`;
	}
	const expected = nodes.map(node => node.name).sort();
	const ran = [...events.tasks].sort();
	if (expected.join() !== ran.join()) return `it ran the tasks [${ran.join(', ')}], but the graph of all has [${expected.join(', ')}]`;
	const { succeeded, failed, cached } = events.summary;
	if (failed.length > 0 || cached.length > 0 || succeeded.length !== nodes.length) {
		return `expected all ${nodes.length} tasks to succeed, got ${succeeded.length} succeeded, ${cached.length} cached, failed: [${failed.join(', ')}]`;
	}
	const missing = nodes.filter(node => !events.timings.has(node.name)).map(node => node.name);
	if (missing.length > 0) return `no task-end event for ${missing.join(', ')}`;
	return undefined;
}

function readFullRun(run: AsyncRun, nodes: readonly PathNode[], requests: readonly RequestRecord[]): FullRun {
	const events = readRunEvents(run.lines);
	const { timings } = events;
	const path = criticalPath(nodes, name => timings.get(name)?.durationMs ?? 0);
	const lastEndAtMs = Math.max(...[...timings.values()].map(timing => timing.endAtMs));
	const byName = new Map(nodes.map(node => [node.name, node]));
	let chainGapsMs = 0;
	for (const name of path.chain) chainGapsMs += gapBefore(name, byName, events);
	return {
		wallMs: run.ms,
		events,
		path,
		startMs: events.runStartAtMs,
		runMs: lastEndAtMs - events.runStartAtMs,
		chainGapsMs,
		endMs: events.summaryAtMs - lastEndAtMs,
		exitMs: run.ms - events.summaryAtMs,
		requests: countRequests(requests),
	};
}

/**
 * How long the engine took to take a task up once the last of its needs had ended (or the run had
 * started): the time between them that no task duration counts.
 */
export function gapBefore(name: string, byName: ReadonlyMap<string, PathNode>, events: RunEvents): number {
	const ready = Math.max(events.runStartAtMs, ...byName.get(name)!.needs.map(need => events.timings.get(need)?.endAtMs ?? 0));
	return Math.max(0, (events.timings.get(name)?.beganAtMs ?? ready) - ready);
}

function countRequests(requests: readonly RequestRecord[]): RequestCounts {
	const counts: RequestCounts = { total: requests.length, reads: 0, watches: 0, writes: {}, failed: 0 };
	for (const request of requests) {
		if (request.status >= 400 || request.status === 0) counts.failed++;
		if (request.method !== 'GET') counts.writes[request.method] = (counts.writes[request.method] ?? 0) + 1;
		else if (/(^|&)watch=(true|1)(&|$)/.test(request.query)) counts.watches++;
		else counts.reads++;
	}
	return counts;
}

/** The run whose wall time is the median (the lower middle of an even count). */
function medianRun(runs: readonly FullRun[]): FullRun {
	const sorted = [...runs].sort((a, b) => a.wallMs - b.wallMs);
	return sorted[Math.floor((sorted.length - 1) / 2)]!;
}

function wallBreakdown(runs: readonly FullRun[], wallStats: Stats): Breakdown {
	const wall = wallStats.median;
	const row = (step: string, values: number[]) => {
		const stats = statsOf(values);
		return [step, formatMs(stats.median), formatMs(stats.min), formatMs(stats.max), formatPercent(stats.median, wall)];
	};
	return {
		title: `Full deployment: where the wall time goes (${runs.length} runs; times from the arrival of each --json line)`,
		columns: ['step', 'median', 'min', 'max', 'share of wall'],
		rows: [
			row('start: spawn to run-start (Node, dist check, Nubfile, preflights, lock, state)', runs.map(run => run.startMs)),
			row('run: run-start to the last task-end', runs.map(run => run.runMs)),
			row('  critical path (longest chain of task durations)', runs.map(run => run.path.totalMs)),
			row('  rest of the run (run minus critical path)', runs.map(run => run.runMs - run.path.totalMs)),
			row('    of which gaps on the chain (task taken up minus its last need\'s end)', runs.map(run => run.chainGapsMs)),
			row('end: last task-end to the summary line', runs.map(run => run.endMs)),
			row('exit: summary line to the process closed (state, cluster connection)', runs.map(run => run.exitMs)),
			row('wall', runs.map(run => run.wallMs)),
			row('wall minus critical path', runs.map(run => run.wallMs - run.path.totalMs)),
		],
		notes: [
			'Each row is a median of its own, so the rows need not add up to the median wall time exactly.',
			'A task\'s duration is what the engine measured, from taking it up (before deciding to run it) to its end; it was taken up',
			'at its task-end line\'s arrival minus that duration. The rest of the run is time no task of the chain was in.',
		],
	};
}

function requestBreakdown(runs: readonly FullRun[], nodes: readonly PathNode[], noopRequests: readonly RequestCounts[], checkedRequests: readonly RequestCounts[]): Breakdown {
	const median = (values: number[]) => statsOf(values).median;
	const objects = (run: FullRun) => [...run.events.timings.values()].reduce((sum, timing) => sum + (timing.objects ?? 0), 0);
	const applying = (run: FullRun) => [...run.events.timings.values()].filter(timing => (timing.objects ?? 0) > 0).length;
	const writes = (run: FullRun) => Object.values(run.requests.writes).reduce((a, b) => a + b, 0);
	const methods = [...new Set(runs.flatMap(run => Object.keys(run.requests.writes)))].sort();
	const latency = sandboxOptions.faults.latencyMs;
	const total = median(runs.map(run => run.requests.total));
	const objectCount = median(runs.map(objects));
	return {
		title: `Full deployment: tasks and API requests (medians of ${runs.length} runs)`,
		columns: ['item', 'value'],
		rows: [
			['tasks in the run', String(nodes.length)],
			['tasks that applied objects', String(median(runs.map(applying)))],
			['objects applied (from the tasks\' outputs)', String(objectCount)],
			['requests sent', String(total)],
			['  reads (GET)', String(median(runs.map(run => run.requests.reads)))],
			['    beyond one read per applied object (waits\' polls)', String(median(runs.map(run => run.requests.reads - objects(run))))],
			['  writes', String(median(runs.map(writes)))],
			...methods.map(method => [`    ${method}`, String(median(runs.map(run => run.requests.writes[method] ?? 0)))]),
			['  watches', String(median(runs.map(run => run.requests.watches)))],
			['  answered 4xx/5xx (404 of a read before a create included)', String(median(runs.map(run => run.requests.failed)))],
			['requests per applied object', objectCount > 0 ? (total / objectCount).toFixed(1) : 'n/a'],
			[`injected latency summed over the requests (${latency} ms each)`, formatMs(total * latency)],
			['requests sent by the cached no-op that follows (--no-check)', String(median(noopRequests.map(requests => requests.total)))],
			['requests sent by the checked no-op (LISTs and GETs only)', String(median(checkedRequests.map(requests => requests.total)))],
		],
		notes: [
			'An apply reads each object, then patches it (server-side apply), one object after another: 2 requests and',
			`at least ${formatMs(2 * latency)} of injected latency per object, in series within a task; waits poll with GETs (200 ms, growing by half).`,
		],
	};
}

function pathBreakdown(runs: readonly FullRun[], nodes: readonly PathNode[]): Breakdown {
	const run = medianRun(runs);
	const byName = new Map(nodes.map(node => [node.name, node]));
	const latency = sandboxOptions.faults.latencyMs;
	let cumulative = 0;
	const rows = run.path.chain.map(name => {
		const timing = run.events.timings.get(name)!;
		cumulative += timing.durationMs;
		return [
			name,
			formatMs(gapBefore(name, byName, run.events)),
			formatMs(timing.durationMs),
			formatPercent(timing.durationMs, run.path.totalMs),
			formatMs(cumulative),
			timing.objects === undefined ? 'n/a' : String(timing.objects),
			timing.objects === undefined ? 'n/a' : formatMs(2 * latency * timing.objects),
		];
	});
	const chains = new Map<string, number>();
	for (const { path } of runs) {
		const text = path.chain.join(' > ');
		chains.set(text, (chains.get(text) ?? 0) + 1);
	}
	return {
		title: `Critical path of the median run (run ${runs.indexOf(run) + 1} of ${runs.length}: wall ${formatMs(run.wallMs)}, critical path ${formatMs(run.path.totalMs)})`,
		columns: ['task', 'gap before', 'duration', 'share', 'cumulative', 'objects', 'apply latency'],
		rows,
		notes: [
			'"gap before": from the end of the last of its needs (or the run\'s start) to the engine taking the task up.',
			`"objects": applied by the task; "apply latency": the injected latency its applies wait in series at least (2 requests x ${latency} ms per object).`,
			'A wait for a rollout or an address polls at 200 ms, then 300, 450, ...: it ends up to one interval after the sandbox is ready.',
			`run-start came ${formatMs(run.startMs)} after the spawn; the process closed ${formatMs(run.endMs + run.exitMs)} after the last task-end.`,
			...[...chains].map(([chain, times]) => `chain in ${times} of ${runs.length} runs: ${chain}`),
		],
	};
}

function slowestBreakdown(runs: readonly FullRun[]): Breakdown {
	const names = [...runs[0]!.events.timings.keys()];
	const rows = names
		.map(name => {
			const stats = statsOf(runs.map(run => run.events.timings.get(name)!.durationMs));
			const onPath = runs.filter(run => run.path.chain.includes(name)).length;
			const objects = runs[0]!.events.timings.get(name)!.objects;
			return { name, stats, onPath, objects };
		})
		.sort((a, b) => b.stats.median - a.stats.median)
		.slice(0, topTasks);
	return {
		title: `Full deployment: the ${topTasks} slowest tasks (durations over ${runs.length} runs)`,
		columns: ['task', 'median', 'min', 'max', 'on the critical path', 'objects'],
		rows: rows.map(({ name, stats, onPath, objects }) => [
			name,
			formatMs(stats.median),
			formatMs(stats.min),
			formatMs(stats.max),
			`${onPath} of ${runs.length} runs`,
			objects === undefined ? 'n/a' : String(objects),
		]),
	};
}

/** A full run for the JSON record. */
function summarize(run: FullRun) {
	return {
		wallMs: run.wallMs,
		criticalPathMs: run.path.totalMs,
		chain: run.path.chain,
		ratio: run.wallMs / run.path.totalMs,
		startMs: run.startMs,
		runMs: run.runMs,
		chainGapsMs: run.chainGapsMs,
		endMs: run.endMs,
		exitMs: run.exitMs,
		requests: run.requests,
		tasks: Object.fromEntries(
			[...run.events.timings.values()].map(timing => [
				timing.name,
				{ durationMs: timing.durationMs, startAtMs: timing.startAtMs, endAtMs: timing.endAtMs, ...(timing.objects !== undefined ? { objects: timing.objects } : {}) },
			]),
		),
	};
}

export function commandLine(spec: AsyncCommandSpec): string {
	return [spec.command === process.execPath ? 'node' : spec.command, ...spec.args].join(' ');
}
