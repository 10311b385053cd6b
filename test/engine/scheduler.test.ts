import test from 'ava';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { NubError } from '../../lib/engine/errors.ts';
import type { NubEvent } from '../../lib/engine/events.ts';
import { buildGraph, selectNodes } from '../../lib/engine/graph.ts';
import { Redactor } from '../../lib/engine/redact.ts';
import { runGraph } from '../../lib/engine/scheduler.ts';
import { createSealer } from '../../lib/engine/sealer.ts';
import { StateStore } from '../../lib/engine/state-store.ts';
import { task, type Task } from '../../lib/engine/task.ts';
import { cleanup, runTasks, tempDir } from '../helpers/engine.ts';

test.beforeEach(t => {
	(t.context as { dir: string }).dir = tempDir();
});
test.afterEach.always(t => cleanup((t.context as { dir: string }).dir));
const dirOf = (t: { context: unknown }) => (t.context as { dir: string }).dir;

/** a -> b -> d, a -> c -> d: a diamond whose runs are counted. */
function diamond(counts: Record<string, number>, behaviour: { failC?: boolean; aValue?: string } = {}) {
	const count = (name: string) => (counts[name] = (counts[name] ?? 0) + 1);
	const a = task({ name: 'a', run: () => (count('a'), behaviour.aValue ?? 'A') });
	const b = task({ name: 'b', needs: { a }, run: ({ a }) => (count('b'), `${a}b`) });
	const c = task({
		name: 'c',
		needs: { a },
		run: ({ a }) => {
			count('c');
			if (behaviour.failC) throw new Error('c broke');
			return `${a}c`;
		},
	});
	const d = task({ name: 'd', needs: { b, c }, run: ({ b, c }) => (count('d'), [b, c]) });
	return { a, b, c, d };
}

test('runs in dependency order and passes outputs under the needs keys', async t => {
	const counts: Record<string, number> = {};
	const { d } = diamond(counts);
	const { summary, events, started } = await runTasks(dirOf(t), [d]);
	t.deepEqual(summary.succeeded, ['a', 'b', 'c', 'd']);
	t.true(started.indexOf('a') < started.indexOf('b') && started.indexOf('b') < started.indexOf('d'));
	const end = events.find(event => event.type === 'task-end' && event.name === 'd');
	t.deepEqual(end?.type === 'task-end' ? end.output : undefined, ['Ab', 'Ac']);
});

test('a second run is all cached and reuses recorded outputs', async t => {
	const counts: Record<string, number> = {};
	await runTasks(dirOf(t), [diamond(counts).d]);
	const second: Record<string, number> = {};
	const { summary, started } = await runTasks(dirOf(t), [diamond(second).d]);
	t.deepEqual(summary.cached, ['a', 'b', 'c', 'd']);
	t.deepEqual(started, []);
	t.deepEqual(second, {});
});

test('independent tasks run in parallel, never more than jobs at once', async t => {
	let running = 0;
	let peak = 0;
	const leaves = Array.from({ length: 8 }, (_, i) =>
		task({
			name: `leaf${i}`,
			run: async () => {
				running++;
				peak = Math.max(peak, running);
				await new Promise(resolve => setTimeout(resolve, 30));
				running--;
				return i;
			},
		}),
	);
	const all = task({ name: 'all', needs: Object.fromEntries(leaves.map(leaf => [leaf.name, leaf])) });
	await runTasks(dirOf(t), [all], { jobs: 3 });
	t.is(peak, 3);
});

test('a failure blocks its dependents, starts nothing new, and lets running tasks finish', async t => {
	let slowFinished = false;
	const fails = task({ name: 'fails', run: async () => Promise.reject(new Error('no luck')) });
	const slow = task({
		name: 'slow',
		run: async () => {
			await new Promise(resolve => setTimeout(resolve, 100));
			slowFinished = true;
			return 1;
		},
	});
	const after = task({ name: 'after', needs: { fails }, run: () => 2 });
	const later = task({ name: 'later', needs: { slow }, run: () => 3 });
	const all = task({ name: 'all', needs: { after, later } });
	const { summary } = await runTasks(dirOf(t), [all], { jobs: 2 });
	t.true(slowFinished);
	t.deepEqual(summary.failed, ['fails']);
	t.deepEqual(summary.succeeded, ['slow']);
	t.deepEqual(summary.blocked, ['after', 'all']);
	t.deepEqual(summary.skipped, ['later']);
	t.is(summary.errors.fails, 'no luck');
});

