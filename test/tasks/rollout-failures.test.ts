/**
 * Classify while waiting (issue 18), on a real Kubernetes control plane (kube-apiserver,
 * controllers, scheduler, kwok nodes of 4 CPU) through the real `nub` binary. Each case deploys a
 * Deployment that cannot become ready (kwok's failure convention: an image tag `:missing`,
 * `:crash`, `:oom`; a CPU request larger than any node), with the rollout's timeout at 10 minutes:
 * the run must end by classification within seconds, say the case in one line and as JSON
 * fields, and, once the configuration is fixed, a rerun succeeds running only the broken task and
 * what needs it.
 */
import test from 'ava';
import { RolloutFailedError } from '../../lib/k8s/classify.ts';
import { WaitTimeoutError } from '../../lib/k8s/wait.ts';
import { makeNubladoProject, makeProject, nub, removeProject, summaryOf, type NubResult } from '../helpers/project.ts';
import { startRealCluster, type RealCluster } from '../helpers/real-cluster.ts';

/**
 * namespace → web (applies a Deployment and waits for its rollout, 10 minutes at most) → after.
 * NS, IMAGE and CPU come from the environment, and are the tasks' inputs.
 */
const nubfile = `import { kube, task } from 'nub';
const ns = process.env.NS ?? 'rollout';
const image = process.env.IMAGE ?? 'example/web:1.0';
const cpu = process.env.CPU ?? '10m';
export const namespace = task({
	name: 'namespace',
	inputs: { ns },
	run: async (_, context) => {
		const cluster = await kube(context);
		await cluster.apply([{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } }]);
		return ns;
	},
});
export const web = task({
	name: 'web',
	needs: { ns: namespace },
	inputs: { image, cpu },
	run: async ({ ns }, context) => {
		const cluster = await kube(context);
		const labels = { app: 'web' };
		await cluster.apply([{
			apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', namespace: ns },
			spec: {
				replicas: 1, selector: { matchLabels: labels },
				template: { metadata: { labels }, spec: { containers: [{ name: 'web', image, resources: { requests: { cpu, memory: '16Mi' } } }] } },
			},
		}]);
		await cluster.waitForRollout('Deployment', ns, 'web', { timeoutMs: 600_000 });
		return image;
	},
});
export const after = task({ name: 'after', needs: { image: web }, run: ({ image }) => 'deployed ' + image });
export const all = task({ name: 'all', needs: { after } });
`;

let cluster: RealCluster;

test.before(async () => {
	cluster = await startRealCluster();
});

test.after.always(async () => {
	await cluster?.close();
});

interface TaskEnd {
	type: 'task-end';
	name: string;
	outcome: string;
	error?: string;
	detail?: Record<string, string>;
}

const events = (result: NubResult) =>
	result.stdout
		.split('\n')
		.filter(line => line.startsWith('{'))
		.map(line => JSON.parse(line) as { type?: string });

/** The cases: what breaks the Deployment, what the failure must say, and how the rerun fixes it. */
const cases = [
	{ ns: 'missing', env: { IMAGE: 'example/web:missing' }, case: 'image-pull', reason: /^(ImagePullBackOff|ErrImagePull)$/, says: /image example\/web:missing cannot be pulled/ },
	{ ns: 'crash', env: { IMAGE: 'example/web:crash' }, case: 'crash-loop', reason: /^CrashLoopBackOff$/, says: /last exit: Error, exit code 1.*the API serves no log/ },
	{ ns: 'oom', env: { IMAGE: 'example/web:oom' }, case: 'oom', reason: /^OOMKilled$/, says: /exit code 137/ },
	{ ns: 'cpu', env: { IMAGE: 'example/web:1.0', CPU: '64' }, case: 'unschedulable', reason: /^Unschedulable$/, says: /0\/\d+ nodes are available: .*Insufficient cpu/ },
] as const;

