/**
 * `npm run cluster -- <command>`: nub's test control plane for people.
 *
 *   build              build it (cached per release and sources; progress on stderr)
 *   up [--nodes N] [--pod-ready-delay MS] [--lb-delay MS]
 *                      build if needed, start it on loopback, wait until it is ready; the last
 *                      line printed is `KUBECONFIG=<path> CONTEXT=<name>`
 *   down               stop it and remove its folder
 *   status             whether it runs, and where
 *   kubectl ARGS...    the kubectl of the same release, on this cluster (admin context)
 *
 * It keeps its cluster in .nub/cluster/ of this repository; tests start their own elsewhere.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { buildNubkube, builtNubkube, isAlive, startControlPlane, stopDetached, type ReadyInfo } from './control-plane.ts';

const repoRoot = dirname(dirname(new URL(import.meta.url).pathname));
// NUB_CLUSTER_DIR: another folder (tests use their own, beside a developer's cluster).
const dir = process.env.NUB_CLUSTER_DIR ?? join(repoRoot, '.nub', 'cluster');
const say = (line: string) => process.stderr.write(`${line}\n`);

function running(): ReadyInfo | undefined {
	const file = join(dir, 'ready.json');
	if (!existsSync(file)) return undefined;
	const ready = JSON.parse(readFileSync(file, 'utf8')) as ReadyInfo;
	return isAlive(ready.pid) ? ready : undefined;
}

function startingPid(): number | undefined {
	const file = join(dir, 'up.pid');
	const pid = existsSync(file) ? Number(readFileSync(file, 'utf8')) : NaN;
	return Number.isInteger(pid) && pid > 0 && isAlive(pid) ? pid : undefined;
}

const usage = 'usage: npm run cluster -- build | up [--nodes N] [--pod-ready-delay MS] [--lb-delay MS] | down | status | kubectl ARGS...';

async function main(argv: string[]): Promise<number> {
	const [command, ...rest] = argv;
	switch (command) {
		case 'build': {
			const build = await buildNubkube(say);
			process.stdout.write(`${build.binary}\n`);
			return 0;
		}
		case 'up': {
			const { values } = parseArgs({ args: rest, options: { nodes: { type: 'string' }, 'pod-ready-delay': { type: 'string' }, 'lb-delay': { type: 'string' } } });
			const already = running();
			if (already) {
				say(`a control plane already runs here (pid ${already.pid}, ${already.server}); npm run cluster -- down stops it`);
				process.stdout.write(`KUBECONFIG=${already.kubeconfig} CONTEXT=${already.context}\n`);
				return 0;
			}
			if (startingPid()) {
				say(`a control plane is starting here (pid ${startingPid()}); wait for it, or npm run cluster -- down`);
				return 1;
			}
			const build = await buildNubkube(say);
			rmSync(dir, { recursive: true, force: true });
			mkdirSync(dir, { recursive: true, mode: 0o700 });
			say(`starting Kubernetes ${build.release} (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok) in ${dir}`);
			const number = (name: string) => (values[name as keyof typeof values] === undefined ? undefined : Number(values[name as keyof typeof values]));
			const plane = await startControlPlane({
				dir,
				build,
				detached: true,
				...(number('nodes') !== undefined ? { nodes: number('nodes')! } : {}),
				...(number('pod-ready-delay') !== undefined ? { podReadyDelayMs: number('pod-ready-delay')! } : {}),
				...(number('lb-delay') !== undefined ? { loadBalancerDelayMs: number('lb-delay')! } : {}),
			});
			say(`ready in ${plane.startedIn}: ${plane.server}, ${plane.nodes} nodes (kwok); audit log ${plane.auditLog}`);
			say(`deploy with: npx nub run all --kubeconfig ${plane.kubeconfig} --context ${plane.context}`);
			process.stdout.write(`KUBECONFIG=${plane.kubeconfig} CONTEXT=${plane.context}\n`);
			return 0;
		}
		case 'down': {
			const pid = running()?.pid ?? startingPid();
			if (pid) {
				await stopDetached(pid);
				say(`stopped the control plane (pid ${pid})`);
			} else if (existsSync(dir)) {
				say('no control plane ran; removing what was left');
			} else {
				say('no control plane runs here');
			}
			rmSync(dir, { recursive: true, force: true });
			return 0;
		}
		case 'status': {
			const ready = running();
			if (!ready) {
				say('no control plane runs here');
				return 1;
			}
			process.stdout.write(`running: pid ${ready.pid}, ${ready.server}, ${ready.nodes} nodes\nKUBECONFIG=${ready.kubeconfig} CONTEXT=${ready.context}\n`);
			return 0;
		}
		case 'kubectl': {
			const ready = running();
			const build = builtNubkube();
			if (!ready || !build) {
				say('no control plane runs here: npm run cluster -- up');
				return 1;
			}
			const result = spawnSync(build.kubectl, ['--kubeconfig', ready.kubeconfig, '--context', ready.adminContext, ...rest], { stdio: 'inherit' });
			return result.status ?? 1;
		}
		default:
			say(usage);
			return 2;
	}
}

main(process.argv.slice(2)).then(
	code => (process.exitCode = code),
	(error: unknown) => {
		say(`cluster: ${error instanceof Error ? error.message : String(error)}`);
		process.exitCode = 1;
	},
);