test('--keep-going runs the branches that do not depend on the failure', async t => {
	const counts: Record<string, number> = {};
	const { d } = diamond(counts, { failC: true });
	const extra = task({ name: 'extra', needs: { b: d.needs().b as Task<string> }, run: ({ b }) => b.length });
	const all = task({ name: 'all', needs: { d, extra } });
	const { summary } = await runTasks(dirOf(t), [all], { keepGoing: true, jobs: 1 });
	t.deepEqual(summary.failed, ['c']);
	t.deepEqual(summary.succeeded, ['a', 'b', 'extra']);
	t.deepEqual(summary.blocked, ['d', 'all']);
});

test('resume after a failure runs only what failed or was blocked', async t => {
	const first: Record<string, number> = {};
	const one = await runTasks(dirOf(t), [diamond(first, { failC: true }).d], { jobs: 1 });
	t.deepEqual(one.summary.failed, ['c']);
	const second: Record<string, number> = {};
	const two = await runTasks(dirOf(t), [diamond(second).d]);
	t.deepEqual(two.started, ['c', 'd']);
	t.deepEqual(two.summary.cached, ['a', 'b']);
	t.deepEqual(second, { c: 1, d: 1 });
});

test('early cutoff: a rerun with the same output leaves its dependents cached', async t => {
	await runTasks(dirOf(t), [diamond({}).d]);
	const counts: Record<string, number> = {};
	const { summary } = await runTasks(dirOf(t), [diamond(counts).d], { forceTargets: ['a'] });
	t.deepEqual(counts, { a: 1 });
	t.deepEqual(summary.succeeded, ['a']);
	t.deepEqual(summary.changed, []);
	t.deepEqual(summary.cached, ['b', 'c', 'd']);
});

test('a changed output reruns exactly its dependents', async t => {
	await runTasks(dirOf(t), [diamond({}).d]);
	const counts: Record<string, number> = {};
	const { summary, events } = await runTasks(dirOf(t), [diamond(counts, { aValue: 'Z' }).d], { forceTargets: ['a'] });
	t.deepEqual(counts, { a: 1, b: 1, c: 1, d: 1 });
	t.deepEqual(summary.changed, ['a', 'b', 'c', 'd']);
	const startB = events.find(event => event.type === 'task-start' && event.name === 'b');
	t.deepEqual(startB?.type === 'task-start' ? startB.reasons : [], [{ kind: 'upstream-changed', task: 'a' }]);
});

test('forcing a group reruns the tasks it gathers, not what they need', async t => {
	const counts: Record<string, number> = {};
	const make = () => {
		const count = (name: string) => (counts[name] = (counts[name] ?? 0) + 1);
		const namespace = task({ name: 'namespace', run: () => (count('namespace'), 'ns') });
		const account = task({ name: 'account', needs: { namespace }, run: ({ namespace }) => (count('account'), `${namespace}/sa`) });
		const cron = task({ name: 'cron', needs: { namespace, account }, run: () => (count('cron'), 'cron') });
		const prepuller = task({ name: 'prepuller', needs: { account, cron } });
		const hub = task({ name: 'hub', needs: { namespace }, run: () => (count('hub'), 'hub') });
		return task({ name: 'all', needs: { prepuller, hub } });
	};
	await runTasks(dirOf(t), [make()]);
	for (const key of Object.keys(counts)) delete counts[key];
	const { summary } = await runTasks(dirOf(t), [make()], { targets: ['prepuller'], forceTargets: ['prepuller'] });
	t.deepEqual(counts, { account: 1, cron: 1 });
	t.deepEqual(summary.succeeded, ['account', 'cron', 'prepuller']);
	t.deepEqual(summary.cached, ['namespace']);
});

test('declared inputs: a changed config value or file reruns the task and says which', async t => {
	const dir = dirOf(t);
	writeFileSync(join(dir, 'values.txt'), 'one');
	const make = (size: string) => task({ name: 'volume', inputs: { config: { size }, files: ['values.txt'], version: 1 }, run: () => size });
	await runTasks(dir, [make('20Gi')]);
	t.deepEqual((await runTasks(dir, [make('20Gi')])).summary.cached, ['volume']);
	const changedConfig = await runTasks(dir, [make('30Gi')]);
	const start = changedConfig.events.find(event => event.type === 'task-start');
	t.deepEqual(start?.type === 'task-start' ? start.reasons : [], [{ kind: 'input-changed', input: 'config' }]);
	writeFileSync(join(dir, 'values.txt'), 'two');
	const changedFile = await runTasks(dir, [make('30Gi')]);
	const fileStart = changedFile.events.find(event => event.type === 'task-start');
	t.deepEqual(fileStart?.type === 'task-start' ? fileStart.reasons : [], [{ kind: 'input-changed', input: 'file values.txt' }]);
});

