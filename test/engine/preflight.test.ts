import test from 'ava';
import { buildGraph } from '../../lib/engine/graph.ts';
import { preflightError, runPreflights } from '../../lib/engine/preflight.ts';
import { task } from '../../lib/engine/task.ts';

test('every preflight runs, at once, and every failure is reported in graph order, naming its task', async t => {
	const order: string[] = [];
	const ok = task({ name: 'ok', preflight: () => void order.push('ok'), run: () => 1 });
	const late = task({
		name: 'late',
		needs: { ok },
		preflight: async () => {
			await new Promise(resolve => setTimeout(resolve, 20));
			order.push('late');
			throw new Error('certificate expired on 2026-01-01\nmore detail');
		},
		run: () => 2,
	});
	const early = task({ name: 'early', needs: { late }, preflight: () => (order.push('early'), Promise.reject('not an Error')), run: () => 3 });
	const { nodes } = buildGraph([early]);
	const problems = await runPreflights(nodes, '/tmp', new AbortController().signal);
	t.deepEqual(order, ['ok', 'early', 'late']);
	t.deepEqual(problems, [
		{ name: 'late', message: 'certificate expired on 2026-01-01' },
		{ name: 'early', message: 'non-Error value thrown: the string "not an Error"' },
	]);
	const error = preflightError(problems);
	t.is(error.kind, 'config');
	t.is(`nub: ${error.message}`, 'nub: task "late": certificate expired on 2026-01-01\nnub: task "early": non-Error value thrown: the string "not an Error"');
});
