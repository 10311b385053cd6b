import test from 'ava';
import { appendFileSync, cpSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeProject, nub, removeProject, summaryOf } from '../helpers/project.ts';

// A run that finds the settled mark true reports every task cached without reading the state
// (lib/engine/settled.ts). Each step below runs the same command twice, on the project and on a
// copy without the mark, and requires the same result: the mark changes how fast, never what.

const nubfile = (extra = '') => `import { task } from 'nub';
import { readFileSync } from 'node:fs';
const a = task({ name: 'a', inputs: { config: process.env.A ?? 'one' }, run: () => process.env.A ?? 'one' });
const b = task({ name: 'b', needs: { a }, run: ({ a }) => a.length });
const c = task({ name: 'c', inputs: { files: ['data.txt'] }, run: () => {
	const text = readFileSync('data.txt', 'utf8');
	if (text.startsWith('fail')) throw new Error('data says fail');
	return text.trim();
} });
const s = task({ name: 's', secret: true, run: () => 'hunter2-' + Math.random() });
${extra}
export const all = task({ name: 'all', needs: { b, c, s${extra ? ', d' : ''} } });
`;

const key1 = 'a'.repeat(64);
const key2 = 'b'.repeat(64);

async function both(dir: string, args: string[], env: Record<string, string> = {}) {
	const copy = `${dir}-unsettled`;
	rmSync(copy, { recursive: true, force: true });
	cpSync(dir, copy, { recursive: true });
	rmSync(join(copy, '.nub/settled.json'), { force: true });
	const settled = await nub(dir, args, { NUB_STATE_KEY: key1, ...env });
	const usual = await nub(copy, args, { NUB_STATE_KEY: key1, ...env });
	rmSync(copy, { recursive: true, force: true });
	return { settled, usual };
}

const outcomes = (stdout: string) => {
	const { succeeded, cached, failed, blocked } = summaryOf(stdout);
	return { succeeded, cached, failed, blocked };
};

test('the settled path gives what the usual path gives, step by step', async t => {
	const dir = makeProject({ 'Nubfile.ts': nubfile(), 'data.txt': 'first\n' });
	const step = async (what: string, args: string[], expect: { settled: boolean; succeeded?: string[]; code?: number }, env: Record<string, string> = {}) => {
		const { settled, usual } = await both(dir, args, env);
		t.is(settled.code, expect.code ?? 0, `${what}: ${settled.stderr}`);
		t.is(usual.code, settled.code, what);
		if (settled.code === 0 || settled.code === 1) {
			t.deepEqual(outcomes(settled.stdout), outcomes(usual.stdout), what);
			t.is((summaryOf(settled.stdout) as unknown as { settled?: boolean }).settled === true, expect.settled, `${what}: settled`);
			if (expect.succeeded) t.deepEqual(summaryOf(settled.stdout).succeeded, expect.succeeded, what);
		} else {
			t.is(settled.stderr, usual.stderr.replaceAll(`${dir}-unsettled`, dir), what);
		}
		return settled;
	};

	await step('first run', ['run', 'all', '--json'], { settled: false, succeeded: ['a', 'b', 'c', 's', 'all'] });
	t.true(existsSync(join(dir, '.nub/settled.json')), 'a run that leaves every task cached writes the mark');
	await step('nothing changed', ['run', 'all', '--json'], { settled: true, succeeded: [] });
	await step('a configuration value', ['run', 'all', '--json'], { settled: false, succeeded: ['a', 'b', 'all'] }, { A: 'three' });
	await step('the same value again', ['run', 'all', '--json'], { settled: true }, { A: 'three' });
	writeFileSync(join(dir, 'data.txt'), 'second\n');
	await step('a declared file', ['run', 'all', '--json'], { settled: false, succeeded: ['c', 'all'] }, { A: 'three' });
	await step('--force', ['run', 'b', '--force', '--json'], { settled: false, succeeded: ['b'] }, { A: 'three' });
	await step('after another target ran', ['run', 'all', '--json'], { settled: false, succeeded: [] }, { A: 'three' });
	await step('settled again', ['run', 'all', '--json'], { settled: true }, { A: 'three' });
	await step('another selection', ['run', 'b', '--json'], { settled: false, succeeded: [] }, { A: 'three' });
	writeFileSync(join(dir, 'data.txt'), 'fail\n');
	await step('a failure', ['run', 'all', '--json'], { settled: false, code: 1 }, { A: 'three' });
	await step('after a failure', ['run', 'all', '--json'], { settled: false, code: 1 }, { A: 'three' });
	writeFileSync(join(dir, 'data.txt'), 'second\n');
	await step('fixed', ['run', 'all', '--json'], { settled: false, succeeded: ['c'] }, { A: 'three' });
	await step('settled after the fix', ['run', 'all', '--json'], { settled: true }, { A: 'three' });
	writeFileSync(join(dir, 'Nubfile.ts'), nubfile("const d = task({ name: 'd', run: () => 4 });"));
	await step('a task added', ['run', 'all', '--json'], { settled: false, succeeded: ['d', 'all'] }, { A: 'three' });
	await step('settled with it', ['run', 'all', '--json'], { settled: true }, { A: 'three' });
	const wrongKey = await step('a wrong state key', ['run', 'all', '--json'], { settled: false, code: 2 }, { A: 'three', NUB_STATE_KEY: key2 });
	t.regex(wrongKey.stderr, /state key is wrong/);
	appendFileSync(join(dir, '.nub/state.jsonl'), 'not json\n');
	await step('a corrupt state', ['run', 'all', '--json'], { settled: false, code: 2 }, { A: 'three' });
	removeProject(dir);
});

test('plain output of a settled run is the usual one line', async t => {
	const dir = makeProject({ 'Nubfile.ts': nubfile(), 'data.txt': 'first\n' });
	t.is((await nub(dir, ['run', 'all'], { NUB_STATE_KEY: key1 })).code, 0);
	const again = await nub(dir, ['run', 'all'], { NUB_STATE_KEY: key1 });
	t.is(again.code, 0, again.stderr);
	t.regex(again.stdout.trim(), /^5 cached in \d+ ms$/);
	t.true(readFileSync(join(dir, '.nub/settled.json'), 'utf8').includes('"sealed"'), 'with secrets in the state, the mark keeps one to check the key against');
	removeProject(dir);
});
