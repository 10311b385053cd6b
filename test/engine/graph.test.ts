import test from 'ava';
import { NubError } from '../../lib/engine/errors.ts';
import { buildGraph, forcedTasks, selectNodes } from '../../lib/engine/graph.ts';
import { task, type Task } from '../../lib/engine/task.ts';

const graphError = (t: import('ava').ExecutionContext, build: () => unknown, message: RegExp) => {
	const error = t.throws(build, { instanceOf: NubError });
	t.is(error?.kind, 'graph');
	t.regex(error!.message, message);
};

test('a cycle is refused and printed', t => {
	const ping: Task<number> = task({ name: 'ping', needs: () => ({ pong }), run: () => 1 });
	const pong: Task<number> = task({ name: 'pong', needs: () => ({ ping }), run: () => 2 });
	graphError(t, () => buildGraph([ping]), /^dependency cycle: ping -> pong -> ping$/);
});

test('a longer cycle below an acyclic part is printed from where it closes', t => {
	const a: Task<number> = task({ name: 'a', needs: () => ({ c }), run: () => 1 });
	const b = task({ name: 'b', needs: { a }, run: () => 1 });
	const c: Task<number> = task({ name: 'c', needs: () => ({ b }), run: () => 1 });
	const top = task({ name: 'top', needs: { b } });
	graphError(t, () => buildGraph([top]), /dependency cycle: b -> a -> c -> b/);
});

test('a task needing itself is a cycle', t => {
	const self: Task<number> = task({ name: 'self', needs: () => ({ self }), run: () => 1 });
	graphError(t, () => buildGraph([self]), /dependency cycle: self -> self/);
});

test('two different tasks with one name are refused', t => {
	const one = task({ name: 'same', run: () => 1 });
	const two = task({ name: 'same', run: () => 2 });
	graphError(t, () => buildGraph([task({ name: 'all', needs: { one, two } })]), /two different tasks are named "same"/);
});

test('a need that is not a task is refused, naming the task and key', t => {
	const bad = task({ name: 'bad', needs: { ip: '10.0.0.1' } as never, run: () => 1 });
	graphError(t, () => buildGraph([bad]), /task "bad": needs\.ip is not a task \(got the string "10\.0\.0\.1"\)/);
	const undefinedNeed = task({ name: 'undef', needs: { later: undefined } as never, run: () => 1 });
	graphError(t, () => buildGraph([undefinedNeed]), /needs\.later is not a task \(got undefined undefined\)|needs\.later is not a task/);
});

test('invalid task names are refused', t => {
	graphError(t, () => buildGraph([task({ name: 'has space', run: () => 1 })]), /task name "has space" is invalid/);
});

test('the order is topological and deterministic', t => {
	const make = () => {
		const a = task({ name: 'a', run: () => 1 });
		const b = task({ name: 'b', needs: { a }, run: () => 1 });
		const c = task({ name: 'c', needs: { a }, run: () => 1 });
		return task({ name: 'd', needs: { c, b } });
	};
	const first = buildGraph([make()]).nodes.map(node => node.name);
	t.deepEqual(first, ['a', 'c', 'b', 'd']);
	t.deepEqual(buildGraph([make()]).nodes.map(node => node.name), first);
});

test('a chain of 100,000 tasks does not overflow the stack', t => {
	let previous: Task<number> = task({ name: 't0', run: () => 0 });
	for (let i = 1; i < 100_000; i++) previous = task({ name: `t${i}`, needs: { previous }, run: () => i });
	t.is(buildGraph([previous]).nodes.length, 100_000);
});

test('unknown targets are refused with a suggestion', t => {
	const graph = buildGraph([task({ name: 'prepuller', run: () => 1 }), task({ name: 'all', run: () => 1 })]);
	const error = t.throws(() => selectNodes(graph, ['prepuler']), { instanceOf: NubError });
	t.is(error?.kind, 'usage');
	t.regex(error!.message, /unknown target "prepuler" \(did you mean "prepuller"\?\)/);
	t.notRegex(t.throws(() => selectNodes(graph, ['zzzzzz']))!.message, /did you mean/);
});

test('selecting a target takes what it needs, and nothing else', t => {
	const a = task({ name: 'a', run: () => 1 });
	const b = task({ name: 'b', needs: { a }, run: () => 1 });
	const other = task({ name: 'other', run: () => 1 });
	const graph = buildGraph([b, other]);
	t.deepEqual(selectNodes(graph, ['b']).map(node => node.name), ['a', 'b']);
});

test('forcing a group forces what it gathers, through nested groups', t => {
	const base = task({ name: 'base', run: () => 1 });
	const x = task({ name: 'x', needs: { base }, run: () => 1 });
	const y = task({ name: 'y', needs: { base }, run: () => 1 });
	const inner = task({ name: 'inner', needs: { y } });
	const outer = task({ name: 'outer', needs: { x, inner } });
	const graph = buildGraph([outer]);
	t.deepEqual([...forcedTasks(graph, ['outer'])].sort(), ['inner', 'outer', 'x', 'y']);
	t.deepEqual([...forcedTasks(graph, ['x'])], ['x']);
});

test('forces: checked to be tasks the target needs, and forced whenever the target is named', t => {
	const key = task({ name: 'key', run: () => 1 });
	const secret = task({ name: 'secret', needs: { key }, run: () => 2 });
	const rotate = task({ name: 'rotate', needs: { secret }, forces: [key] });
	const graph = buildGraph([rotate]);
	t.deepEqual([...forcedTasks(graph, ['rotate'], { force: false })], ['key']);
	t.deepEqual([...forcedTasks(graph, ['secret'], { force: false })], []);
	t.deepEqual([...forcedTasks(graph, ['rotate'])].sort(), ['key', 'rotate', 'secret']);

	const stranger = task({ name: 'stranger', run: () => 3 });
	const wrong = task({ name: 'wrong', needs: { secret }, forces: [stranger] });
	t.throws(() => buildGraph([wrong, stranger]), { message: 'task "wrong" forces "stranger", which it does not need: add it to its needs (directly or not)' });
	const notTask = task({ name: 'not-task', needs: { secret }, forces: [42 as never] });
	t.throws(() => buildGraph([notTask]), { message: 'task "not-task": forces[0] is not a task (got number 42)' });
});
