import test from 'ava';
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { spawn, spawnSync } from 'node:child_process';
import { createCipheriv } from 'node:crypto';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { NubError } from '../../lib/engine/errors.ts';
import { createSealer } from '../../lib/engine/sealer.ts';
import { depsMap, depsText, StateStore } from '../../lib/engine/state-store.ts';
import { cleanup, tempDir } from '../helpers/engine.ts';
import { repoRoot } from '../helpers/project.ts';

const ok = (name: string, output: number) => ({ name, inputs: {}, deps: '', outHash: `h${output}`, output, at: 0, ms: 1 });

test('records survive a reload; the last record of a task wins', async t => {
	const dir = tempDir();
	const store = StateStore.load(join(dir, '.nub'));
	store.recordSuccess(ok('a', 1));
	store.recordSuccess(ok('a', 2));
	store.recordFailure({ name: 'b', error: 'broke', at: 0, ms: 1 });
	await store.close();
	const again = StateStore.load(join(dir, '.nub'));
	t.is(again.get('a')?.ok?.output, 2);
	t.is(again.get('b')?.fail?.error, 'broke');
	t.is(again.get('b')?.ok, undefined);
	cleanup(dir);
});

test('the folder is 0700 and the file 0600', async t => {
	const dir = tempDir();
	const store = StateStore.load(join(dir, '.nub'));
	store.recordSuccess(ok('a', 1));
	await store.close();
	t.is(statSync(join(dir, '.nub')).mode & 0o777, 0o700);
	t.is(statSync(join(dir, '.nub/state.jsonl')).mode & 0o777, 0o600);
	cleanup(dir);
});

test('a torn last record (a crash mid-write) is dropped and cut off at the next write', async t => {
	const dir = tempDir();
	const store = StateStore.load(join(dir, '.nub'));
	store.recordSuccess(ok('a', 1));
	store.recordSuccess(ok('b', 2));
	await store.close();
	const file = join(dir, '.nub/state.jsonl');
	appendFileSync(file, '{"t":"ok","name":"c","inp');
	const recovered = StateStore.load(join(dir, '.nub'));
	t.is(recovered.get('b')?.ok?.output, 2);
	t.is(recovered.get('c'), undefined);
	recovered.recordSuccess(ok('d', 4));
	await recovered.close();
	const lines = readFileSync(file, 'utf8').trim().split('\n');
	t.notThrows(() => lines.map(line => JSON.parse(line)));
	t.is(StateStore.load(join(dir, '.nub')).get('d')?.ok?.output, 4);
	cleanup(dir);
});

test('a whole last record without its newline is kept, and the next record starts a new line', async t => {
	const dir = tempDir();
	const store = StateStore.load(join(dir, '.nub'));
	store.recordSuccess(ok('a', 1));
	await store.close();
	const file = join(dir, '.nub/state.jsonl');
	// nub writes a line and its newline at once; an older nub could crash between the two.
	const store2 = StateStore.load(join(dir, '.nub'));
	store2.recordSuccess(ok('b', 2));
	await store2.close();
	writeFileSync(file, readFileSync(file, 'utf8').slice(0, -1));
	const reloaded = StateStore.load(join(dir, '.nub'));
	t.is(reloaded.get('b')?.ok?.output, 2);
	reloaded.recordSuccess(ok('c', 3));
	await reloaded.close();
	const final = StateStore.load(join(dir, '.nub'));
	t.is(final.get('b')?.ok?.output, 2);
	t.is(final.get('c')?.ok?.output, 3);
	cleanup(dir);
});

test('a corrupt record before the end is a clear error naming the line', t => {
	const dir = tempDir();
	const file = join(dir, 'state.jsonl');
	writeFileSync(file, `{"nub":"state","version":2}\nnot json at all\n${JSON.stringify({ t: 'ok', ...ok('a', 1) })}\n`);
	const error = t.throws(() => StateStore.load(dir), { instanceOf: NubError });
	t.is(error?.kind, 'state');
	t.regex(error!.message, /state\.jsonl line 2 is not JSON: the state is corrupt/);
	cleanup(dir);
});

