import test from 'ava';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildGraph, forcedTasks, selectNodes } from '../../lib/engine/graph.ts';
import { describeReason, planRun, type PlanEntry } from '../../lib/engine/plan.ts';
import { createSealer } from '../../lib/engine/sealer.ts';
import { StateStore } from '../../lib/engine/state-store.ts';
import { task, type Task } from '../../lib/engine/task.ts';
import { cleanup, runTasks, tempDir, type RunResult } from '../helpers/engine.ts';

/** What a graph is made from: every task's output and inputs can be changed between runs. */
interface World {
	/** The output of `source`. */
	value?: string;
	/** The config input of `config`. */
	config?: string;
	/** The secret input of `secret`. */
	secret?: string;
	/** `joined` also needs `extra`. */
	extraNeed?: boolean;
	/** `flaky` fails. */
	fail?: boolean;
}

/**
 * source -> joined -> top, with file, config, secret and flaky beside them, all gathered by top:
 *
 *   source ─> joined ─┐
 *   file ─────────────┤
 *   config ───────────┼─> top
 *   secret ───────────┤
 *   flaky ────────────┘
 */
function graph(world: World): Task<unknown> {
	const source = task({ name: 'source', run: () => world.value ?? 'one' });
	const extra = task({ name: 'extra', run: () => 'extra' });
	const joined = task({
		name: 'joined',
		needs: world.extraNeed ? { source, extra } : { source },
		run: (inputs: Record<string, unknown>) => Object.values(inputs).join('+'),
	});
	const file = task({ name: 'file', inputs: { files: ['input.txt'] }, run: () => 'file' });
	const config = task({ name: 'config', inputs: { config: { size: world.config ?? '20Gi' } }, run: () => 'config' });
	const secret = task({ name: 'secret', inputs: { secret: () => world.secret ?? 'hunter2-password' }, run: () => 'secret' });
	const flaky = task({
		name: 'flaky',
		run: () => {
			if (world.fail) throw new Error('flaky broke');
			return 'flaky';
		},
	});
	return task({ name: 'top', needs: { joined, file, config, secret, flaky }, run: () => 'top' });
}

/** A situation: the runs that make the state, then what the plan and the run are asked. */
interface Situation {
	/** Runs made first, each of a world, the targets run (`top` by default) and the tasks forced. */
	before: Array<{ world: World; targets?: string[]; force?: string[] }>;
	/** What the input file holds for the plan and the run (`one` before). */
	file?: string;
	world: World;
	force?: string[];
	drift?: Record<string, string>;
	/** What the plan says of each task: `cached`, `maybe` or `run: <reasons in English>`. */
	expected: Record<string, string>;
}

/** The plan of `top`, every task cached but those named. */
function cachedBut(changes: Record<string, string>): Record<string, string> {
	const names = ['source', 'joined', 'file', 'config', 'secret', 'flaky', 'top'];
	return { ...Object.fromEntries(names.map(name => [name, 'cached'])), ...changes };
}

/** Plans, then runs, the same graph on the same state, and checks they agree task by task. */
const agree = test.macro(async (t, situation: Situation) => {
	const dir = tempDir();
	try {
		writeFileSync(join(dir, 'input.txt'), 'one');
		// With --keep-going, so that a failure leaves the rest of the graph as it would in any order.
		for (const run of situation.before) {
			await runTasks(dir, [graph(run.world)], { targets: run.targets ?? ['top'], forceTargets: run.force, keepGoing: true });
		}
		if (situation.file !== undefined) writeFileSync(join(dir, 'input.txt'), situation.file);
		const root = graph(situation.world);
		const built = buildGraph([root]);
		const forced = forcedTasks(built, situation.force ?? []);
		const drift = new Map(Object.entries(situation.drift ?? {}));
		const state = StateStore.load(join(dir, '.nub'));
		const plan = await planRun(selectNodes(built, ['top']), state, dir, forced, readOnlyDigest(dir), drift);
		await state.close();
		t.deepEqual(Object.fromEntries(plan.map(entry => [entry.name, shown(entry)])), situation.expected, 'the plan');
		const run = await runTasks(dir, [graph(situation.world)], { targets: ['top'], force: forced, drift });
		for (const entry of plan) checkAgreement(t, entry, run);
	} finally {
		cleanup(dir);
	}
});

/** Digests secret inputs as `nub plan` does: under the state key, without making one. */
function readOnlyDigest(dir: string) {
	const sealer = createSealer({ stateDir: join(dir, '.nub'), readOnly: true });
	return (text: string) => {
		try {
			return sealer.digest(text);
		} catch {
			return 'no state key';
		}
	};
}

function shown(entry: PlanEntry): string {
	return entry.action === 'run' ? `run: ${entry.reasons.map(describeReason).join('; ')}` : entry.action;
}

