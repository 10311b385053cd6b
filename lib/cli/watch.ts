/**
 * `nub watch <targets>`: runs the targets, then watches the declared input files of their tasks
 * and runs them again after each change, debounced. Each round is an ordinary run (under the
 * lock, recorded in the state): what the change does not reach is cached, and early cutoff stops
 * it where an output comes out the same. Tasks that talk to a cluster (`cluster: true`: apply
 * tasks and the like) are held, their last success reused as it is, unless `--include-cluster`.
 *
 *   round ──done──> idle ──change──> (debounce) ──> round ...
 *     └── a change during a round waits for its end, then starts the next one
 *
 * Ctrl-C stops it: a round in progress is interrupted as a run is (exit 130); idle, it exits 0.
 */
import { statSync, watch as watchFs, type FSWatcher } from 'node:fs';
import { dirname, isAbsolute, join, relative, sep } from 'node:path';
import { isUserError } from '../engine/errors.ts';
import { selectNodes, type GraphNode } from '../engine/graph.ts';
import { outputCovers } from '../engine/outputs.ts';
import { Redactor } from '../engine/redact.ts';
import { runGraph } from '../engine/scheduler.ts';
import { createSealer } from '../engine/sealer.ts';
import { StateStore } from '../engine/state-store.ts';
import type { Args } from './args.ts';
import { checkCache, chooseReporter, holdState, jobsOf, preflight, servicesOf, stateDirOf, styleOf } from './common.ts';
import { exitCodes, type CliIo } from './io.ts';
import { loadNubfile, type Nubfile } from './load-nubfile.ts';

/** Quiet time after the last change before a round starts: an editor's save is several events. */
export const debounceMs = 100;

export async function watch(io: CliIo, args: Args): Promise<number> {
	const nubfile = await loadNubfile(io.cwd, args.file, io.api);
	const nodes = selectNodes(nubfile.graph, args.targets);
	const held = new Set(args.includeCluster ? [] : nodes.filter(node => node.task.cluster).map(node => node.name));
	if (held.size > 0) {
		io.stderr.write(`nub: watch holds ${held.size} cluster task${held.size === 1 ? '' : 's'} as last run (--include-cluster reruns them)\n`);
	}
	let interrupted = false;
	const round = async (changed: readonly string[]) => {
		if (changed.length > 0) io.stderr.write(`nub: ${describeChanges(changed)} changed\n`);
		try {
			if (!(await runRound(nubfile, nodes, held, io, args))) interrupted = true;
		} catch (error) {
			// A round that cannot start (the lock is held, a preflight fails) is told; watching goes on.
			if (!isUserError(error)) throw error;
			io.stderr.write(`nub: ${error.message}\n`);
		}
	};
	await round([]);
	if (io.signal.aborted) return interrupted ? exitCodes.interrupted : exitCodes.ok;

	const watched = watchInputs(nubfile, nodes, held, path => changed(path));
	const pending = new Set<string>();
	let timer: NodeJS.Timeout | undefined;
	let current: Promise<void> | undefined;
	let failure: unknown;
	const start = () => {
		if (current || pending.size === 0 || io.signal.aborted) return;
		const changes = [...pending];
		pending.clear();
		current = round(changes)
			.catch(error => {
				failure = error;
				stop();
			})
			.finally(() => {
				current = undefined;
				watched.refresh();
				if (pending.size > 0) schedule();
			});
	};
	const schedule = () => {
		clearTimeout(timer);
		timer = setTimeout(start, debounceMs);
	};
	function changed(path: string) {
		pending.add(path);
		// During a round, the change waits for its end (the round's end schedules it).
		if (!current) schedule();
	}
	let stop!: () => void;
	const stopped = new Promise<void>(resolve => (stop = resolve));
	io.signal.addEventListener('abort', () => stop(), { once: true });
	for (const path of watched.unwatched) io.stderr.write(`nub: watch: ${path} does not exist, nor its folder: not watched (restart the watch once it does)\n`);
	const { paths } = watched;
	io.stderr.write(`nub: watching ${paths} path${paths === 1 ? '' : 's'} of ${nodes.length - held.size} task${nodes.length - held.size === 1 ? '' : 's'} (Ctrl-C stops)\n`);
	if (io.signal.aborted) stop();
	await stopped;
	clearTimeout(timer);
	watched.close();
	await current;
	if (failure !== undefined) throw failure;
	return interrupted ? exitCodes.interrupted : exitCodes.ok;
}

/**
 * One round: a run of the targets with the cluster tasks held, reported as `nub run` reports
 * (the live view in a terminal, plain lines or JSON lines otherwise), ending in its summary line.
 * False when it was interrupted.
 */
