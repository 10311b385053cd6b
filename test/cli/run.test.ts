import test from 'ava';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { StateStore } from '../../lib/engine/state-store.ts';
import { finished, makeProject, nub, removeProject, startNub, summaryOf, waitFor } from '../helpers/project.ts';

const runs = (dir: string) => (existsSync(join(dir, 'runs.log')) ? readFileSync(join(dir, 'runs.log'), 'utf8').trim().split('\n').filter(Boolean) : []);
const clearRuns = (dir: string) => import('node:fs').then(fs => fs.rmSync(join(dir, 'runs.log'), { force: true }));

test('run all: the --json summary, then a second run that is all cached', async t => {
	const dir = makeProject({}, 'basic');
	const first = await nub(dir, ['run', 'all', '--json']);
	t.is(first.code, 0, first.stderr);
	const summary = summaryOf(first.stdout);
	t.deepEqual(summary.succeeded, ['namespace', 'nfs-service-ip', 'fileserver-deployment', 'fileserver', 'keepalive', 'prepuller-account', 'prepuller-cron', 'prepuller', 'all']);
	t.deepEqual(summary.failed, []);
	for (const line of first.stdout.trim().split('\n')) t.notThrows(() => JSON.parse(line));
	await clearRuns(dir);
	const second = await nub(dir, ['run', 'all', '--json']);
	t.is(second.code, 0);
	t.is(summaryOf(second.stdout).cached.length, 9);
	t.deepEqual(runs(dir), []);
	removeProject(dir);
});

test('a failing task: exit 1, the error shown, dependents blocked; the rerun does only what is left', async t => {
	const dir = makeProject({}, 'basic');
	const failed = await nub(dir, ['run', 'all', '-j', '1'], { FAIL: 'keepalive' });
	t.is(failed.code, 1);
	const succeeded = [...failed.stdout.matchAll(/^ok +(\S+)/gm)].map(match => match[1]);
	const leaves = ['namespace', 'nfs-service-ip', 'fileserver-deployment', 'keepalive', 'prepuller-account', 'prepuller-cron'];
	t.regex(failed.stdout, /FAILED +keepalive: keepalive failed on purpose/);
	t.regex(failed.stdout, /blocked +all \(keepalive failed\)/);
	await clearRuns(dir);
	const plan = await nub(dir, ['plan', 'all']);
	t.regex(plan.stdout, /run +keepalive +failed last time: keepalive failed on purpose/);
	const resumed = await nub(dir, ['run', 'all', '--json']);
	t.is(resumed.code, 0);
	t.true(succeeded.includes('namespace'));
	t.deepEqual(runs(dir).sort(), leaves.filter(name => !succeeded.includes(name)).sort());
	t.true(runs(dir).includes('keepalive'));
	removeProject(dir);
});

test('SIGKILL in the middle of a run, then resume: nothing that finished runs again', async t => {
	const dir = makeProject({}, 'slow');
	const child = startNub(dir, ['run', 'all', '-j', '4']);
	const done = finished(child);
	await waitFor(() => runs(dir).filter(line => line.startsWith('end ')).length >= 12, '12 finished tasks');
	child.kill('SIGKILL');
	const killed = await done;
	t.is(killed.signal, 'SIGKILL');
	const state = StateStore.load(join(dir, '.nub'));
	const recorded = [...state.names()].filter(name => state.get(name)?.ok);
	// A task writes its end line before nub records it: of the tasks that ended, at most the four
	// running at once (-j 4) can be between the two when the kill comes.
	const ended = runs(dir).filter(line => line.startsWith('end ')).map(line => line.slice(4));
	for (const name of recorded) t.true(ended.includes(name), `${name} is recorded but never ended`);
	t.true(recorded.length >= ended.length - 4 && recorded.length >= 8, `recorded ${recorded.length} of ${ended.length} ended`);
	t.true(recorded.length < 41);
	await clearRuns(dir);
	const resumed = await nub(dir, ['run', 'all', '--json']);
	t.is(resumed.code, 0, resumed.stderr);
	const summary = summaryOf(resumed.stdout);
	const rerun = runs(dir).filter(line => line.startsWith('start ')).map(line => line.slice(6));
	for (const name of recorded) t.false(rerun.includes(name), `${name} finished before the kill but ran again`);
	t.deepEqual([...summary.cached].sort(), recorded.sort());
	t.is(summary.cached.length + summary.succeeded.length, 41);
	removeProject(dir);
});

