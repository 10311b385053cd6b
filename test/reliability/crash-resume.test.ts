/**
 * SIGKILL at a random moment of a whole nublado deployment, then resume, many times over.
 *
 * Clean deployments are measured first (as many at once as the kills run, so the durations
 * compare), and again among the kills as the machine's load changes (see currentDuration); each
 * kill comes at a time drawn uniformly from one slice of [0, that duration] (stratified: the kills
 * cover the whole run however few there are), from a seeded generator, the kills themselves run in
 * a shuffled order. After
 * every kill: the state loads; plain `nub run all --json` is repeated until it succeeds (at most
 * `maxResumes` times); no task that had finished (a `task-end` succeeded event, or a success in
 * the state) starts again; the secrets made once (CA, certificate, DH parameters, hub key, proxy
 * token, Firefly password) are the ones first recorded; the cluster equals the clean deployment's
 * (normalized: see helpers.ts) and holds the state's secrets; a further run does nothing.
 *
 * Replay: NUB_CRASH_SEED=<base seed> and NUB_CRASH_DURATION_MS=<duration> (both printed for each
 * kill) give the same kill time (`--match '*seed <seed>*'` runs that one kill); NUB_CRASH_RUNS
 * (default 30) and NUB_CRASH_CONCURRENCY (default 4) size the test.
 */
import test, { type ExecutionContext } from 'ava';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { isDeepStrictEqual } from 'node:util';
import { StateStore } from '../../lib/engine/state-store.ts';
import { finished, nub, startNub, summaryOf, type NubResult } from '../helpers/project.ts';
import {
	checkClusterAgainstState,
	clusterObjects,
	limiter,
	madeOnce,
	normalizeCluster,
	nubladoDeployment,
	pool,
	seededRandom,
	seedFrom,
	stateOutputs,
	stateSecrets,
	wholeJsonLines,
} from './helpers.ts';

const runs = Number(process.env.NUB_CRASH_RUNS ?? 30);
const concurrency = Number(process.env.NUB_CRASH_CONCURRENCY ?? 4);
const maxResumes = 3;
const baseSeed = seedFrom('NUB_CRASH_SEED');
const limit = limiter(concurrency);

console.log(`crash-resume: base seed ${baseSeed}, ${runs} kills, ${concurrency} at a time (replay with NUB_CRASH_SEED=${baseSeed})`);

/** The clean deployment's normalized cluster: what every deployment must end as. */
let reference: Record<string, unknown> | undefined;
/** Durations of clean deployments (ms): those measured first, then those measured among the kills. */
const cleanDurations: number[] = [];
const calibrations: number[] = [];
/** NUB_CRASH_DURATION_MS, to replay kill times: the duration used instead of the measured one. */
const givenDuration = Number(process.env.NUB_CRASH_DURATION_MS ?? Number.NaN);
/** A clean deployment is measured again, in a place of the pool, before the 4th kill and every 6th after. */
const calibrating = (position: number) => position % 6 === 4;

/**
 * The duration kills are drawn against: the median of the last three clean deployments measured
 * among the kills (in a place of the pool, so under the load the kills meet), or before the first
 * of those, of the ones measured first. The load changes as the other test files end: measured
 * once at the start, the duration was 1.5 times what the kills met, and a third of them came after
 * the end of the run.
 */
function currentDuration(): number {
	if (givenDuration > 0) return givenDuration;
	const recent = [...(calibrations.length > 0 ? calibrations.slice(-3) : cleanDurations)].sort((a, b) => a - b);
	return recent[Math.floor(recent.length / 2)]!;
}

/** What each kill did, for the summary printed at the end. */
interface KillReport {
	index: number;
	seed: number;
	durationMs: number;
	killAtMs: number;
	/** Whether the run was still going when killed (else it had finished). */
	killed: boolean;
	/** Tasks recorded (succeeded) in the state right after the kill, of all. */
	recordedAtKill: number;
	resumes: number;
	resumeMs: number[];
}
const reports: KillReport[] = [];

