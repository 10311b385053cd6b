import test from 'ava';
import { classifyClaim, classifyDeployment, classifyJob, classifyLoadBalancer, classifyPods, formatFailure, RolloutFailedError, type FirstSeen } from '../../lib/k8s/classify.ts';
import type { KubeObject } from '../../lib/k8s/objects.ts';

const object = 'Deployment nublado/hub';

/** A pod as the API serves it, with the given status. */
const pod = (name: string, status: Record<string, unknown>): KubeObject => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'nublado' }, status });
const waiting = (name: string, image: string, reason: string, message?: string, lastState?: unknown) => ({
	name,
	image,
	ready: false,
	state: { waiting: { reason, ...(message ? { message } : {}) } },
	...(lastState ? { lastState } : {}),
});
const pending = (containers: unknown[], init: unknown[] = []) =>
	pod('hub-7d9f-abcde', { phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'True' }], containerStatuses: containers, ...(init.length ? { initContainerStatuses: init } : {}) });

test('ImagePullBackOff is hopeless at once, naming the image', t => {
	const verdict = classifyPods(object, [pending([waiting('hub', 'lsstsqre/sciplat-hub:missing', 'ImagePullBackOff', 'Back-off pulling image "lsstsqre/sciplat-hub:missing"')])], new Map(), 0);
	t.like(verdict.hopeless, { case: 'image-pull', pod: 'hub-7d9f-abcde', container: 'hub', reason: 'ImagePullBackOff' });
	t.is(
		formatFailure(verdict.hopeless!),
		'Deployment nublado/hub: pod hub-7d9f-abcde/container hub: ImagePullBackOff: image lsstsqre/sciplat-hub:missing cannot be pulled (Back-off pulling image "lsstsqre/sciplat-hub:missing")',
	);
});

test('a single ErrImagePull is transient; it is hopeless once it lasts past the grace', t => {
	const firstSeen: FirstSeen = new Map();
	const pods = [pending([waiting('hub', 'hub:missing', 'ErrImagePull', 'manifest unknown')])];
	const early = classifyPods(object, pods, firstSeen, 1000, { pullGraceMs: 10_000 });
	t.is(early.hopeless, undefined);
	t.is(early.progress, 'pod hub-7d9f-abcde ErrImagePull');
	t.is(classifyPods(object, pods, firstSeen, 10_999, { pullGraceMs: 10_000 }).hopeless, undefined);
	t.like(classifyPods(object, pods, firstSeen, 11_000, { pullGraceMs: 10_000 }).hopeless, { case: 'image-pull', reason: 'ErrImagePull' });
});

test('InvalidImageName is hopeless', t => {
	const verdict = classifyPods(object, [pending([waiting('hub', 'Hub:Bad:Tag', 'InvalidImageName', 'Failed to apply default image tag')])], new Map(), 0);
	t.like(verdict.hopeless, { case: 'invalid-image', container: 'hub', reason: 'InvalidImageName' });
	t.regex(verdict.hopeless!.message, /Hub:Bad:Tag/);
});

test('CrashLoopBackOff says the last exit, and an init container counts', t => {
	const last = { terminated: { reason: 'Error', exitCode: 1, message: 'cannot reach the database\n' } };
	const verdict = classifyPods(object, [pending([waiting('hub', 'hub:1', 'PodInitializing')], [waiting('wait-db', 'hub:crash', 'CrashLoopBackOff', 'back-off 10s', last)])], new Map(), 0);
	t.like(verdict.hopeless, { case: 'crash-loop', container: 'wait-db', reason: 'CrashLoopBackOff' });
	t.is(verdict.hopeless!.message, 'the container keeps exiting (last exit: Error, exit code 1: cannot reach the database)');
});

test('a crash loop within the declared grace keeps the wait going', t => {
	const firstSeen: FirstSeen = new Map();
	const pods = [pending([waiting('hub', 'hub:crash', 'CrashLoopBackOff', undefined, { terminated: { reason: 'Error', exitCode: 1 } })])];
	t.is(classifyPods(object, pods, firstSeen, 0, { crashGraceMs: 30_000 }).hopeless, undefined);
	t.like(classifyPods(object, pods, firstSeen, 30_000, { crashGraceMs: 30_000 }).hopeless, { case: 'crash-loop' });
});

