/**
 * The failure convention on the sandbox (lib/sandbox/failures.ts), as on the test control plane
 * (cluster/nubkube/kwok-stages.yaml; test/sandbox/differential.test.ts compares the two): an image
 * tagged `missing` fails to pull, `crash` and `oom` crash-loop; such a workload never rolls out,
 * and its pods and Warning events are there to see. A pod requesting more than the node's 4 CPUs
 * or 16Gi is Unschedulable. Other workloads get no pods, as before.
 */
import test from 'ava';
import { request } from 'node:https';
import { Kube, rollout } from '../../lib/k8s/client.ts';
import { RolloutFailedError } from '../../lib/k8s/classify.ts';
import type { KubeObject } from '../../lib/k8s/objects.ts';
import { startSandbox, type Sandbox } from '../../lib/sandbox/index.ts';
import { adminToken, eventually, rawRequest, tempDir, withSandbox } from './helpers.ts';

const ns = 'fails';

const deployment = (name: string, images: string[], options: { replicas?: number; init?: string[] } = {}): KubeObject => ({
	apiVersion: 'apps/v1',
	kind: 'Deployment',
	metadata: { name, namespace: ns },
	spec: {
		replicas: options.replicas ?? 1,
		selector: { matchLabels: { app: name } },
		template: {
			metadata: { labels: { app: name, tier: 'test' } },
			spec: {
				...(options.init ? { initContainers: options.init.map((image, i) => ({ name: `init${i}`, image })) } : {}),
				containers: images.map((image, i) => ({ name: `c${i}`, image })),
			},
		},
	},
});

/** The same workload as another kind (a DaemonSet has no replicas). */
const as = (kind: 'DaemonSet' | 'StatefulSet', object: KubeObject, extra: Record<string, unknown> = {}): KubeObject => {
	const { replicas, ...spec } = object.spec as Record<string, unknown>;
	return { ...object, kind, spec: { ...spec, ...(kind === 'StatefulSet' ? { replicas, serviceName: object.metadata.name } : {}), ...extra } };
};

type Pod = KubeObject & { metadata: { name: string; labels: Record<string, string>; ownerReferences: Array<{ kind: string; name: string; uid: string; controller: boolean }> }; status: any };

async function connect(sandbox: Sandbox): Promise<Kube> {
	const kube = await Kube.connect({ kubeconfig: sandbox.kubeconfigPath, context: 'nub-sandbox' });
	await kube.apply([{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } }]);
	return kube;
}

const podsOf = async (kube: Kube, app: string) => (await kube.list('v1', 'Pod', ns)).filter(pod => (pod.metadata.labels as Record<string, string> | undefined)?.app === app) as Pod[];
const waitingReasons = (pod: Pod) => [...(pod.status.initContainerStatuses ?? []), ...pod.status.containerStatuses].map((status: any) => status.state.waiting?.reason ?? Object.keys(status.state)[0]);
const warningsAbout = async (kube: Kube, pod: Pod) =>
	(await kube.list('v1', 'Event', ns)).filter(event => (event.involvedObject as { name: string }).name === pod.metadata.name && event.type === 'Warning') as Array<KubeObject & Record<string, any>>;

/**
 * Watches the pods of the namespace from now on: every event, until `done` holds for those so
 * far (or `timeoutMs` passed, which fails the test).
 */
function watchPods(sandbox: Sandbox, token: string, done: (events: Array<{ type: string; object: Pod }>) => boolean, timeoutMs = 10_000): Promise<Array<{ type: string; object: Pod }>> {
	return new Promise((resolve, reject) => {
		const events: Array<{ type: string; object: Pod }> = [];
		let buffered = '';
		const timer = setTimeout(() => {
			req.destroy();
			reject(new Error(`the pods did not get there within ${timeoutMs} ms: ${JSON.stringify(events.map(event => [event.type, waitingReasons(event.object)]))}`));
		}, timeoutMs);
		const req = request(new URL(`/api/v1/namespaces/${ns}/pods?watch=true`, sandbox.url), { ca: sandbox.caPem, headers: { Authorization: `Bearer ${token}` } }, res => {
			res.setEncoding('utf8');
			res.on('data', (chunk: string) => {
				buffered += chunk;
				const lines = buffered.split('\n');
				buffered = lines.pop()!;
				for (const line of lines.filter(Boolean)) events.push(JSON.parse(line) as { type: string; object: Pod });
				if (done(events)) {
					clearTimeout(timer);
					req.destroy();
					resolve(events);
				}
			});
		});
		req.on('error', error => (events.length > 0 ? undefined : reject(error)));
		req.end();
	});
}

