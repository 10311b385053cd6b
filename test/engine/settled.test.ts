import test from 'ava';
import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildGraph } from '../../lib/engine/graph.ts';
import { readSettled, settledKey, stateStamp, writeSettled } from '../../lib/engine/settled.ts';
import { StateStore } from '../../lib/engine/state-store.ts';
import { task } from '../../lib/engine/task.ts';
import { cleanup, tempDir } from '../helpers/engine.ts';

const graphOf = (names: { a?: string; needsOrder?: 'ab' | 'ba' } = {}) => {
	const a = task({ name: names.a ?? 'a', run: () => 1 });
	const b = task({ name: 'b', run: () => 2 });
	const needs = names.needsOrder === 'ba' ? { b, a } : { a, b };
	return buildGraph([task({ name: 'c', needs, run: () => 3 })]).nodes;
};
const none = () => undefined;

test('the key holds every task, its needs in order and its input fingerprint', t => {
	const base = settledKey(graphOf(), none);
	t.is(settledKey(graphOf(), none), base, 'the same graph, the same key');
	t.not(settledKey(graphOf({ a: 'a2' }), none), base, 'a renamed task');
	t.not(settledKey(graphOf({ needsOrder: 'ba' }), none), base, 'needs in another order');
	const nodes = graphOf();
	t.not(settledKey(nodes, node => (node.name === 'b' ? { version: 2 } : undefined)), base, 'an input');
	t.not(settledKey(nodes, node => (node.name === 'b' ? { version: 2 } : undefined)), settledKey(nodes, node => (node.name === 'b' ? { version: '2' } : undefined)), 'a version 2 is not "2"');
	t.is(settledKey(nodes, () => ({})), base, 'no inputs is no fingerprint');
	t.is(settledKey(nodes, () => ({ files: { y: '1', x: '2' } })), settledKey(nodes, () => ({ files: { x: '2', y: '1' } })), 'canonical: key order does not matter');
});

test('the mark is written whole (0600) and read back; a damaged or foreign one is no mark', t => {
	const dir = tempDir();
	t.is(readSettled(dir), undefined);
	writeSettled(dir, { stamp: 's', key: 'k', sealed: { name: 'x', sealed: 'v1.a.b.c' } });
	t.deepEqual(readSettled(dir), { stamp: 's', key: 'k', sealed: { name: 'x', sealed: 'v1.a.b.c' } });
	t.is(statSync(join(dir, 'settled.json')).mode & 0o777, 0o600);
	writeFileSync(join(dir, 'settled.json'), '{"version":1,"stamp":"s"');
	t.is(readSettled(dir), undefined);
	writeFileSync(join(dir, 'settled.json'), '{"version":99,"stamp":"s","key":"k"}');
	t.is(readSettled(dir), undefined);
	cleanup(dir);
});

test('any record appended to the log changes its stamp', async t => {
	const dir = tempDir();
	t.is(stateStamp(dir), 'none');
	const store = StateStore.load(dir);
	store.recordSuccess({ name: 'a', deps: '', outHash: 'h', output: 1, at: 0, ms: 0 });
	const first = stateStamp(dir);
	t.not(first, 'none');
	t.is(stateStamp(dir), first, 'nothing written, the same stamp');
	store.recordSuccess({ name: 'a', deps: '', outHash: 'h', output: 1, at: 0, ms: 0 });
	t.not(stateStamp(dir), first);
	await store.close();
	cleanup(dir);
});