test('the first Ctrl-C stops the run, saves what finished and exits 130', async t => {
	const dir = makeProject({}, 'slow');
	const child = startNub(dir, ['run', 'all', '-j', '2'], { DELAY: '200' });
	const done = finished(child);
	await waitFor(() => runs(dir).some(line => line.startsWith('end ')), 'a finished task');
	child.kill('SIGINT');
	const result = await done;
	t.is(result.code, 130);
	t.regex(result.stdout, /STOPPED/);
	const state = StateStore.load(join(dir, '.nub'));
	const names = [...state.names()];
	t.true(names.some(name => state.get(name)?.ok !== undefined));
	t.true(names.some(name => state.get(name)?.fail?.interrupted === true));
	t.false(existsSync(join(dir, '.nub/lock')));
	removeProject(dir);
});

test('a second run on the same state is refused naming the holder; a killed holder’s lock is taken over', async t => {
	const dir = makeProject({}, 'slow');
	const holder = startNub(dir, ['run', 'all', '-j', '1'], { DELAY: '300' });
	const holderDone = finished(holder);
	await waitFor(() => runs(dir).length > 0, 'the first run to start');
	const refused = await nub(dir, ['run', 'all']);
	t.is(refused.code, 2);
	t.regex(refused.stderr, new RegExp(`another nub run holds the lock: pid ${holder.pid} on .+, started .+ \\(nub run all -j 1\\)`));
	t.is(refused.stderr.trim().split('\n').length, 1);
	holder.kill('SIGKILL');
	await holderDone;
	t.true(existsSync(join(dir, '.nub/lock')));
	const takeover = await nub(dir, ['run', 'all', '--json'], { DELAY: '1' });
	t.is(takeover.code, 0, takeover.stderr);
	removeProject(dir);
});

test('--force on a group reruns its tasks and nothing else when their outputs are unchanged', async t => {
	const dir = makeProject({}, 'basic');
	t.is((await nub(dir, ['run', 'all'])).code, 0);
	await clearRuns(dir);
	const forced = await nub(dir, ['run', 'prepuller', '--force', '--json']);
	t.is(forced.code, 0);
	t.deepEqual(runs(dir).sort(), ['prepuller-account', 'prepuller-cron']);
	t.deepEqual(summaryOf(forced.stdout).cached, ['namespace']);
	await clearRuns(dir);
	t.is((await nub(dir, ['run', 'all'])).code, 0);
	t.deepEqual(runs(dir), []);
	removeProject(dir);
});

test('plan gives the reasons and writes nothing; --dry-run is the plan', async t => {
	const dir = makeProject({}, 'basic');
	const fresh = await nub(dir, ['plan', 'all']);
	t.is(fresh.code, 0);
	t.regex(fresh.stdout, /run +namespace +never ran/);
	t.false(existsSync(join(dir, '.nub')));
	t.regex((await nub(dir, ['run', 'all', '--dry-run'])).stdout, /run +namespace +never ran/);
	t.false(existsSync(join(dir, '.nub')));
	t.deepEqual(runs(dir), []);
	await nub(dir, ['run', 'all']);
	const state = readFileSync(join(dir, '.nub/state.jsonl'), 'utf8');
	const changed = await nub(dir, ['plan', 'all'], { SIZE: '30Gi' });
	t.regex(changed.stdout, /run +fileserver-deployment +config changed/);
	t.regex(changed.stdout, /maybe +fileserver +fileserver-deployment will run; reruns only if its output changes/);
	t.notRegex(changed.stdout, /namespace/);
	t.regex(changed.stdout, /1 to run, 3 to run if what they need changes, 5 cached/);
	const forced = await nub(dir, ['plan', 'prepuller', '--force', '--json']);
	const entries = forced.stdout.trim().split('\n').map(line => JSON.parse(line));
	t.deepEqual(entries.find(entry => entry.name === 'prepuller-cron').why, ['forced']);
	t.is(readFileSync(join(dir, '.nub/state.jsonl'), 'utf8'), state);
	removeProject(dir);
});

