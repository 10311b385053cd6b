import test from 'ava';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { liveNub, makeProject, nub, removeProject, summariesOf as summaries, waitFor } from '../helpers/project.ts';

/*
 * `nub watch` through the real binary. `a` reads src/a.txt (trimmed) into out/a.txt; `b` needs
 * `a`; `c` reads the folder more/ on its own; `deploy` needs `b` and is a cluster task. Each run is
 * logged to runs.log.
 */
const nubfile = `
import { appendFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { task } from 'nub';

const ran = (root: string, name: string) => appendFileSync(join(root, 'runs.log'), name + '\\n');
const copy = (root: string, from: string, to: string) => {
	mkdirSync(join(root, 'out'), { recursive: true });
	writeFileSync(join(root, to), readFileSync(join(root, from), 'utf8').trim() + '\\n');
};

export const a = task({ name: 'a', inputs: { files: ['src/a.txt'] }, outputs: { files: ['out/a.txt'] }, run: (_, { root }) => { ran(root, 'a'); copy(root, 'src/a.txt', 'out/a.txt'); } });
export const b = task({ name: 'b', needs: { a }, outputs: { files: ['out/b.txt'] }, run: (_, { root }) => { ran(root, 'b'); copy(root, 'out/a.txt', 'out/b.txt'); } });
export const c = task({ name: 'c', inputs: { files: ['more'] }, outputs: { files: ['out/c.txt'] }, run: (_, { root }) => { ran(root, 'c'); copy(root, 'more/c.txt', 'out/c.txt'); } });
export const deploy = task({ name: 'deploy', cluster: true, needs: { b }, inputs: { files: ['src/a.txt'] }, run: (_, { root }) => { ran(root, 'deploy'); return 'deployed'; } });
export const all = task({ name: 'all', needs: { deploy, c } });
`;

const runs = (dir: string) => (existsSync(join(dir, 'runs.log')) ? readFileSync(join(dir, 'runs.log'), 'utf8').trim().split('\n').filter(Boolean) : []);

test('watch reruns exactly what a change reaches, holds cluster tasks, and stops on Ctrl-C', async t => {
	const dir = makeProject({ 'Nubfile.ts': nubfile, 'src/a.txt': 'one\n', 'more/c.txt': 'see\n' });
	t.teardown(() => removeProject(dir));
	t.is((await nub(dir, ['run', 'all'])).code, 0);
	writeFileSync(join(dir, 'runs.log'), '');

	const { child, output, done } = liveNub(dir, ['watch', 'all', '--json']);
	const round = async (n: number) => {
		await waitFor(() => summaries(output.stdout).length >= n, `round ${n} (stderr: ${output.stderr})`);
		return summaries(output.stdout)[n - 1]!;
	};

	// The first round: everything cached; the cluster task is held.
	const first = await round(1);
	t.deepEqual(first.succeeded, []);
	t.true(first.cached!.includes('deploy'));
	await waitFor(() => output.stderr.includes('nub: watching'), 'the watch to begin');
	t.regex(output.stderr, /holds 1 cluster task/);

	// a's input: a and b rerun; c does not; deploy (a cluster task, whose input it is too) is held.
	writeFileSync(join(dir, 'src/a.txt'), 'two\n');
	const second = await round(2);
	t.deepEqual(second.succeeded, ['a', 'b']);
	t.deepEqual(second.cached!.sort(), ['all', 'c', 'deploy']);
	t.deepEqual(runs(dir), ['a', 'b']);
	t.is(readFileSync(join(dir, 'out/b.txt'), 'utf8'), 'two\n');

	// In c's input folder: only c.
	writeFileSync(join(dir, 'runs.log'), '');
	writeFileSync(join(dir, 'more/c.txt'), 'sea\n');
	const third = await round(3);
	t.deepEqual(third.succeeded, ['c', 'all']);
	t.deepEqual(runs(dir), ['c']);

	// a change a's output does not show (trailing blanks, trimmed): a reruns, b stays cached.
	writeFileSync(join(dir, 'runs.log'), '');
	writeFileSync(join(dir, 'src/a.txt'), 'two   \n');
	const fourth = await round(4);
	t.deepEqual(fourth.succeeded, ['a']);
	t.true(fourth.cached!.includes('b'));
	t.deepEqual(runs(dir), ['a']);

	child.kill('SIGINT');
	const result = await done;
	t.is(result.code, 0, output.stderr);
	t.is(summaries(output.stdout).length, 4, 'the rounds wrote outputs, which started no round of their own');
});

