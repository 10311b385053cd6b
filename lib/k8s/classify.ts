import type { KubeObject } from './objects.ts';

/**
 * Why a wait cannot finish, told apart by `case` (never by the message). Each is hopeless: waiting
 * longer does not help, the configuration must change.
 */
export type FailureCase =
	/** An image cannot be pulled: ImagePullBackOff, or ErrImagePull past a short grace. */
	| 'image-pull'
	/** The image reference is not a valid name (InvalidImageName). */
	| 'invalid-image'
	/** A container (init containers included) exits and the kubelet backs off restarting it. */
	| 'crash-loop'
	/** The kubelet cannot make the container: a missing Secret, ConfigMap or key (CreateContainerConfigError). */
	| 'config-error'
	/** A container was killed for using more memory than its limit. */
	| 'oom'
	/** The scheduler finds no node for the pod (PodScheduled=False, Unschedulable). */
	| 'unschedulable'
	/** The Deployment controller gave up: Progressing=False, ProgressDeadlineExceeded. */
	| 'progress-deadline'
	/** A PersistentVolumeClaim that the binder or provisioner says it cannot bind. */
	| 'claim-unbound'
	/** A LoadBalancer Service whose load balancer the cloud says it cannot make (SyncLoadBalancerFailed). */
	| 'load-balancer'
	/** A Job the Job controller marked Failed (BackoffLimitExceeded, DeadlineExceeded). */
	| 'job-failed';

/** What a hopeless wait found, as fields (the JSON event carries them as they are). */
export interface FailureDetail {
	case: FailureCase;
	/** `Deployment nublado/hub`. */
	object: string;
	/** The pod's name, when a pod is to blame. */
	pod?: string;
	/** The container's name, when a container is to blame. */
	container?: string;
	/** Kubernetes' reason: `ImagePullBackOff`, `Unschedulable`, `ProvisioningFailed`. */
	reason: string;
	/** What it means, with Kubernetes' own message. */
	message: string;
	/** The image, for `image-pull` and `invalid-image`. */
	image?: string;
	/** What to do about it: where the image is set, which Secret lacks which key and who makes it. */
	hint?: string;
	/** A change this run made that the failure follows from: `ConfigMap nublado/hub-config changed this run; ...`. */
	note?: string;
}

/** A wait stopped early because what it waits for cannot happen; `detail` says why, as fields. */
export class RolloutFailedError extends Error {
	override readonly name = 'RolloutFailedError';
	constructor(readonly detail: FailureDetail) {
		super(formatFailure(detail));
	}
}

/**
 * One line: `Deployment nublado/hub: pod hub-7d9f/container hub: ImagePullBackOff: image ... cannot
 * be pulled (...); <note>; to fix: <hint>`.
 */
export function formatFailure(detail: FailureDetail): string {
	const where = [detail.pod ? `pod ${detail.pod}` : undefined, detail.container ? `container ${detail.container}` : undefined].filter(Boolean).join('/');
	const note = detail.note ? `; ${detail.note}` : '';
	const hint = detail.hint ? `; to fix: ${detail.hint}` : '';
	return `${detail.object}: ${where ? `${where}: ` : ''}${detail.reason}: ${detail.message}${note}${hint}`;
}

/** How long a transient state may last before it counts as hopeless. */
export interface Graces {
	/** ErrImagePull that has not turned into ImagePullBackOff yet. Default 10 s. */
	pullGraceMs?: number;
	/** CrashLoopBackOff (and OOMKilled), for a component that restarts until a peer is up. Default 0. */
	crashGraceMs?: number;
	/** A claim's binder or provisioner warning, or a cloud's load-balancer warning. Default 10 s. */
	claimGraceMs?: number;
	/**
	 * Unschedulable: the scheduler tries again as the cluster changes. Default 10 s; a pod waiting
	 * for its claims to be bound (a provisioner at work) gets 60 s, the claim's own trouble being
	 * the likelier cause.
	 */
	scheduleGraceMs?: number;
}

/** The scheduler's word for a pod whose claims are not bound yet. */
const unboundClaims = /unbound immediate PersistentVolumeClaims/;

/**
 * When each transient condition was first seen, by a key naming the pod, container and reason:
 * a wait keeps one across its looks, so a grace runs from the first look that saw the condition.
 */
export type FirstSeen = Map<string, number>;

/** What one look at a workload's pods found: hopeless, or a progress note naming a pod. */
export interface PodVerdict {
	hopeless?: FailureDetail;
	/** `pod hub-7d9 ContainerCreating`, or empty when there is no pod. */
	progress: string;
}