async function runRound(nubfile: Nubfile, nodes: readonly GraphNode[], held: ReadonlySet<string>, io: CliIo, args: Args): Promise<boolean> {
	const stateDir = stateDirOf(nubfile);
	const sealer = createSealer({ stateDir, fromEnvironment: io.env.NUB_STATE_KEY });
	const before = StateStore.load(stateDir, { sealer });
	const running = nodes.filter(node => !held.has(node.name));
	await preflight(nubfile, running, io, before);
	return holdState(nubfile, io, args, before, async ({ state, signal, cluster, finish }) => {
		const style = styleOf(io, args);
		const reporter = await chooseReporter(io, args, style, nodes.length);
		try {
			const redactor = new Redactor();
			const jobs = jobsOf(io, args);
			const extendContext = servicesOf(cluster);
			const force = new Set<string>();
			// Checking cached tasks' objects talks to the cluster: only when cluster tasks are watched too.
			const drift = args.includeCluster ? await checkCache({ nodes, state, root: nubfile.root, sealer, redactor, jobs, force, signal, extendContext }, io, args) : new Map<string, string>();
			if (drift === 'failed') return true;
			const summary = await runGraph({ nodes, state, root: nubfile.root, jobs, keepGoing: args.keepGoing, force, signal, emit: event => reporter.onEvent(event), sealer, redactor, extendContext, drift, held });
			await finish();
			return summary.interrupted.length === 0 && !signal.aborted;
		} finally {
			await reporter.close();
		}
	});
}

/**
 * Watches the declared input files and folders of the tasks that are not held, and calls
 * `onChange` with the path (relative to the Nubfile's folder) of each change. A folder is watched
 * recursively; a file through its folder (editors replace a file on save, which a watch on the
 * file itself would lose), and so is an input that does not exist yet, which its creation then
 * reaches. One that became a folder is watched recursively from the next `refresh` (after each
 * round). An input whose folder does not exist either is not watched (`unwatched`). Changes under
 * a declared output of the tasks (the rounds write those) or under `.nub/` are ignored.
 */
function watchInputs(nubfile: Nubfile, nodes: readonly GraphNode[], held: ReadonlySet<string>, onChange: (path: string) => void) {
	const root = nubfile.root;
	const absolute = (path: string) => (isAbsolute(path) ? path : join(root, path));
	const outputs = nodes.flatMap(node => node.task.outputs?.files ?? []);
	const isIgnored = (full: string) => {
		const path = relative(root, full).split(sep).join('/');
		return path === '.nub' || path.startsWith('.nub/') || outputs.some(declared => outputCovers(declared, path));
	};
	const isFolder = (full: string) => statSync(full, { throwIfNoEntry: false })?.isDirectory() === true;
	const report = (full: string) => {
		if (!isIgnored(full)) onChange(relative(root, full) || full);
	};
	const watchers: FSWatcher[] = [];
	const folders = new Set<string>();
	const watchFolder = (full: string) => {
		folders.add(full);
		watchers.push(watchFs(full, { recursive: true }, (_event, name) => report(name ? join(full, name.toString()) : full)));
	};
	const files = new Map<string, Set<string>>();
	const unwatched: string[] = [];
	for (const node of nodes) {
		if (held.has(node.name)) continue;
		for (const path of node.task.inputs.files ?? []) {
			const full = absolute(path);
			if (isIgnored(full) || folders.has(full)) continue;
			if (isFolder(full)) watchFolder(full);
			else if (isFolder(dirname(full))) files.set(dirname(full), (files.get(dirname(full)) ?? new Set()).add(full));
			else unwatched.push(path);
		}
	}
	for (const [folder, names] of files) {
		watchers.push(
			watchFs(folder, (_event, name) => {
				const full = name ? join(folder, name.toString()) : undefined;
				if (full !== undefined && names.has(full)) report(full);
			}),
		);
	}
	let closed = false;
	return {
		paths: folders.size + [...files.values()].reduce((sum, names) => sum + names.size, 0),
		unwatched,
		/** Watches recursively an input that did not exist as a folder before and is one now. */
		refresh() {
			if (closed) return;
			for (const names of files.values()) for (const full of names) if (!folders.has(full) && isFolder(full)) watchFolder(full);
		},
		close() {
			closed = true;
			for (const watcher of watchers) watcher.close();
		},
	};
}

/** `src/a.md`, `src/a.md and src/b.md`, `src/a.md and 3 more`. */
function describeChanges(paths: readonly string[]): string {
	const unique = [...new Set(paths)].sort();
	if (unique.length <= 2) return unique.join(' and ');
	return `${unique[0]} and ${unique.length - 1} more`;
}