test('a crash loop whose last exit was OOMKilled is the oom case', t => {
	const verdict = classifyPods(object, [pending([waiting('hub', 'hub:oom', 'CrashLoopBackOff', undefined, { terminated: { reason: 'OOMKilled', exitCode: 137 } })])], new Map(), 0);
	t.like(verdict.hopeless, { case: 'oom', reason: 'OOMKilled', container: 'hub' });
	t.regex(verdict.hopeless!.message, /exit code 137/);
});

test('CreateContainerConfigError names the missing key', t => {
	const verdict = classifyPods(object, [pending([waiting('hub', 'hub:1', 'CreateContainerConfigError', "couldn't find key crypto-key in Secret nublado/hub")])], new Map(), 0);
	t.like(verdict.hopeless, { case: 'config-error', reason: 'CreateContainerConfigError' });
	t.regex(verdict.hopeless!.message, /crypto-key in Secret nublado\/hub/);
});

test('Unschedulable past its grace (the scheduler tries again) carries the scheduler message', t => {
	const message = '0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod.';
	const pods = [pod('hub-7d9f-abcde', { phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message }] })];
	const seen = new Map();
	t.deepEqual(classifyPods(object, pods, seen, 0), { progress: `pod hub-7d9f-abcde Unschedulable (${message})` });
	t.is(classifyPods(object, pods, seen, 9_999).hopeless, undefined);
	t.deepEqual(classifyPods(object, pods, seen, 10_000).hopeless, { case: 'unschedulable', object, pod: 'hub-7d9f-abcde', reason: 'Unschedulable', message });
});

test('a pod waiting for its claims to be bound (a provisioner at work) is given a minute, not ten seconds', t => {
	const message = '0/3 nodes are available: pod has unbound immediate PersistentVolumeClaims. not found';
	const pods = [pod('fileserver-f545-rkgth', { phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message }] })];
	const seen = new Map();
	t.is(classifyPods(object, pods, seen, 0).hopeless, undefined);
	t.is(classifyPods(object, pods, seen, 30_000).hopeless, undefined);
	t.like(classifyPods(object, pods, seen, 60_000).hopeless, { case: 'unschedulable', message });
});

test('progress names the first pod not ready and its state', t => {
	const ready = pod('hub-7d9f-aaaaa', { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] });
	const creating = pending([waiting('hub', 'hub:1', 'ContainerCreating')]);
	t.deepEqual(classifyPods(object, [ready, creating], new Map(), 0), { progress: 'pod hub-7d9f-abcde ContainerCreating' });
	const running = pod('hub-7d9f-bbbbb', { phase: 'Running', conditions: [{ type: 'Ready', status: 'False' }], containerStatuses: [{ name: 'hub', ready: false, state: { running: {} } }] });
	t.is(classifyPods(object, [running], new Map(), 0).progress, 'pod hub-7d9f-bbbbb Running, not ready');
	t.is(classifyPods(object, [ready], new Map(), 0).progress, '');
});

test('a Deployment with Progressing=False is hopeless; one still progressing is not', t => {
	const deployment = (status: string, reason: string): KubeObject => ({
		apiVersion: 'apps/v1',
		kind: 'Deployment',
		metadata: { name: 'hub' },
		status: { conditions: [{ type: 'Progressing', status, reason, message: 'ReplicaSet "hub-7d9f" has timed out progressing.' }] },
	});
	t.like(classifyDeployment(object, deployment('False', 'ProgressDeadlineExceeded')), { case: 'progress-deadline', reason: 'ProgressDeadlineExceeded' });
	t.is(classifyDeployment(object, deployment('True', 'ReplicaSetUpdated')), undefined);
	// A spec the controller has not seen yet (a fix just applied): the condition is the old revision's.
	const stale = deployment('False', 'ProgressDeadlineExceeded');
	t.is(classifyDeployment(object, { ...stale, metadata: { name: 'hub', generation: 3 }, status: { ...(stale.status as object), observedGeneration: 2 } }), undefined);
	t.like(classifyDeployment(object, { ...stale, metadata: { name: 'hub', generation: 3 }, status: { ...(stale.status as object), observedGeneration: 3 } }), { case: 'progress-deadline' });
});

