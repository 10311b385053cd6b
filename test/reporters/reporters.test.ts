import test from 'ava';
import type { ReportedEvent, UndoSummary } from '../../lib/reporters/events.ts';
import { jsonReporter } from '../../lib/reporters/json.ts';
import { plainReporter } from '../../lib/reporters/plain.ts';
import type { Reporter } from '../../lib/reporters/reporter.ts';

/** What a reporter writes for the events, once closed. */
async function shown(make: (out: { write(text: string): void }) => Reporter, events: readonly ReportedEvent[]): Promise<string> {
	let text = '';
	const reporter = make({ write: chunk => (text += chunk) });
	for (const event of events) reporter.onEvent(event);
	await reporter.close();
	return text;
}

const plain = (verbose = false) => (out: { write(text: string): void }) => plainReporter(out, { color: false, verbose });

const plan: ReportedEvent[] = [
	{ type: 'plan-entry', name: 'namespace', action: 'cached', reasons: [], why: [], secret: false },
	{ type: 'plan-entry', name: 'fileserver-deployment', action: 'run', reasons: [{ kind: 'input-changed', input: 'config' }], why: ['config changed'], secret: false },
	{ type: 'plan-entry', name: 'token', action: 'maybe', reasons: [{ kind: 'upstream-pending', task: 'fileserver-deployment' }], why: [], secret: true },
	{ type: 'prune-entry', name: 'firefly', object: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'firefly', namespace: 'nublado' }, reason: 'no longer in the graph' },
	{ type: 'prune-entry', name: 'prepuller', object: { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', name: 'prepuller' }, reason: 'no longer applied' },
	{ type: 'plan-end', counts: { run: 1, maybe: 1, cached: 1 } },
];

const summary = (over: Partial<UndoSummary>): UndoSummary => ({ done: [], failed: [], blocked: [], interrupted: false, errors: [], objects: 0, ...over });

const cases: Array<{ title: string; events: ReportedEvent[]; verbose?: boolean; text: string }> = [
	{
		title: 'a plan: a table of what runs (laid out once complete), the counts, then what a prune deletes',
		events: plan,
		text: [
			'run    fileserver-deployment  config changed',
			'maybe  token                  fileserver-deployment will run; reruns only if its output changes',
			'1 to run, 1 to run if what they need changes, 1 cached',
			'prune (nub run --prune deletes them):',
			'prune  Deployment nublado/firefly  from firefly (no longer in the graph)',
			'prune  ClusterRole prepuller       from prepuller (no longer applied)',
			'',
		].join('\n'),
	},
	{
		title: 'a verbose plan lists cached tasks and marks secret ones',
		events: plan.slice(0, 3).concat([{ type: 'plan-end', counts: { run: 1, maybe: 1, cached: 1 } }]),
		verbose: true,
		text: [
			'cached namespace',
			'run    fileserver-deployment  config changed',
			'maybe  token                  fileserver-deployment will run; reruns only if its output changes [secret]',
			'1 to run, 1 to run if what they need changes, 1 cached',
			'',
		].join('\n'),
	},
	{
		title: 'a list, sorted by name, its descriptions in a column',
		events: [
			{ type: 'list-entry', name: 'prepuller', description: 'Image prepuller', target: true },
			{ type: 'list-entry', name: 'all', description: 'The whole deployment', target: true },
			{ type: 'list-entry', name: 'ca', description: null, target: true },
		],
		text: 'all        The whole deployment\nca\nprepuller  Image prepuller\n',
	},
	{
		title: 'a destroy dry run: the tasks that do something, their steps, the count',
		events: [
			{ type: 'undo-preview', name: 'dns', steps: ['delete the DNS record nublado.example.test A (rfc2136)'], objects: 0, files: 0, stale: false },
			{ type: 'undo-preview', name: 'ca', steps: [], objects: 0, files: 0, stale: false },
			{ type: 'undo-preview', name: 'firefly', steps: ['delete Deployment nublado/firefly'], objects: 1, files: 0, stale: true },
			{ type: 'undo-preview-end', tasks: ['dns', 'ca', 'firefly'], objects: 1, files: 0, undone: 2 },
		],
		text: [
			'dns:',
			'  delete the DNS record nublado.example.test A (rfc2136)',
			'firefly: (no longer in the graph)',
			'  delete Deployment nublado/firefly',
			'would delete 1 object of 2 tasks (and forget 3 tasks); dry run: nothing changed',
			'',
		].join('\n'),
	},
	{
		title: 'a destroy dry run of tasks that write files: their declared outputs are counted too',
		events: [
			{ type: 'undo-preview', name: 'page', steps: ['delete out/page.html', 'delete out/assets'], objects: 0, files: 2, stale: false },
			{ type: 'undo-preview-end', tasks: ['page'], objects: 0, files: 2, undone: 1 },
		],
		text: ['page:', '  delete out/page.html', '  delete out/assets', 'would delete 0 objects and 2 declared outputs of 1 task (and forget 1 task); dry run: nothing changed', ''].join('\n'),
	},
	{
		title: 'a destroy: what each undo removed and logged, then one line (failures go to stderr)',
		events: [
			{ type: 'undo-start', command: 'destroy', name: 'hub' },
			{ type: 'undo-object', command: 'destroy', name: 'hub', object: 'Deployment nublado/hub', removal: 'deleted' },
			{ type: 'undo-object', command: 'destroy', name: 'hub', object: 'Service nublado/hub', removal: 'absent' },
			{ type: 'undo-object', command: 'destroy', name: 'hub', object: 'Secret nublado/hub', removal: 'failed', error: 'forbidden' },
			{ type: 'undo-log', command: 'destroy', name: 'hub', level: 'info', message: 'waiting for Deployment nublado/hub to be gone' },
			{ type: 'undo-log', command: 'destroy', name: 'hub', level: 'debug', message: 'not shown' },
			{ type: 'undo-end', command: 'destroy', name: 'hub', outcome: 'failed', durationMs: 5, error: 'Secret nublado/hub: forbidden' },
			{ type: 'undo-blocked', command: 'destroy', name: 'namespace', by: 'hub' },
			{ type: 'undo-run-end', command: 'destroy', summary: summary({ done: ['dns'], failed: ['hub'], blocked: [{ task: 'namespace', by: 'hub' }], errors: [{ task: 'hub', object: 'Secret nublado/hub', error: 'forbidden' }] }) },
		],
		text: [
			'destroy hub: Deployment nublado/hub deleted',
			'destroy hub: Service nublado/hub already gone',
			'destroy hub: Secret nublado/hub failed: forbidden',
			'destroy hub: waiting for Deployment nublado/hub to be gone',
			'destroyed 1 task (0 objects); 1 failure, 1 task kept',
			'',
		].join('\n'),
	},
	{
		title: 'a prune says what it deleted, and no summary line of its own; an interrupted destroy none either',
		events: [
			{ type: 'undo-object', command: 'prune', name: 'firefly', object: 'Deployment nublado/firefly', removal: 'deleted' },
			{ type: 'undo-run-end', command: 'prune', summary: summary({ done: ['firefly'], objects: 1 }) },
			{ type: 'undo-run-end', command: 'destroy', summary: summary({ interrupted: true }) },
		],
		text: 'prune firefly: Deployment nublado/firefly deleted\n',
	},
];

for (const { title, events, verbose, text } of cases) {
	test(`plain: ${title}`, async t => {
		t.is(await shown(plain(verbose), events), text);
	});
}

test('json: one object per line, each with its type and time; the summary lines of plan, dry run and destroy last, without', async t => {
	const events: ReportedEvent[] = [
		...plan,
		{ type: 'undo-preview-end', tasks: ['dns'], objects: 0, files: 0, undone: 1 },
		{ type: 'undo-object', command: 'destroy', name: 'hub', object: 'Deployment nublado/hub', removal: 'deleted' },
		{ type: 'undo-run-end', command: 'destroy', summary: summary({ done: ['hub'], failed: ['ca'], blocked: [{ task: 'namespace', by: 'ca' }], errors: [{ task: 'ca', error: 'no' }] }) },
		{ type: 'undo-run-end', command: 'prune', summary: summary({ done: ['firefly'] }) },
	];
	const lines = (await shown(jsonReporter, events)).trimEnd().split('\n').map(line => JSON.parse(line) as Record<string, unknown>);
	t.is(lines.length, events.length);
	t.deepEqual(
		lines.map(line => line.type ?? Object.keys(line)[0]),
		['plan-entry', 'plan-entry', 'plan-entry', 'prune-entry', 'prune-entry', 'plan', 'dryRun', 'undo-object', 'summary', 'summary'],
	);
	t.true(lines.filter(line => line.type).every(line => typeof line.time === 'string'));
	t.deepEqual(lines[1]!.why, ['config changed']);
	t.deepEqual(lines[3]!.object, { apiVersion: 'apps/v1', kind: 'Deployment', name: 'firefly', namespace: 'nublado' });
	t.deepEqual(lines[5], { plan: { run: 1, maybe: 1, cached: 1 } });
	t.deepEqual(lines[6], { dryRun: { tasks: ['dns'], objects: 0, files: 0 } });
	t.deepEqual(lines[8], { summary: { destroyed: ['hub'], failed: ['ca'], blocked: ['namespace'], errors: [{ task: 'ca', error: 'no' }] } });
	t.deepEqual(lines[9], { summary: { pruned: ['firefly'], failed: [], blocked: [], errors: [] } });
});

const diffEvents: ReportedEvent[] = [
	{ type: 'plan-entry', name: 'firefly', action: 'run', reasons: [{ kind: 'input-changed', input: 'config' }], why: ['config changed'], secret: false },
	{ type: 'diff-object', task: 'firefly', kind: 'Deployment', namespace: 'nublado', name: 'firefly', action: 'update', changes: [{ path: 'spec.replicas', before: '1', after: '2' }], live: 'a', planned: 'b' },
	{ type: 'diff-object', task: 'hub', kind: 'Secret', namespace: 'nublado', name: 'hub', action: 'update', changes: [{ path: 'data.jupyterhub_crypto_key', before: 'sha256 3f2a0b1c…', after: 'sha256 9b71dd02…' }], live: 'c', planned: 'd' },
	{ type: 'diff-object', task: 'landing', kind: 'ConfigMap', namespace: 'nublado', name: 'www', action: 'create', changes: [{ path: 'data[index.html]', before: null, after: '<html>… (12 lines)' }], note: 'namespace nublado does not exist yet: shown as rendered, without a dry run', live: null, planned: 'e' },
	{ type: 'diff-object', task: 'firefly', kind: 'Service', namespace: 'nublado', name: 'firefly', action: 'delete', changes: [], live: 'f', planned: null },
	{ type: 'diff-object', task: 'proxy', kind: 'Service', namespace: 'nublado', name: 'proxy', action: 'none', changes: [], live: 'g', planned: 'g' },
	{ type: 'diff-secret', task: 'hub-crypto-key', maybe: false },
	{ type: 'plan-end', counts: { run: 1, maybe: 0, cached: 0 }, diff: { create: 1, update: 2, delete: 1, none: 1 } },
];

test('plan --diff, piped: a plain unified diff of the fields nub owns, a Secret\'s values by keyed hash, unchanged objects counted', async t => {
	t.is(
		await shown(plain(), diffEvents),
		[
			'run    firefly  config changed',
			'1 to run, 0 to run if what they need changes, 0 cached',
			'',
			'~ Deployment nublado/firefly  (firefly: update)',
			'    ~ spec.replicas: 1 → 2',
			'~ Secret nublado/hub  (hub: update)',
			'    ~ data.jupyterhub_crypto_key: changed (sha256 3f2a0b1c… → 9b71dd02…)',
			'+ ConfigMap nublado/www  (landing: create; namespace nublado does not exist yet: shown as rendered, without a dry run)',
			'    + data[index.html]: <html>… (12 lines)',
			'- Service nublado/firefly  (firefly: delete)',
			'* secret hub-crypto-key: made anew, its value known after apply',
			'objects: 1 to create, 2 to update, 1 to delete, 1 unchanged',
			'',
		].join('\n'),
	);
});

test('plan --diff in a terminal: the same lines coloured, additions green, changes yellow, deletions red', async t => {
	const text = await shown(out => plainReporter(out, { color: true, verbose: false }), diffEvents);
	t.true(text.includes('\u001B[33m    ~ spec.replicas: 1 → 2\u001B[0m'));
	t.true(text.includes('\u001B[32m+ ConfigMap nublado/www\u001B[0m'));
	t.true(text.includes('\u001B[31m- Service nublado/firefly\u001B[0m'));
	t.is(text.replace(/\u001B\[\d+m/g, ''), await shown(plain(), diffEvents));
});

test('plan --diff --json: one record per object, then the counts with the summary', async t => {
	const lines = (await shown(jsonReporter, diffEvents)).trim().split('\n').map(line => JSON.parse(line) as Record<string, unknown>);
	const objects = lines.filter(line => line.type === 'diff-object');
	t.is(objects.length, 5);
	t.like(objects[0], { task: 'firefly', kind: 'Deployment', namespace: 'nublado', name: 'firefly', action: 'update', changes: [{ path: 'spec.replicas', before: '1', after: '2' }] });
	t.deepEqual(lines.at(-1), { plan: { run: 1, maybe: 0, cached: 0 }, diff: { create: 1, update: 2, delete: 1, none: 1 } });
});