test('a task that hangs past its timeout fails with a timeout error', async t => {
	let aborted = false;
	const hangs = task({
		name: 'hangs',
		timeout: 50,
		run: (_, context) =>
			new Promise<string>(() => {
				context.signal.addEventListener('abort', () => (aborted = true));
			}),
	});
	const { summary } = await runTasks(dirOf(t), [hangs]);
	t.deepEqual(summary.failed, ['hangs']);
	t.regex(summary.errors.hangs!, /timed out after 50 ms/);
	t.true(aborted);
});

test('retry: a flaky task succeeds on a later attempt, and the retries are counted', async t => {
	let attempts = 0;
	const flaky = task({
		name: 'flaky',
		retry: { retries: 3, minTimeout: 1, factor: 1 },
		run: (_, context) => {
			attempts++;
			if (context.attempt < 3) throw new Error(`attempt ${context.attempt} failed`);
			return 'ok';
		},
	});
	const { summary, events } = await runTasks(dirOf(t), [flaky]);
	t.is(attempts, 3);
	t.deepEqual(summary.succeeded, ['flaky']);
	t.deepEqual(summary.retries, { flaky: 2 });
	t.is(events.filter(event => event.type === 'task-retry').length, 2);
});

test('retry gives up after its retries and reports the last error', async t => {
	let attempts = 0;
	const broken = task({ name: 'broken', retry: { retries: 2, minTimeout: 1 }, run: () => { attempts++; throw new Error(`failure ${attempts}`); } });
	const { summary } = await runTasks(dirOf(t), [broken]);
	t.is(attempts, 3);
	t.is(summary.errors.broken, 'failure 3');
});

test('aborting the run aborts running tasks, starts nothing new and records them as interrupted', async t => {
	const controller = new AbortController();
	let sawAbort = false;
	const first = task({
		name: 'first',
		run: (_, context) =>
			new Promise<number>((_, reject) => {
				setTimeout(() => controller.abort(), 20);
				context.signal.addEventListener('abort', () => {
					sawAbort = true;
					reject(new Error('stopped'));
				});
			}),
	});
	const second = task({ name: 'second', needs: { first }, run: () => 2 });
	const { summary } = await runTasks(dirOf(t), [second], { signal: controller.signal });
	t.true(sawAbort);
	t.deepEqual(summary.interrupted, ['first']);
	t.deepEqual(summary.blocked, ['second']);
	const again = await runTasks(dirOf(t), [task({ name: 'second', needs: { first: task({ name: 'first', run: () => 1 }) }, run: () => 2 })]);
	const start = again.events.find(event => event.type === 'task-start' && event.name === 'first');
	t.deepEqual(start?.type === 'task-start' ? start.reasons : [], [{ kind: 'interrupted' }]);
});

test('a task throwing a non-Error value fails with a readable message', async t => {
	const odd = task({ name: 'odd', run: () => { throw { code: 42 }; } });
	const { summary } = await runTasks(dirOf(t), [odd]);
	t.deepEqual(summary.failed, ['odd']);
	t.is(summary.errors.odd, 'non-Error value thrown: {"code":42}');
});

test('an output that is not JSON fails the task, naming where', async t => {
	const dated = task({ name: 'dated', run: () => ({ when: new Date() }) });
	const { summary } = await runTasks(dirOf(t), [dated as Task<unknown>]);
	t.regex(summary.errors.dated!, /not JSON: output\.when is a Date/);
});

test('secret outputs are sealed in the state, redacted from errors and logs, and decrypted on reuse', async t => {
	const dir = dirOf(t);
	const secretValue = 'hunter2-correct-horse-battery';
	const make = (fail: boolean) => {
		const token = task({ name: 'token', secret: true, run: () => secretValue });
		return task({
			name: 'user',
			needs: { token },
			run: ({ token }, context) => {
				context.log.info(`using ${token}`);
				if (fail) throw new Error(`rejected ${token} (${Buffer.from(token).toString('base64')})`);
				return token.length;
			},
		});
	};
	const failing = await runTasks(dir, [make(true)]);
	const text = JSON.stringify(failing.events);
	t.false(text.includes(secretValue));
	t.false(text.includes(Buffer.from(secretValue).toString('base64')));
	t.regex(failing.summary.errors.user!, /rejected \[secret\] \(\[secret\]\)/);
	const { readFileSync } = await import('node:fs');
	t.false(readFileSync(join(dir, '.nub/state.jsonl'), 'utf8').includes(secretValue));
	const second = await runTasks(dir, [make(false)]);
	t.deepEqual(second.summary.cached, ['token']);
	const end = second.events.find(event => event.type === 'task-end' && event.name === 'user');
	t.deepEqual(end?.type === 'task-end' ? end.output : undefined, secretValue.length);
});