test('missing: a ReplicaSet and its pods, ErrImagePull then ImagePullBackOff naming the image, Pending, Failed events; the rollout never completes', async t => {
	const { sandbox, kc } = await withSandbox(t);
	const kube = await connect(sandbox);
	const backingOff = (events: Array<{ object: Pod }>) => new Set(events.filter(event => waitingReasons(event.object)[0] === 'ImagePullBackOff').map(event => event.object.metadata.name)).size === 2;
	const watched = watchPods(sandbox, adminToken(kc), backingOff);
	await kube.apply([deployment('hub', ['lsstsqre/sciplat-hub:missing', 'sidecar:1'], { replicas: 2 })]);

	// Each pod is made pulling, then backs off: the watch saw both, in that order.
	const events = await watched;
	const pulling = events.filter(event => event.type === 'ADDED').map(event => event.object);
	t.is(pulling.length, 2);
	for (const pod of pulling) {
		const states = events.filter(event => event.object.metadata.name === pod.metadata.name).map(event => waitingReasons(event.object)[0]);
		t.deepEqual(states, ['ErrImagePull', 'ImagePullBackOff'], pod.metadata.name);
	}
	const hub = (await kube.read({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'hub', namespace: ns } }))!;
	const [replicaSet, ...others] = (await kube.list('apps/v1', 'ReplicaSet', ns)) as any[];
	t.is(others.length, 0);
	t.regex(replicaSet!.metadata.name, /^hub-[bcdfghjklmnpqrstvwxz2456789]{10}$/);
	t.like(replicaSet!.metadata.ownerReferences[0], { apiVersion: 'apps/v1', kind: 'Deployment', name: 'hub', uid: hub.metadata.uid, controller: true });
	t.is(replicaSet!.spec.replicas, 2);
	t.deepEqual(replicaSet!.spec.selector.matchLabels, { app: 'hub', 'pod-template-hash': replicaSet!.metadata.labels['pod-template-hash'] });
	for (const pod of pulling) {
		t.regex(pod.metadata.name, new RegExp(`^${replicaSet!.metadata.name}-[bcdfghjklmnpqrstvwxz2456789]{5}$`));
		t.like(pod.metadata.labels, { app: 'hub', tier: 'test' });
		t.like(pod.metadata.ownerReferences[0], { kind: 'ReplicaSet', name: replicaSet!.metadata.name, uid: replicaSet!.metadata.uid, controller: true });
		t.is(pod.status.phase, 'Pending');
		t.deepEqual(waitingReasons(pod), ['ErrImagePull', 'ContainerCreating']);
		t.is(pod.status.containerStatuses[0].state.waiting.message, 'failed to pull and unpack image "lsstsqre/sciplat-hub:missing": lsstsqre/sciplat-hub:missing: not found');
	}

	const backedOff = await podsOf(kube, 'hub');
	t.deepEqual(backedOff.map(pod => pod.metadata.name).sort(), pulling.map(pod => pod.metadata.name).sort(), 'the same pods');
	t.is(backedOff[0]!.status.containerStatuses[0].state.waiting.message, 'Back-off pulling image "lsstsqre/sciplat-hub:missing"');
	t.is(backedOff[0]!.status.phase, 'Pending');
	const warnings = await warningsAbout(kube, backedOff[0]!);
	t.deepEqual(warnings.map(event => [event.reason, event.message]).sort(), [['Failed', 'Error: ErrImagePull'], ['Failed', 'Error: ImagePullBackOff']]);
	t.like(warnings[0]!.involvedObject, { kind: 'Pod', namespace: ns, name: backedOff[0]!.metadata.name, uid: backedOff[0]!.metadata.uid, fieldPath: 'spec.containers{c0}' });

	// Nub's view of the rollout: seen, updated, never available.
	const status = ((await kube.read(hub))!.status ?? {}) as Record<string, unknown>;
	t.like(status, { observedGeneration: 1, replicas: 2, updatedReplicas: 2, unavailableReplicas: 2 });
	t.is(status.availableReplicas, undefined);
	t.deepEqual(rollout('Deployment', (await kube.read(hub))!), { done: false, seen: '2/2 updated, 0/2 available' });
	// The wait does not wait out its timeout: it sees the pods back off pulling and stops, naming them.
	const failed = await t.throwsAsync(kube.waitForRollout('Deployment', ns, 'hub', { timeoutMs: 60_000 }), { instanceOf: RolloutFailedError });
	t.like(failed!.detail, { case: 'image-pull', object: `Deployment ${ns}/hub`, container: 'c0', reason: 'ImagePullBackOff' });
	t.true(backedOff.some(pod => pod.metadata.name === failed!.detail.pod), failed!.message);
});

