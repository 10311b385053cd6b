import { join } from 'node:path';
import { buildGraph, forcedTasks, selectNodes } from '../../lib/engine/graph.ts';
import { planRun } from '../../lib/engine/plan.ts';
import { StateStore } from '../../lib/engine/state-store.ts';
import { task, type Task } from '../../lib/engine/task.ts';
import { buildView, type GraphView } from '../../lib/view/index.ts';
import { runTasks } from '../helpers/engine.ts';

/** What the secret task returns: no rendering may contain it. */
export const secretValue = 'hunter2-5f1c9a7e-do-not-show';

/** The failing task's error: longer than a line of 100 columns. */
export const longError =
	'could not write /var/lib/nublado/hub/config.yaml: ENOSPC: no space left on device (the volume nfs-home is 100% full)';

/**
 * A small deployment at three moments: `1` everything succeeds; `2` hub.config fails (a new
 * version) and `notes`, new, needs it; `3` the fileserver's configuration changed and two tasks
 * are new: `newcomer`, and `stuck`, which hangs until the run is interrupted.
 */
function deployment(step: 1 | 2 | 3, interrupt?: AbortController) {
	const namespace = task({ name: 'namespace', group: 'core', description: 'The nublado namespace', run: () => 'nublado' });
	const token = task({ name: 'hub:token', group: 'hub', secret: true, run: () => secretValue });
	const ip = task({
		name: 'nfs-service-ip',
		group: 'fileserver',
		needs: { namespace },
		inputs: { config: step === 3 ? '10.0.0.8' : '10.0.0.7' },
		run: () => '10.0.0.7',
	});
	const fileserver = task({ name: 'fileserver', group: 'fileserver', needs: { ip }, run: ({ ip }) => ({ server: ip }) });
	const config = task({
		name: 'hub.config',
		group: 'hub',
		needs: { namespace },
		inputs: { version: step === 1 ? 1 : 2 },
		run: () => {
			if (step > 1) throw new Error(`${longError}\nat line 2`);
			return { replicas: 1 };
		},
	});
	const hub = task({ name: 'hub', group: 'hub', needs: { config, token }, run: ({ token }) => token.length });
	const landing = task({ name: 'landing', needs: { namespace }, run: () => 'https://nublado.example.org/' });
	const notes = task({ name: 'notes', group: 'hub', needs: { config }, run: () => 'notes' });
	const newcomer = task({ name: 'newcomer', group: 'core', needs: { namespace }, run: () => 1 });
	const stuck = task({
		name: 'stuck',
		group: 'core',
		run: () => {
			interrupt?.abort();
			return new Promise<never>(() => {});
		},
	});
	const extra: Record<string, Task<unknown>> = step === 1 ? {} : step === 2 ? { notes } : { notes, newcomer, stuck };
	const all = task({ name: 'all', description: 'Everything', needs: { hub, fileserver, landing, ...extra } });
	return { all, stuck };
}

/**
 * Runs the deployment through its three moments in `dir`; `view` is then the view of `all` with
 * `landing` forced (as `--force` with the target `landing` would).
 *
 * | task           | state       | because                                        |
 * | -------------- | ----------- | ---------------------------------------------- |
 * | namespace      | cached      |                                                |
 * | hub:token      | cached      | secret                                         |
 * | nfs-service-ip | will-run    | its config changed                             |
 * | fileserver     | maybe       | nfs-service-ip will run                        |
 * | hub.config     | failed      | the long error above                           |
 * | hub            | blocked     | succeeded before hub.config failed             |
 * | notes          | blocked     | never ran, and hub.config failed               |
 * | landing        | forced      |                                                |
 * | newcomer       | never-run   |                                                |
 * | stuck          | interrupted |                                                |
 * | all            | blocked     | by hub.config and stuck                        |
 */
export async function scenario(dir: string): Promise<{ view: GraphView; forcing: (names: string[]) => Promise<GraphView> }> {
	await runTasks(dir, [deployment(1).all]);
	await runTasks(dir, [deployment(2).all], { keepGoing: true });
	const interrupt = new AbortController();
	await runTasks(dir, [deployment(3, interrupt).stuck], { signal: interrupt.signal });
	const graph = buildGraph([deployment(3).all]);
	const nodes = selectNodes(graph, ['all']);
	const state = StateStore.load(join(dir, '.nub'));
	const forcing = async (names: string[]) => {
		const forced = forcedTasks(graph, names);
		return buildView(nodes, await planRun(nodes, state, dir, forced), state, forced, ['all']);
	};
	return { view: await forcing(['landing']), forcing };
}