test('a claim whose provisioner fails is hopeless after the grace, with its event', t => {
	const claim = 'PersistentVolumeClaim nublado/home';
	const event = (type: string, reason: string, message: string, at: string) => ({ apiVersion: 'v1', kind: 'Event', metadata: { name: `home.${at}` }, type, reason, message, lastTimestamp: at }) as KubeObject;
	const firstSeen: FirstSeen = new Map();
	const events = [
		event('Warning', 'ProvisioningFailed', 'storageclass.storage.k8s.io "fast" not found', '2026-12-03T14:00:05Z'),
		event('Warning', 'ProvisioningFailed', 'storageclass.storage.k8s.io "fast" not found, again', '2026-12-03T14:00:09Z'),
	];
	t.is(classifyClaim(claim, events, firstSeen, 0), undefined);
	t.like(classifyClaim(claim, events, firstSeen, 10_000), { case: 'claim-unbound', reason: 'ProvisioningFailed', message: 'the claim cannot be bound: storageclass.storage.k8s.io "fast" not found, again' });
	t.is(classifyClaim(claim, [event('Normal', 'WaitForFirstConsumer', 'waiting for first consumer', '2026-12-03T14:00:05Z')], new Map(), 60_000), undefined);
});

test('RolloutFailedError carries the detail and says it in one line', t => {
	const error = new RolloutFailedError({ case: 'oom', object, pod: 'p', container: 'c', reason: 'OOMKilled', message: 'm' });
	t.is(error.message, 'Deployment nublado/hub: pod p/container c: OOMKilled: m');
	t.is(error.detail.case, 'oom');
	t.false(error.message.includes('\n'));
});

test('a Job marked Failed is hopeless with its reason; one still running is not', t => {
	const job = (conditions: unknown[]): KubeObject => ({ apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'migrate', namespace: 'nublado' }, status: { conditions } });
	t.is(classifyJob('Job nublado/migrate', job([])), undefined);
	t.is(classifyJob('Job nublado/migrate', job([{ type: 'Failed', status: 'False' }])), undefined);
	t.deepEqual(classifyJob('Job nublado/migrate', job([{ type: 'Failed', status: 'True', reason: 'BackoffLimitExceeded', message: 'Job has reached the specified backoff limit' }])), {
		case: 'job-failed',
		object: 'Job nublado/migrate',
		reason: 'BackoffLimitExceeded',
		message: 'the Job failed: Job has reached the specified backoff limit',
	});
});

test('a cloud that keeps failing to make a load balancer is hopeless after the grace, with its latest warning', t => {
	const event = (reason: string, message: string, at: string): KubeObject => ({ apiVersion: 'v1', kind: 'Event', metadata: { name: `e-${at}` }, type: 'Warning', reason, message, lastTimestamp: at }) as KubeObject;
	const events = [event('SyncLoadBalancerFailed', 'quota exceeded', '2026-01-01T00:00:02Z'), event('SyncLoadBalancerFailed', 'old', '2026-01-01T00:00:01Z'), event('FailedBinding', 'not ours', '2026-01-01T00:00:03Z')];
	const firstSeen: FirstSeen = new Map();
	t.is(classifyLoadBalancer('Service nublado/ingress', events, firstSeen, 0), undefined);
	t.is(classifyLoadBalancer('Service nublado/ingress', [], new Map(), 0), undefined);
	t.like(classifyLoadBalancer('Service nublado/ingress', events, firstSeen, 10_000), { case: 'load-balancer', reason: 'SyncLoadBalancerFailed', message: 'the cloud cannot make its load balancer: quota exceeded' });
});

test('an image failure carries the image as a field', t => {
	const verdict = classifyPods(object, [pending([waiting('hub', 'lsstsqre/sciplat-hub:missing', 'ImagePullBackOff')])], new Map(), 0);
	t.is(verdict.hopeless?.image, 'lsstsqre/sciplat-hub:missing');
});

test('the line ends with the note, then what to do', t => {
	t.is(
		formatFailure({ case: 'oom', object, pod: 'hub-1', container: 'hub', reason: 'OOMKilled', message: 'too much', note: 'Deployment nublado/hub changed this run; its new pods are OOMKilled', hint: 'raise it' }),
		'Deployment nublado/hub: pod hub-1/container hub: OOMKilled: too much; Deployment nublado/hub changed this run; its new pods are OOMKilled; to fix: raise it',
	);
});