test('context.previous is the last recorded output (decrypted for a secret task), undefined at first', async t => {
	const dir = dirOf(t);
	const seen: Record<string, unknown[]> = { plain: [], secret: [] };
	const roots = () => {
		const plain = task({ name: 'plain', run: (_, { previous }) => (seen.plain!.push(previous), ((previous as number | undefined) ?? 0) + 1) });
		const secret = task({ name: 'secret', secret: true, run: (_, { previous }) => (seen.secret!.push(previous), `${previous ?? 'key'}+next`) });
		return [plain, secret];
	};
	await runTasks(dir, roots());
	await runTasks(dir, roots(), { forceTargets: ['plain', 'secret'] });
	await runTasks(dir, roots(), { forceTargets: ['plain', 'secret'] });
	t.deepEqual(seen.plain, [undefined, 1, 2]);
	t.deepEqual(seen.secret, [undefined, 'key+next', 'key+next+next']);
});

test('a secret input file (a private key) reruns the task when it changes, and the state keeps only an HMAC of it; a plain file keeps its plain hash', async t => {
	const dir = dirOf(t);
	const { readFileSync } = await import('node:fs');
	const { contentHash } = await import('../../lib/engine/json.ts');
	writeFileSync(join(dir, 'tls.key'), 'private-key-one');
	writeFileSync(join(dir, 'tls.crt'), 'public-certificate');
	const certificate = () => task({ name: 'certificate', secret: true, inputs: { files: ['tls.crt', 'tls.key'], secretFiles: ['tls.key'] }, run: () => 'pair' });
	t.deepEqual((await runTasks(dir, [certificate()])).started, ['certificate']);
	t.deepEqual((await runTasks(dir, [certificate()])).started, []);
	writeFileSync(join(dir, 'tls.key'), 'private-key-two');
	const changed = await runTasks(dir, [certificate()]);
	t.deepEqual(changed.started, ['certificate']);
	const start = changed.events.find(event => event.type === 'task-start');
	t.deepEqual(start?.type === 'task-start' ? start.reasons : undefined, [{ kind: 'input-changed', input: 'file tls.key' }]);
	const state = readFileSync(join(dir, '.nub/state.jsonl'), 'utf8');
	for (const value of ['private-key-one', 'private-key-two']) t.false(state.includes(contentHash(Buffer.from(value))), 'a plain hash of the key file is in the state');
	t.true(state.includes(contentHash(Buffer.from('public-certificate'))), 'the certificate keeps its plain content hash');
});

test('a secret file that is not among the input files is refused when the graph is built', async t => {
	const stray = task({ name: 'stray', inputs: { files: ['a.crt'], secretFiles: ['a.key'] }, run: () => 1 });
	const error = await t.throwsAsync(runTasks(dirOf(t), [stray]));
	t.is(error!.message, 'task "stray": inputs.secretFiles names "a.key", which is not in inputs.files');
});

test("secret: 'inputs' seals the output but redacts only the secrets it was built from", async t => {
	const dir = dirOf(t);
	const password = 'correct-horse-battery-staple';
	const pass = task({ name: 'pass', secret: true, run: () => password });
	const manifest = task({
		name: 'manifest',
		secret: 'inputs',
		needs: { pass },
		run: ({ pass }) => ({ namespace: 'nublado', data: Buffer.from(`user:${pass}\n`).toString('base64') }),
	});
	const show = task({
		name: 'show',
		needs: { manifest },
		run: ({ manifest }, { log }) => {
			log.info(JSON.stringify(manifest));
			return manifest.namespace.length;
		},
	});
	const { events } = await runTasks(dir, [show]);
	const logged = events.flatMap(event => (event.type === 'task-log' ? [event.message] : []));
	t.is(logged.length, 1);
	// The namespace is shown; the password, embedded at an offset inside base64, is not.
	t.regex(logged[0]!, /"namespace":"nublado"/);
	t.regex(logged[0]!, /\[secret\]/);
	t.false(logged[0]!.includes(Buffer.from(`user:${password}\n`).toString('base64').slice(8, 30)));
	const stateText = (await import('node:fs')).readFileSync(join(dir, '.nub/state.jsonl'), 'utf8');
	t.false(stateText.includes('nublado'), 'the manifest is sealed in the state');

	// On a later run the secret is cached, sealed, and still redacted before anything runs.
	const failing = task({ name: 'failing', needs: { manifest }, run: ({ manifest }) => { throw new Error(`bad ${manifest.data}`); } });
	const again = await runTasks(dir, [failing]);
	t.regex(again.summary.errors.failing!, /^bad .*\[secret\]/);
	t.false(again.summary.errors.failing!.includes(Buffer.from(`user:${password}\n`).toString('base64').slice(8, 30)));
});

