import test, { type ExecutionContext } from 'ava';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeProject, nub, removeProject } from '../helpers/project.ts';

/**
 * `--json` covers every command, and `nub destroy` runs the undo each task declares on the
 * scheduler, over the reversed graph: shown with a Nubfile whose undos need no cluster (they
 * write what they undo to undone.log, and say what they removed).
 */
const nubfile = `import { appendFileSync } from 'node:fs';
import { task, withUndo } from 'nub';

const undone = (line: string) => appendFileSync(new URL('./undone.log', import.meta.url), line + '\\n');
const failing = (process.env.FAIL_UNDO ?? '').split(',');
const check = (name: string) => { if (failing.includes(name)) throw new Error(name + ' refused on purpose'); };

const base = withUndo(task({ name: 'base', description: 'what the rest stands on', run: () => ({ items: ['a', 'b'] }) }), {
	describe: previous => ({ steps: previous.items.map(item => 'delete item ' + item), objects: previous.items.length }),
	run: (previous, context) => {
		check('base');
		for (const item of previous.items) {
			undone('base ' + item);
			context.removed('item ' + item, 'deleted');
		}
	},
});
const app = withUndo(task({ name: 'app', needs: { base }, run: ({ base }) => base.items.length }), {
	run: (count, { log }) => {
		check('app');
		log.info('app had ' + count);
		undone('app');
	},
});
// Nothing depends on it: without dns's \`first\`, its undo would start before anything else.
export const side = withUndo(task({ name: 'side', needs: { base }, run: () => 'side' }), { run: () => undone('side') });
const dns = withUndo(task({ name: 'dns', needs: { app }, run: () => 'the-record' }), {
	first: true,
	describe: record => ({ steps: ['delete the record ' + record], objects: 0 }),
	run: () => undone('dns'),
});
const plain = task({ name: 'plain', needs: { base }, run: () => 1 });
export const all = task({ name: 'all', description: 'everything', needs: { app, dns, plain } });
`;

type Line = Record<string, unknown> & { type?: string; name?: string };

function project(t: ExecutionContext) {
	const dir = makeProject({ 'Nubfile.ts': nubfile });
	t.teardown(() => removeProject(dir));
	return dir;
}

/** Every line of stdout as JSON: each must parse. */
function lines(t: ExecutionContext, stdout: string): Line[] {
	const text = stdout.trimEnd().split('\n');
	return text.map(line => {
		try {
			return JSON.parse(line) as Line;
		} catch {
			t.fail(`not a JSON line: ${line}`);
			return {};
		}
	});
}

const undoneLog = (dir: string) => (existsSync(join(dir, 'undone.log')) ? readFileSync(join(dir, 'undone.log'), 'utf8').trim().split('\n') : []);

test('nub list --json and nub plan --json: one JSON object per line, each with its type and name; the plan ends with its counts', async t => {
	const dir = project(t);
	const listed = await nub(dir, ['list', '--all', '--json']);
	t.is(listed.code, 0, listed.stderr);
	const entries = lines(t, listed.stdout);
	t.true(entries.every(entry => entry.type === 'list-entry'));
	t.deepEqual(entries.map(entry => entry.name).sort(), ['all', 'app', 'base', 'dns', 'plain', 'side']);
	t.like(entries.find(entry => entry.name === 'base'), { description: 'what the rest stands on', target: false });
	t.like(entries.find(entry => entry.name === 'all'), { description: 'everything', target: true });
	t.deepEqual(entries.filter(entry => entry.target).map(entry => entry.name).sort(), ['all', 'side']);

	const planned = await nub(dir, ['plan', 'all', 'side', '--json']);
	t.is(planned.code, 0, planned.stderr);
	const plan = lines(t, planned.stdout);
	t.deepEqual(plan.at(-1), { plan: { run: 6, maybe: 0, cached: 0 } });
	const body = plan.slice(0, -1);
	t.true(body.every(entry => entry.type === 'plan-entry' && entry.action === 'run'));
	t.deepEqual(body.map(entry => entry.name).sort(), ['all', 'app', 'base', 'dns', 'plain', 'side']);
	t.deepEqual(body.find(entry => entry.name === 'app')!.why, ['never ran']);

	t.is((await nub(dir, ['run', 'all', 'side'])).code, 0);
	const cached = lines(t, (await nub(dir, ['plan', 'all', 'side', '--json'])).stdout);
	t.deepEqual(cached.at(-1), { plan: { run: 0, maybe: 0, cached: 6 } });
	t.true(cached.slice(0, -1).every(entry => entry.type === 'plan-entry' && entry.action === 'cached'));
});

test('nub destroy --dry-run --json: what each task\'s undo would do, in order, and the count; nothing undone', async t => {
	const dir = project(t);
	t.is((await nub(dir, ['run', 'all', 'side'])).code, 0);
	const dry = await nub(dir, ['destroy', '--dry-run', '--json']);
	t.is(dry.code, 0, dry.stderr);
	const previews = lines(t, dry.stdout);
	t.deepEqual(previews.at(-1), { dryRun: { tasks: previews.slice(0, -1).map(entry => entry.name), objects: 2, files: 0 } });
	const body = previews.slice(0, -1);
	t.true(body.every(entry => entry.type === 'undo-preview' && entry.stale === false));
	const order = body.map(entry => entry.name!);
	t.deepEqual([...order].sort(), ['all', 'app', 'base', 'dns', 'plain', 'side']);
	t.true(order.indexOf('dns') < order.indexOf('app') && order.indexOf('app') < order.indexOf('base'));
	t.true(order.indexOf('dns') < order.indexOf('side'), 'the undo that says first goes first');
	t.like(body.find(entry => entry.name === 'base'), { steps: ['delete item a', 'delete item b'], objects: 2 });
	t.like(body.find(entry => entry.name === 'dns'), { steps: ['delete the record the-record'], objects: 0 });
	t.like(body.find(entry => entry.name === 'plain'), { steps: [], objects: 0 });
	t.deepEqual(undoneLog(dir), []);

	// The same in plain text.
	const text = await nub(dir, ['destroy', '--dry-run']);
	t.regex(text.stdout, /^dns:\n {2}delete the record the-record\n/m);
	t.regex(text.stdout, /^base:\n {2}delete item a\n {2}delete item b\n/m);
	t.regex(text.stdout, /would delete 2 objects of 4 tasks \(and forget 6 tasks\); dry run: nothing changed\n$/);
});

