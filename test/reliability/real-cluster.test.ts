/**
 * The reliability guarantees on a real control plane (cluster/: the official API server and
 * controllers, kwok's nodes), by the real `nub` binary:
 *
 * - team state: the state in Secret nub-state/nub-state and the run lock in Lease
 *   nub-state/nub-lock of the real API; two operators (two working copies) at once, the second
 *   refused naming the first; the first killed mid-run, its lease taken over once stale, and the
 *   work it finished reused;
 * - seeded SIGKILLs of a whole deployment (NUB_REAL_CRASH_RUNS, default 5), each as a chosen
 *   task starts, each resumed: the cluster ends equal to a clean deployment's, the secrets are
 *   the first ones made.
 *
 * Every deployment gets a control plane of its own. Replay the kills with NUB_REAL_CRASH_SEED
 * (printed).
 */
import test from 'ava';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { isDeepStrictEqual } from 'node:util';
import { createSealer } from '../../lib/engine/sealer.ts';
import { StateStore } from '../../lib/engine/state-store.ts';
import type { KubeObject } from '../../lib/k8s/objects.ts';
import { finished, makeNubladoProject, nub, removeProject, startNub, summaryOf, waitFor } from '../helpers/project.ts';
import { startRealCluster, type RealCluster } from '../helpers/real-cluster.ts';
import { madeOnce, normalizeCluster, nubladoYaml, seededRandom, seedFrom, stateSecrets, wholeJsonLines, type ClusterObject } from './helpers.ts';

const key = { NUB_STATE_KEY: 'a1b2c3d4e5f60718'.repeat(4) };

/** A nublado project pointed at `cluster`, removed at the end of the test. */
function project(t: { teardown(fn: () => void): void }, cluster: RealCluster, state: 'file' | 'kubernetes') {
	const yaml = `${nubladoYaml}kubernetes:\n  kubeconfig: ${JSON.stringify(cluster.kubeconfig)}\n  context: ${cluster.context}\n  state: ${state}\n`;
	const dir = makeNubladoProject({ 'nublado.yaml': yaml });
	t.teardown(() => removeProject(dir));
	return dir;
}

async function clusterFor(t: { teardown(fn: () => Promise<void>): void }, podReadyDelayMs = 100): Promise<RealCluster> {
	const cluster = await startRealCluster({ podReadyDelayMs });
	t.teardown(() => cluster.close());
	return cluster;
}

