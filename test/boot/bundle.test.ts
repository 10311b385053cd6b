import test from 'ava';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeProject, nub, removeProject, repoRoot } from '../helpers/project.ts';

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
	const inputs = Object.keys(manifest.inputs).sort();
	t.deepEqual(inputs.filter(path => path.startsWith(dir)).map(path => path.slice(dir.length + 1)), ['Nubfile.ts', 'tasks/greeting.ts']);
	t.deepEqual(inputs.filter(path => !path.startsWith(dir)).map(path => path.slice(repoRoot.length + 1)), ['lib/boot/bundle.cjs'], 'how bundles are made is an input too');

	// Unchanged inputs: the same bundle is imported, nothing is rebuilt.
	const outputs = () => readdirSync(cacheFolder(dir)).filter(name => !name.endsWith('.v8cache')).sort();
	const before = outputs();
	const manifestText = readFileSync(join(cacheFolder(dir), 'manifest.json'), 'utf8');
	t.is((await nub(dir, ['list'])).code, 0);
	t.deepEqual(outputs(), before);
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

test('nub and the Nubfile load as CommonJS: a run that imports no ES module never runs the ES module loader', async t => {
	// Node loads esm/module_job to load the first ES module, and never otherwise.
	const dir = makeProject({
		'Nubfile.ts': `import { task } from 'nub';
const esm = (process as unknown as { moduleLoadList: string[] }).moduleLoadList.some(name => name.endsWith('esm/module_job'));
export const all = task({ name: 'all', description: esm ? 'an ES module was loaded' : 'CommonJS only', run: () => 1 });
`,
	});
	const listed = await nub(dir, ['list']);
	t.is(listed.code, 0, listed.stderr);
	t.is(listed.stdout.trim(), 'all  CommonJS only');
	t.true(readdirSync(cacheFolder(dir)).some(name => /^nubfile-.*\.cjs$/.test(name)));
	removeProject(dir);
});

test('a Nubfile with a top-level await is bundled as ES modules, and its tasks are those of the engine that runs them', async t => {
	const dir = makeProject({
		'Nubfile.ts': `import { task } from 'nub';
const word = await Promise.resolve('awaited');
export const all = task({ name: 'all', run: () => word });
`,
	});
	const first = await nub(dir, ['run', 'all', '--json']);
	t.is(first.code, 0, first.stderr);
	t.true(first.stdout.includes('"output":"awaited"'), first.stdout);
	t.true(readdirSync(cacheFolder(dir)).some(name => /^nubfile-.*\.mjs$/.test(name)));
	const again = await nub(dir, ['run', 'all', '--json']);
	t.regex(again.stdout, /"cached":\["all"\]/);
	removeProject(dir);
});

test('a package that is only an ES module loads from a CommonJS Nubfile: bundled when imported statically, imported when dynamically', async t => {
	const dir = makeProject({
		'Nubfile.ts': `import { task } from 'nub';
import { word } from 'esm-only';
export const all = task({ name: 'all', run: async () => word + ' and ' + (await import('esm-only')).word });
`,
		'node_modules/esm-only/package.json': '{"name":"esm-only","type":"module","exports":{"import":"./index.js"}}\n',
		'node_modules/esm-only/index.js': "export const word = 'esm';\n",
	});
	const result = await nub(dir, ['run', 'all', '--json']);
	t.is(result.code, 0, result.stderr);
	t.true(result.stdout.includes('"output":"esm and esm"'), result.stdout);
	const [bundled] = readdirSync(cacheFolder(dir)).filter(name => /^nubfile-.*\.cjs$/.test(name));
	const text = readFileSync(join(cacheFolder(dir), bundled!), 'utf8');
	t.regex(text, /var word = "esm"/, 'the static import is bundled in');
	t.regex(text, /__nubI\("file:\/\/[^"]*esm-only\/index\.js"\)/, 'the dynamic import stays an import of the package, through nub\'s boot module');
	t.false(text.includes('import('));
	removeProject(dir);
});

test("a CommonJS bundle keeps V8's code cache beside it, one per command; a damaged cache is written anew", async t => {
	const dir = makeProject({ 'Nubfile.ts': nubfile, 'tasks/greeting.ts': greeting('hi') });
	const caches = () => readdirSync(cacheFolder(dir)).filter(name => name.endsWith('.v8cache')).sort();
	t.is((await nub(dir, ['run', 'hello'])).code, 0);
	t.deepEqual(caches().map(name => name.replace(/^nubfile-\w+/, 'nubfile')), ['nubfile.cjs.run.v8cache']);
	t.is((await nub(dir, ['list'])).code, 0);
	t.deepEqual(caches().map(name => name.replace(/^nubfile-\w+/, 'nubfile')), ['nubfile.cjs.list.v8cache', 'nubfile.cjs.run.v8cache']);
	const run = join(cacheFolder(dir), caches().find(name => name.endsWith('.run.v8cache'))!);
	const written = readFileSync(run);
	t.true(written.length > 100);
	writeFileSync(run, 'not a code cache');
	const again = await nub(dir, ['run', 'hello', '--json']);
	t.is(again.code, 0, again.stderr);
	t.regex(again.stdout, /"cached":\["hello"\]/);
	t.true(readFileSync(run).length > 100, 'the damaged cache was replaced');
	removeProject(dir);
});

test('a Nubfile in a CommonJS package (no "type": "module") loads as well', async t => {
	const dir = makeProject({ 'package.json': '{"name":"plain","private":true}\n', 'Nubfile.ts': nubfile, 'tasks/greeting.ts': greeting('hi') });
	const result = await nub(dir, ['run', 'hello', '--verbose']);
	t.is(result.code, 0, result.stderr);
	t.regex(result.stdout, /hi from tasks\/greeting\.ts/);
	removeProject(dir);
});

test('a code cache is written by a run that succeeds, not by one that stopped at an error', async t => {
	const dir = makeProject({ 'Nubfile.ts': nubfile, 'tasks/greeting.ts': greeting('hi') });
	const caches = () => readdirSync(cacheFolder(dir)).filter(name => name.endsWith('.v8cache'));
	t.is((await nub(dir, ['run', 'no-such-task'])).code, 2);
	t.deepEqual(caches(), []);
	t.is((await nub(dir, ['run', 'hello'])).code, 0);
	t.is(caches().length, 1);
	removeProject(dir);
});
