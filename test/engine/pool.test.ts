import test from 'ava';
import { eachAtMost } from '../../lib/engine/pool.ts';

test('eachAtMost runs every item, at most `jobs` at once, started in order', async t => {
	const started: number[] = [];
	let running = 0;
	let most = 0;
	await eachAtMost(3, [1, 2, 3, 4, 5, 6, 7], async item => {
		started.push(item);
		most = Math.max(most, ++running);
		await new Promise(resolve => setTimeout(resolve, 8 - item));
		running--;
	});
	t.deepEqual(started, [1, 2, 3, 4, 5, 6, 7]);
	t.is(most, 3);
	t.is(running, 0);
});

test('eachAtMost with no items, or fewer than `jobs`, ends; a failure rejects it', async t => {
	await eachAtMost(4, [], async () => t.fail('no item'));
	const seen: string[] = [];
	await eachAtMost(8, ['a'], async item => void seen.push(item));
	t.deepEqual(seen, ['a']);
	await t.throwsAsync(eachAtMost(2, [1, 2], async item => {
		if (item === 2) throw new Error('two failed');
	}), { message: 'two failed' });
});