for (const broken of cases) {
	test.serial(`${broken.case}: the run stops within seconds, naming the object, pod, container and reason, in a line and as JSON fields; the fixed rerun runs only web and after`, async t => {
		const dir = makeProject({ 'Nubfile.ts': nubfile });
		t.teardown(() => removeProject(dir));
		const run = (env: Record<string, string>) => nub(dir, ['run', 'all', '--json', ...cluster.nubArgs], { NS: broken.ns, ...env });

		const started = Date.now();
		const failed = await run(broken.env);
		const took = Date.now() - started;
		t.is(failed.code, 1, failed.stderr + failed.stdout.slice(-3000));
		// Ended by classification: far from the rollout's 10 minutes (the pull grace is 10 s).
		t.true(took < 90_000, `took ${took} ms`);

		const end = events(failed).find((event): event is TaskEnd => event.type === 'task-end' && (event as TaskEnd).name === 'web');
		t.is(end?.outcome, 'failed');
		const detail = end!.detail!;
		t.is(detail.case, broken.case);
		t.is(detail.object, `Deployment ${broken.ns}/web`);
		t.regex(detail.pod ?? '', /^web-[a-z0-9]+-[a-z0-9]{5}$/);
		t.regex(detail.reason, broken.reason);
		t.regex(detail.message, broken.says);
		if (broken.case !== 'unschedulable') t.is(detail.container, 'web');
		// The one line says the same: object, pod, container, reason.
		const line = end!.error!;
		t.false(line.includes('\n'), line);
		const where = broken.case === 'unschedulable' ? `pod ${detail.pod}: ` : `pod ${detail.pod}/container web: `;
		t.true(line.startsWith(`Deployment ${broken.ns}/web: ${where}${detail.reason}: `), line);
		t.false(/timed out/.test(line), line);
		t.log(line);
		const summary = summaryOf(failed.stdout);
		t.deepEqual(summary.failed, ['web']);
		t.deepEqual(summary.blocked, ['after', 'all']);

		// Fixed: the rerun runs web and what needs it; the namespace is cached.
		const fixed = await run({ IMAGE: 'example/web:1.1' });
		t.is(fixed.code, 0, fixed.stderr + fixed.stdout.slice(-3000));
		const rerun = summaryOf(fixed.stdout);
		t.deepEqual(rerun.succeeded.sort(), ['after', 'all', 'web']);
		t.deepEqual(rerun.cached, ['namespace']);
	});
}

test.serial('a claim whose storage class does not exist: waitForBound stops on the binder\'s event after its grace, not at its 10 minutes', async t => {
	const ns = 'claims';
	await cluster.admin.apply([
		{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } },
		{
			apiVersion: 'v1',
			kind: 'PersistentVolumeClaim',
			metadata: { name: 'home', namespace: ns },
			spec: { accessModes: ['ReadWriteOnce'], storageClassName: 'no-such-class', resources: { requests: { storage: '1Gi' } } },
		},
	]);
	const started = Date.now();
	const error = await t.throwsAsync(cluster.admin.waitForBound(ns, 'home', { timeoutMs: 600_000 }), { instanceOf: RolloutFailedError });
	t.true(Date.now() - started < 60_000, `took ${Date.now() - started} ms`);
	t.like(error!.detail, { case: 'claim-unbound', object: `PersistentVolumeClaim ${ns}/home`, reason: 'ProvisioningFailed' });
	t.regex(error!.message, /no-such-class/);
	t.log(error!.message);
});

test.serial('a crash loop within the rollout\'s crashGraceMs keeps the wait going; its timeout then says the last pod state it saw', async t => {
	const ns = 'grace';
	const labels = { app: 'web' };
	await cluster.admin.apply([
		{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } },
		{
			apiVersion: 'apps/v1',
			kind: 'Deployment',
			metadata: { name: 'web', namespace: ns },
			spec: { replicas: 1, selector: { matchLabels: labels }, template: { metadata: { labels }, spec: { containers: [{ name: 'web', image: 'example/web:crash' }] } } },
		},
	]);
	const error = await t.throwsAsync(cluster.admin.waitForRollout('Deployment', ns, 'web', { timeoutMs: 6000, crashGraceMs: 600_000 }), { instanceOf: WaitTimeoutError });
	t.regex(error!.message, /waiting for Deployment grace\/web to roll out; last seen: 1\/1 updated, 0\/1 available; pod web-[a-z0-9]+-[a-z0-9]{5} CrashLoopBackOff$/);
	// Without the grace, the same pods end the wait at once.
	await t.throwsAsync(cluster.admin.waitForRollout('Deployment', ns, 'web', { timeoutMs: 600_000 }), { instanceOf: RolloutFailedError, message: /CrashLoopBackOff/ });
});