/** The run started what the plan runs, with its reasons; reused what it caches; and a `maybe` either way. */
function checkAgreement(t: import('ava').ExecutionContext, entry: PlanEntry, run: RunResult) {
	const start = run.events.find(event => event.type === 'task-start' && event.name === entry.name);
	const cached = run.events.some(event => event.type === 'task-cached' && event.name === entry.name);
	const reasons = start?.type === 'task-start' ? start.reasons : undefined;
	if (entry.action === 'run') {
		t.deepEqual(reasons, entry.reasons, `Expected \`${entry.name}\` to start for the plan's reasons`);
	} else if (entry.action === 'cached') {
		t.true(cached && start === undefined, `Expected \`${entry.name}\` to be cached, got ${start ? 'started' : 'not cached'}`);
	} else {
		const pending = new Set(entry.reasons.map(reason => (reason.kind === 'upstream-pending' ? reason.task : '')));
		if (start) t.true(reasons!.every(reason => reason.kind === 'upstream-changed' && pending.has(reason.task)), `\`${entry.name}\` started for ${JSON.stringify(reasons)}`);
		else t.true(cached, `Expected \`${entry.name}\` to start or be cached`);
	}
}

test('never ran: everything runs', agree, {
	before: [],
	world: {},
	expected: Object.fromEntries(Object.keys(cachedBut({})).map(name => [name, 'run: never ran'])),
});

test('nothing changed: everything is cached', agree, {
	before: [{ world: {} }],
	world: {},
	expected: cachedBut({}),
});

test('failed last: it reruns, and what it blocked runs for the first time', agree, {
	before: [{ world: { fail: true } }],
	world: {},
	expected: cachedBut({ flaky: 'run: failed last time: flaky broke', top: 'run: never ran' }),
});

test('an input file changed: that task runs, and what needs it may', agree, {
	before: [{ world: {} }],
	file: 'two',
	world: {},
	expected: cachedBut({ file: 'run: file input.txt changed', top: 'maybe' }),
});

test('a config value changed', agree, {
	before: [{ world: {} }],
	world: { config: '30Gi' },
	expected: cachedBut({ config: 'run: config changed', top: 'maybe' }),
});

test('a secret input changed', agree, {
	before: [{ world: {} }],
	world: { secret: 'a-new-password' },
	expected: cachedBut({ secret: 'run: secret input changed', top: 'maybe' }),
});

test("an upstream output changed since its dependent's success: the dependent runs", agree, {
	before: [{ world: {} }, { world: { value: 'two' }, targets: ['source'], force: ['source'] }],
	world: { value: 'two' },
	expected: cachedBut({ joined: 'run: output of source changed', top: 'maybe' }),
});

test('an upstream that will run with a new output: the plan says maybe, the run starts its dependents', agree, {
	before: [{ world: {} }],
	world: { value: 'two' },
	force: ['source'],
	expected: cachedBut({ source: 'run: forced', joined: 'maybe', top: 'maybe' }),
});

test('needs changed: the task runs, and its new need for the first time', agree, {
	before: [{ world: {} }],
	world: { extraNeed: true },
	expected: cachedBut({ extra: 'run: never ran', joined: 'run: its needs changed', top: 'maybe' }),
});

test('forced: it runs though cached', agree, {
	before: [{ world: {} }],
	world: {},
	force: ['config'],
	expected: cachedBut({ config: 'run: forced', top: 'maybe' }),
});

test('drifted: its check found a change, so it runs', agree, {
	before: [{ world: {} }],
	world: {},
	drift: { secret: 'Secret hub deleted' },
	expected: cachedBut({ secret: 'run: drifted: Secret hub deleted', top: 'maybe' }),
});

test('an input that cannot be read: the plan runs it, and the run fails it with that error before it starts', async t => {
	const dir = tempDir();
	try {
		writeFileSync(join(dir, 'input.txt'), 'one');
		await runTasks(dir, [graph({})], { targets: ['top'] });
		const { rmSync } = await import('node:fs');
		rmSync(join(dir, 'input.txt'));
		const built = buildGraph([graph({})]);
		const state = StateStore.load(join(dir, '.nub'));
		const plan = await planRun(selectNodes(built, ['top']), state, dir, new Set(), readOnlyDigest(dir));
		await state.close();
		const entry = plan.find(entry => entry.name === 'file')!;
		t.is(shown(entry), 'run: an input cannot be read: declared input "input.txt" does not exist');
		const run = await runTasks(dir, [graph({})], { targets: ['top'] });
		t.false(run.started.includes('file'));
		t.deepEqual(run.summary.failed, ['file']);
		t.is(run.summary.errors.file, entry.reasons[0]!.kind === 'input-unreadable' ? entry.reasons[0]!.error : '');
	} finally {
		cleanup(dir);
	}
});