test('an upstream output change is named in the plan once it is known', async t => {
	const dir = makeProject({}, 'basic');
	await nub(dir, ['run', 'all']);
	// Rerun only the IP task with a different output: its dependents have not run since.
	const { writeFileSync } = await import('node:fs');
	const nubfile = readFileSync(join(dir, 'Nubfile.ts'), 'utf8').replace("'10.96.0.12'", "'10.96.0.99'");
	writeFileSync(join(dir, 'Nubfile.ts'), nubfile);
	t.is((await nub(dir, ['run', 'nfs-service-ip', '--force'])).code, 0);
	const plan = await nub(dir, ['plan', 'all']);
	t.regex(plan.stdout, /run +fileserver-deployment +output of nfs-service-ip changed/);
	t.regex(plan.stdout, /run +keepalive +output of nfs-service-ip changed/);
	removeProject(dir);
});

const graphErrors = [
	{
		title: 'a cycle',
		nubfile: `import { task, type Task } from 'nub';
const ping: Task<number> = task({ name: 'ping', needs: () => ({ pong }), run: () => 1 });
const pong: Task<number> = task({ name: 'pong', needs: () => ({ ping }), run: () => 1 });
export const all = task({ name: 'all', needs: { ping } });`,
		error: /^nub: Nubfile\.ts: dependency cycle: ping -> pong -> ping$/,
	},
	{
		title: 'duplicate names',
		nubfile: `import { task } from 'nub';
export const a = task({ name: 'deploy', run: () => 1 });
export const b = task({ name: 'deploy', run: () => 2 });`,
		error: /^nub: Nubfile\.ts: two different tasks are named "deploy": task names must be unique$/,
	},
	{
		title: 'a need that is not a task',
		nubfile: `import { task } from 'nub';
export const a = task({ name: 'a', needs: { ip: 42 } as never, run: () => 1 });`,
		error: /^nub: Nubfile\.ts: task "a": needs\.ip is not a task \(got number 42\)$/,
	},
	{
		title: 'a syntax error',
		nubfile: `import { task } from 'nub';
export const a = task({ name: 'a', run: () => 1 ;`,
		error: /^nub: Nubfile\.ts: .*(Expected|Unexpected)/,
	},
	{
		title: 'no exported task',
		nubfile: `export const x = 1;`,
		error: /^nub: Nubfile\.ts exports no tasks/,
	},
];

for (const { title, nubfile, error } of graphErrors) {
	test(`graph error, ${title}: one line, exit 2, nothing run or written`, async t => {
		const dir = makeProject({ 'Nubfile.ts': nubfile });
		const result = await nub(dir, ['run', 'all']);
		t.is(result.code, 2);
		t.is(result.stdout, '');
		t.is(result.stderr.trim().split('\n').length, 1, result.stderr);
		t.regex(result.stderr.trim(), error);
		t.false(existsSync(join(dir, '.nub')));
		removeProject(dir);
	});
}

test('unknown target: a suggestion, exit 2, nothing run', async t => {
	const dir = makeProject({}, 'basic');
	const result = await nub(dir, ['run', 'prepuler']);
	t.is(result.code, 2);
	t.is(result.stderr.trim(), 'nub: unknown target "prepuler" (did you mean "prepuller"?); `nub list` shows the targets');
	t.deepEqual(runs(dir), []);
	t.false(existsSync(join(dir, '.nub')));
	removeProject(dir);
});

