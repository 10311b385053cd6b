/**
 * The whole nublado deployment against a flaky API server: 10% of requests answered 500 or 503,
 * 3% of connections reset, 3% throttled (429 with Retry-After), decided by a seeded generator.
 * nub must finish (exit 0), every faulted request must have been retried and counted in the
 * summary (`retries` by task in --json; "N retries" in the plain summary line), and the cluster
 * must end as it does without faults.
 *
 * Replay: NUB_FAULT_SEED=<seed> (printed).
 */
import test from 'ava';
import { isDeepStrictEqual } from 'node:util';
import { nub, summaryOf } from '../helpers/project.ts';
import { checkClusterAgainstState, clusterObjects, normalizeCluster, nubladoDeployment, seedFrom, stateOutputs, stateSecrets, type Deployment } from './helpers.ts';

const seed = seedFrom('NUB_FAULT_SEED');
const faults = { errorRate: 0.1, resetRate: 0.03, throttleRate: 0.03 };
/**
 * Faulted requests that may go uncounted. Every one should be: each makes its call fail with a
 * transient error, which the client retries and reports. Kept small on purpose.
 */
const tolerance = 2;

console.log(`api-faults: seed ${seed} (replay with NUB_FAULT_SEED=${seed})`);

const faulted = (deployment: Deployment) => deployment.sandbox.requests.filter(request => request.fault !== undefined);
const byKind = (deployment: Deployment) => {
	const kinds: Record<string, number> = {};
	for (const request of faulted(deployment)) kinds[request.fault!] = (kinds[request.fault!] ?? 0) + 1;
	return kinds;
};
const normalized = (dir: string) => normalizeCluster(clusterObjects(dir));

test('a flaky API server: the run completes, every fault is retried and counted, in --json and in the plain summary', async t => {
	// Retry-After 0 for the --json run, 1 s for the plain one: both kinds of wait are exercised.
	const json = await nubladoDeployment({ faults: { ...faults, retryAfterSeconds: 0, seed } });
	const plain = await nubladoDeployment({ faults: { ...faults, retryAfterSeconds: 1, seed: (seed + 1) >>> 0 } });
	t.teardown(() => json.close());
	t.teardown(() => plain.close());
	const [jsonRun, plainRun] = await Promise.all([nub(json.dir, ['run', 'all', '--json']), nub(plain.dir, ['run', 'all'])]);

	// --json: exit 0, and the summary's retries account for the faults.
	t.is(jsonRun.code, 0, jsonRun.stderr + jsonRun.stdout.slice(-3000));
	const summary = summaryOf(jsonRun.stdout);
	t.deepEqual(summary.failed, []);
	t.true(summary.succeeded.includes('all'));
	const retries = Object.values(summary.retries).reduce((sum, count) => sum + count, 0);
	const jsonFaults = faulted(json).length;
	t.log(`--json: ${json.sandbox.requests.length} requests, ${jsonFaults} faulted ${JSON.stringify(byKind(json))}, ${retries} retries counted ${JSON.stringify(summary.retries)}`);
	t.true(jsonFaults > 0, 'no fault was injected: the seed gave none');
	t.true(Object.keys(summary.retries).length > 0, 'the summary counts no retry');
	t.true(retries >= jsonFaults - tolerance, `${retries} retries counted for ${jsonFaults} faulted requests`);
	t.true(retries <= jsonFaults, `${retries} retries counted, more than the ${jsonFaults} faulted requests`);
	for (const [name, count] of Object.entries(summary.retries)) {
		t.true(summary.succeeded.includes(name), `${name} retried but did not succeed`);
		t.true(Number.isInteger(count) && count > 0, `${name}: ${count} retries`);
	}

	// Plain: exit 0, and the summary line states the retries.
	t.is(plainRun.code, 0, plainRun.stderr + plainRun.stdout.slice(-3000));
	const plainFaults = faulted(plain).length;
	const line = plainRun.stdout.trim().split('\n').at(-1)!;
	t.log(`plain: ${plain.sandbox.requests.length} requests, ${plainFaults} faulted ${JSON.stringify(byKind(plain))}; summary line: ${line}`);
	const stated = /^\d+ succeeded, (\d+) retr(?:y|ies) in \d/.exec(line);
	t.truthy(stated, `the plain summary line states no retries: ${line}`);
	if (stated) {
		t.true(Number(stated[1]) >= plainFaults - tolerance, `${stated[1]} retries stated for ${plainFaults} faulted requests`);
		t.true(Number(stated[1]) <= plainFaults, `${stated[1]} retries stated, more than the ${plainFaults} faulted requests`);
	}

	// Both clusters are whole, hold their state's secrets, and are the same deployment.
	for (const deployment of [json, plain]) {
		t.deepEqual(checkClusterAgainstState(clusterObjects(deployment.dir), stateSecrets(deployment.dir), stateOutputs(deployment.dir)), []);
	}
	t.true(isDeepStrictEqual(normalized(json.dir), normalized(plain.dir)), 'the two deployments differ');

	// With the faults gone, a second run has nothing to do.
	json.sandbox.setFaults({});
	const again = await nub(json.dir, ['run', 'all', '--json']);
	t.is(again.code, 0);
	t.deepEqual(summaryOf(again.stdout).succeeded, []);
});
