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
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RolloutFailedError } from '../../lib/k8s/classify.ts';
import { WaitTimeoutError } from '../../lib/k8s/wait.ts';
import { githubNubladoYaml, makeNubladoProject, makeProject, nub, removeProject, summaryOf, type NubResult } from '../helpers/project.ts';
import { startRealCluster, type RealCluster } from '../helpers/real-cluster.ts';

/**
 * namespace → web (applies a Secret, a ConfigMap and a Deployment that reads a key of each, and
 * waits for its rollout, 10 minutes at most; on request also a claim, a LoadBalancer Service and a
 * Job, each waited for) → after. What breaks it comes from the environment, as the tasks' inputs:
 * IMAGE and CPU of the Deployment, the Secret KEY its environment reads, the ConfigMap's KEYS, its
 * progress DEADLINE, and CLASS (a claim's StorageClass), LB_IP (the Service's requested address,
 * `any` for none) JOB_IMAGE and JOB_DEADLINE (its activeDeadlineSeconds).
 */
const nubfile = `import { createHash } from 'node:crypto';
import { kube, task } from 'nub';
const ns = process.env.NS ?? 'rollout';
const settings = {
	image: process.env.IMAGE ?? 'example/web:1.0',
	cpu: process.env.CPU ?? '10m',
	key: process.env.KEY ?? 'token',
	keys: (process.env.KEYS ?? 'mode').split(','),
	deadline: Number(process.env.DEADLINE ?? 600),
	storageClass: process.env.CLASS ?? '',
	lbIp: process.env.LB_IP ?? '',
	jobImage: process.env.JOB_IMAGE ?? '',
	jobDeadline: Number(process.env.JOB_DEADLINE ?? 600),
};
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
	inputs: { config: settings },
	run: async ({ ns }, context) => {
		const { image, cpu, key, keys, deadline, storageClass, lbIp, jobImage, jobDeadline } = settings;
		const cluster = await kube(context);
		const labels = { app: 'web' };
		const data = Object.fromEntries(keys.map(name => [name, 'on']));
		const checksum = createHash('sha256').update(JSON.stringify(data)).digest('hex').slice(0, 12);
		const env = [
			{ name: 'TOKEN', valueFrom: { secretKeyRef: { name: 'creds', key } } },
			{ name: 'MODE', valueFrom: { configMapKeyRef: { name: 'web-config', key: 'mode' } } },
		];
		await cluster.apply([
			{ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'creds', namespace: ns }, stringData: { token: 'not-a-real-token' } },
			{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'web-config', namespace: ns }, data },
			{
				apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', namespace: ns },
				spec: {
					replicas: 1, progressDeadlineSeconds: deadline, selector: { matchLabels: labels },
					template: {
						metadata: { labels, annotations: { 'example/config-checksum': checksum } },
						spec: { containers: [{ name: 'web', image, env, resources: { requests: { cpu, memory: '16Mi' } } }] },
					},
				},
			},
		]);
		await cluster.waitForRollout('Deployment', ns, 'web', { timeoutMs: 600_000 });
		if (storageClass) {
			await cluster.apply([{ apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: 'data', namespace: ns }, spec: { accessModes: ['ReadWriteOnce'], storageClassName: storageClass, resources: { requests: { storage: '1Gi' } } } }]);
			await cluster.waitForBound(ns, 'data', { timeoutMs: 600_000 });
		}
		if (lbIp) {
			await cluster.apply([{ apiVersion: 'v1', kind: 'Service', metadata: { name: 'web-lb', namespace: ns }, spec: { type: 'LoadBalancer', selector: labels, ports: [{ port: 80 }], ...(lbIp === 'any' ? {} : { loadBalancerIP: lbIp }) } }]);
			await cluster.waitForLoadBalancer(ns, 'web-lb', { timeoutMs: 600_000 });
		}
		if (jobImage) {
			// A Job's template cannot change: one Job per image, as release tools name them.
			const name = 'migrate-' + createHash('sha256').update(jobImage).digest('hex').slice(0, 6);
			await cluster.apply([{
				apiVersion: 'batch/v1', kind: 'Job', metadata: { name, namespace: ns },
				spec: { backoffLimit: 0, activeDeadlineSeconds: jobDeadline, template: { spec: { restartPolicy: 'Never', containers: [{ name: 'migrate', image: jobImage }] } } },
			}]);
			await cluster.waitForJob(ns, name, { timeoutMs: 600_000 });
		}
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

const webPod = /^web-[a-z0-9]+-[a-z0-9]{5}$/;

/**
 * The cases: what breaks the run (`env`), the object, pod and container the failure must name
 * (none for a claim or a Service), its reason and message, what to do (`hint`), and the
 * configuration that fixes it.
 */
const cases: ReadonlyArray<{
	ns: string;
	env: Record<string, string>;
	case: string;
	object?: string;
	pod?: RegExp;
	container?: string;
	reason: RegExp;
	says: RegExp;
	hint: RegExp;
	fixed?: Record<string, string>;
	/** What the hint says to do in the cluster before the fixed run (kubectl's arguments). */
	repair?: string[];
}> = [
	{ ns: 'missing', env: { IMAGE: 'example/web:missing' }, case: 'image-pull', reason: /^(ImagePullBackOff|ErrImagePull)$/, says: /image example\/web:missing cannot be pulled/, hint: /name an image and tag that exist/ },
	{ ns: 'invalid', env: { IMAGE: 'example/Web:1.0' }, case: 'invalid-image', reason: /^InvalidImageName$/, says: /image example\/Web:1.0 is not a valid image reference.*repository name must be lowercase/, hint: /a lowercase repository/ },
	{ ns: 'crash', env: { IMAGE: 'example/web:crash' }, case: 'crash-loop', reason: /^CrashLoopBackOff$/, says: /last exit: Error, exit code 1.*the API serves no log/, hint: /kubectl -n crash logs web-\S+ -c web --previous/ },
	{ ns: 'oom', env: { IMAGE: 'example/web:oom' }, case: 'oom', reason: /^OOMKilled$/, says: /exit code 137/, hint: /raise the container's memory limit/ },
	{ ns: 'config', env: { KEY: 'password' }, case: 'config-error', reason: /^CreateContainerConfigError$/, says: /couldn't find key password in Secret config\/creds/, hint: /Secret config\/creds has no key password: this task applies it without that key/ },
	{ ns: 'cpu', env: { CPU: '64' }, case: 'unschedulable', container: '', reason: /^Unschedulable$/, says: /0\/\d+ nodes are available: .*Insufficient cpu/, hint: /lower the pod's resource requests/ },
	{ ns: 'deadline', env: { IMAGE: 'example/web:unready', DEADLINE: '3' }, case: 'progress-deadline', pod: /^$/, container: '', reason: /^ProgressDeadlineExceeded$/, says: /has timed out progressing/, hint: /kubectl -n deadline describe deployment web/ },
	{ ns: 'claim', env: { CLASS: 'no-such-class' }, case: 'claim-unbound', object: 'PersistentVolumeClaim claim/data', pod: /^$/, container: '', reason: /^ProvisioningFailed$/, says: /no-such-class/, hint: /name a StorageClass the cluster has .*kubectl -n claim delete pvc data/, fixed: { CLASS: 'standard' }, repair: ['-n', 'claim', 'delete', 'pvc', 'data'] },
	{ ns: 'lb', env: { LB_IP: '10.9.9.9' }, case: 'load-balancer', object: 'Service lb/web-lb', pod: /^$/, container: '', reason: /^SyncLoadBalancerFailed$/, says: /requested address 10\.9\.9\.9 is not one of this cloud's addresses/, hint: /spec\.loadBalancerIP/, fixed: { LB_IP: 'any' } },
	{ ns: 'job-pull', env: { JOB_IMAGE: 'example/job:missing' }, case: 'image-pull', object: 'Job job-pull/migrate-', pod: /^migrate-[a-z0-9]+-[a-z0-9]{5}$/, container: 'migrate', reason: /^(ImagePullBackOff|ErrImagePull)$/, says: /image example\/job:missing cannot be pulled/, hint: /name an image and tag that exist/, fixed: { JOB_IMAGE: 'example/job:1.0' } },
	{ ns: 'job', env: { JOB_IMAGE: 'example/job:unready', JOB_DEADLINE: '3' }, case: 'job-failed', object: 'Job job/migrate-', pod: /^$/, container: '', reason: /^DeadlineExceeded$/, says: /the Job failed: Job was active longer than specified deadline/, hint: /kubectl -n job logs job\/migrate-/, fixed: { JOB_IMAGE: 'example/job:1.0' } },
];

for (const broken of cases) {
	test.serial(`${broken.case} (${broken.ns}): the run stops within seconds, naming the object, pod, container, reason and what to do, in a line and as JSON fields; the fixed rerun runs only web and after`, async t => {
		const dir = makeProject({ 'Nubfile.ts': nubfile });
		t.teardown(() => removeProject(dir));
		const run = (env: Record<string, string>) => nub(dir, ['run', 'all', '--json', ...cluster.nubArgs], { NS: broken.ns, ...env });

		const started = Date.now();
		const failed = await run(broken.env);
		const took = Date.now() - started;
		t.is(failed.code, 1, failed.stderr + failed.stdout.slice(-3000));
		// Ended by classification: far from the waits' 10 minutes (the longest grace is 10 s).
		t.true(took < 90_000, `took ${took} ms`);

		const end = events(failed).find((event): event is TaskEnd => event.type === 'task-end' && (event as TaskEnd).name === 'web');
		t.is(end?.outcome, 'failed');
		const detail = end!.detail!;
		t.is(detail.case, broken.case);
		const object = broken.object ?? `Deployment ${broken.ns}/web`;
		t.true(detail.object.startsWith(object), detail.object);
		t.regex(detail.pod ?? '', broken.pod ?? webPod);
		t.is(detail.container ?? '', broken.container ?? 'web');
		t.regex(detail.reason, broken.reason);
		t.regex(detail.message, broken.says);
		t.regex(detail.hint ?? '', broken.hint);
		// The one line says the same: object, pod, container, reason, message, what to do.
		const line = end!.error!;
		t.false(line.includes('\n'), line);
		const where = [detail.pod ? `pod ${detail.pod}` : '', detail.container ? `container ${detail.container}` : ''].filter(Boolean).join('/');
		t.true(line.startsWith(`${detail.object}: ${where ? `${where}: ` : ''}${detail.reason}: ${detail.message}`), line);
		t.true(line.endsWith(`; to fix: ${detail.hint}`), line);
		t.false(/timed out after/.test(line), line);
		t.log(line);
		const summary = summaryOf(failed.stdout);
		t.deepEqual(summary.failed, ['web']);
		t.deepEqual(summary.blocked, ['after', 'all']);

		// Fixed: the rerun runs web and what needs it; the namespace is cached.
		if (broken.repair) await cluster.kubectl(...broken.repair);
		const fixed = await run(broken.fixed ?? {});
		t.is(fixed.code, 0, fixed.stderr + fixed.stdout.slice(-3000));
		const rerun = summaryOf(fixed.stdout);
		t.deepEqual(rerun.succeeded.sort(), ['after', 'all', 'web']);
		t.deepEqual(rerun.cached, ['namespace']);
	});
}

test.serial('a ConfigMap that this run changed: the failure notes the change, and the new pods are judged, not the old ones still running', async t => {
	const dir = makeProject({ 'Nubfile.ts': nubfile });
	t.teardown(() => removeProject(dir));
	const run = (env: Record<string, string>) => nub(dir, ['run', 'all', '--json', ...cluster.nubArgs], { NS: 'changed', ...env });
	const first = await run({});
	t.is(first.code, 0, first.stderr + first.stdout.slice(-3000));
	// The ConfigMap loses the key the Deployment's environment reads; its checksum rolls the Deployment.
	const broken = await run({ KEYS: 'other' });
	t.is(broken.code, 1, broken.stderr + broken.stdout.slice(-3000));
	const end = events(broken).find((event): event is TaskEnd => event.type === 'task-end' && (event as TaskEnd).name === 'web')!;
	t.like(end.detail, { case: 'config-error', object: 'Deployment changed/web', container: 'web', note: 'ConfigMap changed/web-config changed this run; the new pods of Deployment changed/web cannot be started' });
	t.regex(end.error!, /couldn't find key mode in ConfigMap changed\/web-config; ConfigMap changed\/web-config changed this run; the new pods of Deployment changed\/web cannot be started; to fix: ConfigMap changed\/web-config has no key mode: this task applies it without that key/);
	t.log(end.error);
	const fixed = await run({ KEYS: 'mode,other' });
	t.is(fixed.code, 0, fixed.stderr + fixed.stdout.slice(-3000));
});

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
	const yaml = `${githubNubladoYaml}dns: { provider: none }\n`;
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
	// What to do names the configuration field that set the image.
	t.regex(end.error!, /; to fix: name an image and tag that exist .*; it is set by hub\.image in nublado\.yaml \(or NUBLADO_HUB_IMAGE\)$/);
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

	// The hub's template names a key that Secret hub does not have: the failure says which task
	// makes the Secret's content and which template holds the reference.
	const template = join(dir, 'templates/hub/hub.yaml');
	const text = readFileSync(template, 'utf8');
	writeFileSync(template, text.replace('key: oauth_secret }', 'key: oauth_client_secret }'));
	const wrongKey = await run({});
	t.is(wrongKey.code, 1, wrongKey.stderr + wrongKey.stdout.slice(-3000));
	const keyEnd = events(wrongKey).find((event): event is TaskEnd => event.type === 'task-end' && (event as TaskEnd).outcome === 'failed')!;
	t.like(keyEnd.detail, {
		case: 'config-error',
		object: 'Deployment nublado/hub',
		container: 'hub',
		note: 'Deployment nublado/hub changed this run; its new pods cannot be started',
		hint: 'Secret nublado/hub has no key oauth_client_secret: its content comes from task hub-secret, or the reference in templates/hub/hub.yaml names the wrong key',
	});
	t.log(`${keyEnd.name}: ${keyEnd.error}`);
	writeFileSync(template, text);
	const restored = await run({});
	t.is(restored.code, 0, restored.stderr + restored.stdout.slice(-3000));
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
