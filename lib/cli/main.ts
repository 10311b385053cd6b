import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { isUserError, NubError } from '../engine/errors.ts';
import { forcedTasks, messageOf, selectNodes, type GraphNode } from '../engine/graph.ts';
import { describeReason, planRun } from '../engine/plan.ts';
import { createSealer } from '../engine/sealer.ts';
import { recordedOutput, StateStore } from '../engine/state-store.ts';
import type { UndoSummary } from '../reporters/events.ts';
import { helpText, parseCommandLine, type Args } from './args.ts';
import { sandboxDir } from './cluster.ts';
import { commandReporter, connectionFor, holdState, jobsOf, loadState, preflight, readOnlyChecks, readOnlyDigest, readState, reportFailures, sealerFor, servicesOf, stateDirOf, styleOf, teamNamespace } from './common.ts';
import { hasChanges, planDiff, savePlan } from './diff.ts';
import { destroySelection, destroySteps, previewOf, pruneSteps, recordDestroyed, redactorOf, runUndo } from './destroy.ts';
import { exitCodeOf, exitCodes, type CliIo } from './io.ts';
import { KubeError } from '../k8s/errors.ts';
import { loadNubfile, type Nubfile } from './load-nubfile.ts';
import { run } from './run.ts';
import { watch } from './watch.ts';

export { exitCodes, type CliIo } from './io.ts';

/** Runs one command line; returns the exit code. User errors print one line; bugs their stack. */
export async function main(io: CliIo): Promise<number> {
	let args: Args | undefined;
	// With --detailed-exitcode, as Terraform's, 2 means changes and nothing else: every error is 1
	// (usage and configuration errors included; plan itself returns 0, 1 or 2).
	const errorCode = (code: number) => (io.argv.includes('--detailed-exitcode') ? exitCodes.taskFailed : code);
	try {
		args = parseCommandLine(io.argv);
		switch (args.command) {
			case 'help':
				io.stdout.write(helpText);
				return exitCodes.ok;
			case 'version':
				io.stdout.write(`${version(io)}\n`);
				return exitCodes.ok;
			case 'list':
				return await list(io, args);
			case 'plan':
				return await plan(io, args);
			case 'run':
				return args.dryRun ? await plan(io, args) : await run(io, args);
			case 'sandbox':
				return await sandbox(io, args);
			case 'graph':
				return await graph(io, args);
			case 'destroy':
				return await destroy(io, args);
			case 'unlock':
				return await unlock(io, args);
			case 'watch':
				return await watch(io, args);
		}
	} catch (caught) {
		// The cluster refusing or out of reach before any task started (team state, checks, destroy):
		// a cluster error, one line. Inside a task, the same error failed that task instead.
		const error = caught instanceof KubeError ? new NubError('cluster', caught.message, { cause: caught }) : caught;
		if (isUserError(error)) {
			io.stderr.write(`nub: ${error.message}\n`);
			if (args?.verbose && error.cause instanceof Error && error.cause.stack) io.stderr.write(`${error.cause.stack}\n`);
			return errorCode(exitCodeOf(error.kind));
		}
		const hint = args?.verbose ? '' : '(--verbose shows this stack in the TypeScript sources)\n';
		io.stderr.write(`nub: internal error (a bug in nub; please report it):\n${error instanceof Error ? error.stack : messageOf(error)}\n${hint}`);
		return errorCode(exitCodes.internal);
	}
}

/** nub's version, from the package.json of the folder that holds `api`'s. */
function version(io: CliIo): string {
	const pkg = JSON.parse(readFileSync(join(dirname(dirname(io.api)), 'package.json'), 'utf8')) as { version: string };
	return pkg.version;
}

async function list(io: CliIo, args: Args): Promise<number> {
	const nubfile = await loadNubfile(io.cwd, args.file, io.api);
	const nodes = args.all ? nubfile.graph.nodes : nubfile.graph.targets;
	const reporter = commandReporter(io, args);
	for (const node of nodes) reporter.onEvent({ type: 'list-entry', name: node.name, description: node.task.description ?? null, target: nubfile.graph.targets.includes(node) });
	await reporter.close();
	return exitCodes.ok;
}

