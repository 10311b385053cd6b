/** `nub run`: the usual path through the scheduler, and the settled one (engine/settled.ts). */
import { forcedTasks, selectNodes, type GraphNode } from '../engine/graph.ts';
import type { TaskContext } from '../engine/task.ts';
import { acquireLock } from '../engine/lock.ts';
import { fingerprintInputs, fingerprintValues } from '../engine/cache-key.ts';
import { Redactor } from '../engine/redact.ts';
import { runGraph, settledRun } from '../engine/scheduler.ts';
import { createSealer } from '../engine/sealer.ts';
import { readSettled, settledKey, settledMatches, stateStamp, writeSettled } from '../engine/settled.ts';
import { StateStore, type InputFingerprint } from '../engine/state-store.ts';
import type { NubEvent } from '../engine/events.ts';
import { jsonReporter } from '../reporters/json.ts';
import type { Reporter } from '../reporters/reporter.ts';
import type { Args } from './args.ts';
import { checkCache, chooseReporter, holdState, preflight, readOnlyDigest, reportFailures, stateDirOf, stepOutput, styleOf, teamNamespace } from './common.ts';
import { executeSteps, pruneSteps, recordPruned } from './destroy.ts';
import { exitCodes, type CliIo } from './io.ts';
import { loadNubfile, type Nubfile } from './load-nubfile.ts';

/**
 * `nub run <targets>`: the preflights, then under the lock (and the team lease) the drift checks,
 * the scheduler, and pruning when asked; a settled mark for the next run when every task ends up
 * cached. A run the settled mark shows has nothing to do takes `runSettled` instead.
 */
export async function run(io: CliIo, args: Args): Promise<number> {
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
				const key = settledKey(nodes, recorded);
				const mark = readSettled(stateDir);
				if (mark?.stamp !== stamp || mark.names !== key.names || mark.needs !== key.needs || mark.inputs !== key.inputs) writeSettled(stateDir, { stamp, ...key, ...(sealed ? { sealed } : {}) });
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