test.serial('nublado with the hub image at :missing: the hub task fails in seconds naming the hub pod and image; fixed, the rerun runs the hub alone', async t => {
	const yaml = `hostname: nublado.example.test
oauth:
  provider: github
  clientId: client-123
  clientSecret: { env: OAUTH_SECRET }
  allowedGroups: [lsst-sqre]
dhparam: { bits: 1024 }
prepuller: { minute: 17 }
dns: { provider: none }
`;
	const dir = makeNubladoProject({ 'nublado.yaml': yaml });
	t.teardown(() => removeProject(dir));
	const run = (env: Record<string, string>) => nub(dir, ['run', 'all', '--json', ...cluster.nubArgs], { OAUTH_SECRET: 'oauth-secret-value-42', ...env });
	const first = await run({});
	t.is(first.code, 0, first.stderr + first.stdout.slice(-3000));

	const started = Date.now();
	const broken = await run({ NUBLADO_HUB_IMAGE: 'lsstsqre/sciplat-hub:missing' });
	t.true(Date.now() - started < 90_000, `took ${Date.now() - started} ms`);
	t.is(broken.code, 1, broken.stderr + broken.stdout.slice(-3000));
	const end = events(broken).find((event): event is TaskEnd => event.type === 'task-end' && (event as TaskEnd).outcome === 'failed')!;
	t.like(end.detail, { case: 'image-pull', object: 'Deployment nublado/hub', container: 'hub' });
	t.regex(end.error!, /^Deployment nublado\/hub: pod hub-\S+\/container hub: (ImagePullBackOff|ErrImagePull): image lsstsqre\/sciplat-hub:missing cannot be pulled/);
	t.log(`${end.name}: ${end.error}`);
	const failedSummary = summaryOf(broken.stdout);
	t.deepEqual(failedSummary.failed, [end.name]);

	const fixed = await run({});
	t.is(fixed.code, 0, fixed.stderr + fixed.stdout.slice(-3000));
	const rerun = summaryOf(fixed.stdout);
	// Only the failed task runs again: it gives what it gave before the break, so what it blocked is cached.
	t.deepEqual(rerun.succeeded, [end.name]);
	t.true(failedSummary.blocked.length > 0);
	for (const blocked of failedSummary.blocked) t.true(rerun.cached.includes(blocked), blocked);
});

test.serial('a DaemonSet and a StatefulSet are judged by the pods of their newest revision (controller-revision-hash)', async t => {
	const ns = 'sets';
	const labels = (app: string) => ({ app });
	const template = (app: string, image: string) => ({ metadata: { labels: labels(app) }, spec: { containers: [{ name: app, image }] } });
	await cluster.admin.apply([
		{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } },
		{ apiVersion: 'apps/v1', kind: 'DaemonSet', metadata: { name: 'agent', namespace: ns }, spec: { selector: { matchLabels: labels('agent') }, template: template('agent', 'example/agent:missing') } },
		{ apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name: 'db', namespace: ns }, spec: { replicas: 1, serviceName: 'db', selector: { matchLabels: labels('db') }, template: template('db', 'example/db:crash') } },
	]);
	const agent = await t.throwsAsync(cluster.admin.waitForRollout('DaemonSet', ns, 'agent', { timeoutMs: 600_000 }), { instanceOf: RolloutFailedError });
	t.like(agent!.detail, { case: 'image-pull', object: `DaemonSet ${ns}/agent`, container: 'agent' });
	t.regex(agent!.detail.pod ?? '', /^agent-[a-z0-9]{5}$/);
	const db = await t.throwsAsync(cluster.admin.waitForRollout('StatefulSet', ns, 'db', { timeoutMs: 600_000 }), { instanceOf: RolloutFailedError });
	t.like(db!.detail, { case: 'crash-loop', object: `StatefulSet ${ns}/db`, pod: 'db-0', container: 'db', reason: 'CrashLoopBackOff' });

	// Fixed: the new revision's pods are judged, not the old ones still crashing, and both roll out.
	await cluster.admin.apply([
		{ apiVersion: 'apps/v1', kind: 'DaemonSet', metadata: { name: 'agent', namespace: ns }, spec: { selector: { matchLabels: labels('agent') }, template: template('agent', 'example/agent:1.0') } },
		{ apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name: 'db', namespace: ns }, spec: { replicas: 1, serviceName: 'db', selector: { matchLabels: labels('db') }, template: template('db', 'example/db:1.0') } },
	]);
	await cluster.admin.waitForRollout('DaemonSet', ns, 'agent', { timeoutMs: 120_000 });
	// A StatefulSet (OrderedReady) does not replace a pod that never became ready: Kubernetes' documented
	// remedy is to delete it. Meanwhile the wait judges only the new revision's pods (none yet), not db-0.
	await t.throwsAsync(cluster.admin.waitForRollout('StatefulSet', ns, 'db', { timeoutMs: 3000 }), { instanceOf: WaitTimeoutError, message: /last seen: 0\/1 updated, 0\/1 available$/ });
	await cluster.kubectl('-n', ns, 'delete', 'pod', 'db-0');
	await cluster.admin.waitForRollout('StatefulSet', ns, 'db', { timeoutMs: 120_000 });
	t.pass();
});
