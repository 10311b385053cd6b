import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { isUserError, NubError } from '../engine/errors.ts';
import { forcedTasks, messageOf, selectNodes } from '../engine/graph.ts';
import { describeReason, planRun, type PlanEntry } from '../engine/plan.ts';
import { createSealer } from '../engine/sealer.ts';
import { StateStore } from '../engine/state-store.ts';
import type { Style } from '../reporters/reporter.ts';
import { helpText, parseCommandLine, type Args } from './args.ts';
import { sandboxDir } from './cluster.ts';
import { connectionFor, holdState, loadState, preflight, readOnlyChecks, readOnlyDigest, readState, reportFailures, stateDirOf, stepOutput, styleOf, teamNamespace } from './common.ts';
import { describeRecorded, destroySelection, destroySteps, executeSteps, pruneSteps, type Step } from './destroy.ts';
import { exitCodeOf, exitCodes, type CliIo } from './io.ts';
import { KubeError } from '../k8s/errors.ts';
import { loadNubfile } from './load-nubfile.ts';
import { run } from './run.ts';

export { exitCodes, type CliIo } from './io.ts';

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
		}
	} catch (caught) {
		// The cluster refusing or out of reach before any task started (team state, checks, destroy):
		// a cluster error, one line. Inside a task, the same error failed that task instead.
		const error = caught instanceof KubeError ? new NubError('cluster', caught.message, { cause: caught }) : caught;
		if (isUserError(error)) {
			io.stderr.write(`nub: ${error.message}\n`);
			if (args?.verbose && error.cause instanceof Error && error.cause.stack) io.stderr.write(`${error.cause.stack}\n`);
			return exitCodeOf(error.kind);
		}
		const hint = args?.verbose ? '' : '(--verbose shows this stack in the TypeScript sources)\n';
		io.stderr.write(`nub: internal error (a bug in nub; please report it):\n${error instanceof Error ? error.stack : messageOf(error)}\n${hint}`);
		return exitCodes.internal;
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

async function plan(io: CliIo, args: Args): Promise<number> {
	const nubfile = await loadNubfile(io.cwd, args.file, io.api);
	const nodes = selectNodes(nubfile.graph, args.targets);
	const forced = forcedTasks(nubfile.graph, args.targets, { force: args.force });
	const state = await readState(nubfile, io, args);
	await preflight(nubfile, nodes, io, state);
	const drift = await readOnlyChecks(nubfile, io, args, nodes, state, forced);
	if (drift === 'failed') return exitCodes.taskFailed;
	const entries = await planRun(nodes, state, nubfile.root, forced, readOnlyDigest(nubfile, io), drift);
	const style = styleOf(io, args);
	const counts = { run: 0, maybe: 0, cached: 0 };
	for (const entry of entries) counts[entry.action]++;
	const prune = pruneSteps(nubfile.graph, state);
	if (args.json) {
		for (const entry of entries) io.stdout.write(`${JSON.stringify({ ...entry, why: entry.reasons.map(describeReason) })}\n`);
		for (const step of prune) for (const object of step.objects) io.stdout.write(`${JSON.stringify({ prune: object, task: step.name, why: step.reason })}\n`);
		io.stdout.write(`${JSON.stringify({ plan: counts })}\n`);
		return exitCodes.ok;
	}
	const width = Math.max(...entries.map(entry => entry.name.length));
	for (const entry of entries) {
		if (entry.action === 'cached' && !args.verbose) continue;
		io.stdout.write(`${planLine(entry, width, style)}\n`);
	}
	io.stdout.write(`${counts.run} to run, ${counts.maybe} to run if what they need changes, ${counts.cached} cached\n`);
	const objects = prune.flatMap(step => step.objects.map(object => ({ step, object })));
	if (objects.length > 0) {
		io.stdout.write(`prune (nub run --prune deletes them):\n`);
		const described = objects.map(({ object }) => describeRecorded(object));
		const objectWidth = Math.max(...described.map(text => text.length));
		objects.forEach(({ step }, i) => io.stdout.write(`prune  ${described[i]!.padEnd(objectWidth)}  from ${step.name} (${step.reason})\n`));
	}
	return exitCodes.ok;
}

function planLine(entry: PlanEntry, width: number, style: Style) {
	const label = { run: 'run   ', maybe: 'maybe ', cached: 'cached' }[entry.action];
	const why = entry.reasons.map(describeReason).join('; ');
	return `${label} ${entry.name.padEnd(width)}  ${why}`.trimEnd() + (entry.secret && style.verbose ? ' [secret]' : '');
}

/**
 * `nub destroy [targets]`: deletes what the selected tasks made (their recorded objects, and their
 * undo), dependents first, waiting for each object to be gone before the next task; keeps going
 * past errors and reports them all at the end (exit 1). Each task fully undone is recorded gone:
 * run again, it continues with what is left; `nub run` afterwards makes everything anew.
 */
async function destroy(io: CliIo, args: Args): Promise<number> {
	const nubfile = await loadNubfile(io.cwd, args.file, io.api);
	if (args.targets.length > 0) selectNodes(nubfile.graph, args.targets); // unknown names fail here
	const stateDir = stateDirOf(nubfile);
	let state = loadState(nubfile, io);
	const sealer = createSealer({ stateDir, fromEnvironment: io.env.NUB_STATE_KEY, readOnly: true });
	const open = (name: string) => {
		const ok = state.lastSuccess(name)!;
		return JSON.parse(sealer.open(ok.sealed!, `task "${name}"`, ok)) as unknown;
	};
	if (args.dryRun) {
		// From the state as a run would find it: the cluster's, with team state.
		state = await readState(nubfile, io, args);
		const steps = destroySteps(state, destroySelection(nubfile.graph, state, args.targets), open);
		printDestroyPlan(io, args, steps);
		return exitCodes.ok;
	}
	return holdState(nubfile, io, args, state, async ({ state: held, signal, cluster, finish }) => {
		state = held;
		const steps = destroySteps(state, destroySelection(nubfile.graph, state, args.targets), open);
		const result = await executeSteps({
			steps,
			kube: cluster.kube,
			extendContext: context => ({ ...context, kube: cluster.kube }),
			root: nubfile.root,
			signal,
			...stepOutput(io, args, 'destroy'),
			done: step => state.recordGone(step.name),
		});
		await state.close();
		await finish();
		const failed = reportFailures(io, result, 'destroy');
		if (args.json) {
			io.stdout.write(`${JSON.stringify({ summary: { destroyed: result.done, failed: [...new Set(result.failures.map(failure => failure.task))], blocked: result.blocked.map(entry => entry.task), errors: result.failures } })}\n`);
		} else if (!result.interrupted) {
			const objects = steps.filter(step => result.done.includes(step.name)).reduce((sum, step) => sum + step.objects.length, 0);
			io.stdout.write(`destroyed ${result.done.length} task${result.done.length === 1 ? '' : 's'} (${objects} object${objects === 1 ? '' : 's'})${failed ? `; ${result.failures.length} failure${result.failures.length === 1 ? '' : 's'}, ${result.blocked.length} task${result.blocked.length === 1 ? '' : 's'} kept` : ''}\n`);
		}
		if (result.interrupted || io.signal.aborted) return exitCodes.interrupted;
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

/** `nub destroy --dry-run`: per task, in order, what would be undone and deleted. */
function printDestroyPlan(io: CliIo, args: Args, steps: readonly Step[]) {
	let objects = 0;
	let tasks = 0;
	for (const step of steps) {
		const undo = step.undo ? (step.undo.describe?.(step.previous) ?? 'its undo') : undefined;
		if (args.json) {
			io.stdout.write(`${JSON.stringify({ task: step.name, ...(undo ? { undo } : {}), objects: step.objects })}\n`);
		} else if (undo || step.objects.length > 0) {
			io.stdout.write(`${step.name}:${step.node ? '' : ' (no longer in the graph)'}\n`);
			if (undo) io.stdout.write(`  ${undo}\n`);
			for (const object of step.objects) io.stdout.write(`  delete ${describeRecorded(object)}\n`);
		}
		if (undo || step.objects.length > 0) tasks++;
		objects += step.objects.length;
	}
	if (args.json) io.stdout.write(`${JSON.stringify({ dryRun: { tasks: steps.map(step => step.name), objects } })}\n`);
	else io.stdout.write(`would delete ${objects} object${objects === 1 ? '' : 's'} of ${tasks} task${tasks === 1 ? '' : 's'} (and forget ${steps.length} task${steps.length === 1 ? '' : 's'}); dry run: nothing changed\n`);
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