/** The cluster of a deployment, normalized. */
function normalizedCluster(dir: string) {
	return normalizeCluster(clusterObjects(dir));
}

/** A clean deployment: how long `nub run all` took, and the cluster it made (normalized). */
async function cleanDeployment(): Promise<{ cluster: Record<string, unknown>; durationMs: number }> {
	const deployment = await nubladoDeployment();
	try {
		const start = performance.now();
		const result = await nub(deployment.dir, ['run', 'all', '--json']);
		const durationMs = Math.round(performance.now() - start);
		if (result.code !== 0) throw new Error(`the clean deployment failed (exit ${result.code}): ${result.stderr}${result.stdout.slice(-2000)}`);
		const problems = checkClusterAgainstState(clusterObjects(deployment.dir), stateSecrets(deployment.dir), stateOutputs(deployment.dir));
		if (problems.length > 0) throw new Error(`the clean deployment's cluster does not match its state: ${problems.join('; ')}`);
		return { cluster: normalizedCluster(deployment.dir), durationMs };
	} finally {
		await deployment.close();
	}
}

test.before('clean deployments, measured', async () => {
	const clean = await pool(concurrency, Array.from({ length: concurrency }, () => cleanDeployment));
	// Two clean deployments normalize to the same cluster, or the comparison after a kill means nothing.
	for (const other of clean.slice(1)) {
		if (!isDeepStrictEqual(other.cluster, clean[0]!.cluster)) throw new Error('two clean deployments differ after normalization: see normalizeCluster');
	}
	reference = clean[0]!.cluster;
	cleanDurations.push(...clean.map(run => run.durationMs));
	console.log(
		`crash-resume: clean deployments ${cleanDurations.join(', ')} ms (${concurrency} at a time); kills drawn from [0, ${currentDuration()}] ms${givenDuration > 0 ? ' (NUB_CRASH_DURATION_MS)' : ', measured again among the kills'}`,
	);
});

test.after.always('summary', () => {
	if (reports.length === 0) return;
	const sorted = [...reports].sort((a, b) => a.killAtMs - b.killAtMs);
	const resumeCounts = sorted.map(report => report.resumes);
	console.log(
		[
			`crash-resume summary (base seed ${baseSeed}): ${sorted.length} kills, ${sorted.filter(report => report.killed).length} mid-run, ${sorted.filter(report => !report.killed).length} after the run had ended`,
			`  resumes needed: ${[0, 1, 2, 3].map(n => `${n}: ${resumeCounts.filter(count => count === n).length}`).join(', ')}`,
			`  clean deployments: ${cleanDurations.join(', ')} ms first${calibrations.length > 0 ? `, ${calibrations.join(', ')} ms among the kills` : ''}`,
			...sorted.map(
				report =>
					`  seed ${report.seed}: kill at ${report.killAtMs} ms of ${report.durationMs}${report.killed ? '' : ' (the run had ended)'}, ${report.recordedAtKill} tasks recorded, ${report.resumes} resume(s)${report.resumes > 0 ? ` (${report.resumeMs.join(', ')} ms)` : ''}`,
			),
		].join('\n'),
	);
});

/**
 * Watches the state of `dir` while runs come and go: every state load must succeed, and each value
 * made once keeps the value it had when it first appeared.
 */
