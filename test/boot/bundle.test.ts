import test from 'ava';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeProject, nub, removeProject } from '../helpers/project.ts';

const nubfile = `import { task } from 'nub';
import { greeting, here } from './tasks/greeting.ts';
export const hello = task({ name: 'hello', run: ({}, { log }) => { log.info(greeting + ' from ' + here); return greeting; } });
`;
const greeting = (word: string) => `import { basename, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
export const greeting: string = '${word}';
export const here = basename(dirname(fileURLToPath(import.meta.url))) + '/' + basename(import.meta.filename);
`;

const cacheFolder = (dir: string) => {
	const root = join(dir, 'node_modules/.cache/nub');
	const [folder] = readdirSync(root).filter(name => name.startsWith('nubfile-'));
	return join(root, folder!);
};

test('a Nubfile and the modules it imports are bundled once and rebuilt when one of them changes', async t => {
	const dir = makeProject({ 'Nubfile.ts': nubfile, 'tasks/greeting.ts': greeting('hi') });
	const first = await nub(dir, ['run', 'hello', '--verbose']);
	t.is(first.code, 0, first.stderr);
	// import.meta keeps the values of the source file, not of the bundle in the cache.
	t.regex(first.stdout, /hi from tasks\/greeting\.ts/);
	const manifest = JSON.parse(readFileSync(join(cacheFolder(dir), 'manifest.json'), 'utf8')) as { inputs: Record<string, string> };
	t.deepEqual(Object.keys(manifest.inputs).map(path => path.slice(dir.length + 1)).sort(), ['Nubfile.ts', 'tasks/greeting.ts']);

	// Unchanged inputs: the same bundle is imported, nothing is rebuilt.
	const before = readdirSync(cacheFolder(dir)).sort();
	const manifestText = readFileSync(join(cacheFolder(dir), 'manifest.json'), 'utf8');
	t.is((await nub(dir, ['list'])).code, 0);
	t.deepEqual(readdirSync(cacheFolder(dir)).sort(), before);
	t.is(readFileSync(join(cacheFolder(dir), 'manifest.json'), 'utf8'), manifestText);

	// An edit to an imported module (not the Nubfile) is picked up.
	writeFileSync(join(dir, 'tasks/greeting.ts'), greeting('hello'));
	const second = await nub(dir, ['run', 'hello', '--force', '--verbose']);
	t.regex(second.stdout, /hello from tasks\/greeting\.ts/);
	removeProject(dir);
});

test('a syntax error or a missing import in a module the Nubfile imports names that module and line', async t => {
	const dir = makeProject({ 'Nubfile.ts': nubfile, 'tasks/greeting.ts': "export const greeting = 'hi';\nexport const here = (;\n" });
	const broken = await nub(dir, ['list']);
	t.is(broken.code, 2);
	t.regex(broken.stderr.trim(), /^nub: tasks\/greeting\.ts: line 2, column \d+: syntax error: /);
	t.is(broken.stderr.trim().split('\n').length, 1);

	writeFileSync(join(dir, 'Nubfile.ts'), nubfile.replace('./tasks/greeting.ts', './tasks/greting.ts'));
	const missing = await nub(dir, ['list']);
	t.is(missing.code, 2);
	t.regex(missing.stderr.trim(), /^nub: Nubfile\.ts: line 2, column \d+: cannot find "\.\/tasks\/greting\.ts"/);
	removeProject(dir);
});

test('processes starting at once over a changed Nubfile all load it', async t => {
	const dir = makeProject({ 'Nubfile.ts': nubfile, 'tasks/greeting.ts': greeting('hi') });
	const results = await Promise.all([1, 2, 3, 4].map(() => nub(dir, ['list'])));
	for (const result of results) {
		t.is(result.code, 0, result.stderr);
		t.regex(result.stdout, /^hello/);
	}
	// No temporary file is left behind by the racing builds.
	t.deepEqual(readdirSync(cacheFolder(dir)).filter(name => name.endsWith('.tmp')), []);
	removeProject(dir);
});