test('team state on the real API: two operators at once, the second refused naming the first; the first killed, its stale lease taken over and its work reused', async t => {
	// Pods take a second to be Ready: the run lasts long enough to be caught holding the lease.
	const cluster = await clusterFor(t, 1000);
	const first = project(t, cluster, 'kubernetes');
	const second = project(t, cluster, 'kubernetes');
	const env = { ...key, NUB_LEASE_SECONDS: '4' };

	const holder = startNub(first, ['run', 'all', '--json'], env);
	const held = finished(holder);
	let out = '';
	holder.stdout!.on('data', chunk => (out += chunk));
	// Holding the lease, with some work recorded in the cluster: the hub's Secret is applied.
	await waitFor(() => /"type":"task-end","name":"hub-secret"/.test(out), 'the first operator to record hub-secret');
	const lease = (await cluster.admin.read({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: 'nub-lock', namespace: 'nub-state' } })) as KubeObject & { spec: { holderIdentity: string; renewTime: string } };
	t.regex(lease.spec.holderIdentity, new RegExp(`^${holder.pid}@`));

	const refused = await nub(second, ['run', 'all'], env);
	t.is(refused.code, 2, refused.stderr);
	t.regex(refused.stderr, new RegExp(`^nub: locked: ${holder.pid}@\\S+ started \\S+ \\(nub run all --json\\) holds the state lock \\(Lease nub-state/nub-lock, renewed \\d+ s ago\\)`));

	// The first operator's machine dies mid-run: its lease is no longer renewed.
	holder.kill('SIGKILL');
	await held;
	// What the cluster's state holds of the first operator's work (the upload follows each record;
	// the records of the last moment before the kill may not have reached it).
	const stateSecret = await cluster.admin.read({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'nub-state', namespace: 'nub-state' } });
	t.truthy(stateSecret, 'the state lives in Secret nub-state/nub-state');
	const copy = mkdtempSync(join(tmpdir(), 'nub-team-state-'));
	t.teardown(() => rmSync(copy, { recursive: true, force: true }));
	mkdirSync(join(copy, '.nub'));
	writeFileSync(join(copy, '.nub/state.jsonl'), Buffer.from((stateSecret!.data as Record<string, string>)['state.jsonl']!, 'base64'));
	// Read under the team's state key, as the operators read it (the log is authenticated under it).
	const uploaded = StateStore.load(join(copy, '.nub'), { sealer: createSealer({ stateDir: join(copy, '.nub'), fromEnvironment: key.NUB_STATE_KEY }) });
	const finishedByFirst = [...uploaded.names()].filter(name => uploaded.lastSuccess(name));
	t.true(finishedByFirst.includes('hub-secret'), `the cluster's state holds ${finishedByFirst.join(', ')}`);

	// Refused while the lease is fresh; taken over once stale; the second operator finishes the
	// work and reuses what the first recorded.
	let takeover = await nub(second, ['run', 'all', '--json'], env);
	const deadline = Date.now() + 30_000;
	while (takeover.code === 2 && /holds the state lock/.test(takeover.stderr) && Date.now() < deadline) {
		await new Promise(resolve => setTimeout(resolve, 500));
		takeover = await nub(second, ['run', 'all', '--json'], env);
	}
	t.is(takeover.code, 0, takeover.stderr + takeover.stdout.slice(-2000));
	const summary = summaryOf(takeover.stdout);
	t.true(summary.cached.includes('hub-secret'), `cached: ${summary.cached.join(', ')}`);
	t.true(summary.succeeded.includes('all'));
	for (const name of finishedByFirst.filter(name => name !== 'all')) t.false(summary.succeeded.includes(name), `${name} ran again`);
	t.truthy(await cluster.admin.read({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'hub', namespace: 'nublado' } }));
	// And the first operator, back, finds everything done.
	const back = await nub(first, ['run', 'all', '--json'], env);
	t.is(back.code, 0, back.stderr);
	t.deepEqual(summaryOf(back.stdout).succeeded, []);
});

// ---- Seeded SIGKILLs --------------------------------------------------------------------------

const runs = Number(process.env.NUB_REAL_CRASH_RUNS ?? 5);
const baseSeed = seedFrom('NUB_REAL_CRASH_SEED');
let reference: Record<string, unknown> | undefined;
/** How many tasks a clean deployment starts: the kills are placed among them. */
let taskCount = 0;

console.log(`real-cluster crash-resume: base seed ${baseSeed}, ${runs} kills (replay with NUB_REAL_CRASH_SEED=${baseSeed})`);

/** The live objects the state says nub made, normalized so two deployments compare (helpers.ts). */
async function deployedCluster(dir: string, cluster: RealCluster): Promise<Record<string, unknown>> {
	const state = StateStore.load(join(dir, '.nub'));
	const objects: ClusterObject[] = [];
	for (const name of state.names()) {
		const recorded = (state.lastSuccess(name)?.output as { objects?: Array<{ apiVersion: string; kind: string; name: string; namespace?: string }> } | undefined)?.objects ?? [];
		for (const object of recorded) {
			const live = await cluster.admin.read({ apiVersion: object.apiVersion, kind: object.kind, metadata: { name: object.name, ...(object.namespace ? { namespace: object.namespace } : {}) } });
			if (!live) throw new Error(`${object.kind} ${object.namespace ?? ''}/${object.name}, recorded by ${name}, is not in the cluster`);
			objects.push(live as ClusterObject);
		}
	}
	// Provisioned volumes are the cloud's, not nub's, but their names appear in the claims.
	objects.push(...((await cluster.admin.list('v1', 'PersistentVolume', undefined)) as ClusterObject[]).filter(volume => volume.metadata.name.startsWith('pvc-')));
	return normalizeCluster(objects);
}

