import test from 'ava';
import { join } from 'node:path';
import type { NubEvent } from '../../lib/engine/events.ts';
import { buildGraph, type GraphNode } from '../../lib/engine/graph.ts';
import { contentHash, canonicalJson } from '../../lib/engine/json.ts';
import type { Decision } from '../../lib/engine/plan.ts';
import { Redactor } from '../../lib/engine/redact.ts';
import { TaskRunner, type RunnerOptions } from '../../lib/engine/runner.ts';
import { createSealer } from '../../lib/engine/sealer.ts';
import { StateStore } from '../../lib/engine/state-store.ts';
import { task, type Task } from '../../lib/engine/task.ts';
import { cleanup, tempDir } from '../helpers/engine.ts';

test.beforeEach(t => {
	(t.context as { dir: string }).dir = tempDir();
});
test.afterEach.always(t => cleanup((t.context as { dir: string }).dir));
const dirOf = (t: { context: unknown }) => (t.context as { dir: string }).dir;

/** A runner over the graph of `root`, with the state in `dir`, recording its events. */
function runnerFor(dir: string, root: Task<unknown>, extra: Partial<RunnerOptions> = {}) {
	const graph = buildGraph([root]);
	const state = StateStore.load(join(dir, '.nub'));
	const events: NubEvent[] = [];
	const options: RunnerOptions = {
		state,
		root: dir,
		emit: event => events.push(event),
		sealer: createSealer({ stateDir: join(dir, '.nub') }),
		redactor: new Redactor(),
		...extra,
	};
	const node = (name: string): GraphNode => graph.byName.get(name)!;
	return { runner: new TaskRunner(options, graph.nodes), state, events, node };
}

const neverRan = (inputs: Decision['inputs'] = {}): Decision => ({ inputs, reasons: [{ kind: 'never-ran' }], pending: [] });

test('a task receives what its needs gave under its keys, and its success is recorded with its inputs and their hashes', async t => {
	const ip = task({ name: 'ip', run: () => '10.0.0.1' });
	const dns = task({ name: 'dns', needs: { address: ip }, inputs: { version: 2 }, run: ({ address }) => `${address}:53` });
	const { runner, state, events, node } = runnerFor(dirOf(t), dns);
	t.is(await runner.run(node('ip'), neverRan(), 0), 'succeeded');
	t.is(await runner.run(node('dns'), neverRan({ version: 2 }), 0), 'succeeded');
	const ok = state.lastSuccess('dns')!;
	t.is(ok.output, '10.0.0.1:53');
	t.deepEqual(ok.inputs, { version: 2 });
	t.is(ok.deps, `ip ${contentHash(canonicalJson('10.0.0.1'))}`);
	t.is(runner.hashes[node('dns').index], ok.outHash);
	t.deepEqual(
		events.map(event => `${event.type} ${'name' in event ? event.name : ''}`),
		['task-start ip', 'task-end ip', 'task-start dns', 'task-end dns'],
	);
	await state.close();
});

test('a cached secret output, reused, is what a dependent receives', async t => {
	const dir = dirOf(t);
	const graph = () => {
		const token = task({ name: 'token', secret: true, run: () => 'hunter2-token' });
		return task({ name: 'config', needs: { token }, run: ({ token }) => token.length });
	};
	const first = runnerFor(dir, graph());
	await first.runner.run(first.node('token'), neverRan(), 0);
	await first.state.close();
	const second = runnerFor(dir, graph());
	second.runner.reuse(second.node('token'));
	t.deepEqual(second.events, [{ type: 'task-cached', name: 'token' }]);
	t.is(await second.runner.run(second.node('config'), neverRan(), 0), 'succeeded');
	t.is(second.state.lastSuccess('config')!.output, 'hunter2-token'.length);
	await second.state.close();
});

test('a decision whose inputs could not be read fails the task before it starts, and records why', async t => {
	let ran = false;
	const files = task({ name: 'files', inputs: { files: ['gone.txt'] }, run: () => (ran = true) });
	const { runner, state, events, node } = runnerFor(dirOf(t), files);
	const error = new Error('declared input "gone.txt" does not exist');
	const decision: Decision = { inputs: {}, reasons: [{ kind: 'input-unreadable', error: error.message }], pending: [], error };
	t.is(await runner.run(node('files'), decision, 0), 'failed');
	t.false(ran);
	t.false(events.some(event => event.type === 'task-start'));
	t.is(state.get('files')?.fail?.error, 'declared input "gone.txt" does not exist');
	t.deepEqual(runner.errors, { files: 'declared input "gone.txt" does not exist' });
	await state.close();
});

test('a failure whose error carries a JSON detail puts it, redacted, on the task-end event; other errors put none', async t => {
	const redactor = new Redactor();
	redactor.add('hunter2-token');
	const detailed = task({
		name: 'rollout',
		run: () => {
			throw Object.assign(new Error('Deployment nublado/hub: pod hub-1/container hub: ImagePullBackOff: no'), {
				detail: { case: 'image-pull', pod: 'hub-1', container: 'hub', message: 'token hunter2-token' },
			});
		},
	});
	const plain = task({ name: 'plain', run: () => { throw Object.assign(new Error('no'), { detail: 'a string is no detail' }); } });
	const first = runnerFor(dirOf(t), detailed, { redactor });
	t.is(await first.runner.run(first.node('rollout'), neverRan(), 0), 'failed');
	const end = first.events.find(event => event.type === 'task-end');
	t.deepEqual(end && 'detail' in end ? end.detail : undefined, { case: 'image-pull', pod: 'hub-1', container: 'hub', message: 'token [secret]' });
	await first.state.close();
	const second = runnerFor(tempDir(), plain);
	t.is(await second.runner.run(second.node('plain'), neverRan(), 0), 'failed');
	t.false(second.events.some(event => event.type === 'task-end' && 'detail' in event));
	await second.state.close();
});

test('abort interrupts a running task through its signal, recorded as interrupted', async t => {
	const controller = new AbortController();
	let started!: () => void;
	const running = new Promise<void>(resolve => (started = resolve));
	const waits = task({
		name: 'waits',
		run: (_, context) =>
			new Promise((_, reject) => {
				context.signal.addEventListener('abort', () => reject(new Error('stopped')));
				started();
			}),
	});
	const { runner, state, node } = runnerFor(dirOf(t), waits, { signal: controller.signal });
	const outcome = runner.run(node('waits'), neverRan(), 0);
	await running;
	controller.abort();
	runner.abort();
	t.is(await outcome, 'interrupted');
	t.true(state.get('waits')?.fail?.interrupted);
	await state.close();
});
