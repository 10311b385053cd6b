import test from 'ava';
import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildGraph } from '../../lib/engine/graph.ts';
import { readSettled, settledKey, settledMatches, stateStamp, writeSettled } from '../../lib/engine/settled.ts';
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
	const nodes = graphOf();
	t.true(settledMatches(base, graphOf(), none), 'the same graph, the same key');
	t.false(settledMatches(base, graphOf({ a: 'a2' }), none), 'a renamed task');
	t.false(settledMatches(base, graphOf({ needsOrder: 'ba' }), none), 'needs in another order');
	t.false(settledMatches(base, nodes.slice(1), none), 'another selection');
	const version2 = settledKey(nodes, node => (node.name === 'b' ? { version: 2 } : undefined));
	t.false(settledMatches(base, nodes, node => (node.name === 'b' ? { version: 2 } : undefined)), 'an input');
	t.true(settledMatches(version2, nodes, node => (node.name === 'b' ? { version: 2 } : undefined)));
	t.false(settledMatches(version2, nodes, node => (node.name === 'b' ? { version: '2' } : undefined)), 'a version 2 is not "2"');
	t.true(settledMatches(base, nodes, () => ({})), 'no inputs is no fingerprint');
	const files = settledKey(nodes, () => ({ files: { y: '1', x: '2' } }));
	t.true(settledMatches(files, nodes, () => ({ files: { x: '2', y: '1' } })), 'canonical: key order does not matter');
	// A task that needs another through a second path: the same names, other needs.
	const a = task({ name: 'a', run: () => 1 });
	const b = task({ name: 'b', needs: { a }, run: () => 2 });
	const c1 = buildGraph([task({ name: 'c', needs: { b }, run: () => 3 })]).nodes;
	const c2 = buildGraph([task({ name: 'c', needs: { a, b }, run: () => 3 })]).nodes;
	t.is(settledKey(c1, none).names, settledKey(c2, none).names);
	t.false(settledMatches(settledKey(c1, none), c2, none), 'an added need');
});

test('the mark is written whole (0600) and read back; a damaged or foreign one is no mark', t => {
	const dir = tempDir();
	t.is(readSettled(dir), undefined);
	const key = settledKey(graphOf(), none);
	writeSettled(dir, { stamp: 's', ...key, sealed: { name: 'x', sealed: 'v1.a.b.c' } });
	t.deepEqual(readSettled(dir), { stamp: 's', ...key, sealed: { name: 'x', sealed: 'v1.a.b.c' } });
	t.is(statSync(join(dir, 'settled.json')).mode & 0o777, 0o600);
	writeFileSync(join(dir, 'settled.json'), '{"version":1,"stamp":"s"');
	t.is(readSettled(dir), undefined);
	writeFileSync(join(dir, 'settled.json'), JSON.stringify({ version: 99, stamp: 's', ...key }));
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