test('a corrupt record far into a long log is named by its line', t => {
	const dir = tempDir();
	const file = join(dir, 'state.jsonl');
	// Well past the first block the log is read in, and one line longer than a block.
	const lines = Array.from({ length: 1000 }, (_, i) => JSON.stringify({ t: 'ok', ...ok(`t${i}`, i) }));
	lines[10] = JSON.stringify({ t: 'ok', ...ok('long', 10), deps: Array.from({ length: 2000 }, (_, i) => `t${i} h${i}`).join(' ') });
	lines[700] = '{"t":"ok","name":';
	writeFileSync(file, `{"nub":"state","version":2}\n${lines.join('\n')}\n`);
	t.regex(t.throws(() => StateStore.load(dir))!.message, /state\.jsonl line 702 is not JSON/);
	lines[700] = JSON.stringify({ t: 'ok', ...ok('t700', 700) });
	writeFileSync(file, `{"nub":"state","version":2}\n${lines.join('\n')}\n`);
	const store = StateStore.load(dir);
	t.is(store.get('t999')?.ok?.output, 999);
	t.is(Object.keys(depsMap(store.get('long')!.ok!.deps)).length, 2000);
	cleanup(dir);
});

test('a file that is not nub state is refused', t => {
	const dir = tempDir();
	writeFileSync(join(dir, 'state.jsonl'), '{"something":"else"}\n');
	t.regex(t.throws(() => StateStore.load(dir))!.message, /line 1 is not a nub state header/);
	cleanup(dir);
});

test('superseded records are compacted away when they dominate the log', async t => {
	const dir = tempDir();
	// What a compaction killed before its rename leaves, which the next one removes: named after a
	// process that has ended (a fixed number may be a live process on the machine that runs the test).
	const ended = spawnSync(process.execPath, ['-e', '']).pid;
	mkdirSync(join(dir, '.nub'), { recursive: true, mode: 0o700 });
	writeFileSync(join(dir, `.nub/state.jsonl.${ended}.k1ll3d.tmp`), 'half a log');
	for (let round = 0; round < 3; round++) {
		const store = StateStore.load(join(dir, '.nub'));
		for (let i = 0; i < 800; i++) store.recordSuccess(ok('same', round * 1000 + i));
		await store.close();
	}
	const lines = readFileSync(join(dir, '.nub/state.jsonl'), 'utf8').trim().split('\n');
	t.true(lines.length < 1700, `${lines.length} lines`);
	t.is(StateStore.load(join(dir, '.nub')).get('same')?.ok?.output, 2799);
	t.deepEqual(readdirSync(join(dir, '.nub')).filter(name => name.endsWith('.tmp')), [], 'a killed compaction\'s temporary file is left');
	cleanup(dir);
});

test('loading never writes', t => {
	const dir = tempDir();
	const file = join(dir, 'state.jsonl');
	const text = `{"nub":"state","version":2}\n${JSON.stringify({ t: 'ok', ...ok('a', 1) })}\n{"t":"ok","na`;
	writeFileSync(file, text);
	StateStore.load(dir);
	t.is(readFileSync(file, 'utf8'), text);
	cleanup(dir);
});

test('a version 1 log is read, and rewritten as version 3 before the first record is added', async t => {
	const dir = tempDir();
	const file = join(dir, 'state.jsonl');
	const v1 = [
		'{"nub":"state","version":1}',
		'{"t":"ok","name":"a","key":"ka","deps":[],"outHash":"ha","output":1,"at":0,"ms":1}',
		'{"t":"ok","name":"b","key":"kb","inputs":{"version":2},"deps":["a","ha"],"outHash":"hb","output":2,"at":0,"ms":1}',
		'{"t":"fail","name":"b","key":"kb2","error":"broke","at":1,"ms":1}',
		'{"t":"gone","name":"c","at":2}',
		'{"t":"ok","name":"d","key":"kd","deps":["a","ha","b","hb"],"outHash":"hd","output":4,"at":0,"ms":1}',
	].join('\n');
	writeFileSync(file, `${v1}\n`);
	const store = StateStore.load(dir);
	t.is(readFileSync(file, 'utf8'), `${v1}\n`, 'reading never writes, an old log included');
	t.is(store.lastSuccess('b')?.deps, 'a ha');
	t.deepEqual(depsMap(store.lastSuccess('d')!.deps), { a: 'ha', b: 'hb' });
	t.deepEqual(store.lastSuccess('b')?.inputs, { version: 2 });
	t.true(store.failedSince('b'));
	t.false('key' in store.lastSuccess('a')!);
	store.recordSuccess(ok('e', 5));
	await store.close();
	const lines = readFileSync(file, 'utf8').trim().split('\n');
	t.regex(lines[0]!, /^\{"nub":"state","version":3,"seq":5,"mac":"[\w-]{22}"\}$/);
	t.false(lines.some(line => line.includes('"key"')), 'no version 1 record is left');
	const again = StateStore.load(dir);
	t.deepEqual([...again.names()].sort(), ['a', 'b', 'd', 'e']);
	t.is(again.lastSuccess('d')?.deps, 'a ha b hb');
	t.true(again.failedSince('b'));
	cleanup(dir);
});