/** `nub plan <targets>` (and `nub run --dry-run`): what a run would do and why, and what a prune would delete. */
async function plan(io: CliIo, args: Args): Promise<number> {
	const nubfile = await loadNubfile(io.cwd, args.file, io.api);
	const nodes = selectNodes(nubfile.graph, args.targets);
	const forced = forcedTasks(nubfile.graph, args.targets, { force: args.force });
	const state = await readState(nubfile, io, args);
	await preflight(nubfile, nodes, io, state);
	// --diff and --out ask the cluster what each object would become (dry runs only), on the
	// connection the checks used: the LISTs they made are not made again.
	const cluster = args.diff || args.out ? connectionFor(nubfile, io, args) : undefined;
	try {
		return await planWith(io, args, nubfile, nodes, forced, state, cluster);
	} finally {
		await cluster?.close();
	}
}

/** The plan once its inputs are read: the checks, the decisions, with --diff or --out the diff, the report. */
async function planWith(io: CliIo, args: Args, nubfile: Nubfile, nodes: readonly GraphNode[], forced: ReadonlySet<string>, state: StateStore, cluster: ReturnType<typeof connectionFor> | undefined): Promise<number> {
	const drift = await readOnlyChecks(nubfile, io, args, nodes, state, forced, cluster);
	if (drift === 'failed') return exitCodes.taskFailed;
	const entries = await planRun(nodes, state, nubfile.root, forced, readOnlyDigest(nubfile, io), drift);
	const counts = { run: 0, maybe: 0, cached: 0 };
	for (const entry of entries) counts[entry.action]++;
	const prune = pruneSteps(nubfile.graph, state);
	// A saved plan's hashes are keyed with the state key, which --out makes when there is none yet, as a run would.
	const diff = cluster ? await planDiff({ graph: nubfile.graph, nodes, plan: entries, state, root: nubfile.root, sealer: sealerFor(nubfile, io, !args.out), all: args.all, signal: io.signal, kube: cluster.kube }) : undefined;
	const reporter = commandReporter(io, args);
	for (const entry of entries) reporter.onEvent({ type: 'plan-entry', ...entry, why: entry.reasons.map(describeReason) });
	for (const step of prune) {
		for (const object of step.objects ?? []) reporter.onEvent({ type: 'prune-entry', name: step.name, object, reason: step.reason! });
	}
	const byAction = { create: 0, update: 0, delete: 0, none: 0 };
	if (diff && args.diff) {
		for (const record of diff.records) {
			byAction[record.action]++;
			reporter.onEvent({ type: 'diff-object', ...record });
		}
		for (const secret of diff.anew) reporter.onEvent({ type: 'diff-secret', ...secret });
	}
	reporter.onEvent({ type: 'plan-end', counts, ...(diff && args.diff ? { diff: byAction } : {}) });
	await reporter.close();
	for (const [task, error] of diff?.failed ?? []) io.stderr.write(`nub: cannot tell what task "${task}" would change: ${error}\n`);
	if (diff && diff.failed.size > 0) return exitCodes.taskFailed;
	if (diff && args.out) {
		savePlan(resolve(io.cwd, args.out), { targets: args.targets, force: args.force, all: args.all, decisions: entries.map(entry => ({ task: entry.name, action: entry.action })), objects: diff.records, anew: diff.anew });
		io.stderr.write(`nub: plan saved to ${args.out}: nub run --plan ${args.out} applies it if it still holds\n`);
	}
	// --detailed-exitcode: 2 when the run would change something (with --diff, an object or a
	// secret; without, a task to run or an object to prune), else 0.
	const changes = diff ? hasChanges(diff) : counts.run > 0 || prune.some(step => (step.objects ?? []).length > 0);
	return args.detailedExitcode && changes ? exitCodes.changes : exitCodes.ok;
}

/**
 * `nub destroy [targets]`: undoes the selected tasks on the scheduler, over the reversed graph
 * (see destroy.ts): dependents first, each apply task's objects deleted and gone before what it
 * needs is undone; keeps going past errors and reports them all at the end (exit 1). Each task
 * fully undone is recorded gone: run again, it continues with what is left; `nub run` afterwards
 * makes everything anew.
 */
