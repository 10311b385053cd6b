import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { isUserError, NubError } from '../engine/errors.ts';
import { forcedTasks, messageOf, selectNodes, type GraphNode } from '../engine/graph.ts';
import { runChecks, type CheckOptions } from '../engine/checks.ts';
import { preflightError, runPreflights } from '../engine/preflight.ts';
import type { TaskContext } from '../engine/task.ts';
import { acquireLock, type LockEnvironment } from '../engine/lock.ts';
import { fingerprintInputs, fingerprintValues } from '../engine/cache-key.ts';
import { describeReason, planRun, sameFingerprint, type PlanEntry } from '../engine/plan.ts';
import { Redactor } from '../engine/redact.ts';
import { runGraph, settledRun } from '../engine/scheduler.ts';
import { createSealer } from '../engine/sealer.ts';
import { readSettled, settledKey, settledMatches, stateStamp, writeSettled } from '../engine/settled.ts';
import { StateStore, type InputFingerprint } from '../engine/state-store.ts';
import type { NubEvent } from '../engine/events.ts';
import { jsonReporter } from '../reporters/json.ts';
import { plainReporter } from '../reporters/plain.ts';
import type { Output, Reporter, Style } from '../reporters/reporter.ts';
import { helpText, parseCommandLine, type Args } from './args.ts';
import { clusterConnection, sandboxDir } from './cluster.ts';
import { describeRecorded, destroySelection, destroySteps, executeSteps, pruneSteps, recordPruned, type ExecuteResult, type Step } from './destroy.ts';
import { loadNubfile, type Nubfile } from './load-nubfile.ts';
import type { TeamState } from './team-state.ts';

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
			case 'graph':
				return await graph(io, args);
			case 'destroy':
				return await destroy(io, args);
			case 'unlock':
				return await unlock(io, args);
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
	const nubfile = await loadNubfile(io.cwd, args.file, io.api, args.command);
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

/**
 * How plan and graph compare secret inputs: by their keyed digest, without making a key (they write
 * nothing); with no key yet, nothing of them was recorded, so any digest differs.
 */
function readOnlyDigest(nubfile: Nubfile, io: CliIo): (text: string) => string {
	const sealer = createSealer({ stateDir: stateDirOf(nubfile), fromEnvironment: io.env.NUB_STATE_KEY, readOnly: true });
	return text => {
		try {
			return sealer.digest(text);
		} catch {
			return 'no state key';
		}
	};
}

function stateDirOf(nubfile: Nubfile) {
	return join(nubfile.root, '.nub');
}

