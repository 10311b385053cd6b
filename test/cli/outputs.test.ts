import test from 'ava';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { finished, makeProject, nub, removeProject, startNub, summaryOf, waitFor } from '../helpers/project.ts';

/*
 * Declared output files and shell steps, through the real `nub` binary. `upper` writes
 * out/upper.txt from src/a.txt with a shell command; `page` wraps it in out/page.html; both log
 * each run to runs.log.
 */
const nubfile = (command = 'tr a-z A-Z < src/a.txt > out/upper.txt') => `
import { appendFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cmd, task } from 'nub';

const ran = (root: string, name: string) => appendFileSync(join(root, 'runs.log'), name + '\\n');

export const upper = cmd(${JSON.stringify(`mkdir -p out && echo upper >> runs.log && ${command}`)}, {
	name: 'upper',
	inputs: { files: ['src/a.txt'] },
	outputs: { files: ['out/upper.txt'] },
});

export const page = task({
	name: 'page',
	needs: { upper },
	outputs: { files: ['out/page.html'] },
	run: (_, { root }) => {
		ran(root, 'page');
		writeFileSync(join(root, 'out/page.html'), '<p>' + readFileSync(join(root, 'out/upper.txt'), 'utf8').trim() + '</p>\\n');
	},
});

export const kept = task({
	name: 'kept',
	outputs: { files: ['shared/kept.txt'], keep: true },
	run: (_, { root }) => {
		mkdirSync(join(root, 'shared'), { recursive: true });
		writeFileSync(join(root, 'shared/kept.txt'), 'kept\\n');
	},
});
`;

const project = () => makeProject({ 'Nubfile.ts': nubfile(), 'src/a.txt': 'hello\n' });
const runs = (dir: string) => (existsSync(join(dir, 'runs.log')) ? readFileSync(join(dir, 'runs.log'), 'utf8').trim().split('\n').filter(Boolean) : []);
const clearRuns = (dir: string) => writeFileSync(join(dir, 'runs.log'), '');

test('a deleted output is rebuilt, and the plan says why; what needs it stays cached when the bytes are the same', async t => {
	const dir = project();
	t.teardown(() => removeProject(dir));
	const first = await nub(dir, ['run', 'page', 'kept']);
	t.is(first.code, 0, first.stderr);
	t.is(readFileSync(join(dir, 'out/page.html'), 'utf8'), '<p>HELLO</p>\n');
	t.regex(first.stdout, /upper \| \$ mkdir -p out/, 'the command is logged under the task');

	const noop = await nub(dir, ['run', 'page', '--json']);
	t.deepEqual(summaryOf(noop.stdout).cached, ['upper', 'page']);

	writeFileSync(join(dir, 'out/upper.txt'), '');
	const { rmSync } = await import('node:fs');
	rmSync(join(dir, 'out/upper.txt'));
	const plan = await nub(dir, ['plan', 'page']);
	t.regex(plan.stdout, /run +upper +output out\/upper\.txt missing/);
	clearRuns(dir);
	const rebuilt = await nub(dir, ['run', 'page', '--json']);
	t.is(rebuilt.code, 0, rebuilt.stderr);
	const summary = summaryOf(rebuilt.stdout);
	t.deepEqual(summary.succeeded, ['upper']);
	// The same bytes again: page, which needs it, is not rerun.
	t.deepEqual(summary.cached, ['page']);
	t.deepEqual(runs(dir), ['upper']);
	t.is(readFileSync(join(dir, 'out/upper.txt'), 'utf8'), 'HELLO\n');
});

