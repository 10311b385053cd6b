/** `nub run`. */
import { NubError } from '../engine/errors.ts';
import { forcedTasks, selectNodes } from '../engine/graph.ts';
import { planRun } from '../engine/plan.ts';
import { Redactor } from '../engine/redact.ts';
import { runGraph } from '../engine/scheduler.ts';
import { createSealer } from '../engine/sealer.ts';
import { StateStore } from '../engine/state-store.ts';
import type { NubEvent } from '../engine/events.ts';
import { jsonReporter } from '../reporters/json.ts';
import { plainReporter } from '../reporters/plain.ts';
import type { Reporter } from '../reporters/reporter.ts';
import type { Args } from './args.ts';
import { checkCache, chooseReporter, servicesOf, holdState, jobsOf, preflight, reportFailures, stateDirOf, styleOf } from './common.ts';
import { pruneSteps, recordPruned, runUndo } from './destroy.ts';
import { planDiff, planMoved, readPlan } from './diff.ts';
import { exitCodes, type CliIo } from './io.ts';
import { loadNubfile } from './load-nubfile.ts';

/**
 * `nub run <targets>`: the preflights, then under the lock (and the team lease) the drift checks,
 * the scheduler, and pruning when asked.
 */
export async function run(io: CliIo, given: Args): Promise<number> {
	// `--plan FILE`: the saved plan's targets and --force, checked before anything else.
	const saved = given.plan === undefined ? undefined : readPlan(io.cwd, given.plan);
	if (saved && given.targets.length > 0 && given.targets.join(' ') !== saved.targets.join(' ')) {
		throw new NubError('usage', `--plan ${given.plan} was saved for targets ${saved.targets.join(' ')}, not ${given.targets.join(' ')}: give none, or the plan's`);
	}
	const args = saved ? { ...given, targets: saved.targets, force: saved.force } : given;
	const nubfile = await loadNubfile(io.cwd, args.file, io.api);
	const nodes = selectNodes(nubfile.graph, args.targets);
	const force = forcedTasks(nubfile.graph, args.targets, { force: args.force });
	const stateDir = stateDirOf(nubfile);
	// Read before the lock (reading never writes), for the preflights; holdState reads it again
	// when another run wrote it meanwhile.
	const sealer = createSealer({ stateDir, fromEnvironment: io.env.NUB_STATE_KEY });
	const before = StateStore.load(stateDir, { sealer });
	await preflight(nubfile, nodes, io, before);
	return holdState(nubfile, io, args, before, async ({ state, signal, cluster, finish }) => {
		let reporter: Reporter | undefined;
		try {
			const redactor = new Redactor();
			const jobs = jobsOf(io, args);
			const extendContext = servicesOf(cluster);
			const drift = await checkCache({ nodes, state, root: nubfile.root, sealer, redactor, jobs, force, signal, extendContext }, io, args);
			if (drift === 'failed') return exitCodes.taskFailed;
			// A saved plan is applied only as it was decided, to the cluster it was decided against.
			if (saved) {
				const entries = await planRun(nodes, state, nubfile.root, force, text => sealer.digest(text), drift);
				const now = await planDiff({ graph: nubfile.graph, nodes, plan: entries, state, root: nubfile.root, sealer, all: saved.all, signal, kube: cluster.kube });
				const moved = [...planMoved(saved, entries, now), ...[...now.failed].map(([task, error]) => `task ${task}: cannot tell what it would change: ${error}`)];
				if (moved.length > 0) {
					const more = moved.length > 3 ? ` (and ${moved.length - 3} more)` : '';
					throw new NubError('plan', `the plan in ${given.plan} no longer holds, nothing applied: ${moved.slice(0, 3).join('; ')}${more}; make a new one with nub plan ${saved.targets.join(' ')} --out ${given.plan}`);
				}
			}
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
			const count = prune.reduce((sum, step) => sum + (step.objects?.length ?? 0), 0);
			if (count > 0 && args.prune && !failed) {
				// The run's progress is over (a live display ends here); the prune says what it deletes in lines.
				await reporter.close();
				reporter = args.json ? jsonReporter(io.stdout) : plainReporter(io.stdout, style);
				const shown = reporter;
				const result = await runUndo({
					command: 'prune',
					steps: prune,
					record: step => recordPruned(state, step),
					root: nubfile.root,
					jobs,
					signal,
					sealer,
					extendContext,
					// With --json the run's summary, which says what was pruned, stays the last line.
					emit: event => (args.json && event.type === 'undo-run-end' ? undefined : shown.onEvent(event)),
				});
				pruneFailed = reportFailures(io, result, 'prune');
				if (heldEnd?.type === 'run-end') heldEnd = { ...heldEnd, summary: { ...heldEnd.summary, pruned: result.done, pruneFailed: result.failed } };
				if (result.interrupted) {
					await finish();
					return exitCodes.interrupted;
				}
			} else if (count > 0) {
				const tasks = [...new Set(prune.map(step => step.name))].join(', ');
				const why = args.prune ? 'not pruned, the run did not succeed' : 'nub run --prune deletes them, nub plan lists them';
				io.stderr.write(`nub: ${count} object${count === 1 ? '' : 's'} an earlier run applied ${count === 1 ? 'is' : 'are'} no longer produced (from ${tasks}): ${why}\n`);
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
