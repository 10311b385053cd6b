import test from 'ava';
import { existsSync, mkdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildGraph, selectNodes } from '../../lib/engine/graph.ts';
import { outputCovers, outputPathProblem, outputReasons, recordOutputs, removeOutputs } from '../../lib/engine/outputs.ts';
import { describeReason, planRun } from '../../lib/engine/plan.ts';
import { StateStore } from '../../lib/engine/state-store.ts';
import { task } from '../../lib/engine/task.ts';
import { cleanup, runTasks, tempDir } from '../helpers/engine.ts';

const write = (dir: string, path: string, text: string) => {
	mkdirSync(join(dir, path, '..'), { recursive: true });
	writeFileSync(join(dir, path), text);
};
const described = (reasons: ReturnType<typeof outputReasons>) => reasons.map(describeReason);

test('a file, a folder and a glob: recorded, then missing, changed, or only touched', t => {
	const dir = tempDir();
	t.teardown(() => cleanup(dir));
	write(dir, 'out/a.txt', 'a');
	write(dir, 'dist/x/one.js', '1');
	write(dir, 'maps/a.map', 'm');
	write(dir, 'maps/sub/b.map', 'n');
	write(dir, 'maps/c.txt', 'not a map');
	const declared = ['out/a.txt', 'dist', 'maps/**/*.map'];
	const records = recordOutputs(declared, dir);
	t.is(records.length, 3);
	t.true(records[0]!.endsWith(' out/a.txt'));
	t.deepEqual(outputReasons(declared, records, dir), []);

	// Touched: the stamp differs, the content does not.
	utimesSync(join(dir, 'out/a.txt'), new Date(), new Date(Date.now() + 10_000));
	t.deepEqual(outputReasons(declared, records, dir), []);

	writeFileSync(join(dir, 'out/a.txt'), 'b');
	write(dir, 'dist/x/two.js', '2');
	writeFileSync(join(dir, 'maps/c.txt'), 'what the glob does not match');
	t.deepEqual(described(outputReasons(declared, records, dir)), ['output out/a.txt changed since the last run', 'output dist changed since the last run']);

	rmSync(join(dir, 'out/a.txt'));
	rmSync(join(dir, 'maps'), { recursive: true });
	t.deepEqual(described(outputReasons(declared, records, dir)), ['output out/a.txt missing', 'output dist changed since the last run', 'output maps/**/*.map missing']);
	t.throws(() => recordOutputs(declared, dir), { message: 'declared output out/a.txt was not written' });
});

test('an output the last success did not record (the declaration changed) reruns the task', t => {
	const dir = tempDir();
	t.teardown(() => cleanup(dir));
	write(dir, 'a.txt', 'a');
	write(dir, 'b.txt', 'b');
	const records = recordOutputs(['a.txt'], dir);
	t.deepEqual(described(outputReasons(['b.txt', 'a.txt'], records, dir)), ['output b.txt not recorded by the last run']);
	t.deepEqual(described(outputReasons(['a.txt'], undefined, dir)), ['output a.txt not recorded by the last run']);
});

test('removeOutputs deletes exactly what is declared: a glob its matches, a folder with its contents', t => {
	const dir = tempDir();
	t.teardown(() => cleanup(dir));
	write(dir, 'out/a.html', 'a');
	write(dir, 'out/a.css', 'c');
	write(dir, 'dist/x/one.js', '1');
	t.deepEqual(removeOutputs(['out/*.html', 'dist', 'gone.txt'], dir), [
		{ path: 'out/*.html', removed: true },
		{ path: 'dist', removed: true },
		{ path: 'gone.txt', removed: false },
	]);
	t.false(existsSync(join(dir, 'out/a.html')));
	t.is(readFileSync(join(dir, 'out/a.css'), 'utf8'), 'c');
	t.false(existsSync(join(dir, 'dist')));
});

test('output paths: inside the project only; what watch ignores', t => {
	t.is(outputPathProblem('out/a.txt'), undefined);
	t.regex(outputPathProblem('/etc/passwd')!, /absolute/);
	t.regex(outputPathProblem('out/../../x')!, /outside/);
	t.regex(outputPathProblem('.')!, /whole project/);
	t.regex(outputPathProblem('')!, /not a path/);
	t.true(outputCovers('out', 'out/a/b.txt'));
	t.true(outputCovers('./out/', 'out/a.txt'));
	t.false(outputCovers('out', 'outside.txt'));
	t.true(outputCovers('out/**/*.html', 'out/a/b.html'));
	t.true(outputCovers('out/**/*.html', 'out/b.html'));
	t.false(outputCovers('out/*.html', 'out/a/b.html'));
	t.false(outputCovers('out/?.html', 'out/ab.html'));
	const bad = task({ name: 'bad', outputs: { files: ['../x'] }, run: () => null });
	t.throws(() => buildGraph([bad]), { message: 'task "bad": outputs.files[0] "../x" reaches outside the Nubfile\'s folder' });
});

test('in a run: a missing output reruns its task; the same bytes leave what needs it cached; the plan agrees', async t => {
	const dir = tempDir();
	t.teardown(() => cleanup(dir));
	let content = 'same';
	const make = task({ name: 'make', outputs: { files: ['out/a.txt'] }, run: (_, { root }) => write(root, 'out/a.txt', content) });
	const use = task({ name: 'use', needs: { make }, run: () => 'used' });
	const first = await runTasks(dir, [use]);
	t.deepEqual(first.summary.succeeded, ['make', 'use']);
	const recorded = StateStore.load(join(dir, '.nub')).lastSuccess('make')!;
	t.is(recorded.outputs?.length, 1);

	rmSync(join(dir, 'out/a.txt'));
	const state = StateStore.load(join(dir, '.nub'));
	const plan = await planRun(selectNodes(buildGraph([use]), ['use']), state, dir, new Set());
	t.deepEqual(plan.map(entry => [entry.name, entry.action, entry.reasons.map(describeReason)]), [
		['make', 'run', ['output out/a.txt missing']],
		['use', 'maybe', ['make will run; reruns only if its output changes']],
	]);
	const rebuilt = await runTasks(dir, [use]);
	t.deepEqual(rebuilt.summary.succeeded, ['make']);
	t.deepEqual(rebuilt.summary.cached, ['use']);
	t.deepEqual(rebuilt.events.find(event => event.type === 'task-start'), { type: 'task-start', name: 'make', reasons: [{ kind: 'output-missing', path: 'out/a.txt' }] });

	// Other bytes: what needs it reruns.
	content = 'other';
	rmSync(join(dir, 'out/a.txt'));
	const changed = await runTasks(dir, [use]);
	t.deepEqual(changed.summary.succeeded, ['make', 'use']);
});