test('a newer version of the log is refused as such, not as corrupt', t => {
	const dir = tempDir();
	writeFileSync(join(dir, 'state.jsonl'), '{"nub":"state","version":4}\n');
	const message = t.throws(() => StateStore.load(dir))!.message;
	t.regex(message, /written by a nub that keeps its state in version 4; this nub reads versions 1 to 3/);
	t.notRegex(message, /corrupt/);
	cleanup(dir);
});

test('needs are recorded as one string of name and hash pairs, and read back in order', t => {
	const deps = { 'hub:config': 'h1', b: 'h2' };
	t.is(depsText(deps), 'hub:config h1 b h2');
	t.deepEqual(Object.entries(depsMap(depsText(deps))), Object.entries(deps));
	t.deepEqual(depsMap(depsText({})), {});
});

// Attacks on the log (issue 17, item 2): each is a write an attacker can make to
// `.nub/state.jsonl` or the team-state Secret without the state key. Each must be refused.

/** A project's state with a few records, one of them secret, closed: its log, key and mark on disk. */
async function writtenState(dir: string) {
	const stateDir = join(dir, '.nub');
	const sealer = createSealer({ stateDir });
	const store = StateStore.load(stateDir, { sealer });
	store.recordSuccess(ok('ingress', 1));
	store.recordSuccess({ ...ok('hub-crypto-key', 0), output: undefined, sealed: sealer.seal('"key-one"', { name: 'hub-crypto-key', seq: store.nextSeq() }) });
	store.recordSuccess({ ...ok('proxy-token', 0), output: undefined, sealed: sealer.seal('"the-proxy-token"', { name: 'proxy-token', seq: store.nextSeq() }) });
	store.recordSuccess({ ...ok('firefly-password', 0), output: undefined, sealed: sealer.seal('"the-firefly-password"', { name: 'firefly-password', seq: store.nextSeq() }) });
	await store.close();
	return { stateDir, file: join(stateDir, 'state.jsonl'), sealer };
}

const refusedLine = (t: import('ava').ExecutionContext, stateDir: string, line: number) => {
	const error = t.throws(() => StateStore.load(stateDir), { instanceOf: NubError });
	t.is(error?.kind, 'state');
	t.regex(error!.message, new RegExp(`state\\.jsonl line ${line} (fails authentication|has no tag) under the state key`));
};

test('attack: a record for a task that does not exist, listing Namespace nublado, is refused naming its line', async t => {
	const dir = tempDir();
	t.teardown(() => cleanup(dir));
	const { stateDir, file } = await writtenState(dir);
	const output = { objects: [{ apiVersion: 'v1', kind: 'Namespace', name: 'nublado' }] };
	// Unsigned, then with a sequence number and a made-up tag where nub puts its own.
	appendFileSync(file, `${JSON.stringify({ t: 'ok', ...ok('no-such-task', 0), output })}\n`);
	refusedLine(t, stateDir, 6);
	const lines = readFileSync(file, 'utf8').split('\n').slice(0, 5);
	writeFileSync(file, `${[...lines, JSON.stringify({ t: 'ok', ...ok('no-such-task', 0), output, seq: 5, mac: 'A'.repeat(22) })].join('\n')}\n`);
	refusedLine(t, stateDir, 6);
});

test('attack: an appended {"t":"gone","name":"hub-crypto-key"} is refused, with or without its newline', async t => {
	const dir = tempDir();
	t.teardown(() => cleanup(dir));
	const { stateDir, file } = await writtenState(dir);
	const before = readFileSync(file);
	appendFileSync(file, '{"t":"gone","name":"hub-crypto-key"}\n');
	refusedLine(t, stateDir, 6);
	writeFileSync(file, Buffer.concat([before, Buffer.from('{"t":"gone","name":"hub-crypto-key","at":1,"seq":5}')]));
	refusedLine(t, stateDir, 6);
	// Torn (not JSON) is what a crash leaves: dropped, and the key is still there.
	writeFileSync(file, Buffer.concat([before, Buffer.from('{"t":"gone","name":"hub-cr')]));
	t.truthy(StateStore.load(stateDir).lastSuccess('hub-crypto-key')?.sealed);
});