type ContainerState = { waiting?: { reason?: string; message?: string }; terminated?: { reason?: string; exitCode?: number; message?: string } };
interface ContainerStatus {
	name: string;
	image?: string;
	ready?: boolean;
	state?: ContainerState;
	lastState?: ContainerState;
}
interface PodStatus {
	phase?: string;
	conditions?: Array<{ type: string; status: string; reason?: string; message?: string }>;
	initContainerStatuses?: ContainerStatus[];
	containerStatuses?: ContainerStatus[];
}

/** The pods' names and states, for messages. */
function statusOf(pod: KubeObject): PodStatus {
	return (pod.status ?? {}) as PodStatus;
}

function nameOf(object: KubeObject): string {
	return (object.metadata as { name?: string }).name ?? '?';
}

/** Past its grace: the first time `key` was seen is at least `graceMs` before `now` (and remembered). */
function past(firstSeen: FirstSeen, key: string, now: number, graceMs: number): boolean {
	const first = firstSeen.get(key) ?? now;
	firstSeen.set(key, first);
	return now - first >= graceMs;
}

/**
 * Classifies the pods of a workload's newest revision (`object` names the workload in messages).
 * The first hopeless pod ends the wait; otherwise the progress names the first pod not ready.
 */
export function classifyPods(object: string, pods: readonly KubeObject[], firstSeen: FirstSeen, now: number, graces: Graces = {}): PodVerdict {
	let progress = '';
	for (const pod of pods) {
		const name = nameOf(pod);
		if ((pod.metadata as { deletionTimestamp?: string }).deletionTimestamp) continue;
		const status = statusOf(pod);
		const scheduled = status.conditions?.find(condition => condition.type === 'PodScheduled');
		if (scheduled?.status === 'False' && scheduled.reason === 'Unschedulable') {
			const message = scheduled.message ?? 'the scheduler found no node for it';
			const grace = unboundClaims.test(message) ? 60_000 : (graces.scheduleGraceMs ?? 10_000);
			if (past(firstSeen, `${name}/Unschedulable`, now, grace)) return { hopeless: { case: 'unschedulable', object, pod: name, reason: 'Unschedulable', message }, progress };
			if (!progress) progress = `pod ${name} Unschedulable (${message})`;
			continue;
		}
		const containers = [...(status.initContainerStatuses ?? []), ...(status.containerStatuses ?? [])];
		for (const container of containers) {
			const hopeless = classifyContainer(object, name, container, firstSeen, now, graces);
			if (hopeless) return { hopeless, progress };
		}
		if (!progress && !isReady(status)) progress = `pod ${name} ${podPhase(status)}`;
	}
	return { progress };
}

function classifyContainer(object: string, pod: string, container: ContainerStatus, firstSeen: FirstSeen, now: number, graces: Graces): FailureDetail | undefined {
	const waiting = container.state?.waiting;
	const base = { object, pod, container: container.name };
	const image = container.image ? { image: container.image } : {};
	const said = waiting?.message ? ` (${waiting.message})` : '';
	switch (waiting?.reason) {
		case 'ImagePullBackOff':
			return { ...base, case: 'image-pull', reason: 'ImagePullBackOff', message: `image ${container.image ?? '?'} cannot be pulled${said}`, ...image };
		case 'ErrImagePull':
			if (!past(firstSeen, `${pod}/${container.name}/ErrImagePull`, now, graces.pullGraceMs ?? 10_000)) return undefined;
			return { ...base, case: 'image-pull', reason: 'ErrImagePull', message: `image ${container.image ?? '?'} cannot be pulled${said}`, ...image };
		case 'InvalidImageName':
			return { ...base, case: 'invalid-image', reason: 'InvalidImageName', message: `image ${container.image ?? '?'} is not a valid image reference${said}`, ...image };
		case 'CreateContainerConfigError':
			return { ...base, case: 'config-error', reason: 'CreateContainerConfigError', message: `the container cannot be made: ${waiting.message ?? 'a Secret, ConfigMap or key it names is missing'}` };
		case 'CrashLoopBackOff': {
			if (!past(firstSeen, `${pod}/${container.name}/CrashLoopBackOff`, now, graces.crashGraceMs ?? 0)) return undefined;
			const last = container.lastState?.terminated;
			const oom = last?.reason === 'OOMKilled';
			const ended = last ? `last exit: ${last.reason ?? 'terminated'}, exit code ${last.exitCode ?? '?'}${last.message ? `: ${last.message.trim()}` : ''}` : 'no last exit recorded';
			return {
				...base,
				case: oom ? 'oom' : 'crash-loop',
				reason: oom ? 'OOMKilled' : 'CrashLoopBackOff',
				message: oom ? `the container used more memory than its limit and is restarted in a loop (${ended})` : `the container keeps exiting (${ended})`,
			};
		}
	}
	const terminated = container.state?.terminated;
	if (terminated?.reason === 'OOMKilled' && past(firstSeen, `${pod}/${container.name}/CrashLoopBackOff`, now, graces.crashGraceMs ?? 0)) {
		return { ...base, case: 'oom', reason: 'OOMKilled', message: `the container used more memory than its limit (exit code ${terminated.exitCode ?? '?'})` };
	}
	return undefined;
}

