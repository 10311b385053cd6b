import test from 'ava';
import { appendFileSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { NubError } from '../../lib/engine/errors.ts';
import { depsMap, depsText, StateStore } from '../../lib/engine/state-store.ts';
import { cleanup, tempDir } from '../helpers/engine.ts';

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
	appendFileSync(file, JSON.stringify({ t: 'ok', ...ok('b', 2) }));
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
	// What a compaction killed before its rename leaves, which the next one removes.
	mkdirSync(join(dir, '.nub'), { recursive: true, mode: 0o700 });
	writeFileSync(join(dir, '.nub/state.jsonl.4242.k1ll3d.tmp'), 'half a log');
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

test('a version 1 log is read, and rewritten as version 2 before the first record is added', async t => {
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
	t.is(lines[0], '{"nub":"state","version":2}');
	t.false(lines.some(line => line.includes('"key"')), 'no version 1 record is left');
	const again = StateStore.load(dir);
	t.deepEqual([...again.names()].sort(), ['a', 'b', 'd', 'e']);
	t.is(again.lastSuccess('d')?.deps, 'a ha b hb');
	t.true(again.failedSince('b'));
	cleanup(dir);
});

test('a newer version of the log is refused as such, not as corrupt', t => {
	const dir = tempDir();
	writeFileSync(join(dir, 'state.jsonl'), '{"nub":"state","version":3}\n');
	const message = t.throws(() => StateStore.load(dir))!.message;
	t.regex(message, /written by a nub that keeps its state in version 3; this nub reads versions 1 and 2/);
	t.notRegex(message, /corrupt/);
	cleanup(dir);
});

test('needs are recorded as one string of name and hash pairs, and read back in order', t => {
	const deps = { 'hub:config': 'h1', b: 'h2' };
	t.is(depsText(deps), 'hub:config h1 b h2');
	t.deepEqual(Object.entries(depsMap(depsText(deps))), Object.entries(deps));
	t.deepEqual(depsMap(depsText({})), {});
});