test('watch --include-cluster reruns cluster tasks too; watch needs a target', async t => {
	const dir = makeProject({ 'Nubfile.ts': nubfile, 'src/a.txt': 'one\n', 'more/c.txt': 'see\n' });
	t.teardown(() => removeProject(dir));
	const usage = await nub(dir, ['watch']);
	t.is(usage.code, 2);
	t.regex(usage.stderr, /nub watch needs at least one target/);
	const misplaced = await nub(dir, ['run', 'all', '--include-cluster']);
	t.is(misplaced.code, 2);
	t.regex(misplaced.stderr, /--include-cluster is an option of nub watch/);

	const { child, output, done } = liveNub(dir, ['watch', 'all', '--json', '--include-cluster']);
	await waitFor(() => summaries(output.stdout).length >= 1 && output.stderr.includes('nub: watching'), 'the first round');
	t.notRegex(output.stderr, /holds/);
	t.deepEqual(summaries(output.stdout)[0]!.succeeded!.sort(), ['a', 'all', 'b', 'c', 'deploy']);
	writeFileSync(join(dir, 'runs.log'), '');
	writeFileSync(join(dir, 'src/a.txt'), 'two\n');
	await waitFor(() => summaries(output.stdout).length >= 2, 'the second round');
	t.deepEqual(summaries(output.stdout)[1]!.succeeded, ['a', 'b', 'deploy']);
	child.kill('SIGINT');
	t.is((await done).code, 0);
});

test('watch without --include-cluster does not start a cluster task that never ran, nor what needs it', async t => {
	const dir = makeProject({ 'Nubfile.ts': nubfile, 'src/a.txt': 'one\n', 'more/c.txt': 'see\n' });
	t.teardown(() => removeProject(dir));
	const { child, output, done } = liveNub(dir, ['watch', 'all', '--json']);
	await waitFor(() => summaries(output.stdout).length >= 1, 'the first round');
	const first = summaries(output.stdout)[0]!;
	t.deepEqual(first.succeeded!.sort(), ['a', 'b', 'c']);
	t.deepEqual(first.skipped!.sort(), ['all', 'deploy']);
	t.false(runs(dir).includes('deploy'));
	child.kill('SIGINT');
	t.is((await done).code, 0);
});

test('watch sees an input that did not exist when it started: a file, and a folder, whose later edits it sees too; one whose folder is missing is named as not watched', async t => {
	const later = `
import { appendFileSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { task } from 'nub';

const ran = (root: string, name: string) => appendFileSync(join(root, 'runs.log'), name + '\\n');
export const note = task({ name: 'note', inputs: { files: ['note.txt'] }, run: (_, { root }) => { ran(root, 'note'); return readFileSync(join(root, 'note.txt'), 'utf8'); } });
export const pages = task({ name: 'pages', inputs: { files: ['pages'] }, run: (_, { root }) => { ran(root, 'pages'); return readdirSync(join(root, 'pages')).length; } });
export const deep = task({ name: 'deep', inputs: { files: ['no/such/file.txt'] }, run: () => 'never' });
export const all = task({ name: 'all', needs: { note, pages } });
`;
	const dir = makeProject({ 'Nubfile.ts': later });
	t.teardown(() => removeProject(dir));
	const { child, output, done } = liveNub(dir, ['watch', 'all', 'deep', '--json', '-k']);
	await waitFor(() => summaries(output.stdout).length >= 1 && output.stderr.includes('nub: watching'), 'the first round');
	t.deepEqual(summaries(output.stdout)[0]!.failed!.sort(), ['deep', 'note', 'pages']);
	t.regex(output.stderr, /nub: watch: no\/such\/file\.txt does not exist, nor its folder: not watched/);
	t.regex(output.stderr, /nub: watching 2 paths of 4 tasks/);

	writeFileSync(join(dir, 'note.txt'), 'hello\n');
	await waitFor(() => summaries(output.stdout).some(summary => summary.succeeded?.includes('note')), `note's round (stderr: ${output.stderr})`);
	t.false(runs(dir).includes('pages'));

	mkdirSync(join(dir, 'pages'));
	writeFileSync(join(dir, 'pages/one.md'), '# one\n');
	await waitFor(() => summaries(output.stdout).some(summary => summary.succeeded?.includes('pages')), `pages' round (stderr: ${output.stderr})`);
	// Wait for the rounds to settle, then an edit inside the new folder starts one more.
	let count = -1;
	while (count !== summaries(output.stdout).length) {
		count = summaries(output.stdout).length;
		await new Promise(resolve => setTimeout(resolve, 500));
	}
	writeFileSync(join(dir, 'runs.log'), '');
	writeFileSync(join(dir, 'pages/two.md'), '# two\n');
	await waitFor(() => summaries(output.stdout).length > count, `a round for pages/two.md (stderr: ${output.stderr})`);
	await waitFor(() => runs(dir).includes('pages'), 'pages to run again');
	t.false(runs(dir).includes('note'));
	child.kill('SIGINT');
	t.is((await done).code, 0, output.stderr);
});