test('an edited output is rebuilt with the reason shown; other bytes from upstream rerun what needs it', async t => {
	const dir = project();
	t.teardown(() => removeProject(dir));
	t.is((await nub(dir, ['run', 'page'])).code, 0);
	writeFileSync(join(dir, 'out/page.html'), '<p>edited by hand</p>\n');
	clearRuns(dir);
	const rerun = await nub(dir, ['run', 'page']);
	t.is(rerun.code, 0, rerun.stderr);
	t.regex(rerun.stdout, /run +page \(output out\/page\.html changed since the last run\)/);
	t.deepEqual(runs(dir), ['page']);
	t.is(readFileSync(join(dir, 'out/page.html'), 'utf8'), '<p>HELLO</p>\n');

	// An input change that changes upper's bytes reaches page.
	writeFileSync(join(dir, 'src/a.txt'), 'bye\n');
	clearRuns(dir);
	const changed = await nub(dir, ['run', 'page', '--json']);
	t.deepEqual(summaryOf(changed.stdout).succeeded, ['upper', 'page']);
	t.is(readFileSync(join(dir, 'out/page.html'), 'utf8'), '<p>BYE</p>\n');

	// Touched but not changed: the stamp differs, the content does not: cached.
	const { utimesSync } = await import('node:fs');
	utimesSync(join(dir, 'out/page.html'), new Date(), new Date(Date.now() + 5000));
	const touched = await nub(dir, ['run', 'page', '--json']);
	t.deepEqual(summaryOf(touched.stdout).cached, ['upper', 'page']);
});

test('a changed command reruns its task, saying so', async t => {
	const dir = project();
	t.teardown(() => removeProject(dir));
	t.is((await nub(dir, ['run', 'page'])).code, 0);
	writeFileSync(join(dir, 'Nubfile.ts'), nubfile('tr a-z A-Z < src/a.txt | rev > out/upper.txt'));
	const plan = await nub(dir, ['plan', 'page']);
	t.regex(plan.stdout, /run +upper +command changed/);
	clearRuns(dir);
	const rerun = await nub(dir, ['run', 'page', '--json']);
	t.is(rerun.code, 0, rerun.stderr);
	t.deepEqual(summaryOf(rerun.stdout).succeeded, ['upper', 'page']);
	t.is(readFileSync(join(dir, 'out/page.html'), 'utf8'), '<p>OLLEH</p>\n');
});

test('a failing command fails its task with the command and exit code; a declared output not written fails it too', async t => {
	const dir = makeProject({
		'Nubfile.ts': `
import { cmd, task } from 'nub';
export const bad = cmd('echo about to fail; exit 3', { name: 'bad' });
export const lazy = task({ name: 'lazy', outputs: { files: ['out/never.txt'] }, run: () => null });
`,
	});
	t.teardown(() => removeProject(dir));
	const result = await nub(dir, ['run', 'bad', 'lazy', '-k']);
	t.is(result.code, 1);
	t.regex(result.stdout, /bad \| about to fail/);
	t.regex(result.stdout, /FAILED +bad: `echo about to fail; exit 3` exited with code 3/);
	t.regex(result.stdout, /FAILED +lazy: declared output out\/never\.txt was not written/);
});

test('--force and destroy treat declared outputs as the task’s own, unless it keeps them', async t => {
	const dir = project();
	t.teardown(() => removeProject(dir));
	t.is((await nub(dir, ['run', 'page', 'kept'])).code, 0);
	writeFileSync(join(dir, 'out/stale.txt'), 'left over\n');
	const preview = await nub(dir, ['destroy', '--dry-run']);
	t.regex(preview.stdout, /page:\n {2}delete out\/page\.html/);
	t.notRegex(preview.stdout, /shared\/kept\.txt/);
	t.regex(preview.stdout, /would delete 0 objects and 2 declared outputs of 2 tasks \(and forget 3 tasks\); dry run: nothing changed\n$/);
	const destroyed = await nub(dir, ['destroy']);
	t.is(destroyed.code, 0, destroyed.stderr);
	t.regex(destroyed.stdout, /destroy upper: out\/upper\.txt deleted/);
	t.false(existsSync(join(dir, 'out/upper.txt')));
	t.false(existsSync(join(dir, 'out/page.html')));
	t.true(existsSync(join(dir, 'out/stale.txt')), 'only what is declared is deleted');
	t.true(existsSync(join(dir, 'shared/kept.txt')));

	// --force: the declared output is deleted before the task runs again (a kept one is not).
	t.is((await nub(dir, ['run', 'page', 'kept'])).code, 0);
	writeFileSync(join(dir, 'Nubfile.ts'), nubfile('true'));
	const forced = await nub(dir, ['run', 'upper', '--force']);
	t.is(forced.code, 1, 'the command no longer writes its output, which --force deleted');
	t.regex(forced.stdout, /FAILED +upper: declared output out\/upper\.txt was not written/);
});

