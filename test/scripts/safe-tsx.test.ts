import { execFile } from 'node:child_process';
import test from 'ava';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { repoRoot } from '../helpers/project.ts';

/*
 * tsx's cache in <tmpdir>/tsx-<uid> (issue 17, item 1): another user (uid 2002 here, the tests
 * running as root) who owns that folder, or finds it writable, can edit what tsx compiled; the next
 * run executes it. The control runs plain tsx to show the plant works; scripts/safe-tsx.mjs must
 * not run it.
 */
const other = 2002;
const uid = process.geteuid!();

/** A temporary folder to be TMPDIR, with an ES module project holding victim.ts. */
function setUp(): { temp: string; project: string; marker: string; cache: string } {
	const temp = mkdtempSync(join(tmpdir(), 'nub-tsx-'));
	chmodSync(temp, 0o1777);
	const project = join(temp, 'project');
	mkdirSync(project);
	writeFileSync(join(project, 'package.json'), '{"type":"module"}\n');
	writeFileSync(join(project, 'victim.ts'), 'const word: string = "victim ran";\nconsole.log(word, process.env.TSX_DISABLE_CACHE ? "cache off" : "cache on");\n// tsx writes its cache entry without waiting: time to finish it, on a loaded machine too.\nawait new Promise(resolve => setTimeout(resolve, 500));\n');
	return { temp, project, marker: join(temp, 'planted-code-ran'), cache: join(temp, `tsx-${uid}`) };
}

const runVictim = async (loader: string, temp: string, project: string) =>
	(await promisify(execFile)(process.execPath, [`--import=${loader}`, join(project, 'victim.ts')], { cwd: repoRoot, env: { ...process.env, TMPDIR: temp, TSX_DISABLE_CACHE: '' } })).stdout;

/**
 * Edits the entry of tsx's cache that holds victim.ts to write `marker` when it runs, as the
 * attacker would; false when there is no whole one yet (tsx writes its entries without waiting,
 * so a process that ends at once can leave one cut).
 */
function plant(cache: string, marker: string): boolean {
	for (const name of readdirSync(cache).filter(name => /^\d+-[0-9a-f]+$/.test(name))) {
		let entry: { code: string };
		try {
			entry = JSON.parse(readFileSync(join(cache, name), 'utf8')) as { code: string };
		} catch {
			continue;
		}
		if (!entry.code.includes('victim ran')) continue;
		entry.code += `\nimport("node:fs").then(fs => fs.writeFileSync(${JSON.stringify(marker)}, "planted"));\n`;
		writeFileSync(join(cache, name), JSON.stringify(entry));
		return true;
	}
	return false;
}

const cases: Array<[string, (cache: string) => void]> = [
	['belongs to another uid', cache => chownSync(cache, other, other)],
	['can be written by others', cache => chmodSync(cache, 0o777)],
];

for (const [title, attack] of cases) {
	test(`code planted in tsx's cache when its folder ${title} never runs through scripts/safe-tsx.mjs`, async t => {
		const { temp, project, marker, cache } = setUp();
		t.teardown(() => rmSync(temp, { recursive: true, force: true }));
		mkdirSync(cache, { mode: 0o755 });
		attack(cache);
		// Control: plain tsx fills the folder it does not own, and runs what is planted there.
		let planted = false;
		for (let attempt = 0; attempt < 10 && !planted; attempt++) {
			t.is(await runVictim('tsx', temp, project), 'victim ran cache on\n');
			planted = plant(cache, marker);
		}
		t.true(planted, 'plain tsx wrote no whole cache entry in 10 runs');
		t.is(await runVictim('tsx', temp, project), 'victim ran cache on\n');
		t.true(existsSync(marker), 'the plant did not run under plain tsx: the control failed');
		rmSync(marker);

		t.is(await runVictim(join(repoRoot, 'scripts/safe-tsx.mjs'), temp, project), 'victim ran cache off\n');
		t.false(existsSync(marker), 'the planted code ran');
	});
}

test("tsx's cache is used when it is the user's own: made 0700 when missing", async t => {
	const { temp, project, cache } = setUp();
	t.teardown(() => rmSync(temp, { recursive: true, force: true }));
	t.is(await runVictim(join(repoRoot, 'scripts/safe-tsx.mjs'), temp, project), 'victim ran cache on\n');
	t.is(statSync(cache).mode & 0o777, 0o700);
});