async function destroy(io: CliIo, args: Args): Promise<number> {
	const nubfile = await loadNubfile(io.cwd, args.file, io.api);
	if (args.targets.length > 0) selectNodes(nubfile.graph, args.targets); // unknown names fail here
	const stateDir = stateDirOf(nubfile);
	let state = loadState(nubfile, io);
	const sealer = createSealer({ stateDir, fromEnvironment: io.env.NUB_STATE_KEY, readOnly: true });
	const open = (name: string) => recordedOutput(name, state.lastSuccess(name)!, sealer);
	if (args.dryRun) {
		// From the state as a run would find it: the cluster's, with team state.
		state = await readState(nubfile, io, args);
		const steps = destroySteps(state, destroySelection(nubfile.graph, state, args.targets), open);
		const reporter = commandReporter(io, args);
		const redactor = redactorOf(steps);
		let objects = 0;
		let files = 0;
		let undone = 0;
		for (const step of steps) {
			const preview = previewOf(step, redactor);
			reporter.onEvent({ type: 'undo-preview', name: step.name, steps: preview.steps, objects: preview.objects, files: preview.files, stale: !step.node });
			objects += preview.objects;
			files += preview.files;
			if (preview.steps.length > 0) undone++;
		}
		reporter.onEvent({ type: 'undo-preview-end', tasks: steps.map(step => step.name), objects, files, undone });
		await reporter.close();
		return exitCodes.ok;
	}
	return holdState(nubfile, io, args, state, async ({ state: held, signal, cluster, finish }) => {
		state = held;
		const reporter = commandReporter(io, args);
		let summary: UndoSummary;
		try {
			summary = await runUndo({
				command: 'destroy',
				steps: destroySteps(state, destroySelection(nubfile.graph, state, args.targets), open),
				record: step => recordDestroyed(state, step),
				root: nubfile.root,
				jobs: jobsOf(io, args),
				signal,
				sealer,
				extendContext: servicesOf(cluster),
				emit: event => reporter.onEvent(event),
			});
			await finish();
		} finally {
			await reporter.close();
		}
		const failed = reportFailures(io, summary, 'destroy');
		if (summary.interrupted || io.signal.aborted) return exitCodes.interrupted;
		return failed ? exitCodes.taskFailed : exitCodes.ok;
	});
}

/**
 * `nub unlock`: removes the team state lock of a run that is gone, only when its lease is no
 * longer being renewed (a live run renews it every quarter of its duration).
 */
async function unlock(io: CliIo, args: Args): Promise<number> {
	const nubfile = await loadNubfile(io.cwd, args.file, io.api);
	const namespace = teamNamespace(nubfile, io, false);
	if (!namespace) {
		throw new NubError('usage', `nub unlock is for team state (cluster({ context, state: 'kubernetes' })); a run's file lock is ${relative(io.cwd, join(stateDirOf(nubfile), 'lock')) || 'lock'}, and nub takes it over by itself when its holder is gone`);
	}
	const cluster = connectionFor(nubfile, io, args);
	try {
		const { unlockTeamState } = await import('./team-state.ts');
		io.stdout.write(`${await unlockTeamState(await cluster.kube(), namespace)}\n`);
		return exitCodes.ok;
	} finally {
		await cluster.close();
	}
}

/**
 * `nub graph [targets]`: the graph of the targets (every exported one by default) with each task's
 * state from the last run and the plan. Reads, never writes (but the output file).
 */
async function graph(io: CliIo, args: Args): Promise<number> {
	const nubfile = await loadNubfile(io.cwd, args.file, io.api);
	const targets = args.targets.length > 0 ? args.targets : nubfile.graph.targets.map(target => target.name);
	const nodes = selectNodes(nubfile.graph, targets);
	const forced = forcedTasks(nubfile.graph, targets, { force: args.force });
	const state = await readState(nubfile, io, args);
	const drift = await readOnlyChecks(nubfile, io, args, nodes, state, forced);
	if (drift === 'failed') return exitCodes.taskFailed;
	const plan = await planRun(nodes, state, nubfile.root, forced, readOnlyDigest(nubfile, io), drift);
	const view = await import('../view/index.ts');
	const model = view.buildView(nodes, plan, state, forced, targets);
	const rendered = await {
		text: () => view.renderText(model, { color: styleOf(io, args).color }),
		dot: () => view.renderDot(model),
		mermaid: () => view.renderMermaid(model),
		json: () => view.renderJson(model),
		svg: () => view.renderSvg(model),
		html: () => view.renderHtml(model),
	}[args.format]();
	if (args.output) {
		writeFileSync(resolve(io.cwd, args.output), rendered);
		io.stdout.write(`wrote ${args.output} (${args.format}, ${model.nodes.length} tasks)\n`);
	} else {
		io.stdout.write(rendered.endsWith('\n') ? rendered : `${rendered}\n`);
	}
	return exitCodes.ok;
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
		throw new NubError('lock', `a sandbox is already serving ${relative(io.cwd, dir) || dir} (pid ${running.pid}, ${running.url}): stop it first`);
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
