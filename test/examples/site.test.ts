import test from 'ava';
import { cpSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { liveNub, makeProject, nub, removeProject, repoRoot, summariesOf, summaryOf, waitFor } from '../helpers/project.ts';

/** examples/site in a project of its own, with nub installed as a user's project has it. */
function siteProject(): string {
	const dir = makeProject();
	cpSync(join(repoRoot, 'examples/site'), dir, { recursive: true, filter: source => !/[/\\](out|\.nub)$/.test(source) });
	return dir;
}

test('examples/site: a build, a no-op, a missing output, a changed input', async t => {
	const dir = siteProject();
	t.teardown(() => removeProject(dir));
	const built = await nub(dir, ['run', 'site', '--json']);
	t.is(built.code, 0, built.stderr);
	t.deepEqual(summaryOf(built.stdout).succeeded.sort(), ['pages', 'site', 'sitemap', 'styles']);
	t.regex(readFileSync(join(dir, 'out/index.html'), 'utf8'), /<h1>A small site<\/h1>\n<p>Built by <em>nub<\/em>/);
	t.is(readFileSync(join(dir, 'out/sitemap.txt'), 'utf8'), '/about.html\n/index.html\n');
	t.true(existsSync(join(dir, 'out/style.css')));

	const noop = await nub(dir, ['run', 'site', '--json']);
	t.deepEqual(summaryOf(noop.stdout).succeeded, []);
	t.is(summaryOf(noop.stdout).cached.length, 4);

	// A missing output: pages runs again, and writes the sitemap's input the same: it stays cached.
	rmSync(join(dir, 'out/about.html'));
	const plan = await nub(dir, ['plan', 'site']);
	t.regex(plan.stdout, /run +pages +output out\/\*\.html changed since the last run/);
	const restored = await nub(dir, ['run', 'site', '--json']);
	t.deepEqual(summaryOf(restored.stdout).succeeded, ['pages']);
	t.true(existsSync(join(dir, 'out/about.html')));

	// A changed input: the stylesheet reruns only the shell step that copies it.
	writeFileSync(join(dir, 'style.css'), 'body { color: navy; }\n');
	const styled = await nub(dir, ['run', 'site', '--json']);
	t.deepEqual(summaryOf(styled.stdout).succeeded, ['styles', 'site']);
	t.is(readFileSync(join(dir, 'out/style.css'), 'utf8'), 'body { color: navy; }\n');

	// A new page reaches the sitemap.
	writeFileSync(join(dir, 'pages/news.md'), '# News\n\nNothing yet.\n');
	const grown = await nub(dir, ['run', 'site', '--json']);
	t.deepEqual(summaryOf(grown.stdout).succeeded.sort(), ['pages', 'site', 'sitemap']);
	t.is(readFileSync(join(dir, 'out/sitemap.txt'), 'utf8'), '/about.html\n/index.html\n/news.html\n');

	const destroyed = await nub(dir, ['destroy']);
	t.is(destroyed.code, 0, destroyed.stderr);
	for (const file of ['index.html', 'about.html', 'news.html', 'style.css', 'sitemap.txt']) t.false(existsSync(join(dir, 'out', file)), file);
});

test('examples/site: watch rebuilds the page that was edited, and stops on Ctrl-C', async t => {
	const dir = siteProject();
	t.teardown(() => removeProject(dir));
	const { child, output, done } = liveNub(dir, ['watch', 'site', '--json']);
	const rounds = () => summariesOf(output.stdout);
	await waitFor(() => rounds().length === 1 && output.stderr.includes('nub: watching'), 'the first round');
	t.is(rounds()[0]!.succeeded!.length, 4);
	writeFileSync(join(dir, 'pages/about.md'), '# About\n\nEdited while watching.\n');
	await waitFor(() => rounds().length === 2, `a round after the edit (stderr: ${output.stderr})`);
	t.deepEqual(rounds()[1]!.succeeded!.sort(), ['pages', 'site', 'sitemap']);
	t.regex(output.stderr, /nub: pages\/about\.md changed/);
	t.regex(readFileSync(join(dir, 'out/about.html'), 'utf8'), /<p>Edited while watching\.<\/p>/);
	child.kill('SIGINT');
	t.is((await done).code, 0);
});