test('nub destroy --json: each undo on the scheduler, dependents first and the first undo before its siblings; its events, then the summary; the state forgets each task', async t => {
	const dir = project(t);
	t.is((await nub(dir, ['run', 'all', 'side'])).code, 0);
	const destroyed = await nub(dir, ['destroy', '--json']);
	t.is(destroyed.code, 0, destroyed.stderr);
	const events = lines(t, destroyed.stdout);
	const summary = events.at(-1) as { summary: { destroyed: string[]; failed: string[]; blocked: string[]; errors: unknown[] } };
	t.deepEqual(summary.summary.destroyed.sort(), ['all', 'app', 'base', 'dns', 'plain', 'side']);
	t.deepEqual({ ...summary.summary, destroyed: [] }, { destroyed: [], failed: [], blocked: [], errors: [] });
	const body = events.slice(0, -1);
	t.true(body.every(event => typeof event.type === 'string' && event.type.startsWith('undo-') && event.command === 'destroy' && typeof event.time === 'string'));
	t.deepEqual(body.filter(event => event.type === 'undo-end').map(event => event.outcome), Array(6).fill('done'));
	t.deepEqual(
		body.filter(event => event.type === 'undo-object').map(event => [event.name, event.object, event.removal]),
		[
			['base', 'item a', 'deleted'],
			['base', 'item b', 'deleted'],
		],
	);
	t.like(body.find(event => event.type === 'undo-log'), { name: 'app', level: 'info', message: 'app had 2' });
	// dns before side (which could have gone first, but for dns's `first`), app before base.
	const log = undoneLog(dir);
	t.is(log[0], 'dns');
	t.deepEqual([...log].sort(), ['app', 'base a', 'base b', 'dns', 'side']);
	t.true(log.indexOf('app') < log.indexOf('base a') && log.indexOf('side') < log.indexOf('base a'));
	// Forgotten: everything would run again, and a second destroy has nothing to do.
	t.regex((await nub(dir, ['plan', 'all', 'side'])).stdout, /^6 to run, 0 to run if what they need changes, 0 cached\n$/m);
	t.deepEqual(lines(t, (await nub(dir, ['destroy', '--json'])).stdout), [{ summary: { destroyed: [], failed: [], blocked: [], errors: [] } }]);
});

test('a failed undo keeps what it needs, the rest goes, and the next destroy finishes; plain lines say what was removed', async t => {
	const dir = project(t);
	t.is((await nub(dir, ['run', 'all', 'side'])).code, 0);
	const refused = await nub(dir, ['destroy'], { FAIL_UNDO: 'app' });
	t.is(refused.code, 1, refused.stderr);
	t.deepEqual(refused.stderr.trim().split('\n'), ['nub: destroy failed: task "app": app refused on purpose', 'nub: destroy: task "base" kept: "app", which needs it, failed']);
	t.regex(refused.stdout, /^destroyed 4 tasks \(0 objects\); 1 failure, 1 task kept\n$/m);
	t.deepEqual([...undoneLog(dir)].sort(), ['dns', 'side']);
	const plan = await nub(dir, ['plan', 'all', 'side']);
	t.regex(plan.stdout, /^4 to run, 0 to run if what they need changes, 2 cached\n$/m, 'app and base are still recorded');

	const again = await nub(dir, ['destroy']);
	t.is(again.code, 0, again.stderr);
	t.is(again.stdout, 'destroy app: app had 2\ndestroy base: item a deleted\ndestroy base: item b deleted\ndestroyed 2 tasks (2 objects)\n');
});

test('what a secret task\'s undo describes, logs or fails with is redacted, in the dry run and in the destroy (issue 17)', async t => {
	const token = 'undo-secret-b7f3c9d2e1a8';
	const dir = makeProject({
		'Nubfile.ts': `import { task, withUndo } from 'nub';
export const token = withUndo(task({ name: 'token', secret: true, run: () => ${JSON.stringify(token)} }), {
	describe: value => ({ steps: ['revoke the token ' + value], objects: 1 }),
	run: (value, { log }) => {
		log.info('revoking ' + value);
		throw new Error('the issuer refused ' + value);
	},
});
`,
	});
	t.teardown(() => removeProject(dir));
	t.is((await nub(dir, ['run', 'token'])).code, 0);
	for (const args of [['destroy', '--dry-run'], ['destroy', '--dry-run', '--json'], ['destroy', '--json', '--verbose'], ['destroy', '--verbose']]) {
		const result = await nub(dir, args);
		const output = result.stdout + result.stderr;
		t.true(output.includes('revoke the token') || output.includes('refused'), `nub ${args.join(' ')} said nothing of the undo: ${output}`);
		t.false(output.includes(token), `nub ${args.join(' ')} printed the secret: ${output}`);
	}
});