test('an output path outside the project is refused before anything runs', async t => {
	const dir = makeProject({ 'Nubfile.ts': `import { task } from 'nub';\nexport const bad = task({ name: 'bad', outputs: { files: ['../elsewhere.txt'] }, run: () => null });\n` });
	t.teardown(() => removeProject(dir));
	const result = await nub(dir, ['run', 'bad']);
	t.is(result.code, 2);
	t.regex(result.stderr, /task "bad": outputs\.files\[0\] "\.\.\/elsewhere\.txt" reaches outside the Nubfile's folder/);
	t.false(existsSync(join(dir, '.nub', 'state.jsonl')));
});

test('Ctrl-C kills a long shell step and the processes it started', async t => {
	const dir = makeProject({
		'Nubfile.ts': `
import { cmd } from 'nub';
export const slow = cmd('sleep 300 & echo $! > child.pid; echo $$ > shell.pid; wait', { name: 'slow' });
`,
	});
	t.teardown(() => removeProject(dir));
	const child = startNub(dir, ['run', 'slow']);
	const done = finished(child);
	await waitFor(() => existsSync(join(dir, 'child.pid')) && existsSync(join(dir, 'shell.pid')) && readFileSync(join(dir, 'child.pid'), 'utf8').trim() !== '', 'the shell step to start its child');
	const pids = ['child.pid', 'shell.pid'].map(file => Number(readFileSync(join(dir, file), 'utf8').trim()));
	for (const pid of pids) t.true(alive(pid), `${pid} runs before Ctrl-C`);
	child.kill('SIGINT');
	const result = await done;
	t.is(result.code, 130, result.stderr);
	t.regex(result.stdout, /STOPPED +slow/);
	await waitFor(() => pids.every(pid => !alive(pid)), 'the shell step and its child to be gone');
	for (const pid of pids) t.false(alive(pid));
});

test('a shell step past its timeout is killed with what it started, and fails its task', async t => {
	const dir = makeProject({
		'Nubfile.ts': `
import { cmd } from 'nub';
export const slow = cmd('sleep 300 & echo $! > child.pid; wait', { name: 'slow', timeout: 1500 });
`,
	});
	t.teardown(() => removeProject(dir));
	const result = await nub(dir, ['run', 'slow']);
	t.is(result.code, 1, result.stderr);
	t.regex(result.stdout, /FAILED +slow: timed out after 1\.5 s/);
	const pid = Number(readFileSync(join(dir, 'child.pid'), 'utf8').trim());
	await waitFor(() => !alive(pid), 'the timed-out step’s child to be gone');
	t.false(alive(pid));
});

function alive(pid: number): boolean {
	try {
		process.kill(pid, 0);
	} catch {
		return false;
	}
	// A zombie (dead, not yet reaped) is gone for our purpose.
	try {
		return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
	} catch {
		return false;
	}
}

test('a shell step’s output is streamed into the task’s log with secrets redacted', async t => {
	const dir = makeProject({
		'Nubfile.ts': `
import { sh, task } from 'nub';
export const token = task({ name: 'token', secret: true, run: () => 'hunter2-very-secret' });
export const shout = task({ name: 'shout', needs: { token }, run: async ({ token }, context) => { await sh(context)\`echo the token is \${token}; echo done\`; } });
`,
	});
	t.teardown(() => removeProject(dir));
	const result = await nub(dir, ['run', 'shout']);
	t.is(result.code, 0, result.stderr);
	t.regex(result.stdout, /shout \| the token is \[secret\]\n.*shout \| done/);
	t.false(`${result.stdout}${result.stderr}`.includes('hunter2-very-secret'));
});
