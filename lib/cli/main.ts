import { readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { isUserError, NubError } from '../engine/errors.ts';
import { forcedTasks, messageOf, selectNodes, type GraphNode } from '../engine/graph.ts';
import { preflightError, runPreflights } from '../engine/preflight.ts';
import { acquireLock, type LockEnvironment } from '../engine/lock.ts';
import { describeReason, planRun, type PlanEntry } from '../engine/plan.ts';
import { Redactor } from '../engine/redact.ts';
import { runGraph } from '../engine/scheduler.ts';
import { createSealer } from '../engine/sealer.ts';
import { StateStore } from '../engine/state-store.ts';
import { jsonReporter } from '../reporters/json.ts';
import { plainReporter } from '../reporters/plain.ts';
import type { Output, Reporter, Style } from '../reporters/reporter.ts';
import { helpText, parseCommandLine, type Args } from './args.ts';
import { clusterConnection, sandboxDir } from './cluster.ts';
import { loadNubfile, type Nubfile } from './load-nubfile.ts';

/** Everything the CLI takes from the outside world; `process.ts` passes the real one. */
export interface CliIo {
	argv: readonly string[];
	cwd: string;
	env: Readonly<Record<string, string | undefined>>;
	stdout: Output;
	stderr: Output;
	/** True when stdout is a terminal (live progress). */
	isTTY: boolean;
	/** Cores, for the default `--jobs`. */
	cores: number;
	lock: LockEnvironment;
	/** Aborted on the first Ctrl-C. */
	signal: AbortSignal;
	/** The module a Nubfile's `import ... from 'nub'` loads: the one this CLI runs. */
	api: string;
}

/** Exit codes, as documented in `--help`. */
export const exitCodes = { ok: 0, taskFailed: 1, usage: 2, interrupted: 130 } as const;

/** Runs one command line; returns the exit code. User errors print one line; bugs their stack. */
export async function main(io: CliIo): Promise<number> {
	let args: Args | undefined;
	try {
		args = parseCommandLine(io.argv);
		switch (args.command) {
			case 'help':
				io.stdout.write(helpText);
				return exitCodes.ok;
			case 'version':
				io.stdout.write(`${version()}\n`);
				return exitCodes.ok;
			case 'list':
				return await list(io, args);
			case 'plan':
				return await plan(io, args);
			case 'run':
				return args.dryRun ? await plan(io, args) : await run(io, args);
			case 'sandbox':
				return await sandbox(io, args);
		}
	} catch (error) {
		if (isUserError(error)) {
			io.stderr.write(`nub: ${error.message}\n`);
			if (args?.verbose && error.cause instanceof Error && error.cause.stack) io.stderr.write(`${error.cause.stack}\n`);
			return exitCodes.usage;
		}
		const hint = args?.verbose ? '' : '(--verbose shows this stack in the TypeScript sources)\n';
		io.stderr.write(`nub: internal error (a bug in nub; please report it):\n${error instanceof Error ? error.stack : messageOf(error)}\n${hint}`);
		return 70;
	}
}

function version(): string {
	const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
	return pkg.version;
}

function styleOf(io: CliIo, args: Args): Style {
	return { color: io.isTTY && io.env.NO_COLOR === undefined && !args.json, verbose: args.verbose };
}

async function list(io: CliIo, args: Args): Promise<number> {
	const nubfile = await loadNubfile(io.cwd, args.file, io.api);
	const nodes = args.all ? nubfile.graph.nodes : nubfile.graph.targets;
	if (args.json) {
		for (const node of nodes) io.stdout.write(`${JSON.stringify({ name: node.name, description: node.task.description ?? null, target: nubfile.graph.targets.includes(node) })}\n`);
		return exitCodes.ok;
	}
	const width = Math.max(...nodes.map(node => node.name.length));
	for (const node of [...nodes].sort((a, b) => a.name.localeCompare(b.name))) {
		io.stdout.write(`${node.name.padEnd(width)}  ${node.task.description ?? ''}`.trimEnd() + '\n');
	}
	return exitCodes.ok;
}

function stateDirOf(nubfile: Nubfile) {
	return join(nubfile.root, '.nub');
}

async function plan(io: CliIo, args: Args): Promise<number> {
	const nubfile = await loadNubfile(io.cwd, args.file, io.api);
	const nodes = selectNodes(nubfile.graph, args.targets);
	const forced = forcedTasks(nubfile.graph, args.targets, { force: args.force });
	await preflight(nubfile, nodes, io);
	const state = StateStore.load(stateDirOf(nubfile));
	// Secret inputs are compared by their keyed digest; with no key yet, nothing of them was recorded.
	const sealer = createSealer({ stateDir: stateDirOf(nubfile), fromEnvironment: io.env.NUB_STATE_KEY, readOnly: true });
	const secretDigest = (text: string) => {
		try {
			return sealer.digest(text);
		} catch {
			return 'no state key';
		}
	};
	const entries = await planRun(nodes, state, nubfile.root, forced, secretDigest);
	const style = styleOf(io, args);
	const counts = { run: 0, maybe: 0, cached: 0 };
	for (const entry of entries) counts[entry.action]++;
	if (args.json) {
		for (const entry of entries) io.stdout.write(`${JSON.stringify({ ...entry, why: entry.reasons.map(describeReason) })}\n`);
		io.stdout.write(`${JSON.stringify({ plan: counts })}\n`);
		return exitCodes.ok;
	}
	const width = Math.max(...entries.map(entry => entry.name.length));
	for (const entry of entries) {
		if (entry.action === 'cached' && !args.verbose) continue;
		io.stdout.write(`${planLine(entry, width, style)}\n`);
	}
	io.stdout.write(`${counts.run} to run, ${counts.maybe} to run if what they need changes, ${counts.cached} cached\n`);
	return exitCodes.ok;
}

function planLine(entry: PlanEntry, width: number, style: Style) {
	const label = { run: 'run   ', maybe: 'maybe ', cached: 'cached' }[entry.action];
	const why = entry.reasons.map(describeReason).join('; ');
	return `${label} ${entry.name.padEnd(width)}  ${why}`.trimEnd() + (entry.secret && style.verbose ? ' [secret]' : '');
}

async function run(io: CliIo, args: Args): Promise<number> {
	const nubfile = await loadNubfile(io.cwd, args.file, io.api);
	const nodes = selectNodes(nubfile.graph, args.targets);
	const force = forcedTasks(nubfile.graph, args.targets, { force: args.force });
	await preflight(nubfile, nodes, io);
	const stateDir = stateDirOf(nubfile);
	const lock = acquireLock(stateDir, io.lock);
	let reporter: Reporter | undefined;
	// --context wins over the Nubfile's cluster(); with neither, the sandbox.
	const target = args.context ? { context: args.context, ...(args.kubeconfig ? { kubeconfig: args.kubeconfig } : {}) } : nubfile.cluster;
	const cluster = clusterConnection({
		...(target ? { target } : {}),
		root: nubfile.root,
		cwd: io.cwd,
		stderr: io.stderr,
	});
	try {
		const state = StateStore.load(stateDir);
		const style = styleOf(io, args);
		reporter = await chooseReporter(io, args, style, nodes.length);
		const summary = await runGraph({
			nodes,
			state,
			root: nubfile.root,
			jobs: args.jobs ?? Math.max(8, 4 * io.cores),
			keepGoing: args.keepGoing,
			force,
			signal: io.signal,
			emit: event => reporter!.onEvent(event),
			sealer: createSealer({ stateDir, fromEnvironment: io.env.NUB_STATE_KEY }),
			redactor: new Redactor(),
			extendContext: context => ({ ...context, kube: cluster.kube }),
		});
		await state.close();
		await reporter.close();
		reporter = undefined;
		if (summary.interrupted.length > 0 || io.signal.aborted) return exitCodes.interrupted;
		return summary.failed.length > 0 ? exitCodes.taskFailed : exitCodes.ok;
	} finally {
		await reporter?.close();
		await cluster.close();
		lock.release();
	}
}

/**
 * `nub sandbox serve`: the project's sandbox in the foreground, for kubectl and for runs in other
 * terminals (they use it rather than start their own); Ctrl-C stops it. `nub sandbox reset`
 * empties its cluster.
 */
async function sandbox(io: CliIo, args: Args): Promise<number> {
	const root = dirname(resolve(io.cwd, args.file ?? 'Nubfile.ts'));
	const dir = sandboxDir(root);
	const { findRunningSandbox, resetSandbox, startSandbox } = await import('../sandbox/index.ts');
	const running = findRunningSandbox(dir);
	if (running) {
		throw new NubError('locked', `a sandbox is already serving ${relative(io.cwd, dir) || dir} (pid ${running.pid}, ${running.url}): stop it first`);
	}
	if (args.targets[0] === 'reset') {
		await resetSandbox(dir);
		io.stdout.write(`emptied the sandbox cluster in ${relative(io.cwd, dir) || dir}\n`);
		return exitCodes.ok;
	}
	const served = await startSandbox({ dir, ...(args.port !== undefined ? { port: args.port } : {}) });
	const kubeconfig = relative(io.cwd, served.kubeconfigPath) || served.kubeconfigPath;
	io.stdout.write(`sandbox Kubernetes API server at ${served.url}\nkubeconfig: ${served.kubeconfigPath}\ntry: kubectl --kubeconfig ${kubeconfig} get all -A\nCtrl-C stops it\n`);
	await new Promise(resolve => (io.signal.aborted ? resolve(undefined) : io.signal.addEventListener('abort', resolve, { once: true })));
	await served.close();
	return exitCodes.ok;
}

/** The tasks' read-only checks, before the lock and before anything runs. */
async function preflight(nubfile: Nubfile, nodes: readonly GraphNode[], io: CliIo) {
	const problems = await runPreflights(nodes, nubfile.root, io.signal);
	if (problems.length > 0) throw preflightError(problems);
}

async function chooseReporter(io: CliIo, args: Args, style: Style, tasks: number): Promise<Reporter> {
	if (args.json) return jsonReporter(io.stdout);
	const live = io.isTTY && !io.env.CI && tasks <= 200;
	if (!live) return plainReporter(io.stdout, style);
	const { listrReporter } = await import('../reporters/listr.ts');
	return listrReporter(io.stdout, style);
}

