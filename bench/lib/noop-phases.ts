/**
 * Child script: times the phases of a cached no-op in one process, the way `nub run all` goes
 * through them, and prints one JSON object on stdout. Run as
 * `node --import=./scripts/safe-tsx.mjs bench/lib/noop-phases.ts PATH/Nubfile.ts`, after a full run of that Nubfile.
 *
 * It skips the lock (which writes) and reports to no output, and checks that every task came out
 * cached, so it never measures a run that did work.
 */
import { performance } from 'node:perf_hooks';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

// performance.now() counts from the process's start: this is Node's boot plus the tsx loader.
const bootMs = performance.now();

const phases: Record<string, number> = {};
let last = performance.now();
const mark = (name: string) => {
	const now = performance.now();
	phases[name] = now - last;
	last = now;
};

const file = resolve(process.argv[2] ?? 'Nubfile.ts');
const root = dirname(file);

const [{ buildGraph, selectNodes }, { isTask }, { StateStore }, { runGraph }, { createSealer }, { Redactor }, { plainReporter }] = await Promise.all([
	import('../../lib/engine/graph.ts'),
	import('../../lib/engine/task.ts'),
	import('../../lib/engine/state-store.ts'),
	import('../../lib/engine/scheduler.ts'),
	import('../../lib/engine/sealer.ts'),
	import('../../lib/engine/redact.ts'),
	import('../../lib/reporters/plain.ts'),
]);
mark('import engine modules');

const exports = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
mark('import Nubfile (transform + declare tasks)');

const roots = Object.values(exports).filter(isTask);
const graph = buildGraph(roots);
mark('buildGraph');

const nodes = selectNodes(graph, ['all']);
mark('selectNodes');

const stateDir = join(root, '.nub');
let written = 0;
const reporter = plainReporter({ write: text => void (written += text.length) }, { color: false, verbose: false });
const state = StateStore.load(stateDir);
mark('StateStore.load');

const summary = await runGraph({
	nodes,
	state,
	root,
	jobs: 8,
	force: new Set(),
	emit: event => reporter.onEvent(event),
	sealer: createSealer({ stateDir }),
	redactor: new Redactor(),
});
mark('runGraph (all cached, reported)');
await state.close();

if (summary.cached.length !== nodes.length) {
	console.error(`noop-phases: expected all ${nodes.length} tasks cached, got ${summary.cached.length} cached, ${summary.succeeded.length} run`);
	process.exit(1);
}
process.stdout.write(`${JSON.stringify({ bootMs, phases, tasks: nodes.length })}\n`);