test('a secret input reruns the task when it changes, and the state keeps only its keyed digest', async t => {
	const dir = dirOf(t);
	const { readFileSync } = await import('node:fs');
	const { contentHash, canonicalJson } = await import('../../lib/engine/json.ts');
	const credential = (value: string) => task({ name: 'credential', secret: true, inputs: { secret: value }, run: () => value });
	t.deepEqual((await runTasks(dir, [credential('hunter2-password')])).started, ['credential']);
	t.deepEqual((await runTasks(dir, [credential('hunter2-password')])).started, []);
	const changed = await runTasks(dir, [credential('a-new-password')]);
	t.deepEqual(changed.started, ['credential']);
	const start = changed.events.find(event => event.type === 'task-start');
	t.deepEqual(start?.type === 'task-start' ? start.reasons : undefined, [{ kind: 'input-changed', input: 'secret input' }]);
	const state = readFileSync(join(dir, '.nub/state.jsonl'), 'utf8');
	for (const value of ['hunter2-password', 'a-new-password']) {
		t.false(state.includes(value));
		t.false(state.includes(contentHash(canonicalJson(value))), 'a plain hash of the secret is in the state');
	}
});

test('held tasks are not run: their last success is reused, and one that never ran is skipped with what needs it', async t => {
	const dir = dirOf(t);
	let runs = 0;
	let version = 1;
	const make = () => {
		const deploy = task({ name: 'deploy', cluster: true, inputs: { version }, run: () => ++runs });
		const after = task({ name: 'after', needs: { deploy }, run: ({ deploy }) => deploy * 10 });
		return after;
	};
	const never = await runTasks(dir, [make()], { held: new Set(['deploy']) });
	t.deepEqual(never.summary.skipped, ['deploy', 'after']);
	t.is(runs, 0);
	await runTasks(dir, [make()]);
	version = 2;
	const held = await runTasks(dir, [make()], { held: new Set(['deploy']) });
	t.deepEqual(held.summary.cached, ['deploy', 'after']);
	t.is(runs, 1);
});

test('a state that cannot be written stops the run: what runs is interrupted, nothing more starts, and runGraph rejects with the state error', async t => {
	const dir = tempDir();
	t.teardown(() => cleanup(dir));
	let slowStopped = false;
	const a = task({ name: 'a', run: () => 'a' });
	const slow = task({
		name: 'slow',
		run: (_, { signal }) =>
			new Promise<string>((_resolve, reject) => {
				signal.addEventListener('abort', () => {
					slowStopped = true;
					reject(signal.reason);
				});
			}),
	});
	const after = task({ name: 'after', needs: { a }, run: ({ a }) => a });
	// A disk that is full: every record fails, as StateStore says it (NubError 'state').
	const state = StateStore.load(join(dir, '.nub'));
	const full = new NubError('state', 'cannot write .nub/state.jsonl (ENOSPC): task "a" and what ends after it are not recorded, and run again next time');
	state.recordSuccess = () => {
		throw full;
	};
	state.recordFailure = () => {
		throw full;
	};
	const events: NubEvent[] = [];
	const nodes = selectNodes(buildGraph([a, slow, after]), ['a', 'slow', 'after']);
	const running = runGraph({ nodes, state, root: dir, jobs: 4, sealer: createSealer({ stateDir: join(dir, '.nub') }), redactor: new Redactor(), emit: event => events.push(event) });
	t.is(await t.throwsAsync(running), full);
	t.true(slowStopped, 'the running task was interrupted');
	t.false(events.some(event => event.type === 'task-start' && event.name === 'after'), 'nothing more started');
});
