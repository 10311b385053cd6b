import test from 'ava';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { builtNubkube, isAlive } from '../../cluster/control-plane.ts';
import type { KubeObject } from '../../lib/k8s/objects.ts';
import { repoRoot } from '../helpers/project.ts';
import { realCluster, type RealCluster } from '../helpers/real-cluster.ts';

const run = promisify(execFile);

/** Polls `look` until it returns something, or fails the test after `seconds`. */
async function eventually<T>(what: string, look: () => Promise<T | undefined>, seconds = 60): Promise<T> {
	const deadline = Date.now() + seconds * 1000;
	for (;;) {
		const found = await look();
		if (found !== undefined) return found;
		if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
		await new Promise(resolve => setTimeout(resolve, 200));
	}
}

const deployment = (name: string, images: string[], replicas = 1): KubeObject => ({
	apiVersion: 'apps/v1',
	kind: 'Deployment',
	metadata: { name, namespace: 'plane' },
	spec: {
		replicas,
		selector: { matchLabels: { app: name } },
		template: { metadata: { labels: { app: name } }, spec: { containers: images.map((image, i) => ({ name: `c${i}`, image })) } },
	},
});

const podsOf = async (cluster: RealCluster, app: string) =>
	(await cluster.admin.list('v1', 'Pod', 'plane')).filter(pod => (pod.metadata.labels as Record<string, string> | undefined)?.app === app) as Array<KubeObject & Record<string, any>>;

test('the control plane: real components of one release, kwok nodes, the failure convention, LoadBalancer addresses, volumes, audit', async t => {
	const cluster = await realCluster(t);

	// One release throughout: the server and the kubectl built beside it.
	const version = JSON.parse(await cluster.kubectl('version', '-o', 'json')) as { clientVersion: { gitVersion: string }; serverVersion: { gitVersion: string } };
	t.is(version.serverVersion.gitVersion, builtNubkube()!.release);
	t.is(version.clientVersion.gitVersion, builtNubkube()!.release);
	const nodes = await cluster.admin.list('v1', 'Node', undefined);
	t.is(nodes.length, 3);
	t.true(nodes.every(node => ((node.status as any).conditions as Array<{ type: string; status: string }>).some(c => c.type === 'Ready' && c.status === 'True')));

	await cluster.kube.apply([
		{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'plane' } },
		deployment('web', ['nginx:1.25'], 2),
		deployment('missing', ['lsstsqre/sciplat-hub:missing']),
		deployment('crash', ['lsstsqre/sciplat-hub:crash', 'sidecar:1']),
		deployment('oom', ['lsstsqre/sciplat-hub:oom']),
		{ apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: 'plane' }, spec: { type: 'LoadBalancer', selector: { app: 'web' }, ports: [{ port: 80 }] } },
		{ apiVersion: 'storage.k8s.io/v1', kind: 'StorageClass', metadata: { name: 'fast' }, provisioner: 'kubernetes.io/gce-pd', reclaimPolicy: 'Retain' },
		{ apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: 'fast', namespace: 'plane' }, spec: { accessModes: ['ReadWriteOnce'], storageClassName: 'fast', resources: { requests: { storage: '2Gi' } } } },
		{ apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: 'default', namespace: 'plane' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } },
	]);

	// A real rollout: the deployment controller makes a ReplicaSet, it makes pods, the scheduler
	// places them, kwok makes them Ready.
	await cluster.kube.waitForRollout('Deployment', 'plane', 'web', { timeoutMs: 60_000 });
	const web = await podsOf(cluster, 'web');
	t.is(web.length, 2);
	t.true(web.every(pod => pod.spec.nodeName?.startsWith('kwok-node-') && pod.status.phase === 'Running' && /^10\.244\./.test(pod.status.podIP)));
	t.true(web.every(pod => (pod.metadata.ownerReferences as Array<{ kind: string }>)[0]!.kind === 'ReplicaSet'));

	// The failure convention, by image tag.
	const waiting = async (app: string, reason: string) =>
		eventually(`${app} to show ${reason}`, async () => (await podsOf(cluster, app)).find(pod => pod.status.containerStatuses?.some((s: any) => s.state.waiting?.reason === reason)));
	const missing = await waiting('missing', 'ImagePullBackOff');
	t.is(missing.status.phase, 'Pending');
	t.regex(missing.status.containerStatuses[0].state.waiting.message, /lsstsqre\/sciplat-hub:missing/);
	const crash = await waiting('crash', 'CrashLoopBackOff');
	const [crashed, sidecar] = crash.status.containerStatuses as any[];
	t.like(crashed, { name: 'c0', ready: false, restartCount: 1, lastState: { terminated: { exitCode: 1, reason: 'Error' } } });
	t.like(sidecar, { name: 'c1', ready: true });
	t.truthy(sidecar.state.running);
	const oom = await waiting('oom', 'CrashLoopBackOff');
	t.like(oom.status.containerStatuses[0], { lastState: { terminated: { exitCode: 137, reason: 'OOMKilled' } } });
	const missingDeployment = (await cluster.admin.read({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'missing', namespace: 'plane' } })) as any;
	t.is(missingDeployment.status.availableReplicas ?? 0, 0);

	// A LoadBalancer address from the loopback range; claims bound, one by the default class.
	t.regex(await cluster.kube.waitForLoadBalancer('plane', 'web', { timeoutMs: 30_000 }), /^127\.0\.100\.\d+$/);
	for (const name of ['fast', 'default']) {
		const claim = await eventually(`claim ${name} to bind`, async () => {
			const found = (await cluster.admin.read({ apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name, namespace: 'plane' } })) as any;
			return found?.status?.phase === 'Bound' ? found : undefined;
		});
		t.is(claim.spec.storageClassName, name === 'fast' ? 'fast' : 'standard');
	}

	// The namespace goes through the real namespace controller; the default class's volume is
	// deleted once released, the Retain one stays Released.
	const volumes = (await cluster.admin.list('v1', 'PersistentVolume', undefined)) as any[];
	t.is(volumes.length, 2);
	await cluster.kubectl('delete', 'namespace', 'plane', '--wait=true', '--timeout=120s');
	const left = await eventually('the volumes to be released', async () => {
		const now = (await cluster.admin.list('v1', 'PersistentVolume', undefined)) as any[];
		return now.length === 1 && now[0].status.phase === 'Released' ? now : undefined;
	});
	t.is(left[0].spec.storageClassName, 'fast');

	// Every request nub's user made is in the audit log, and only those count as its writes.
	const mine = cluster.mutationsSince(0);
	t.true(mine.length >= 9, `${mine.length} writes by the operator`);
	t.true(mine.every(event => event.user.username === 'nub-operator' && event.verb === 'patch'));
	t.true(cluster.audit().some(event => event.user.username === 'system:serviceaccount:kube-system:replicaset-controller' && event.verb === 'create'));
});