test('usage errors and --verbose', async t => {
	const dir = makeProject({}, 'basic');
	t.regex((await nub(dir, ['rnu', 'all'])).stderr, /unknown command "rnu" \(did you mean "run"\?\)/);
	t.regex((await nub(dir, ['run', 'all', '--jobs', 'many'])).stderr, /--jobs must be a whole number/);
	t.is((await nub(dir, ['run', 'all', '--bogus'])).stderr, 'nub: unknown option --bogus (see nub --help)\n');
	t.is((await nub(dir, ['run', 'all', '--forse'])).stderr, 'nub: unknown option --forse (did you mean "--force"?) (see nub --help)\n');
	t.regex((await nub(dir, ['run'])).stderr, /needs at least one target/);
	const missing = await nub(dir, ['run', 'all', '--file', 'nope/Nubfile.ts']);
	t.is(missing.code, 2);
	t.regex(missing.stderr, /nope\/Nubfile\.ts: no such file/);
	removeProject(dir);
});

test('a version 2 state is upgraded once, under the key, saying so in one line; a forged record is then refused, exit 2', async t => {
	const dir = makeProject({}, 'basic');
	t.teardown(() => removeProject(dir));
	t.is((await nub(dir, ['run', 'all'])).code, 0);
	const { rmSync, writeFileSync, appendFileSync } = await import('node:fs');
	const file = join(dir, '.nub/state.jsonl');
	// The same state as an older nub kept it: no numbers, no tags, and no high-water mark yet.
	const lines = readFileSync(file, 'utf8').trim().split('\n').slice(1).map(line => {
		const { seq: _seq, mac: _mac, ...record } = JSON.parse(line) as Record<string, unknown>;
		return JSON.stringify(record);
	});
	writeFileSync(file, `${['{"nub":"state","version":2}', ...lines].join('\n')}\n`);
	rmSync(join(dir, '.nub/state.seq'));
	const upgraded = await nub(dir, ['run', 'all', '--force', 'all']);
	t.is(upgraded.code, 0, upgraded.stderr);
	t.is(upgraded.stderr, `nub: the state log ${file} was version 2, unauthenticated: it is now version 3, each record authenticated under the state key\n`);
	t.regex(readFileSync(file, 'utf8'), /^\{"nub":"state","version":3,/);
	const again = await nub(dir, ['run', 'all', '--force', 'all']);
	t.is(again.code, 0, again.stderr);
	t.is(again.stderr, '', 'upgraded once only');
	appendFileSync(file, '{"t":"gone","name":"settings","at":1,"seq":99}\n');
	const forged = await nub(dir, ['plan', 'all']);
	t.is(forged.code, 2);
	t.regex(forged.stderr.trim(), /^nub: .*state\.jsonl line \d+ has no tag under the state key: nub did not write it with this key/);
});

test('a corrupt state is one clear line, exit 2, and the state is left as it was', async t => {
	const dir = makeProject({}, 'basic');
	await nub(dir, ['run', 'all']);
	const { appendFileSync, writeFileSync } = await import('node:fs');
	const file = join(dir, '.nub/state.jsonl');
	const corrupt = readFileSync(file, 'utf8').replace('\n{', '\n#garbage\n{');
	writeFileSync(file, corrupt);
	const result = await nub(dir, ['run', 'all']);
	t.is(result.code, 2);
	t.regex(result.stderr.trim(), /^nub: .*state\.jsonl line 2 is not JSON: the state is corrupt/);
	t.is(readFileSync(file, 'utf8'), corrupt);
	appendFileSync(file, '');
	removeProject(dir);
});

test('list, --help and --version', async t => {
	const dir = makeProject({}, 'basic');
	const list = await nub(dir, ['list']);
	t.is(list.code, 0);
	t.regex(list.stdout, /^all +The whole deployment$/m);
	t.regex(list.stdout, /^prepuller +Image prepuller$/m);
	t.notRegex(list.stdout, /keepalive/);
	t.regex((await nub(dir, ['list', '--all'])).stdout, /^keepalive$/m);
	t.regex((await nub(dir, ['--help'])).stdout, /nub run <targets\.\.\.>/);
	const version = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version;
	t.is((await nub(dir, ['--version'])).stdout.trim(), version);
	t.deepEqual(readdirSync(dir).includes('.nub'), false);
	removeProject(dir);
});
