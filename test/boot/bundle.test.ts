import test from 'ava';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { shortHash } from '../../lib/boot/bundle.ts';
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
const bundleOf = (folder: string) => {
	const manifest = JSON.parse(readFileSync(join(folder, 'manifest.json'), 'utf8')) as { entry: string; inputs: Record<string, string> };
	return { manifest, text: readFileSync(join(folder, manifest.entry), 'utf8') };
};

test('a Nubfile and the modules it imports are bundled once and rebuilt when one of them changes', async t => {
	const dir = makeProject({ 'Nubfile.ts': nubfile, 'tasks/greeting.ts': greeting('hi') });
	const first = await nub(dir, ['run', 'hello', '--verbose']);
	t.is(first.code, 0, first.stderr);
	// import.meta keeps the values of the source file, not of the bundle in the cache.
	t.regex(first.stdout, /hi from tasks\/greeting\.ts/);
	const { manifest } = bundleOf(cacheFolder(dir));
	const inputs = Object.keys(manifest.inputs).sort();
	t.deepEqual(inputs.filter(path => path.startsWith(dir)).map(path => path.slice(dir.length + 1)), ['Nubfile.ts', 'tasks/greeting.ts']);
	t.deepEqual(inputs.filter(path => !path.startsWith(dir)).map(path => path.slice(repoRoot.length + 1)), ['lib/boot/bundle.ts'], 'how bundles are made is an input too');

	// Unchanged inputs: the same bundle is imported, nothing is rebuilt.
	const outputs = () => readdirSync(cacheFolder(dir)).sort();
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

test("one engine in a process: tasks made through lib/'s own modules and through 'nub' are one graph", async t => {
	const lib = join(repoRoot, 'lib');
	const dir = makeProject({
		'Nubfile.ts': `import { writeFileSync } from 'node:fs';
import { task as nubTask } from 'nub';
import { task } from '${lib}/engine/task.ts';
import { withUndo } from '${lib}/engine/undo.ts';
import { word } from './tasks/word.ts';
const made = task({ name: 'made', run: () => word });
const marked = withUndo(task({ name: 'marked', run: () => 'marked' }), { run: () => writeFileSync(new URL('./undone', import.meta.url), 'yes') });
export const all = nubTask({ name: 'all', needs: { made, marked }, run: ({ made, marked }) => made + ' ' + marked });
`,
		'tasks/word.ts': "export const word = 'lib';\n",
	});
	const result = await nub(dir, ['run', 'all', '--json']);
	t.is(result.code, 0, result.stderr);
	t.true(result.stdout.includes('"output":"lib marked"'), result.stdout);
	// lib/ is imported, not copied: the bundle holds the project's code only.
	const { text } = bundleOf(cacheFolder(dir));
	t.false(text.includes('class NubTask'));
	t.regex(text, /from "file:\/\/[^"]*\/dist\/engine\/task\.js"/);
	// The undo declared through lib/engine/undo.ts is the one `nub destroy` finds.
	const destroyed = await nub(dir, ['destroy', 'all']);
	t.is(destroyed.code, 0, destroyed.stderr);
	t.true(existsSync(join(dir, 'undone')));
	removeProject(dir);
});

test('a Nubfile with a top-level await loads, and its tasks are those of the engine that runs them', async t => {
	const dir = makeProject({
		'Nubfile.ts': `import { task } from 'nub';
const word = await Promise.resolve('awaited');
export const all = task({ name: 'all', run: () => word });
`,
	});
	const first = await nub(dir, ['run', 'all', '--json']);
	t.is(first.code, 0, first.stderr);
	t.true(first.stdout.includes('"output":"awaited"'), first.stdout);
	const again = await nub(dir, ['run', 'all', '--json']);
	t.regex(again.stdout, /"cached":\["all"\]/);
	removeProject(dir);
});

test('a package that is only an ES module loads, imported statically and dynamically; packages stay imports', async t => {
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
	const { text } = bundleOf(cacheFolder(dir));
	t.regex(text, /from "file:\/\/[^"]*esm-only\/index\.js"/, 'the package is imported from the file Node would load from the project');
	removeProject(dir);
});

test('a Nubfile in a CommonJS package (no "type": "module") loads as well', async t => {
	const dir = makeProject({ 'package.json': '{"name":"plain","private":true}\n', 'Nubfile.ts': nubfile, 'tasks/greeting.ts': greeting('hi') });
	const result = await nub(dir, ['run', 'hello', '--verbose']);
	t.is(result.code, 0, result.stderr);
	t.regex(result.stdout, /hi from tasks\/greeting\.ts/);
	removeProject(dir);
});

test("the bundle goes to the user's own cache when the project's node_modules is not the user's alone, never to a shared folder", async t => {
	const cache = mkdtempSync(join(tmpdir(), 'nub-user-cache-'));
	const dir = makeProject({ 'Nubfile.ts': nubfile, 'tasks/greeting.ts': greeting('hi') });
	const userBundles = () => (existsSync(join(cache, 'nub')) ? readdirSync(join(cache, 'nub')).filter(name => name.startsWith('nubfile-')) : []);
	// node_modules that others can write: not used.
	chmodSync(join(dir, 'node_modules'), 0o777);
	const shared = await nub(dir, ['run', 'hello'], { XDG_CACHE_HOME: cache });
	t.is(shared.code, 0, shared.stderr);
	t.false(existsSync(join(dir, 'node_modules/.cache')));
	t.is(userBundles().length, 1);
	t.is(statSync(join(cache, 'nub', userBundles()[0]!)).mode & 0o777, 0o700);
	// No node_modules at all: the user's cache too.
	rmSync(join(dir, 'node_modules'), { recursive: true });
	const none = await nub(dir, ['list'], { XDG_CACHE_HOME: cache });
	t.is(none.code, 0, none.stderr);
	t.is(userBundles().length, 1, 'the same Nubfile, the same folder');
	removeProject(dir);
	rmSync(cache, { recursive: true, force: true });
});

/*
 * Another local user planting code in a cache folder (issue 17, item 1). The tests run as root, so
 * "another user" is a folder or file chowned to uid 2002, or a folder of mode 777. `plant` writes
 * what nub would load as the Nubfile's bundle (a manifest of the right settings, naming a bundle
 * that leaves a marker when it runs): the control case shows it does load in a folder of the
 * user's own, so the cases around it test nub's checks, not a plant that could never work.
 */
const other = 2002;
const api = join(repoRoot, 'dist', 'index.js');

/** Plants a bundle for `project`'s Nubfile in `folder` (made as needed); returns the marker it would write. */
function plant(folder: string, project: string, owner?: number): string {
	const marker = join(project, 'planted-bundle-ran');
	const entry = join(project, 'Nubfile.ts');
	const self = join(repoRoot, 'lib/boot/bundle.ts');
	const s = statSync(self, { bigint: true });
	const manifest = {
		settings: shortHash(JSON.stringify([process.version, entry, api])),
		entry: 'nubfile-planted.mjs',
		inputs: { [self]: `${s.size}:${s.mtimeNs}:${s.ctimeNs}:${s.ino}` },
	};
	mkdirSync(folder, { recursive: true });
	writeFileSync(join(folder, 'manifest.json'), JSON.stringify(manifest));
	writeFileSync(
		join(folder, 'nubfile-planted.mjs'),
		`import { writeFileSync } from 'node:fs';\nimport { task } from ${JSON.stringify(pathToFileURL(api).href)};\nwriteFileSync(${JSON.stringify(marker)}, 'ran');\nexport const hello = task({ name: 'hello', run: () => 'planted' });\n`,
	);
	if (owner !== undefined) for (const name of ['', 'manifest.json', 'nubfile-planted.mjs']) chownSync(join(folder, name), owner, owner);
	return marker;
}

const bundleName = (project: string) => `nubfile-${shortHash(join(project, 'Nubfile.ts'))}`;
const projectFolder = (project: string) => join(project, 'node_modules/.cache/nub', bundleName(project));

const projectCases: Array<[string, (project: string) => string]> = [
	['the folder belongs to another uid', project => plant(projectFolder(project), project, other)],
	['the folder can be written by others', project => {
		const marker = plant(projectFolder(project), project);
		chmodSync(projectFolder(project), 0o777);
		return marker;
	}],
	['node_modules/.cache belongs to another uid', project => {
		const marker = plant(projectFolder(project), project);
		chownSync(join(project, 'node_modules/.cache'), other, other);
		return marker;
	}],
	['node_modules can be written by others', project => {
		const marker = plant(projectFolder(project), project);
		chmodSync(join(project, 'node_modules'), 0o777);
		return marker;
	}],
	["the planted files belong to another uid, in a folder of the user's", project => {
		const marker = plant(projectFolder(project), project);
		for (const name of ['manifest.json', 'nubfile-planted.mjs']) chownSync(join(projectFolder(project), name), other, other);
		return marker;
	}],
	["a planted chunk belongs to another uid, in a folder of the user's", project => {
		const marker = plant(projectFolder(project), project);
		writeFileSync(join(projectFolder(project), 'chunk-planted.mjs'), '');
		chownSync(join(projectFolder(project), 'chunk-planted.mjs'), other, other);
		return marker;
	}],
];

for (const [title, attack] of projectCases) {
	test(`a bundle planted in the project's cache never runs when ${title}: the Nubfile's own bundle runs`, async t => {
		const cache = mkdtempSync(join(tmpdir(), 'nub-user-cache-'));
		const dir = makeProject({ 'Nubfile.ts': nubfile, 'tasks/greeting.ts': greeting('hi') });
		const marker = attack(dir);
		const result = await nub(dir, ['run', 'hello', '--verbose'], { XDG_CACHE_HOME: cache });
		t.is(result.code, 0, result.stderr);
		t.false(existsSync(marker), 'the planted bundle ran');
		t.regex(result.stdout, /hi from tasks\/greeting\.ts/, "the Nubfile's own code ran");
		removeProject(dir);
		rmSync(cache, { recursive: true, force: true });
	});
}

test("control: the same plant in a folder of the user's own, files the user's, does load (the attack cases test nub's checks, not a plant that cannot work)", async t => {
	const cache = mkdtempSync(join(tmpdir(), 'nub-user-cache-'));
	const dir = makeProject({ 'Nubfile.ts': nubfile, 'tasks/greeting.ts': greeting('hi') });
	const marker = plant(projectFolder(dir), dir);
	chmodSync(projectFolder(dir), 0o700);
	const result = await nub(dir, ['list'], { XDG_CACHE_HOME: cache });
	t.is(result.code, 0, result.stderr);
	t.true(existsSync(marker));
	removeProject(dir);
	rmSync(cache, { recursive: true, force: true });
});

test("a bundle planted in the user's cache under a folder of another uid's is refused in one line (exit 2), and never runs", async t => {
	const cache = mkdtempSync(join(tmpdir(), 'nub-user-cache-'));
	const dir = makeProject({ 'Nubfile.ts': nubfile, 'tasks/greeting.ts': greeting('hi') });
	rmSync(join(dir, 'node_modules'), { recursive: true });
	const marker = plant(join(cache, 'nub', bundleName(dir)), dir, other);
	chownSync(join(cache, 'nub'), other, other);
	const result = await nub(dir, ['list'], { XDG_CACHE_HOME: cache });
	t.is(result.code, 2);
	t.is(result.stderr.trim(), `nub: Nubfile.ts: ${join(cache, 'nub')} belongs to uid ${other}, not to you (uid 0): nub does not use it as its cache; remove it`);
	t.false(existsSync(marker));
	removeProject(dir);
	rmSync(cache, { recursive: true, force: true });
});

test('XDG_CACHE_HOME in a folder others can write (no sticky bit) is refused in one line, even when the folder in it is the user\'s own', async t => {
	const shared = mkdtempSync(join(tmpdir(), 'nub-shared-'));
	chmodSync(shared, 0o777);
	const dir = makeProject({ 'Nubfile.ts': nubfile, 'tasks/greeting.ts': greeting('hi') });
	rmSync(join(dir, 'node_modules'), { recursive: true });
	// Made by the user before; anyone can rename it away and put their own in its place.
	const marker = plant(join(shared, 'nub', bundleName(dir)), dir);
	chmodSync(join(shared, 'nub'), 0o700);
	chmodSync(join(shared, 'nub', bundleName(dir)), 0o700);
	const result = await nub(dir, ['list'], { XDG_CACHE_HOME: shared });
	t.is(result.code, 2);
	t.is(result.stderr.trim(), `nub: Nubfile.ts: ${shared} can be written by others (mode 777, no sticky bit), who could replace nub's cache in it: nub keeps no code there; chmod go-w it or set XDG_CACHE_HOME to a folder of your own`);
	t.false(existsSync(marker));
	// With the sticky bit (as /tmp), others cannot rename what is the user's: it is used.
	chmodSync(shared, 0o1777);
	rmSync(join(shared, 'nub'), { recursive: true });
	const sticky = await nub(dir, ['list'], { XDG_CACHE_HOME: shared });
	t.is(sticky.code, 0, sticky.stderr);
	t.true(existsSync(join(shared, 'nub', bundleName(dir), 'manifest.json')));
	removeProject(dir);
	rmSync(shared, { recursive: true, force: true });
});

test('XDG_CACHE_HOME is used when absolute and ignored when relative (the XDG specification): ~/.cache then', async t => {
	const home = mkdtempSync(join(tmpdir(), 'nub-home-'));
	const dir = makeProject({ 'Nubfile.ts': nubfile, 'tasks/greeting.ts': greeting('hi') });
	rmSync(join(dir, 'node_modules'), { recursive: true });
	const relative = await nub(dir, ['list'], { HOME: home, XDG_CACHE_HOME: 'relative-cache' });
	t.is(relative.code, 0, relative.stderr);
	t.false(existsSync(join(dir, 'relative-cache')));
	t.true(existsSync(join(home, '.cache/nub', bundleName(dir), 'manifest.json')));
	t.is(statSync(join(home, '.cache/nub')).mode & 0o777, 0o700);
	const absolute = await nub(dir, ['list'], { HOME: home, XDG_CACHE_HOME: join(home, 'xdg') });
	t.is(absolute.code, 0, absolute.stderr);
	t.true(existsSync(join(home, 'xdg/nub', bundleName(dir), 'manifest.json')));
	removeProject(dir);
	rmSync(home, { recursive: true, force: true });
});