test('attack: swapping two sealed values is refused, by the log and by the values themselves', async t => {
	const dir = tempDir();
	t.teardown(() => cleanup(dir));
	const { stateDir, file, sealer } = await writtenState(dir);
	const lines = readFileSync(file, 'utf8').split('\n');
	const sealedOf = (line: string) => (JSON.parse(line) as { sealed: string }).sealed;
	const [proxy, firefly] = [sealedOf(lines[3]!), sealedOf(lines[4]!)];
	lines[3] = lines[3]!.replace(proxy, firefly);
	lines[4] = lines[4]!.replace(firefly, proxy);
	writeFileSync(file, lines.join('\n'));
	refusedLine(t, stateDir, 4);
	// Were the log's tags forged too, the value would not open for the other task or record.
	t.throws(() => sealer.open(proxy, 'task "firefly-password"', { name: 'firefly-password', seq: 4 }), { message: /cannot decrypt the secret output/ });
	t.throws(() => sealer.open(proxy, 'task "proxy-token"', { name: 'proxy-token', seq: 9 }), { message: /cannot decrypt the secret output/ });
	t.is(sealer.open(proxy, 'task "proxy-token"', { name: 'proxy-token', seq: 3 }), '"the-proxy-token"');
});

test('attack: re-appending an older record (a rotation rolled back) is refused', async t => {
	const dir = tempDir();
	t.teardown(() => cleanup(dir));
	const { stateDir, file, sealer } = await writtenState(dir);
	const oldKeyLine = readFileSync(file, 'utf8').split('\n')[2]!;
	// The key is rotated: a new record for the task.
	const store = StateStore.load(stateDir, { sealer });
	store.recordSuccess({ ...ok('hub-crypto-key', 0), output: undefined, sealed: sealer.seal('"key-two"', { name: 'hub-crypto-key', seq: store.nextSeq() }) });
	await store.close();
	appendFileSync(file, `${oldKeyLine}\n`);
	refusedLine(t, stateDir, 7);
});

test('attack: a log cut short, or an older copy put back, is caught by the high-water mark', async t => {
	const dir = tempDir();
	t.teardown(() => cleanup(dir));
	const { stateDir, file, sealer } = await writtenState(dir);
	const older = readFileSync(file);
	const store = StateStore.load(stateDir, { sealer });
	store.recordSuccess({ ...ok('hub-crypto-key', 0), output: undefined, sealed: sealer.seal('"key-two"', { name: 'hub-crypto-key', seq: store.nextSeq() }) });
	await store.close();
	t.is(statSync(join(stateDir, 'state.seq')).mode & 0o777, 0o600);
	// Whole lines cut off: every prefix is authentic, so the tags alone cannot tell.
	const lines = readFileSync(file, 'utf8').split('\n');
	writeFileSync(file, `${lines.slice(0, 5).join('\n')}\n`);
	const cut = t.throws(() => StateStore.load(stateDir), { instanceOf: NubError });
	t.is(cut?.kind, 'state');
	t.regex(cut!.message, /state\.jsonl ends at record 4, but this machine wrote records up to 5 .*cut short, or an older copy put back/);
	writeFileSync(file, older);
	t.regex(t.throws(() => StateStore.load(stateDir))!.message, /ends at record 4, but this machine wrote records up to 5/);
	// Deleted: no longer an empty state that makes everything anew.
	rmSync(file);
	t.regex(t.throws(() => StateStore.load(stateDir))!.message, /state\.jsonl is missing, but this machine wrote records up to 5/);
	// The mark cannot be lowered without the key either.
	writeFileSync(file, older);
	writeFileSync(join(stateDir, 'state.seq'), '{"seq":4,"mac":"AAAAAAAAAAAAAAAAAAAAAA"}\n');
	t.regex(t.throws(() => StateStore.load(stateDir))!.message, /state\.seq fails authentication/);
});

test('a state read while a run writes it always loads: the high-water mark is never ahead of the log read after it', async t => {
	const dir = tempDir();
	t.teardown(() => cleanup(dir));
	const { stateDir } = await writtenState(dir);
	// Another process appends a record and raises the mark, over and over, as run after run would.
	const store = pathToFileURL(join(repoRoot, 'lib/engine/state-store.ts')).href;
	const script = `import { StateStore } from ${JSON.stringify(store)};
for (let round = 0; round < 400; round++) {
	const store = StateStore.load(${JSON.stringify(stateDir)});
	store.recordSuccess({ name: 'ingress', inputs: {}, deps: '', outHash: 'h' + round, output: round, at: 0, ms: 1 });
	await store.close();
}`;
	const writer = spawn(process.execPath, ['--import', pathToFileURL(join(repoRoot, 'scripts/safe-tsx.mjs')).href, '--input-type=module', '-e', script], { stdio: ['ignore', 'ignore', 'pipe'] });
	let stderr = '';
	writer.stderr.on('data', chunk => (stderr += chunk));
	const ended = new Promise<number | null>(resolve => writer.on('exit', resolve));
	let running = true;
	void ended.then(() => (running = false));
	let loads = 0;
	const refused: string[] = [];
	while (running) {
		try {
			StateStore.load(stateDir);
		} catch (error) {
			refused.push((error as Error).message);
		}
		loads++;
		await new Promise(resolve => setImmediate(resolve));
	}
	t.is(await ended, 0, stderr);
	t.true(loads > 50, `${loads} loads`);
	t.deepEqual(refused.slice(0, 1), [], `${refused.length} of ${loads} loads refused`);
	t.is(StateStore.load(stateDir).get('ingress')?.ok?.output, 399);
});

