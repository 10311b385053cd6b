import test from 'ava';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { finished, makeProject, removeProject, repoRoot, startNub } from '../helpers/project.ts';

// Output to a pipe or a file is written straight to the descriptor (lib/cli/process.ts).

const manyTargets = Array.from({ length: 3000 }, (_, i) => `export const task${i} = task({ name: 'task-${i}', description: 'a description long enough to fill the pipe quickly', run: () => ${i} });`).join('\n');

test('every line reaches a pipe, in order, when the reader keeps up', async t => {
	const dir = makeProject({ 'Nubfile.ts': `import { task } from 'nub';\n${manyTargets}\n` });
	const result = await finished(startNub(dir, ['list']));
	t.is(result.code, 0, result.stderr);
	const lines = result.stdout.trim().split('\n');
	t.is(lines.length, 3000);
	t.deepEqual(lines.slice(0, 2), ['task-0     a description long enough to fill the pipe quickly', 'task-1     a description long enough to fill the pipe quickly']);
	removeProject(dir);
});

test('a reader that goes away (nub list | head -1) ends the output quietly: no error, exit 0', async t => {
	const dir = makeProject({ 'Nubfile.ts': `import { task } from 'nub';\n${manyTargets}\n` });
	const child = startNub(dir, ['list']);
	child.stdout!.once('data', () => child.stdout!.destroy());
	const result = await finished(child);
	t.is(result.code, 0, result.stderr);
	t.is(result.stderr, '');
	removeProject(dir);
});

test("the README's `npx nub` starts the package's bin: bin/nub.js is executable", async t => {
	const child = spawn('npx', ['--no-install', 'nub', '--version'], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
	const result = await finished(child);
	t.is(result.code, 0, result.stderr);
	t.is(result.stdout.trim(), (JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string }).version);
});
