/**
 * What nub's commands share: where the state is and how it is held (the lock, team state, the
 * cluster connection), the tasks' preflights and drift checks, and how output is styled.
 */
import { NubError } from '../engine/errors.ts';
import type { GraphNode } from '../engine/graph.ts';
import type { TaskContext } from '../engine/task.ts';
import { zxShell } from '../shell/zx-shell.ts';
import { runChecks, type CheckOptions } from '../engine/checks.ts';
import { preflightError, runPreflights } from '../engine/preflight.ts';
import { acquireLock } from '../engine/lock.ts';
import { inputsUnchanged } from '../engine/plan.ts';
import { Redactor } from '../engine/redact.ts';
import { createSealer } from '../engine/sealer.ts';
import { StateStore } from '../engine/state-store.ts';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jsonReporter } from '../reporters/json.ts';
import { plainReporter } from '../reporters/plain.ts';
import type { Reporter, Style } from '../reporters/reporter.ts';
import type { Args } from './args.ts';
import { clusterConnection } from './cluster.ts';
import type { UndoCommand, UndoSummary } from '../reporters/events.ts';
import type { CliIo } from './io.ts';
import type { Nubfile } from './load-nubfile.ts';
import type { TeamState } from './team-state.ts';

export function styleOf(io: CliIo, args: Args): Style {
	return { color: io.isTTY && io.env.NO_COLOR === undefined && !args.json, verbose: args.verbose };
}

/**
 * How plan and graph compare secret inputs: by their keyed digest, without making a key (they write
 * nothing); with no key yet, nothing of them was recorded, so any digest differs.
 */
export function readOnlyDigest(nubfile: Nubfile, io: CliIo): (text: string) => string {
	const sealer = createSealer({ stateDir: stateDirOf(nubfile), fromEnvironment: io.env.NUB_STATE_KEY, readOnly: true });
	return text => {
		try {
			return sealer.digest(text);
		} catch {
			return 'no state key';
		}
	};
}

export function stateDirOf(nubfile: Nubfile) {
	return join(nubfile.root, '.nub');
}

/**
 * The sealer of a command: the state key from NUB_STATE_KEY or `.nub/key`. A read-only one (plan,
 * graph) never makes a key; another makes it when the state first needs one.
 */
export function sealerFor(nubfile: Nubfile, io: CliIo, readOnly = false) {
	return createSealer({ stateDir: stateDirOf(nubfile), fromEnvironment: io.env.NUB_STATE_KEY, readOnly });
}

/** The state in .nub/, checked under the command's state key (reading never writes). */
export function loadState(nubfile: Nubfile, io: CliIo, readOnly = false): StateStore {
	return StateStore.load(stateDirOf(nubfile), { sealer: sealerFor(nubfile, io, readOnly) });
}

/**
 * Team state (the Nubfile's `cluster({ context, state: 'kubernetes' })`): the state namespace, or
 * undefined for state in files. The team shares the state key: the one a machine makes in
 * `.nub/key` would seal secrets no one else can open, so NUB_STATE_KEY is required.
 */
export function teamNamespace(nubfile: Nubfile, io: CliIo, needsKey: boolean): string | undefined {
	if (nubfile.cluster?.state !== 'kubernetes') return undefined;
	if (needsKey && !io.env.NUB_STATE_KEY) {
		throw new NubError('usage', `state: 'kubernetes' keeps the state for a team: set NUB_STATE_KEY to the team's state key (a machine's own .nub/key would seal secrets the others cannot open)`);
	}
	return nubfile.cluster.stateNamespace ?? 'nub-state';
}

/** What a command that writes the state works with, once it holds the lock. */
export interface HeldState {
	/** The state as it is under the lock: read again if another run wrote it meanwhile, or the cluster's. */
	state: StateStore;
	/** Aborted on Ctrl-C, and when the team lease is lost: the command stops as if interrupted. */
	signal: AbortSignal;
	cluster: ReturnType<typeof connectionFor>;
	/**
	 * Call when done: uploads the last team state and gives up the lease (a lost lease throws),
	 * then closes the state, which raises this machine's high-water mark. In that order, the mark
	 * never counts a record the team state does not hold yet: a plan reading it meanwhile loads.
	 */
	finish(): Promise<void>;
}

/**
 * Runs `work` holding the state: the run lock, and with team state the Lease and the cluster's
 * state. Whatever happens, the lease, the cluster connection and the lock are given back.
 */