test('a log that verifies under another key is refused at its first line: the wrong key', async t => {
	const dir = tempDir();
	t.teardown(() => cleanup(dir));
	const { stateDir } = await writtenState(dir);
	const other = createSealer({ stateDir, fromEnvironment: 'ab'.repeat(32) });
	const error = t.throws(() => StateStore.load(stateDir, { sealer: other }), { instanceOf: NubError });
	t.regex(error!.message, /line 1 fails authentication under the state key: the state key is wrong \(NUB_STATE_KEY\)/);
	// And without any key, it is not read unchecked.
	rmSync(join(stateDir, 'key'));
	t.regex(t.throws(() => StateStore.load(stateDir, { sealer: createSealer({ stateDir, readOnly: true }) }))!.message, /authenticated under the state key, which is missing/);
});

test('a version 2 log is upgraded once, under the key, its sealed values bound, and says so', async t => {
	const dir = tempDir();
	t.teardown(() => cleanup(dir));
	const stateDir = join(dir, '.nub');
	mkdirSync(stateDir, { mode: 0o700 });
	// A version 2 value: sealed without associated data (the v1 format), as an older nub did.
	const key = Buffer.alloc(32, 7);
	writeFileSync(join(stateDir, 'key'), `${key.toString('hex')}\n`, { mode: 0o600 });
	const nonce = Buffer.alloc(12, 1);
	const cipher = createCipheriv('aes-256-gcm', key, nonce);
	const body = Buffer.concat([cipher.update('"old-secret"'), cipher.final()]);
	const unbound = ['v1', nonce, cipher.getAuthTag(), body].map(p => (typeof p === 'string' ? p : p.toString('base64url'))).join('.');
	const v2 = ['{"nub":"state","version":2}', JSON.stringify({ t: 'ok', ...ok('a', 1) }), JSON.stringify({ t: 'ok', ...ok('s', 0), output: undefined, sealed: unbound })];
	writeFileSync(join(stateDir, 'state.jsonl'), `${v2.join('\n')}\n`);
	const messages: string[] = [];
	const store = StateStore.load(stateDir);
	store.onUpgrade = message => messages.push(message);
	store.recordSuccess(ok('b', 2));
	store.recordSuccess(ok('c', 3));
	await store.close();
	t.deepEqual(messages, [`the state log ${join(stateDir, 'state.jsonl')} was version 2, unauthenticated: it is now version 3, each record authenticated under the state key`]);
	const again = StateStore.load(stateDir);
	const s = again.lastSuccess('s')!;
	t.true(s.sealed!.startsWith('v2.'));
	t.is(createSealer({ stateDir }).open(s.sealed!, 'task "s"', s), '"old-secret"');
	t.deepEqual([...again.names()].sort(), ['a', 'b', 'c', 's']);
	// Put back as version 2 now (or any unauthenticated log, however long), it is refused: this
	// machine has written version 3 records.
	writeFileSync(join(stateDir, 'state.jsonl'), `${[...v2, ...Array.from({ length: 10 }, (_, i) => JSON.stringify({ t: 'ok', ...ok(`x${i}`, i) }))].join('\n')}\n`);
	t.regex(t.throws(() => StateStore.load(stateDir))!.message, /is version 2, unauthenticated, but this machine already wrote version 3 records up to 4/);
});

test('the high-water mark catches up when the state is next closed, though that run appended nothing (a killed run never closed it)', async t => {
	const dir = tempDir();
	const killed = StateStore.load(join(dir, '.nub'));
	killed.recordSuccess(ok('a', 1));
	// Killed: never closed, so no mark. The next run finds everything recorded and appends nothing.
	t.false(existsSync(join(dir, '.nub/state.seq')));
	const next = StateStore.load(join(dir, '.nub'));
	await next.close();
	t.true(existsSync(join(dir, '.nub/state.seq')), 'no mark after the run that closed the state');
	cleanup(dir);
});