test('crash and oom: Running pods whose container crash-loops (restartCount 1, last exit 1 Error or 137 OOMKilled) beside a sidecar that runs; BackOff events', async t => {
	const { sandbox } = await withSandbox(t);
	const kube = await connect(sandbox);
	await kube.apply([deployment('crash', ['app:crash', 'sidecar:1']), deployment('oom', ['app:oom'])]);
	for (const [app, exitCode, reason] of [['crash', 1, 'Error'], ['oom', 137, 'OOMKilled']] as const) {
		const [pod, ...more] = await eventually(() => podsOf(kube, app), pods => pods.length > 0);
		t.is(more.length, 0);
		t.is(pod!.status.phase, 'Running');
		const [failing, sidecar] = pod!.status.containerStatuses;
		t.like(failing, { name: 'c0', ready: false, restartCount: 1, state: { waiting: { reason: 'CrashLoopBackOff', message: `back-off 10s restarting failed container=c0 pod=${pod!.metadata.name}` } }, lastState: { terminated: { exitCode, reason } } });
		t.true(failing.restartCount >= 1);
		if (app === 'crash') t.like(sidecar, { name: 'c1', ready: true, started: true, restartCount: 0 });
		const events = await warningsAbout(kube, pod!);
		t.deepEqual(events.map(event => [event.type, event.reason, event.message]), [['Warning', 'BackOff', 'Back-off restarting failed container']]);
		const status = (await kube.read({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: app, namespace: ns } }))!;
		t.false(rollout('Deployment', status).done);
	}
});