function isReady(status: PodStatus): boolean {
	return status.conditions?.some(condition => condition.type === 'Ready' && condition.status === 'True') ?? false;
}

/** What `kubectl get pods` shows as the status: a container's waiting reason, else the phase. */
function podPhase(status: PodStatus): string {
	const init = status.initContainerStatuses?.find(container => container.state?.waiting?.reason && container.state.waiting.reason !== 'PodInitializing');
	if (init) return `Init:${init.state!.waiting!.reason}`;
	const waiting = status.containerStatuses?.find(container => container.state?.waiting?.reason)?.state?.waiting?.reason;
	if (waiting) return waiting;
	if (status.phase === 'Running') return 'Running, not ready';
	if (status.phase === 'Pending' && !status.containerStatuses) return 'Pending';
	return status.phase ?? 'Pending';
}

/**
 * A Deployment whose controller gave up (Progressing=False, ProgressDeadlineExceeded), else
 * undefined. Only once the controller has seen the latest spec: until then the condition is the
 * last revision's, which the change being waited for may have fixed.
 */
export function classifyDeployment(object: string, deployment: KubeObject): FailureDetail | undefined {
	const observed = (deployment.status as { observedGeneration?: number } | undefined)?.observedGeneration ?? 0;
	if (observed < ((deployment.metadata as { generation?: number }).generation ?? 0)) return undefined;
	const conditions = ((deployment.status ?? {}) as PodStatus).conditions ?? [];
	const progressing = conditions.find(condition => condition.type === 'Progressing');
	if (progressing?.status !== 'False') return undefined;
	return { case: 'progress-deadline', object, reason: progressing.reason ?? 'ProgressDeadlineExceeded', message: progressing.message ?? 'the rollout made no progress within its deadline' };
}

/**
 * A pending claim whose binder or provisioner warned (ProvisioningFailed, FailedBinding) past the
 * grace: hopeless, with the latest such event's message. Events are the claim's, any order.
 */
export function classifyClaim(object: string, events: readonly KubeObject[], firstSeen: FirstSeen, now: number, graces: Graces = {}): FailureDetail | undefined {
	const latest = latestWarning(events, ['ProvisioningFailed', 'FailedBinding']);
	if (!latest) return undefined;
	if (!past(firstSeen, `${object}/claim`, now, graces.claimGraceMs ?? 10_000)) return undefined;
	return { case: 'claim-unbound', object, reason: latest.reason!, message: `the claim cannot be bound: ${latest.message ?? 'no message'}` };
}

/** A Job the controller marked Failed, else undefined. */
export function classifyJob(object: string, job: KubeObject): FailureDetail | undefined {
	const conditions = ((job.status ?? {}) as PodStatus).conditions ?? [];
	const failed = conditions.find(condition => condition.type === 'Failed' && condition.status === 'True');
	if (!failed) return undefined;
	return { case: 'job-failed', object, reason: failed.reason ?? 'Failed', message: `the Job failed: ${failed.message ?? 'no message'}` };
}

/**
 * A LoadBalancer Service that the cloud's service controller keeps failing to make a load balancer
 * for (Warning SyncLoadBalancerFailed) past the grace: hopeless, with the latest warning's message.
 */
export function classifyLoadBalancer(object: string, events: readonly KubeObject[], firstSeen: FirstSeen, now: number, graces: Graces = {}): FailureDetail | undefined {
	const latest = latestWarning(events, ['SyncLoadBalancerFailed']);
	if (!latest) return undefined;
	if (!past(firstSeen, `${object}/load-balancer`, now, graces.claimGraceMs ?? 10_000)) return undefined;
	return { case: 'load-balancer', object, reason: latest.reason!, message: `the cloud cannot make its load balancer: ${latest.message ?? 'no message'}` };
}

type EventObject = KubeObject & { type?: string; reason?: string; message?: string; lastTimestamp?: string; eventTime?: string };

/** The latest Warning event of one of `reasons`, any order in. */
function latestWarning(events: readonly KubeObject[], reasons: readonly string[]): EventObject | undefined {
	return events
		.map(event => event as EventObject)
		.filter(event => event.type === 'Warning' && reasons.includes(event.reason ?? ''))
		.sort((a, b) => Date.parse(a.lastTimestamp ?? a.eventTime ?? '') - Date.parse(b.lastTimestamp ?? b.eventTime ?? ''))
		.at(-1);
}
