import test from 'ava';
import { join } from 'node:path';
import { knownAfterApply, unknownOutput, type ObjectDiff } from '../../lib/engine/changes.ts';
import { diffRun } from '../../lib/engine/diff.ts';
import { buildGraph, forcedTasks, selectNodes } from '../../lib/engine/graph.ts';
import { planRun } from '../../lib/engine/plan.ts';
import { Redactor } from '../../lib/engine/redact.ts';
import { createSealer } from '../../lib/engine/sealer.ts';
import { StateStore } from '../../lib/engine/state-store.ts';
import { task } from '../../lib/engine/task.ts';
import { cleanup, runTasks, tempDir } from '../helpers/engine.ts';

/**
 * key (secret, made at random) -> manifest (pure: built from it) -> applied (has a diff: one
 * record whose one field is what the manifest holds); address (not pure) -> applied too.
 */
function world(made: { key: number; address: string; version: number }) {
	const key = task({ name: 'key', secret: true, run: () => `secret-key-${++made.key}` });
	const address = task({ name: 'address', inputs: { version: made.version }, run: () => made.address });
	const manifest = task({ name: 'manifest', pure: true, secret: 'inputs', needs: { key }, run: ({ key }) => ({ data: `k=${key}` }) });
	const applied = task({
		name: 'applied',
		needs: { manifest, address },
		run: () => 'done',
		diff: async ({ manifest, address }, context): Promise<ObjectDiff[]> => [
			{ kind: 'Thing', name: 'one', action: 'update', changes: [{ path: 'data', before: null, after: manifest.data }, { path: 'address', before: null, after: address === unknownOutput('address') ? knownAfterApply : address }, { path: 'digest', before: null, after: context.digest('x') ?? 'none' }], live: null, planned: null },
		],
	});
	return { applied, key };
}

async function diffOf(dir: string, roots: ReturnType<typeof world>, targets: string[], options: { force?: string[]; all?: boolean } = {}) {
	const graph = buildGraph([roots.applied]);
	const nodes = selectNodes(graph, targets);
	const sealer = createSealer({ stateDir: join(dir, '.nub'), readOnly: true });
	const state = StateStore.load(join(dir, '.nub'), { sealer });
	const forced = forcedTasks(graph, options.force ?? [], { force: true });
	const plan = await planRun(nodes, state, dir, options.force ? forced : new Set(), text => sealer.digest(text));
	const redactor = new Redactor();
	return diffRun({ nodes, plan, state, root: dir, sealer, redactor, all: options.all ?? false, jobs: 2, signal: new AbortController().signal, extendContext: context => context });
}

test('a fresh graph: what a task that will run makes is known after apply, through a pure task; the secret to be made is named', async t => {
	const dir = tempDir();
	t.teardown(() => cleanup(dir));
	const made = { key: 0, address: '10.0.0.7', version: 1 };
	const result = await diffOf(dir, world(made), ['applied']);
	t.is(made.key, 0, 'the secret task did not run');
	t.deepEqual(result.anew, [{ task: 'key', maybe: false }]);
	t.deepEqual(result.failed, new Map());
	t.is(result.records.length, 1);
	t.is(result.records[0]!.task, 'applied');
	t.deepEqual(result.records[0]!.changes.map(change => change.after), ['k=(known after apply: key)', knownAfterApply, 'none']);
});

test('after a run: cached outputs are used (secrets redacted from the records), and only tasks that would run are diffed unless all', async t => {
	const dir = tempDir();
	t.teardown(() => cleanup(dir));
	const made = { key: 0, address: '10.0.0.7', version: 1 };
	await runTasks(dir, [world(made).applied]);
	t.is(made.key, 1);
	t.deepEqual((await diffOf(dir, world(made), ['applied'])).records, []);
	const all = await diffOf(dir, world(made), ['applied'], { all: true });
	t.is(all.records.length, 1);
	// The secret key is known from the state, and redacted wherever it shows.
	t.deepEqual(all.records[0]!.changes.map(change => change.after).slice(0, 2), ['k=[secret]', '10.0.0.7']);
	t.regex(all.records[0]!.changes[2]!.after!, /^[\w-]{22}$/, 'a keyed digest, the state key being there');
	t.deepEqual(all.anew, []);
	// A changed input of the non-pure task: its output is known after apply, the key cached.
	made.version = 2;
	const moved = await diffOf(dir, world(made), ['applied']);
	t.deepEqual(moved.records[0]!.changes.map(change => change.after).slice(0, 2), ['k=[secret]', knownAfterApply]);
	// Forcing the secret: made anew, and the manifest built from the marker.
	const forced = await diffOf(dir, world(made), ['applied'], { force: ['key'] });
	t.deepEqual(forced.anew, [{ task: 'key', maybe: false }]);
	t.is(forced.records[0]!.changes[0]!.after, 'k=(known after apply: key)');
	t.is(made.key, 1, 'no secret was made by a diff');
});

test('a diff that fails is reported by task, the others still run', async t => {
	const dir = tempDir();
	t.teardown(() => cleanup(dir));
	const bad = task({ name: 'bad', run: () => null, diff: async () => { throw new Error('the cluster said no\nsecond line'); } });
	const good = task({ name: 'good', run: () => null, diff: async () => [{ kind: 'Thing', name: 'g', action: 'create', changes: [], live: null, planned: null }] });
	const graph = buildGraph([bad, good]);
	const nodes = selectNodes(graph, ['bad', 'good']);
	const sealer = createSealer({ stateDir: join(dir, '.nub'), readOnly: true });
	const state = StateStore.load(join(dir, '.nub'), { sealer });
	const plan = await planRun(nodes, state, dir, new Set());
	const result = await diffRun({ nodes, plan, state, root: dir, sealer, redactor: new Redactor(), all: false, jobs: 2, signal: new AbortController().signal, extendContext: context => context });
	t.deepEqual(result.failed, new Map([['bad', 'the cluster said no']]));
	t.deepEqual(result.records.map(record => record.name), ['g']);
});

test('a pure task reading the fields of an output still to be made for the first time gets each field of its declared shape known after apply', async t => {
	const dir = tempDir();
	t.teardown(() => cleanup(dir));
	const cert = task({ name: 'cert', secret: true, shape: { pem: '', key: '' }, run: () => ({ pem: 'CERT', key: 'KEY' }) });
	const bundle = task({ name: 'bundle', pure: true, needs: { cert }, run: ({ cert }) => ({ data: `${cert.pem.trim()}+${cert.key.trim()}` }) });
	const applied = task({
		name: 'applied',
		needs: { bundle },
		run: () => null,
		diff: async ({ bundle }) => [{ kind: 'Thing', name: 'b', action: 'create', changes: [{ path: 'data', before: null, after: bundle.data }], live: null, planned: null }],
	});
	const graph = buildGraph([applied]);
	const nodes = selectNodes(graph, ['applied']);
	const sealer = createSealer({ stateDir: join(dir, '.nub'), readOnly: true });
	const state = StateStore.load(join(dir, '.nub'), { sealer });
	const plan = await planRun(nodes, state, dir, new Set());
	const result = await diffRun({ nodes, plan, state, root: dir, sealer, redactor: new Redactor(), all: false, jobs: 2, signal: new AbortController().signal, extendContext: context => context });
	t.is(result.records[0]!.changes[0]!.after, '(known after apply: cert)+(known after apply: cert)');
});
