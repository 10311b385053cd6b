/**
 * Two operators, one deployment: runs started at the same moment on the same project and state.
 * One runs and the others refuse (exit 2) naming the holder (pid, host, start time, command); one
 * started mid-run refuses too; when the holder is killed (SIGKILL, so its lock stays behind) the
 * next run takes the lock over and completes without redoing what the holder finished. A lock
 * held from another host is reported, never taken over.
 */
import test from 'ava';
import type { ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { StateStore } from '../../lib/engine/state-store.ts';
import { finished, nub, startNub, summaryOf, type NubResult } from '../helpers/project.ts';
import { checkClusterAgainstState, clusterObjects, nubladoDeployment, stateOutputs, stateSecrets, waitUntil, wholeJsonLines } from './helpers.ts';

const refusal = /^nub: another nub run holds the lock: pid (\d+) on (\S+), started (\S+) \((.+)\); wait for it to finish, or if that process is gone from another host, delete (\S+)$/;

test('runs at once: one runs, the others refuse naming it; a killed holder’s lock is taken over and the deployment completes', async t => {
	const { dir, sandbox, close } = await nubladoDeployment({ delayMs: 100 });
	t.teardown(close);
	const lockFile = join(dir, '.nub/lock');

	// Three runs started together.
	const startedAt = Date.now();
	const children = [0, 1, 2].map(() => startNub(dir, ['run', 'all', '--json']));
	const results = new Map<ChildProcess, NubResult | undefined>(children.map(child => [child, undefined]));
	for (const child of children) void finished(child).then(result => results.set(child, result));
	t.teardown(() => {
		for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
	});
	await waitUntil(() => [...results.values()].filter(result => result !== undefined).length >= 2, 'two of the three runs to end');
	const ended = children.filter(child => results.get(child) !== undefined);
	const holders = children.filter(child => results.get(child) === undefined);
	t.is(holders.length, 1, `${holders.length} runs still going`);
	const holder = holders[0]!;
	const holderPid = holder.pid!;
	for (const child of ended) {
		const result = results.get(child)!;
		t.is(result.code, 2, `a run that did not get the lock ended with exit ${result.code}: ${result.stderr}`);
		t.is(result.stdout, '');
		t.is(result.stderr.trim().split('\n').length, 1, result.stderr);
		const named = refusal.exec(result.stderr.trim());
		t.truthy(named, `the refusal does not name the holder: ${result.stderr}`);
		if (!named) continue;
		const [, pid, host, started, command, path] = named;
		t.is(Number(pid), holderPid, 'the refusal names another process than the one running');
		t.is(host, hostname());
		const startedMs = Date.parse(started!);
		t.false(Number.isNaN(startedMs), `start time ${started}`);
		t.true(startedMs >= startedAt - 1000 && startedMs <= Date.now(), `start time ${started} is not when the holder started`);
		t.is(command, 'nub run all --json');
		t.is(path, lockFile);
	}

	// Mid-run: a few tasks recorded, the run not over. Another run refuses, naming the same holder.
	const recorded = () => {
		try {
			return [...stateOutputs(dir).keys()];
		} catch {
			return [];
		}
	};
	await waitUntil(() => recorded().length >= 8 || results.get(holder) !== undefined, 'the holder to record 8 tasks');
	// Slow the cluster down, so the holder is still running when the late run and the kill come.
	sandbox.setFaults({ latencyMs: 400 });
	t.is(results.get(holder), undefined, 'the holder finished before it could be killed mid-run');
	const late = await nub(dir, ['run', 'all']);
	t.is(late.code, 2);
	t.is(Number(refusal.exec(late.stderr.trim())?.[1]), holderPid, late.stderr);

	// SIGKILL the holder: its lock stays, naming a process that is gone.
	holder.kill('SIGKILL');
	await waitUntil(() => results.get(holder) !== undefined, 'the holder to die');
	const killed = results.get(holder)!;
	t.is(killed.signal, 'SIGKILL', 'the holder ended before the kill');
	t.true(existsSync(lockFile), 'a killed holder left no lock');
	t.is((JSON.parse(readFileSync(lockFile, 'utf8')) as { pid: number }).pid, holderPid);
	t.notThrows(() => StateStore.load(join(dir, '.nub')));
	const done = [...stateOutputs(dir).keys()];
	t.false(done.includes('all'), 'the holder had finished');
	const finishedByHolder = wholeJsonLines(killed.stdout).filter(event => event.type === 'task-end' && event.outcome === 'succeeded').map(event => event.name as string);

	// The next run takes the lock over (its own name in the lock while it runs) and completes.
	sandbox.setFaults({});
	const next = startNub(dir, ['run', 'all', '--json']);
	const nextDone = finished(next);
	let sawOwnLock = false;
	const peek = setInterval(() => {
		try {
			if ((JSON.parse(readFileSync(lockFile, 'utf8')) as { pid: number }).pid === next.pid) sawOwnLock = true;
		} catch {}
	}, 5);
	const takeover = await nextDone;
	clearInterval(peek);
	t.is(takeover.code, 0, takeover.stderr + takeover.stdout.slice(-2000));
	t.true(sawOwnLock, 'the lock never named the run that took it over');
	t.false(existsSync(lockFile), 'the lock was not released');
	const summary = summaryOf(takeover.stdout);
	t.true(summary.succeeded.includes('all'));
	for (const name of new Set([...done, ...finishedByHolder])) t.true(summary.cached.includes(name), `${name} finished under the killed holder but ran again`);
	t.deepEqual(checkClusterAgainstState(clusterObjects(dir), stateSecrets(dir), stateOutputs(dir)), []);
	t.log(`holder killed after ${done.length} recorded tasks; the takeover ran ${summary.succeeded.length} and reused ${summary.cached.length}; ${sandbox.requests.length} requests in all`);
});

test('a lock held from another host is reported, not taken over; removing it lets the run go', async t => {
	const { dir, close } = await nubladoDeployment();
	t.teardown(close);
	t.is((await nub(dir, ['run', 'all'])).code, 0);
	const lockFile = join(dir, '.nub/lock');
	const foreign = { pid: 4242, host: 'build-7.example.org', started: '2026-01-02T03:04:05.000Z', command: 'nub run all -j 4' };
	writeFileSync(lockFile, JSON.stringify(foreign), { mode: 0o600 });
	const refused = await nub(dir, ['run', 'all']);
	t.is(refused.code, 2);
	t.is(
		refused.stderr.trim(),
		`nub: another nub run holds the lock: pid 4242 on build-7.example.org, started 2026-01-02T03:04:05.000Z (nub run all -j 4); wait for it to finish, or if that process is gone from another host, delete ${lockFile}`,
	);
	t.is(readFileSync(lockFile, 'utf8'), JSON.stringify(foreign), 'the foreign lock was touched');
	rmSync(lockFile);
	const after = await nub(dir, ['run', 'all', '--json']);
	t.is(after.code, 0, after.stderr);
	t.deepEqual(summaryOf(after.stdout).succeeded, []);
});