test.serial('a clean deployment on the real cluster, measured', async t => {
	const cluster = await clusterFor(t);
	const dir = project(t, cluster, 'file');
	const start = performance.now();
	const clean = await nub(dir, ['run', 'all', '--json']);
	const durationMs = Math.round(performance.now() - start);
	t.is(clean.code, 0, clean.stderr + clean.stdout.slice(-2000));
	taskCount = wholeJsonLines(clean.stdout).filter(event => event.type === 'task-start').length;
	reference = await deployedCluster(dir, cluster);
	t.true(Object.keys(reference).length > 40);
	console.log(`real-cluster crash-resume: a clean deployment took ${durationMs} ms and started ${taskCount} tasks`);
});

for (let index = 0; index < runs; index++) {
	const seed = (baseSeed + index) >>> 0;
	test.serial(`SIGKILL ${index + 1} of ${runs} mid-run (seed ${seed}), resumed: the cluster of a clean deployment, secrets made once`, async t => {
		if (!reference) return t.fail('the clean deployment failed');
		const cluster = await clusterFor(t);
		const dir = project(t, cluster, 'file');
		// Placed by progress, not by the clock (a later run is faster than the first, which built
		// the Nubfile's bundle): kill k of n comes as the run reports starting its j-th task, j
		// drawn from the k-th slice of [10%, 90%] of the tasks, while that task and others run.
		const slice = (0.8 * taskCount) / runs;
		const killAfter = Math.max(1, Math.ceil(0.1 * taskCount + slice * index + slice * seededRandom(seed)()));
		console.log(`  kill ${index + 1}: seed ${seed}, as task ${killAfter} of ${taskCount} starts`);
		const child = startNub(dir, ['run', 'all', '--json']);
		const done = finished(child);
		let started = 0;
		let seen = '';
		child.stdout!.on('data', (chunk: string) => {
			seen += chunk;
			const lines = seen.split('\n');
			seen = lines.pop()!;
			for (const line of lines) if (line.includes('"type":"task-start"') && ++started === killAfter) child.kill('SIGKILL');
		});
		const killed = await done;
		t.is(killed.signal, 'SIGKILL', `the run ended before task ${killAfter} started (${started} did)`);
		const before = madeOnce(stateSecrets(dir));
		const state = StateStore.load(join(dir, '.nub'));
		const finishedBefore = new Set([...state.names()].filter(name => state.lastSuccess(name)));

		const resumed = await nub(dir, ['run', 'all', '--json']);
		t.is(resumed.code, 0, resumed.stderr + resumed.stdout.slice(-2000));
		const rerun = wholeJsonLines(resumed.stdout).filter(event => event.type === 'task-start' && finishedBefore.has(event.name as string)).map(event => event.name as string);
		t.deepEqual(rerun, [], 'tasks that had finished ran again');
		const after = madeOnce(stateSecrets(dir));
		for (const [what, value] of Object.entries(before)) if (value !== undefined) t.is(after[what], value, `${what} made again`);
		const cluster_ = await deployedCluster(dir, cluster);
		if (!isDeepStrictEqual(cluster_, reference)) {
			const differing = Object.keys({ ...cluster_, ...reference }).filter(key => !isDeepStrictEqual(cluster_[key], reference![key]));
			t.fail(`the cluster differs from a clean deployment's in ${differing.join(', ')}: ${JSON.stringify(cluster_[differing[0]!])} vs ${JSON.stringify(reference[differing[0]!])}`);
		} else t.pass();
		const again = await nub(dir, ['run', 'all', '--json']);
		t.deepEqual(summaryOf(again.stdout).succeeded, [], 'a further run did something');
	});
}