function watchMadeOnce(dir: string) {
	const first: Record<string, string> = {};
	const problems: string[] = [];
	const file = join(dir, '.nub/state.jsonl');
	let seen = '';
	const look = (final: boolean) => {
		// Only a state that changed since the last look is read again.
		let stamp = 'none';
		try {
			const stat = statSync(file);
			stamp = `${stat.size} ${stat.mtimeMs} ${stat.ino}`;
		} catch {}
		if (stamp === seen && !final) return;
		let state: StateStore;
		try {
			state = StateStore.load(join(dir, '.nub'));
		} catch (error) {
			problems.push(`the state did not load: ${(error as Error).message}`);
			return;
		}
		let values: Record<string, string | undefined>;
		try {
			values = madeOnce(stateSecrets(dir, undefined, state));
			seen = stamp;
		} catch (error) {
			// The key file can be read while nub writes it; by the end of an attempt it must read.
			if (final) problems.push(`the state's secrets did not read: ${(error as Error).message}`);
			return;
		}
		for (const [name, value] of Object.entries(values)) {
			if (value === undefined) continue;
			if (first[name] === undefined) first[name] = value;
			else if (first[name] !== value && !problems.some(problem => problem.startsWith(name))) problems.push(`${name} was made again`);
		}
	};
	let timer: NodeJS.Timeout | undefined;
	return {
		first,
		problems,
		start() {
			timer = setInterval(() => look(false), 20);
		},
		/** Stops polling and looks once more. */
		settle() {
			clearInterval(timer);
			look(true);
		},
	};
}

/** Runs `nub run all --json` in `dir` while `watcher` polls; kills it after `killAtMs` if given. */
async function attempt(dir: string, watcher: ReturnType<typeof watchMadeOnce>, killAtMs?: number): Promise<NubResult & { ms: number }> {
	const start = performance.now();
	const child = startNub(dir, ['run', 'all', '--json']);
	const done = finished(child);
	watcher.start();
	const killer = killAtMs === undefined ? undefined : setTimeout(() => child.kill('SIGKILL'), killAtMs);
	const result = await done;
	clearTimeout(killer);
	watcher.settle();
	return { ...result, ms: Math.round(performance.now() - start) };
}