test('kubectl get pods shows the reason, init containers included: ImagePullBackOff, CrashLoopBackOff with its restart, Init:CrashLoopBackOff', async t => {
	const { sandbox, kc } = await withSandbox(t);
	const kube = await connect(sandbox);
	await kube.apply([deployment('pull', ['app:missing']), deployment('loop', ['app:crash']), deployment('init', ['app:1'], { init: ['setup:oom'] })]);
	const table = async () => {
		const reply = await rawRequest(sandbox, `/api/v1/namespaces/${ns}/pods`, { token: adminToken(kc), headers: { Accept: 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json' } });
		return (reply.body.rows as Array<{ cells: string[] }>).map(row => ({ app: row.cells[0]!.split('-')[0], ready: row.cells[1], status: row.cells[2], restarts: row.cells[3] }));
	};
	const rows = await eventually(table, found => found.length === 3 && found.some(row => row.status === 'ImagePullBackOff'));
	const byApp = Object.fromEntries(rows.map(row => [row.app, row]));
	t.like(byApp.pull, { ready: '0/1', status: 'ImagePullBackOff', restarts: '0' });
	t.like(byApp.loop, { ready: '0/1', status: 'CrashLoopBackOff' });
	t.regex(byApp.loop!.restarts!, /^1 \(\d+s ago\)$/);
	t.like(byApp.init, { ready: '0/1', status: 'Init:CrashLoopBackOff' });
	const [init] = await podsOf(kube, 'init');
	t.is(init!.status.phase, 'Pending', 'a crashing init container holds the pod back');
	t.deepEqual(waitingReasons(init!), ['CrashLoopBackOff', 'PodInitializing']);
});

test('a DaemonSet gets one pod, an OrderedReady StatefulSet only its first (the next waits for it to be Ready), both owned directly; neither rolls out', async t => {
	const { sandbox } = await withSandbox(t);
	const kube = await connect(sandbox);
	await kube.apply([as('DaemonSet', deployment('agent', ['agent:crash'])), as('StatefulSet', deployment('db', ['db:missing'], { replicas: 3 })), as('StatefulSet', deployment('cache', ['cache:oom'], { replicas: 2 }), { podManagementPolicy: 'Parallel' })]);
	const [agent] = await eventually(() => podsOf(kube, 'agent'), pods => pods.length > 0);
	t.regex(agent!.metadata.name, /^agent-[bcdfghjklmnpqrstvwxz2456789]{5}$/);
	t.like(agent!.metadata.ownerReferences[0], { kind: 'DaemonSet', name: 'agent', controller: true });
	const db = await eventually(() => podsOf(kube, 'db'), pods => pods.length > 0);
	t.deepEqual(db.map(pod => pod.metadata.name), ['db-0']);
	t.like(db[0]!.metadata.ownerReferences[0], { kind: 'StatefulSet', name: 'db' });
	t.like(db[0]!.metadata.labels, { app: 'db', 'statefulset.kubernetes.io/pod-name': 'db-0' });
	const cache = await eventually(() => podsOf(kube, 'cache'), pods => pods.length === 2);
	t.deepEqual(cache.map(pod => pod.metadata.name).sort(), ['cache-0', 'cache-1']);
	t.is((await kube.list('apps/v1', 'ReplicaSet', ns)).length, 0, 'no ReplicaSets but a Deployment\'s');

	const read = async (kind: 'DaemonSet' | 'StatefulSet', name: string) => (await kube.read({ apiVersion: 'apps/v1', kind, metadata: { name, namespace: ns } }))!;
	const daemonSet = await eventually(() => read('DaemonSet', 'agent'), found => (found.status as any)?.observedGeneration === 1);
	t.like(daemonSet.status, { desiredNumberScheduled: 1, updatedNumberScheduled: 1, numberReady: 0, numberUnavailable: 1 });
	t.false(rollout('DaemonSet', daemonSet).done);
	const statefulSet = await eventually(() => read('StatefulSet', 'db'), found => (found.status as any)?.observedGeneration === 1);
	t.like(statefulSet.status, { replicas: 1, updatedReplicas: 1, availableReplicas: 0 });
	t.deepEqual(rollout('StatefulSet', statefulSet), { done: false, seen: '1/3 updated, 0/3 available' });
});

test('workloads without the tags get no pods and roll out as before; fixing the image rolls out, the failed pods go and the old ReplicaSet is scaled to 0; deleting takes the rest', async t => {
	const { sandbox } = await withSandbox(t);
	const kube = await connect(sandbox);
	await kube.apply([deployment('fine', ['app:1.0', 'crash:1']), deployment('hub', ['hub:crash'])]);
	await kube.waitForRollout('Deployment', ns, 'fine', { timeoutMs: 5000 });
	await eventually(() => podsOf(kube, 'hub'), pods => pods.length === 1);
	t.deepEqual(await podsOf(kube, 'fine'), [], 'an image named crash is no failure: only its tag counts');
	t.deepEqual((await kube.list('apps/v1', 'ReplicaSet', ns)).map(rs => rs.metadata.name.split('-')[0]), ['hub']);

	const [fixed] = await kube.apply([deployment('hub', ['hub:2.0'])]);
	t.is(fixed!.action, 'configured');
	await kube.waitForRollout('Deployment', ns, 'hub', { timeoutMs: 5000 });
	t.deepEqual(await podsOf(kube, 'hub'), []);
	const [old] = (await kube.list('apps/v1', 'ReplicaSet', ns)) as Array<KubeObject & Record<string, any>>;
	t.is(old!.spec.replicas, 0);

	// Broken again, with another failure: a new ReplicaSet and its pods; then the Deployment goes, and all it owned.
	await kube.apply([deployment('hub', ['hub:missing'], { replicas: 2 })]);
	await eventually(() => podsOf(kube, 'hub'), pods => pods.length === 2);
	t.is((await kube.list('apps/v1', 'ReplicaSet', ns)).length, 2);
	await kube.deleteWith({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'hub', namespace: ns } }, { propagationPolicy: 'Foreground' });
	await kube.waitForGone({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'hub', namespace: ns } }, { timeoutMs: 5000 });
	t.deepEqual(await podsOf(kube, 'hub'), []);
	t.deepEqual(await kube.list('apps/v1', 'ReplicaSet', ns), []);
});

test('a pull failure promised before a restart backs off after it', async t => {
	const dir = tempDir(t);
	// Slow enough that the pods are seen pulling, and the sandbox stopped, before the back-off is due.
	const first = await startSandbox({ dir, rolloutDelayMs: 2000 });
	const kube = await Kube.connect({ kubeconfig: first.kubeconfigPath, context: 'nub-sandbox' });
	await kube.apply([{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } }, deployment('hub', ['hub:missing'])]);
	const [pulling] = await eventually(() => podsOf(kube, 'hub'), pods => pods.length === 1, 10_000);
	t.is(waitingReasons(pulling!)[0], 'ErrImagePull');
	await first.close(); // before the back-off is due

	const second = await startSandbox({ dir, rolloutDelayMs: 2000 });
	t.teardown(() => second.close());
	const again = await Kube.connect({ kubeconfig: second.kubeconfigPath, context: 'nub-sandbox' });
	const [backedOff] = await eventually(() => podsOf(again, 'hub'), pods => pods.length === 1 && waitingReasons(pods[0]!)[0] === 'ImagePullBackOff', 10_000);
	t.is(backedOff!.metadata.name, pulling!.metadata.name);
});