test('npm run cluster: up prints the kubeconfig and context last, a second up says so, down stops everything and removes its folder', async t => {
	const dir = join(repoRoot, '.nub', `cluster-test-${process.pid}`);
	const env = { ...process.env, NUB_CLUSTER_DIR: dir };
	const cli = (...args: string[]) => run(process.execPath, [`--import=${join(repoRoot, 'scripts/safe-tsx.mjs')}`, join(repoRoot, 'cluster/cli.ts'), ...args], { cwd: repoRoot, env });
	t.teardown(() => cli('down').catch(() => undefined));
	const up = await cli('up', '--pod-ready-delay', '100', '--lb-delay', '100');
	const last = up.stdout.trim().split('\n').at(-1)!;
	const [, kubeconfig, context] = /^KUBECONFIG=(\S+) CONTEXT=(\S+)$/.exec(last) ?? [];
	t.truthy(kubeconfig, last);
	t.is(context, 'nubkube');
	t.true(existsSync(kubeconfig!));
	const again = await cli('up');
	t.regex(again.stderr, /already runs here \(pid \d+/);
	t.is(again.stdout.trim(), last);
	const { pid } = JSON.parse(await import('node:fs').then(fs => fs.readFileSync(join(dir, 'ready.json'), 'utf8'))) as { pid: number };
	const nodes = await cli('kubectl', 'get', 'nodes', '-o', 'name');
	t.is(nodes.stdout.trim().split('\n').length, 3);
	const down = await cli('down');
	t.regex(down.stderr, /stopped the control plane/);
	t.false(isAlive(pid));
	t.false(existsSync(dir));
	t.regex((await cli('down')).stderr, /no control plane runs here/);
});