async function killAndResume(t: ExecutionContext, index: number, seed: number) {
	const durationMs = currentDuration();
	// Stratified: the index-th of `runs` equal slices of [0, duration], a uniform point within it.
	const killAtMs = Math.round(((index + seededRandom(seed)()) / runs) * durationMs);
	t.log(`seed ${seed}: kill at ${killAtMs} ms of a ${durationMs} ms run (replay: NUB_CRASH_SEED=${baseSeed} NUB_CRASH_DURATION_MS=${durationMs} --match '*seed ${seed}*')`);
	const deployment = await nubladoDeployment();
	t.teardown(() => deployment.close());
	const { dir, sandbox } = deployment;
	const watcher = watchMadeOnce(dir);

	// The attempts, each with the tasks it saw succeed and those the state held after it.
	const attempts: Array<{ label: string; result: NubResult; finished: Set<string>; recorded: Set<string> }> = [];
	const recordedNow = () => new Set([...stateOutputs(dir).keys()]);
	const add = (label: string, result: NubResult) => {
		const events = wholeJsonLines(result.stdout);
		const succeeded = events.filter(event => event.type === 'task-end' && event.outcome === 'succeeded').map(event => event.name as string);
		attempts.push({ label, result, finished: new Set(succeeded), recorded: recordedNow() });
	};

	const killed = await attempt(dir, watcher, killAtMs);
	const wasKilled = killed.signal === 'SIGKILL';
	t.true(wasKilled || killed.code === 0, `the killed run ended with exit ${killed.code}, signal ${killed.signal}: ${killed.stderr}`);
	t.notThrows(() => StateStore.load(join(dir, '.nub')), 'the state does not load after the kill');
	add('killed run', killed);
	const recordedAtKill = attempts[0]!.recorded.size;

	const resumeMs: number[] = [];
	let last = killed;
	// A run that ended before its kill needs no resume.
	for (let resume = 1; wasKilled && resume <= maxResumes; resume++) {
		last = await attempt(dir, watcher);
		resumeMs.push(last.ms);
		t.notThrows(() => StateStore.load(join(dir, '.nub')), `the state does not load after resume ${resume}`);
		add(`resume ${resume}`, last);
		if (last.code === 0) break;
		t.log(`resume ${resume} ended with exit ${last.code}: ${last.stderr.trim()} ${JSON.stringify(summaryOfOrNull(last.stdout)?.errors ?? {})}`);
	}
	t.is(last.code, 0, `no success within ${maxResumes} resumes: ${last.stderr}${last.stdout.slice(-1500)}`);
	if (last.code === 0) t.deepEqual(summaryOf(last.stdout).failed, []);
	// Nothing a killed run was writing is left behind: no lock, no temporary lock or state file.
	t.deepEqual(readdirSync(join(dir, '.nub')).sort(), ['key', 'sandbox', 'state.jsonl', 'state.seq'], 'what is left in .nub after the resume');

	// Nothing that had finished ran again.
	for (let i = 0; i < attempts.length; i++) {
		for (const later of attempts.slice(i + 1)) {
			const started = wholeJsonLines(later.result.stdout).filter(event => event.type === 'task-start').map(event => event.name as string);
			for (const name of started) {
				t.false(attempts[i]!.finished.has(name), `${name} succeeded in the ${attempts[i]!.label} (task-end) but started again in the ${later.label}`);
				t.false(attempts[i]!.recorded.has(name), `${name} was recorded in the state after the ${attempts[i]!.label} but started again in the ${later.label}`);
			}
		}
	}

	// The values made once are those first recorded; the cluster is the clean one, with them in it.
	t.deepEqual(watcher.problems, []);
	t.deepEqual(Object.keys(watcher.first).sort(), Object.keys(madeOnce({})).sort(), 'a value made once is missing from the state');
	t.deepEqual(madeOnce(stateSecrets(dir)), watcher.first);
	t.deepEqual(checkClusterAgainstState(clusterObjects(dir), stateSecrets(dir), stateOutputs(dir)), []);
	const cluster = normalizedCluster(dir);
	if (!isDeepStrictEqual(cluster, reference)) {
		const differing = [...new Set([...Object.keys(cluster), ...Object.keys(reference!)])].filter(key => !isDeepStrictEqual(cluster[key], reference![key]));
		t.fail(`the cluster differs from the clean deployment's in: ${differing.join(', ')}\n${differing
			.slice(0, 3)
			.map(key => `${key}\n  after the kill: ${JSON.stringify(cluster[key])}\n  clean:          ${JSON.stringify(reference![key])}`)
			.join('\n')}`);
	}

	// And a further run does nothing and writes nothing.
	const writes = () => sandbox.requests.filter(request => request.method !== 'GET' && !request.fault).length;
	const before = writes();
	const again = await nub(dir, ['run', 'all', '--json']);
	t.is(again.code, 0, again.stderr);
	t.deepEqual(summaryOf(again.stdout).succeeded, []);
	t.is(writes(), before, 'the run after the resume wrote to the cluster');

	reports.push({ index, seed, durationMs, killAtMs, killed: wasKilled, recordedAtKill, resumes: resumeMs.length, resumeMs });
}

function summaryOfOrNull(stdout: string) {
	try {
		return summaryOf(stdout);
	} catch {
		return null;
	}
}

// Declared (so run) in a shuffled order: how loaded the machine is changes as the other tests end,
// and the late slices must not all meet the quietest machine (where the run ends before its kill).
const order = Array.from({ length: runs }, (_, index) => index);
const shuffle = seededRandom(baseSeed ^ 0x5eed);
for (let i = order.length - 1; i > 0; i--) {
	const j = Math.floor(shuffle() * (i + 1));
	[order[i], order[j]] = [order[j]!, order[i]!];
}
let position = 0;
for (const index of order) {
	const seed = (baseSeed + index) >>> 0;
	test(`SIGKILL ${index + 1} of ${runs} (seed ${seed}), then resume: same cluster, secrets made once, nothing finished runs again`, t =>
		limit(async () => {
			if (!(givenDuration > 0) && calibrating(++position)) {
				const clean = await cleanDeployment();
				calibrations.push(clean.durationMs);
				t.true(isDeepStrictEqual(clean.cluster, reference), 'a clean deployment differs from the first');
			}
			await killAndResume(t, index, seed);
		}));
}