/** A Deployment of one container requesting `requests` (limits: `limits`). */
const requesting = (name: string, image: string, requests: Record<string, string>, limits?: Record<string, string>): KubeObject => {
	const object = deployment(name, [image]);
	((object.spec as any).template.spec.containers[0]).resources = { requests, ...(limits ? { limits } : {}) };
	return object;
};

test('unschedulable: requests past the node\'s 4 CPUs or 16Gi stay Pending, unscheduled, with the scheduler\'s message and FailedScheduling event; images are never tried', async t => {
	const { sandbox } = await withSandbox(t);
	const kube = await connect(sandbox);
	await kube.apply([
		// Scheduling comes before the pull: the missing image is never tried.
		requesting('firefly', 'ipac/firefly:missing', { cpu: '8' }),
		requesting('both', 'busybox:1', { cpu: '4500m', memory: '17Gi' }),
		// Limits stand for requests when none are given: 20G is more than 16Gi.
		{ ...requesting('limited', 'busybox:1', {}, { memory: '20G' }) },
	]);
	// As the test control plane's scheduler words it (differential.test.ts), for one node.
	const message = (reasons: string) => `0/1 nodes are available: ${reasons}. no new claims to deallocate, preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.`;
	for (const [app, reasons] of [['firefly', '1 Insufficient cpu'], ['both', '1 Insufficient cpu, 1 Insufficient memory'], ['limited', '1 Insufficient memory']] as const) {
		const [pod, ...more] = await eventually(() => podsOf(kube, app), pods => pods.length > 0);
		t.is(more.length, 0, app);
		t.is(pod!.status.phase, 'Pending', app);
		t.deepEqual(pod!.status.conditions.map(({ type, status, reason, message }: any) => ({ type, status, reason, message })), [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: message(reasons) }], app);
		t.is(pod!.status.containerStatuses, undefined, `${app}: no container was tried`);
		t.is((pod!.spec as any).nodeName, undefined, `${app}: on no node`);
		const warnings = await eventually(() => warningsAbout(kube, pod!), events => events.length > 0);
		t.deepEqual(warnings.map(event => [event.type, event.reason, event.message, event.reportingComponent]), [['Warning', 'FailedScheduling', message(reasons), 'default-scheduler']], app);
	}
	t.is((await podsOf(kube, 'firefly'))[0]!.status.qosClass, 'Burstable');
	// The rollout never completes: seen, never available.
	const status = ((await kube.read({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'firefly', namespace: ns } }))!.status ?? {}) as Record<string, unknown>;
	t.like(status, { observedGeneration: 1, replicas: 1, unavailableReplicas: 1 });
	t.is(status.availableReplicas, undefined);
});

test('a pod that fits the node (4 CPUs, 16Gi exactly, an init container of 4 CPUs beside) is scheduled and rolls out', async t => {
	const { sandbox } = await withSandbox(t);
	const kube = await connect(sandbox);
	const fits = requesting('fits', 'busybox:1', { cpu: '4', memory: '16Gi' });
	(fits.spec as any).template.spec.initContainers = [{ name: 'setup', image: 'busybox:1', resources: { requests: { cpu: '4000m' } } }];
	await kube.apply([fits]);
	await kube.waitForRollout('Deployment', ns, 'fits', { timeoutMs: 5000 });
	t.deepEqual(await podsOf(kube, 'fits'), [], 'no pods made: it rolled out as every workload that does not fail');
});