async function plan(io: CliIo, args: Args): Promise<number> {
	const nubfile = await loadNubfile(io.cwd, args.file, io.api, args.command);
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

async function run(io: CliIo, args: Args): Promise<number> {
	const nubfile = await loadNubfile(io.cwd, args.file, io.api, args.command);
	const nodes = selectNodes(nubfile.graph, args.targets);
	const force = forcedTasks(nubfile.graph, args.targets, { force: args.force });
	const stateDir = stateDirOf(nubfile);
	const settled = await runSettled(nubfile, io, args, nodes, force);
	if (settled !== undefined) return settled;
	// Read before the lock (reading never writes), for the preflights; holdState reads it again
	// when another run wrote it meanwhile.
	const before = StateStore.load(stateDir);
	await preflight(nubfile, nodes, io, before);
	return holdState(nubfile, io, args, before, async ({ state, signal, cluster, finish }) => {
		let reporter: Reporter | undefined;
		try {
			const sealer = createSealer({ stateDir, fromEnvironment: io.env.NUB_STATE_KEY });
			const redactor = new Redactor();
			const jobs = args.jobs ?? Math.max(8, 4 * io.cores);
			const extendContext = (context: TaskContext) => ({ ...context, kube: cluster.kube });
			const drift = await checkCache({ nodes, state, root: nubfile.root, sealer, redactor, jobs, force, signal, extendContext }, io, args);
			if (drift === 'failed') return exitCodes.taskFailed;
			const style = styleOf(io, args);
			reporter = await chooseReporter(io, args, style, nodes.length);
			let heldEnd: NubEvent | undefined;
			const summary = await runGraph({
				nodes,
				state,
				root: nubfile.root,
				jobs,
				keepGoing: args.keepGoing,
				force,
				signal,
				// With --json the summary stays the last line: held while pruning may follow.
				emit: event => (args.json && args.prune && event.type === 'run-end' ? (heldEnd = event) : reporter!.onEvent(event)),
				sealer,
				redactor,
				extendContext,
				drift,
			});
			const failed = summary.interrupted.length > 0 || signal.aborted || summary.failed.length > 0;
			let pruneFailed = false;
			const prune = pruneSteps(nubfile.graph, state);
			const count = prune.reduce((sum, step) => sum + step.objects.length, 0);
			if (count > 0 && args.prune && !failed) {
				await reporter.close();
				reporter = undefined;
				const result = await executeSteps({
					steps: prune,
					kube: cluster.kube,
					extendContext,
					root: nubfile.root,
					signal,
					...stepOutput(io, args, 'prune'),
					done: step => recordPruned(state, step),
				});
				pruneFailed = reportFailures(io, result, 'prune');
				if (heldEnd?.type === 'run-end') heldEnd = { ...heldEnd, summary: { ...heldEnd.summary, pruned: result.done, pruneFailed: [...new Set(result.failures.map(failure => failure.task))] } as typeof heldEnd.summary };
				if (result.interrupted) {
					await state.close();
					await finish();
					return exitCodes.interrupted;
				}
			} else if (count > 0) {
				const tasks = [...new Set(prune.map(step => step.name))].join(', ');
				const why = args.prune ? 'not pruned, the run did not succeed' : 'nub run --prune deletes them, nub plan lists them';
				io.stderr.write(`nub: ${count} object${count === 1 ? '' : 's'} an earlier run applied ${count === 1 ? 'is' : 'are'} no longer produced (from ${tasks}): ${why}\n`);
			}
			await state.close();
			// Every task cached for the next run, and nothing to prune: say so (settled.ts).
			if (count === 0 && !signal.aborted && summary.succeeded.length + summary.cached.length === nodes.length && !teamNamespace(nubfile, io, false)) {
				const recorded = (node: GraphNode) => state.lastSuccess(node.name)?.inputs;
				const stamp = stateStamp(stateDir);
				const sealed = state.anySealed();
				const mark = readSettled(stateDir);
				if (mark?.stamp !== stamp || !settledMatches(mark, nodes, recorded)) writeSettled(stateDir, { stamp, ...settledKey(nodes, recorded), ...(sealed ? { sealed } : {}) });
			}
			if (heldEnd) jsonReporter(io.stdout).onEvent(heldEnd);
			await reporter?.close();
			reporter = undefined;
			await finish();
			if (summary.interrupted.length > 0 || io.signal.aborted) return exitCodes.interrupted;
			return summary.failed.length > 0 || pruneFailed ? exitCodes.taskFailed : exitCodes.ok;
		} finally {
			await reporter?.close();
		}
	});
}

/**
 * `nub destroy [targets]`: deletes what the selected tasks made (their recorded objects, and their
 * undo), dependents first, waiting for each object to be gone before the next task; keeps going
 * past errors and reports them all at the end (exit 1). Each task fully undone is recorded gone:
 * run again, it continues with what is left; `nub run` afterwards makes everything anew.
 */
async function destroy(io: CliIo, args: Args): Promise<number> {
	const nubfile = await loadNubfile(io.cwd, args.file, io.api, args.command);
	if (args.targets.length > 0) selectNodes(nubfile.graph, args.targets); // unknown names fail here
	const stateDir = stateDirOf(nubfile);
	let state = StateStore.load(stateDir);
	const sealer = createSealer({ stateDir, fromEnvironment: io.env.NUB_STATE_KEY, readOnly: true });
	const open = (name: string) => JSON.parse(sealer.open(state.lastSuccess(name)!.sealed!, `task "${name}"`)) as unknown;
	if (args.dryRun) {
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
 * Team state (the Nubfile's `cluster({ context, state: 'kubernetes' })`): the state namespace, or
 * undefined for state in files. The team shares the state key: the one a machine makes in
 * `.nub/key` would seal secrets no one else can open, so NUB_STATE_KEY is required.
 */
function teamNamespace(nubfile: Nubfile, io: CliIo, needsKey: boolean): string | undefined {
	if (nubfile.cluster?.state !== 'kubernetes') return undefined;
	if (needsKey && !io.env.NUB_STATE_KEY) {
		throw new NubError('usage', `state: 'kubernetes' keeps the state for a team: set NUB_STATE_KEY to the team's state key (a machine's own .nub/key would seal secrets the others cannot open)`);
	}
	return nubfile.cluster.stateNamespace ?? 'nub-state';
}

/** What a command that writes the state works with, once it holds the lock. */
interface HeldState {
	/** The state as it is under the lock: read again if another run wrote it meanwhile, or the cluster's. */
	state: StateStore;
	/** Aborted on Ctrl-C, and when the team lease is lost: the command stops as if interrupted. */
	signal: AbortSignal;
	cluster: ReturnType<typeof connectionFor>;
	/** Uploads the last team state and gives up the lease (a lost lease throws): call when done. */
	finish(): Promise<void>;
}

/**
 * Runs `work` holding the state: the run lock, and with team state the Lease and the cluster's
 * state. Whatever happens, the lease, the cluster connection and the lock are given back.
 */
async function holdState<T>(nubfile: Nubfile, io: CliIo, args: Args, state: StateStore, work: (held: HeldState) => Promise<T>): Promise<T> {
	const stateDir = stateDirOf(nubfile);
	const lock = acquireLock(stateDir, io.lock);
	const cluster = connectionFor(nubfile, io, args);
	let team: TeamState | undefined;
	try {
		team = await takeTeamState(nubfile, io, cluster, stateDir);
		if (team || state.changedOnDisk()) state = StateStore.load(stateDir);
		if (team) state.onAppend = team.upload;
		const signal = team ? AbortSignal.any([io.signal, team.lost]) : io.signal;
		const finish = async () => {
			await closeTeamState(team);
			team = undefined;
		};
		return await work({ state, signal, cluster, finish });
	} finally {
		await team?.release();
		await cluster.close();
		lock.release();
	}
}

/**
 * With team state, takes the Lease (or refuses naming its holder) and downloads the cluster's
 * state into .nub/ for the run; undefined with state in files.
 */
async function takeTeamState(nubfile: Nubfile, io: CliIo, cluster: ReturnType<typeof connectionFor>, stateDir: string): Promise<TeamState | undefined> {
	const namespace = teamNamespace(nubfile, io, true);
	if (!namespace) return undefined;
	const { acquireTeamState, leaseSeconds } = await import('./team-state.ts');
	const seconds = leaseSeconds(io.env);
	return acquireTeamState({ kube: await cluster.kube(), namespace, holder: io.lock.holder, seconds, stateDir, warn: line => io.stderr.write(`${line}\n`) });
}

/** Uploads the last state and releases the lease; a lost lease is the run's error (exit 2). */
async function closeTeamState(team: TeamState | undefined) {
	if (!team) return;
	await team.close();
	if (team.lost.aborted) throw team.lost.reason;
}

/**
 * The state plan and graph read: with team state the cluster's, which is the one the next run
 * uses (.nub/ may hold an older copy, or none on a new machine); read without the lock, and
 * nothing is written to .nub/. Otherwise .nub/'s.
 */
async function readState(nubfile: Nubfile, io: CliIo, args: Args): Promise<StateStore> {
	const namespace = teamNamespace(nubfile, io, false);
	if (!namespace) return StateStore.load(stateDirOf(nubfile));
	const cluster = connectionFor(nubfile, io, args);
	try {
		const { readTeamState } = await import('./team-state.ts');
		const text = await readTeamState(await cluster.kube(), namespace);
		if (text === undefined) return StateStore.load(stateDirOf(nubfile));
		const dir = mkdtempSync(join(tmpdir(), 'nub-state-'));
		try {
			writeFileSync(join(dir, 'state.jsonl'), text, { mode: 0o600 });
			return StateStore.load(dir);
		} finally {
			rmSync(dir, { recursive: true, force: true });
		}
	} finally {
		await cluster.close();
	}
}

/**
 * `nub unlock`: removes the team state lock of a run that is gone, only when its lease is no
 * longer being renewed (a live run renews it every quarter of its duration).
 */
async function unlock(io: CliIo, args: Args): Promise<number> {
	const nubfile = await loadNubfile(io.cwd, args.file, io.api, args.command);
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

/** How destroy and prune show their progress: a plain line, or a JSON object, per event. */
function stepOutput(io: CliIo, args: Args, verb: 'destroy' | 'prune') {
	const write = (event: Record<string, unknown>, line: string) => io.stdout.write(args.json ? `${JSON.stringify({ [verb]: event.task, ...event, task: undefined })}\n` : `${line}\n`);
	return {
		log: (task: string, line: string) => write({ task, log: line }, `${verb} ${task}: ${line}`),
		object: (task: string, object: Parameters<typeof describeRecorded>[0], action: string, error?: string) => {
			const described = describeRecorded(object);
			const said = action === 'absent' ? 'already gone' : action === 'failed' ? `failed: ${error}` : action;
			write({ task, object: described, action, ...(error ? { error } : {}) }, `${verb} ${task}: ${described} ${said}`);
		},
	};
}

/** One line per failure and per task kept because of one, on stderr; true when there was any. */
function reportFailures(io: CliIo, result: ExecuteResult, verb: 'destroy' | 'prune'): boolean {
	for (const failure of result.failures) io.stderr.write(`nub: ${verb} failed: task "${failure.task}"${failure.object ? `, ${failure.object}` : ''}: ${failure.error}\n`);
	for (const { task, by } of result.blocked) io.stderr.write(`nub: ${verb}: task "${task}" kept: "${by}", which needs it, failed\n`);
	return result.failures.length > 0;
}

/**
 * `nub graph [targets]`: the graph of the targets (every exported one by default) with each task's
 * state from the last run and the plan. Reads, never writes (but the output file).
 */
async function graph(io: CliIo, args: Args): Promise<number> {
	const nubfile = await loadNubfile(io.cwd, args.file, io.api, args.command);
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

/** The run's cluster: --context wins over the Nubfile's cluster(); with neither, the sandbox. */
function connectionFor(nubfile: Nubfile, io: CliIo, args: Args) {
	const target = args.context ? { context: args.context, ...(args.kubeconfig ? { kubeconfig: args.kubeconfig } : {}) } : nubfile.cluster;
	return clusterConnection({ ...(target ? { target } : {}), root: nubfile.root, cwd: io.cwd, stderr: io.stderr });
}

/**
 * Whether what the cache says is still true: the checks of the tasks that would be reused (reads
 * only). Returns what drifted, or 'failed' after saying which checks could not tell (the run then
 * stops: it cannot trust the cache, and --no-check says to).
 */
async function checkCache(options: CheckOptions, io: CliIo, args: Args): Promise<Map<string, string> | 'failed'> {
	if (args.noCheck) return new Map();
	const { drifted, failed } = await runChecks(options);
	if (failed.size === 0) return drifted;
	for (const [name, message] of failed) io.stderr.write(`nub: checking task "${name}" failed: ${message}\n`);
	io.stderr.write('nub: nothing ran: the cache cannot be checked (--no-check trusts it as it is)\n');
	return 'failed';
}

/** The checks of plan and graph, which write nothing: no state key is made for them. */
async function readOnlyChecks(nubfile: Nubfile, io: CliIo, args: Args, nodes: readonly GraphNode[], state: StateStore, forced: ReadonlySet<string>) {
	const cluster = connectionFor(nubfile, io, args);
	try {
		const sealer = createSealer({ stateDir: stateDirOf(nubfile), fromEnvironment: io.env.NUB_STATE_KEY, readOnly: true });
		const options = { nodes, state, root: nubfile.root, sealer, redactor: new Redactor(), jobs: 8, force: forced, signal: io.signal };
		return await checkCache({ ...options, extendContext: context => ({ ...context, kube: cluster.kube }) }, io, args);
	} finally {
		await cluster.close();
	}
}

/**
 * A run that the settled mark shows has nothing to do (see engine/settled.ts): the preflights, the
 * lock, the state key's check, and every task reported cached, without reading the state or
 * deciding task by task. Undefined when the mark does not apply: the run takes the usual path.
 */
async function runSettled(nubfile: Nubfile, io: CliIo, args: Args, nodes: readonly GraphNode[], force: ReadonlySet<string>): Promise<number | undefined> {
	if (force.size > 0 || teamNamespace(nubfile, io, false) !== undefined) return undefined;
	if (!args.noCheck && nodes.some(node => node.task.check !== undefined)) return undefined;
	const stateDir = stateDirOf(nubfile);
	const mark = readSettled(stateDir);
	if (!mark || mark.stamp !== stateStamp(stateDir)) return undefined;
	const digest = readOnlyDigest(nubfile, io);
	// Files are hashed first (asynchronously); other inputs as the key is checked.
	const hashed = new Map<GraphNode, InputFingerprint>();
	try {
		for (let i = 0; i < nodes.length; i++) {
			const node = nodes[i]!;
			if (node.task.inputs.files?.length) hashed.set(node, await fingerprintInputs(node.task.inputs, nubfile.root, digest));
		}
		if (!settledMatches(mark, nodes, node => hashed.get(node) ?? fingerprintValues(node.task.inputs, digest))) return undefined;
	} catch {
		return undefined; // An input that cannot be read: the usual path says which.
	}
	await preflight(nubfile, nodes, io, 'settled');
	const lock = acquireLock(stateDir, io.lock);
	try {
		// Another run may have written the state since it was looked at.
		if (stateStamp(stateDir) !== mark.stamp) return undefined;
		// A wrong state key stops this run as it stops any other.
		if (mark.sealed) createSealer({ stateDir, fromEnvironment: io.env.NUB_STATE_KEY, readOnly: true }).open(mark.sealed.sealed, `task "${mark.sealed.name}"`);
		const reporter = await chooseReporter(io, args, styleOf(io, args), nodes.length);
		try {
			settledRun(nodes, event => reporter.onEvent(event), args.jobs ?? Math.max(8, 4 * io.cores));
		} finally {
			await reporter.close();
		}
		return exitCodes.ok;
	} finally {
		lock.release();
	}
}

/** The tasks' read-only checks, before the lock and before anything runs. */
async function preflight(nubfile: Nubfile, nodes: readonly GraphNode[], io: CliIo, state: StateStore | 'settled') {
	const digest = readOnlyDigest(nubfile, io);
	const unchanged = async (node: GraphNode) => {
		// Settled: every task's inputs are those of its last success, which no failure followed.
		if (state === 'settled') return true;
		const ok = state.lastSuccess(node.name);
		if (!ok || state.get(node.name)?.fail) return false;
		try {
			return sameFingerprint(ok.inputs, await fingerprintInputs(node.task.inputs, nubfile.root, digest));
		} catch {
			return false;
		}
	};
	const problems = await runPreflights(nodes, nubfile.root, io.signal, unchanged);
	if (problems.length > 0) throw preflightError(problems);
}

async function chooseReporter(io: CliIo, args: Args, style: Style, tasks: number): Promise<Reporter> {
	if (args.json) return jsonReporter(io.stdout);
	const live = io.isTTY && !io.env.CI && tasks <= 200;
	if (!live) return plainReporter(io.stdout, style);
	const { listrReporter } = await import('../reporters/listr.ts');
	return listrReporter(io.stdout, style);
}

