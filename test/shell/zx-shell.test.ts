import test from 'ava';
import { mkdtempSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TaskContext } from '../../lib/engine/task.ts';
import { cmd, sh } from '../../lib/shell/task-helpers.ts';
import { ShellError, zxShell } from '../../lib/shell/zx-shell.ts';

/** A task context whose log lines are kept, in a folder of its own. */
function fakeContext(signal: AbortSignal = new AbortController().signal) {
	const root = realpathSync(mkdtempSync(join(tmpdir(), 'nub-shell-')));
	const lines: string[] = [];
	const log = { info: (line: string) => lines.push(line), warn: (line: string) => lines.push(`warn ${line}`), debug: () => {} };
	const context: TaskContext = { name: 'shell', signal, log, root, attempt: 1, previous: undefined, retried: () => {} };
	return { context: { ...context, $: zxShell(context) } as TaskContext, lines, root };
}

test('a command runs in the task root; its output goes to the log a line at a time, values quoted', async t => {
	const { context, lines, root } = fakeContext();
	t.teardown(() => rmSync(root, { recursive: true, force: true }));
	const value = 'two words; rm -rf /';
	const output = await sh(context)`pwd; printf 'a\nb'`;
	t.is(output.exitCode, 0);
	t.is(output.stdout, `${root}\na\nb`);
	await sh(context)`echo ${value} >&2`;
	t.deepEqual(lines, [`$ pwd; printf 'a\nb'`, root, 'a', 'b', `$ echo $'two words; rm -rf /' >&2`, value]);
});

test('a command that exits non-zero throws a ShellError naming it and its code', async t => {
	const { context, root } = fakeContext();
	t.teardown(() => rmSync(root, { recursive: true, force: true }));
	const error = await t.throwsAsync(sh(context)`exit 4`, { instanceOf: ShellError });
	t.is(error.message, '`exit 4` exited with code 4');
	t.is(error.exitCode, 4);
});

test('aborting the signal kills the command and what it started', async t => {
	const controller = new AbortController();
	const { context, root } = fakeContext(controller.signal);
	t.teardown(() => rmSync(root, { recursive: true, force: true }));
	const running = sh(context)`sleep 300 & echo $! > child.pid; wait`;
	running.catch(() => {});
	const deadline = Date.now() + 20_000;
	let pid = NaN;
	while (Number.isNaN(pid) && Date.now() < deadline) {
		await new Promise(resolve => setTimeout(resolve, 20));
		try {
			pid = Number.parseInt(readFileSync(join(root, 'child.pid'), 'utf8'), 10);
		} catch {}
	}
	t.false(Number.isNaN(pid), 'the child started');
	controller.abort(new Error('interrupted'));
	await t.throwsAsync(running);
	await waitGone(pid);
	t.throws(() => process.kill(pid, 0));
});

test('sh() without a shell in the context, and cmd() puts its command in the key', t => {
	const { context, root } = fakeContext();
	t.teardown(() => rmSync(root, { recursive: true, force: true }));
	const bare = { ...context, $: undefined } as unknown as TaskContext;
	t.throws(() => sh(bare), { message: /task "shell" runs a shell command, and no shell was given to it/ });
	const build = cmd('tsc -p .', { name: 'build', inputs: { files: ['src'] } });
	t.deepEqual(build.inputs, { files: ['src'], command: 'tsc -p .' });
});

async function waitGone(pid: number) {
	const deadline = Date.now() + 20_000;
	while (Date.now() < deadline) {
		try {
			process.kill(pid, 0);
		} catch {
			return;
		}
		await new Promise(resolve => setTimeout(resolve, 20));
	}
}