export async function holdState<T>(nubfile: Nubfile, io: CliIo, args: Args, state: StateStore, work: (held: HeldState) => Promise<T>): Promise<T> {
	const stateDir = stateDirOf(nubfile);
	const lock = acquireLock(stateDir, io.lock);
	const cluster = connectionFor(nubfile, io, args);
	let team: TeamState | undefined;
	try {
		team = await takeTeamState(nubfile, io, cluster, stateDir);
		if (team || state.changedOnDisk()) state = StateStore.load(stateDir, state.options);
		if (team) state.onAppend = team.upload;
		state.onUpgrade = message => io.stderr.write(`nub: ${message}\n`);
		const signal = team ? AbortSignal.any([io.signal, team.lost]) : io.signal;
		const finish = async () => {
			try {
				await closeTeamState(team);
				team = undefined;
			} finally {
				await state.close();
			}
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
export async function readState(nubfile: Nubfile, io: CliIo, args: Args): Promise<StateStore> {
	const namespace = teamNamespace(nubfile, io, false);
	if (!namespace) return loadState(nubfile, io, true);
	const cluster = connectionFor(nubfile, io, args);
	try {
		const { readTeamState } = await import('./team-state.ts');
		const text = await readTeamState(await cluster.kube(), namespace);
		if (text === undefined) return loadState(nubfile, io, true);
		const dir = mkdtempSync(join(tmpdir(), 'nub-state-'));
		try {
			writeFileSync(join(dir, 'state.jsonl'), text, { mode: 0o600 });
			// Held to this machine's high-water mark: an older Secret put back is refused here too.
			return StateStore.load(dir, { sealer: sealerFor(nubfile, io, true), markDir: stateDirOf(nubfile) });
		} finally {
			rmSync(dir, { recursive: true, force: true });
		}
	} finally {
		await cluster.close();
	}
}

/** How many tasks run at once: `--jobs`, or 4 per core and at least 8. */
export function jobsOf(io: CliIo, args: Args): number {
	return args.jobs ?? Math.max(8, 4 * io.cores);
}

/**
 * The failures of a destroy or a prune, told on stderr once it is over: one line per failure and
 * per task kept because of one. True when there was any.
 */
export function reportFailures(io: CliIo, summary: UndoSummary, verb: UndoCommand): boolean {
	for (const failure of summary.errors) io.stderr.write(`nub: ${verb} failed: task "${failure.task}"${failure.object ? `, ${failure.object}` : ''}: ${failure.error}\n`);
	for (const { task, by } of summary.blocked) io.stderr.write(`nub: ${verb}: task "${task}" kept: "${by}", which needs it, failed\n`);
	return summary.errors.length > 0;
}

/**
 * What the CLI adds to every task's context: the run's cluster (`kube`, connected on first use)
 * and a shell (`$`, zx's, loaded on first use) bound to the task's root, signal and log.
 */
export function servicesOf(cluster: ReturnType<typeof connectionFor>): (context: TaskContext) => TaskContext {
	return context => ({ ...context, kube: cluster.kube, $: zxShell(context) }) as TaskContext;
}

/** The run's cluster: --context wins over the Nubfile's cluster(); with neither, the sandbox. */
export function connectionFor(nubfile: Nubfile, io: CliIo, args: Args) {
	const target = args.context ? { context: args.context, ...(args.kubeconfig ? { kubeconfig: args.kubeconfig } : {}) } : nubfile.cluster;
	return clusterConnection({ ...(target ? { target } : {}), root: nubfile.root, cwd: io.cwd, stderr: io.stderr });
}

/**
 * Whether what the cache says is still true: the checks of the tasks that would be reused (reads
 * only). Returns what drifted, or 'failed' after saying which checks could not tell (the run then
 * stops: it cannot trust the cache, and --no-check says to).
 */
export async function checkCache(options: CheckOptions, io: CliIo, args: Args): Promise<Map<string, string> | 'failed'> {
	if (args.noCheck) return new Map();
	const { drifted, failed } = await runChecks(options);
	if (failed.size === 0) return drifted;
	for (const [name, message] of failed) io.stderr.write(`nub: checking task "${name}" failed: ${message}\n`);
	io.stderr.write('nub: nothing ran: the cache cannot be checked (--no-check trusts it as it is)\n');
	return 'failed';
}

/**
 * The checks of plan and graph, which write nothing: no state key is made for them. On `shared`, a
 * connection the caller keeps open (plan --diff asks the same cluster next, reusing its LISTs).
 */
export async function readOnlyChecks(nubfile: Nubfile, io: CliIo, args: Args, nodes: readonly GraphNode[], state: StateStore, forced: ReadonlySet<string>, shared?: ReturnType<typeof connectionFor>) {
	const cluster = shared ?? connectionFor(nubfile, io, args);
	try {
		const sealer = createSealer({ stateDir: stateDirOf(nubfile), fromEnvironment: io.env.NUB_STATE_KEY, readOnly: true });
		const options = { nodes, state, root: nubfile.root, sealer, redactor: new Redactor(), jobs: 8, force: forced, signal: io.signal };
		return await checkCache({ ...options, extendContext: servicesOf(cluster) }, io, args);
	} finally {
		if (!shared) await cluster.close();
	}
}

/** The tasks' read-only checks, before the lock and before anything runs. */
export async function preflight(nubfile: Nubfile, nodes: readonly GraphNode[], io: CliIo, state: StateStore) {
	const digest = readOnlyDigest(nubfile, io);
	const unchanged = (node: GraphNode) => inputsUnchanged(node, state, nubfile.root, digest);
	const problems = await runPreflights(nodes, nubfile.root, io.signal, unchanged);
	if (problems.length > 0) throw preflightError(problems);
}

/** How the commands other than run report: JSON lines with --json, plain lines otherwise. */
export function commandReporter(io: CliIo, args: Args): Reporter {
	return args.json ? jsonReporter(io.stdout) : plainReporter(io.stdout, styleOf(io, args));
}

/** How a run reports: JSON lines, live progress in a terminal (up to 200 tasks), or plain lines. */
export async function chooseReporter(io: CliIo, args: Args, style: Style, tasks: number): Promise<Reporter> {
	if (args.json) return jsonReporter(io.stdout);
	const live = io.isTTY && !io.env.CI && tasks <= 200;
	if (!live) return plainReporter(io.stdout, style);
	const { listrReporter } = await import('../reporters/listr.ts');
	return listrReporter(io.stdout, style);
}
