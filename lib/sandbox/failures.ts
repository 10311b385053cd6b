/**
 * The failure convention of nub's test control plane (cluster/nubkube/kwok-stages.yaml), which the
 * sandbox follows too, so a failing deployment looks the same on both. A container or init
 * container whose image tag is
 *
 *   :missing  fails to pull: waiting ErrImagePull, then ImagePullBackOff; the pod stays Pending
 *   :crash    crash-loops: waiting CrashLoopBackOff, restartCount 1, last state terminated (1, Error)
 *   :oom      crash-loops the same way, last state terminated (137, OOMKilled)
 *
 * and a pod that requests more CPU or memory than a node has (`nodeCapacity`: 4 CPUs, 16Gi, as
 * each of the test control plane's kwok nodes) is Unschedulable: it stays Pending, unscheduled,
 * with condition PodScheduled False and the scheduler's FailedScheduling event, whatever its images.
 *
 * A workload with such an image never finishes its rollout. For it, and only for it, the sandbox
 * makes what a cluster would show: the Pods (for a Deployment, through a ReplicaSet), with the
 * convention's status, and the kubelet's Warning Events. This file builds those objects; when to
 * store them is behaviour.ts's business.
 *
 *   rollout due ─ template fails? ─no──> the rollout is done (no pods), as for every other workload
 *                      └─yes─> ReplicaSet, Pods, Events; the workload never available
 *                                └─ :missing, a while later: ErrImagePull becomes ImagePullBackOff
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { Json, KubeObject } from './patch.ts';
import { asRecord, copy, metadataOf } from './object.ts';

/**
 * How a pod fails: no node has room for what it requests, its images cannot be pulled, or one of
 * its containers keeps dying.
 */
export type Failure = 'unschedulable' | 'pull' | 'crash';

/** The node the sandbox's pods are said to run on (the sandbox serves no Node objects). */
export const sandboxNode = 'nub-sandbox';

/**
 * What the sandbox's one node has room for: 4 CPUs and 16Gi of memory, the capacity (and
 * allocatable) of each kwok node of the test control plane (cluster/nubkube/up.go). A pod whose
 * requests exceed it is never scheduled. `cpu` in cores, `memory` in bytes.
 */
export const nodeCapacity = { cpu: 4, memory: 16 * 2 ** 30 } as const;

const failingTag = /:(missing|crash|oom)$/;

type Container = Record<string, Json>;

/** The containers of a pod spec, init containers apart. */
function containersOf(podSpec: Record<string, Json>): { init: Container[]; main: Container[] } {
	const list = (value: Json | undefined) => ((value ?? []) as Json[]).map(item => asRecord(item) ?? {});
	return { init: list(podSpec.initContainers), main: list(podSpec.containers) };
}

const imageOf = (container: Container) => String(container.image ?? '');

/**
 * How pods of `template` fail, or undefined when none of its images carries one of the
 * convention's tags. A missing image wins: the pod never gets to run anything.
 */
export function failureOf(template: Json | undefined): Failure | undefined {
	const podSpec = asRecord(asRecord(template)?.spec) ?? {};
	// The scheduler comes first: an unscheduled pod pulls nothing.
	if (insufficient(podSpec).length > 0) return 'unschedulable';
	const { init, main } = containersOf(podSpec);
	const images = [...init, ...main].map(imageOf);
	if (images.some(image => image.endsWith(':missing'))) return 'pull';
	return images.some(image => failingTag.test(image)) ? 'crash' : undefined;
}

/**
 * The resources a pod requests more of than `nodeCapacity`, as the scheduler's NodeResourcesFit
 * counts a request: each container's requests (its limits when it gives none, as the API server
 * defaults them), summed over the containers, or the largest init container's if that is more.
 */
export function insufficient(podSpec: Record<string, Json>): Array<'cpu' | 'memory'> {
	const { init, main } = containersOf(podSpec);
	const request = (container: Container, resource: 'cpu' | 'memory') => {
		const resources = asRecord(container.resources);
		const value = asRecord(resources?.requests)?.[resource] ?? asRecord(resources?.limits)?.[resource];
		return value === undefined || value === null ? 0 : quantity(String(value));
	};
	return (['cpu', 'memory'] as const).filter(resource => {
		const sum = main.reduce((total, container) => total + request(container, resource), 0);
		const initMost = Math.max(0, ...init.map(container => request(container, resource)));
		return Math.max(sum, initMost) > nodeCapacity[resource];
	});
}

/** A Kubernetes quantity as a number: `500m` -> 0.5, `2` -> 2, `16Gi` -> 17179869184, `3G` -> 3e9. */
function quantity(text: string): number {
	const match = /^([0-9.]+)(m|Ki|Mi|Gi|Ti|Pi|Ei|k|K|M|G|T|P|E)?$/.exec(text.trim());
	if (!match) return 0;
	const factor = { m: 1e-3, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60, k: 1e3, K: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18 }[match[2] ?? ''] ?? 1;
	return Number(match[1]) * factor;
}

/**
 * The scheduler's message for a pod no node has room for, word for word as the test control
 * plane's kube-scheduler gives it (test/sandbox/differential.test.ts compares them; its three
 * nodes say 0/3 and 3): one reason per resource, then the DRA and preemption plugins' verdicts.
 * `0/1 nodes are available: 1 Insufficient cpu. no new claims to deallocate, preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.`
 */
export function unschedulableMessage(podSpec: Record<string, Json>): string {
	const reasons = insufficient(podSpec).map(resource => `1 Insufficient ${resource}`).join(', ');
	return `0/1 nodes are available: ${reasons}. no new claims to deallocate, preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.`;
}

/** The Warning event the kubelet (here: kwok's stages) reports for a failing pod, by what it shows. */
const events = {
	ErrImagePull: { reason: 'Failed', message: 'Error: ErrImagePull' },
	ImagePullBackOff: { reason: 'Failed', message: 'Error: ImagePullBackOff' },
	CrashLoopBackOff: { reason: 'BackOff', message: 'Back-off restarting failed container' },
} as const;

/** What a failing pod shows: unscheduled, the pull failing, the pull backing off, or the crash loop. */
export type PodState = 'Unschedulable' | keyof typeof events;

/** The first state a pod of `failure` shows (once it is scheduled and its containers are tried). */
export function firstState(failure: Failure): PodState {
	return failure === 'unschedulable' ? 'Unschedulable' : failure === 'pull' ? 'ErrImagePull' : 'CrashLoopBackOff';
}

/**
 * A failing pod's status, as kwok's stages write it: each container waiting, crash-looping or
 * running, the pod Pending while a pull fails or an init container crashes, else Running, never
 * Ready.
 */
export function podStatus(podSpec: Record<string, Json>, podName: string, state: PodState, now: string): Json {
	const { init, main } = containersOf(podSpec);
	// Never scheduled: no node, no start time, no container statuses; the scheduler's condition alone.
	if (state === 'Unschedulable') {
		return {
			phase: 'Pending',
			conditions: [{ type: 'PodScheduled', status: 'False', lastProbeTime: null, lastTransitionTime: now, reason: 'Unschedulable', message: unschedulableMessage(podSpec) }],
			qosClass: qosClassOf([...init, ...main]),
		};
	}
	const pulling = state !== 'CrashLoopBackOff';
	const fails = (container: Container) => (pulling ? imageOf(container).endsWith(':missing') : failingTag.test(imageOf(container)));
	const initFails = init.some(fails);
	const base = (container: Container) => ({ name: String(container.name), image: imageOf(container), imageID: '', ready: false, restartCount: 0, started: false });
	const failed = (container: Container): Json => {
		if (pulling) {
			const message = state === 'ErrImagePull' ? `failed to pull and unpack image "${imageOf(container)}": ${imageOf(container)}: not found` : `Back-off pulling image "${imageOf(container)}"`;
			return { ...base(container), state: { waiting: { reason: state, message } } };
		}
		const oom = imageOf(container).endsWith(':oom');
		return {
			...base(container),
			restartCount: 1,
			state: { waiting: { reason: 'CrashLoopBackOff', message: `back-off 10s restarting failed container=${String(container.name)} pod=${podName}` } },
			lastState: { terminated: { exitCode: oom ? 137 : 1, reason: oom ? 'OOMKilled' : 'Error', startedAt: now, finishedAt: now } },
		};
	};
	// The others: init containers that completed, containers waiting behind a failing init
	// container or a pull, or running.
	const completed = (container: Container): Json => ({ ...base(container), ready: true, state: { terminated: { exitCode: 0, reason: 'Completed', startedAt: now, finishedAt: now } } });
	const waiting = (reason: string) => (container: Container): Json => ({ ...base(container), state: { waiting: { reason } } });
	const running = (container: Container): Json => ({ ...base(container), ready: true, started: true, state: { running: { startedAt: now } } });
	const other = initFails ? waiting('PodInitializing') : pulling ? waiting('ContainerCreating') : running;
	const condition = (type: string, status: boolean, reason?: string) => ({ type, status: status ? 'True' : 'False', lastProbeTime: null, lastTransitionTime: now, ...(reason ? { reason } : {}) });
	return {
		phase: pulling || initFails ? 'Pending' : 'Running',
		conditions: [
			condition('PodScheduled', true),
			condition('Initialized', !initFails, initFails ? 'ContainersNotInitialized' : undefined),
			condition('Ready', false, 'ContainersNotReady'),
			condition('ContainersReady', false, 'ContainersNotReady'),
		],
		startTime: now,
		...(init.length > 0 ? { initContainerStatuses: init.map(container => (fails(container) ? failed(container) : completed(container))) } : {}),
		containerStatuses: main.map(container => (!initFails && fails(container) ? failed(container) : other(container))),
		qosClass: 'BestEffort',
	};
}

/** Where a pod of a workload comes from: its name, labels and owner. */
export interface PodOrigin {
	name: string;
	generateName?: string;
	labels: Record<string, string>;
	owner: KubeObject;
}

/** A pod of `template` (already defaulted, as the workload's), placed on the sandbox's node. */
export function makePod(template: Json | undefined, origin: PodOrigin, namespace: string, state: PodState, now: string): KubeObject {
	const podSpec = { ...copy(asRecord(asRecord(template)?.spec) ?? {}), ...(state === 'Unschedulable' ? {} : { nodeName: sandboxNode }) };
	return {
		apiVersion: 'v1',
		kind: 'Pod',
		metadata: {
			name: origin.name,
			...(origin.generateName ? { generateName: origin.generateName } : {}),
			namespace,
			uid: randomUUID(),
			creationTimestamp: now,
			labels: origin.labels,
			...(asRecord(asRecord(template)?.metadata)?.annotations ? { annotations: asRecord(asRecord(template)?.metadata)?.annotations as Json } : {}),
			ownerReferences: [ownerReference(origin.owner)],
		},
		spec: podSpec,
		status: podStatus(podSpec, origin.name, state, now),
	};
}

/** A Deployment's ReplicaSet for its current template: `<deployment>-<hash>`, owned by it. */
export function makeReplicaSet(deployment: KubeObject, replicas: number, now: string): KubeObject {
	const spec = asRecord(deployment.spec) ?? {};
	const hash = templateHash(spec.template);
	const template = copy(asRecord(spec.template) ?? {});
	const templateMetadata = (asRecord(template.metadata) ?? (template.metadata = {})) as Record<string, Json>;
	const labels = { ...(asRecord(templateMetadata.labels) as Record<string, string> | undefined), 'pod-template-hash': hash };
	templateMetadata.labels = labels;
	const selector = asRecord(spec.selector) ?? {};
	return {
		apiVersion: 'apps/v1',
		kind: 'ReplicaSet',
		metadata: {
			name: `${metadataOf(deployment).name}-${hash}`,
			namespace: metadataOf(deployment).namespace,
			uid: randomUUID(),
			creationTimestamp: now,
			generation: 1,
			labels,
			annotations: { 'deployment.kubernetes.io/desired-replicas': String(replicas), 'deployment.kubernetes.io/max-replicas': String(replicas + 1) },
			ownerReferences: [ownerReference(deployment)],
		},
		spec: { replicas, selector: { ...selector, matchLabels: { ...(asRecord(selector.matchLabels) ?? {}), 'pod-template-hash': hash } }, template },
		// Its pods exist and none is ready: zero counts are left out, as the real server does.
		status: { replicas, fullyLabeledReplicas: replicas, observedGeneration: 1 },
	};
}

/**
 * The pods a failing workload has, by name, labels and owner (`owner`: the workload, or a
 * Deployment's ReplicaSet). A Deployment or ReplicaSet gets one per replica with random
 * suffixes; a DaemonSet one (the sandbox is one node); a StatefulSet `<name>-0` alone while
 * it is OrderedReady (the next waits for it to be Ready, which never comes), else one per replica.
 */
export function podOrigins(workload: KubeObject, owner: KubeObject): PodOrigin[] {
	const spec = asRecord(workload.spec) ?? {};
	const name = metadataOf(workload).name!;
	const hash = templateHash(spec.template);
	const templateLabels = (asRecord(asRecord(asRecord(spec.template)?.metadata)?.labels) ?? {}) as Record<string, string>;
	const replicas = typeof spec.replicas === 'number' ? spec.replicas : 1;
	switch (workload.kind) {
		case 'DaemonSet':
			return [{ name: `${name}-${suffix()}`, generateName: `${name}-`, owner, labels: { ...templateLabels, 'controller-revision-hash': hash, 'pod-template-generation': String(metadataOf(workload).generation ?? 1) } }];
		case 'StatefulSet': {
			const count = spec.podManagementPolicy === 'Parallel' ? replicas : Math.min(replicas, 1);
			return Array.from({ length: count }, (_, index) => ({
				name: `${name}-${index}`,
				owner,
				labels: { ...templateLabels, 'controller-revision-hash': `${name}-${hash}`, 'statefulset.kubernetes.io/pod-name': `${name}-${index}`, 'apps.kubernetes.io/pod-index': String(index) },
			}));
		}
		default: {
			const ownerName = metadataOf(owner).name!;
			return Array.from({ length: replicas }, () => ({ name: `${ownerName}-${suffix()}`, generateName: `${ownerName}-`, owner, labels: { ...templateLabels, 'pod-template-hash': hash } }));
		}
	}
}

/**
 * The status of a workload whose pods fail: the controller has seen the spec and made (or
 * updated) its pods, none is available. `pods`: how many it made.
 */
export function failingStatus(workload: KubeObject, pods: number, now: string): Json {
	const metadata = metadataOf(workload);
	const hash = templateHash(asRecord(workload.spec)?.template);
	switch (workload.kind) {
		case 'Deployment':
			return {
				observedGeneration: metadata.generation!,
				replicas: pods,
				updatedReplicas: pods,
				unavailableReplicas: pods,
				conditions: [
					{ type: 'Available', status: 'False', lastUpdateTime: now, lastTransitionTime: now, reason: 'MinimumReplicasUnavailable', message: 'Deployment does not have minimum availability.' },
					{ type: 'Progressing', status: 'True', lastUpdateTime: now, lastTransitionTime: now, reason: 'ReplicaSetUpdated', message: `ReplicaSet "${metadata.name}-${hash}" is progressing.` },
				],
			};
		case 'StatefulSet':
			return {
				observedGeneration: metadata.generation!,
				replicas: pods,
				currentReplicas: pods,
				updatedReplicas: pods,
				availableReplicas: 0,
				currentRevision: `${metadata.name}-${hash}`,
				updateRevision: `${metadata.name}-${hash}`,
				collisionCount: 0,
			};
		default:
			return {
				observedGeneration: metadata.generation!,
				currentNumberScheduled: pods,
				desiredNumberScheduled: pods,
				numberMisscheduled: 0,
				numberReady: 0,
				numberUnavailable: pods,
				updatedNumberScheduled: pods,
			};
	}
}

/** The kubelet's Warning event about `pod` showing `state` (the scheduler's, for Unschedulable). */
export function warningEvent(pod: KubeObject, state: PodState, now: string): KubeObject {
	const metadata = metadataOf(pod);
	const podSpec = asRecord(pod.spec) ?? {};
	if (state === 'Unschedulable') {
		// As kube-scheduler reports it (through events.k8s.io: eventTime, no timestamps, no source host), about the pod itself.
		return {
			apiVersion: 'v1',
			kind: 'Event',
			metadata: { name: `${metadata.name}.${randomBytes(8).toString('hex')}`, namespace: metadata.namespace, uid: randomUUID(), creationTimestamp: now },
			involvedObject: { kind: 'Pod', namespace: metadata.namespace!, name: metadata.name!, uid: metadata.uid!, apiVersion: 'v1' },
			reason: 'FailedScheduling',
			message: unschedulableMessage(podSpec),
			source: {},
			firstTimestamp: null,
			lastTimestamp: null,
			type: 'Warning',
			eventTime: now.replace(/Z$/, '.000000Z'),
			action: 'Scheduling',
			reportingComponent: 'default-scheduler',
			reportingInstance: 'default-scheduler-nub-sandbox',
		};
	}
	const { init, main } = containersOf(podSpec);
	const failing = [...init, ...main].find(container => (state === 'CrashLoopBackOff' ? failingTag.test(imageOf(container)) : imageOf(container).endsWith(':missing')));
	const list = failing && init.includes(failing) ? 'initContainers' : 'containers';
	return {
		apiVersion: 'v1',
		kind: 'Event',
		metadata: { name: `${metadata.name}.${randomBytes(8).toString('hex')}`, namespace: metadata.namespace, uid: randomUUID(), creationTimestamp: now },
		involvedObject: { kind: 'Pod', namespace: metadata.namespace!, name: metadata.name!, uid: metadata.uid!, apiVersion: 'v1', ...(failing ? { fieldPath: `spec.${list}{${String(failing.name)}}` } : {}) },
		reason: events[state].reason,
		message: events[state].message,
		source: { component: 'kubelet', host: sandboxNode },
		firstTimestamp: now,
		lastTimestamp: now,
		count: 1,
		type: 'Warning',
		eventTime: null,
		reportingComponent: 'kubelet',
		reportingInstance: sandboxNode,
	};
}

/**
 * The QoS class the API server gives a pod: Guaranteed when every container limits CPU and
 * memory at what it requests, BestEffort when none requests or limits anything, else Burstable.
 */
function qosClassOf(containers: Container[]): string {
	const resources = containers.map(container => asRecord(container.resources) ?? {});
	const given = (entry: Record<string, Json>, key: 'requests' | 'limits') => asRecord(entry[key]) ?? {};
	if (resources.every(entry => Object.keys(given(entry, 'requests')).length === 0 && Object.keys(given(entry, 'limits')).length === 0)) return 'BestEffort';
	const guaranteed = resources.every(entry =>
		(['cpu', 'memory'] as const).every(resource => {
			const limit = given(entry, 'limits')[resource];
			const request = given(entry, 'requests')[resource] ?? limit;
			return limit !== undefined && quantity(String(limit)) === quantity(String(request));
		}),
	);
	return guaranteed ? 'Guaranteed' : 'Burstable';
}

/** An owner reference to `owner` as its controller. */
function ownerReference(owner: KubeObject): Json {
	const metadata = metadataOf(owner);
	return { apiVersion: owner.apiVersion, kind: owner.kind, name: metadata.name!, uid: metadata.uid!, controller: true, blockOwnerDeletion: true };
}

/** A pod-template-hash lookalike: 10 characters of the alphabet the real one uses, stable per template. */
export function templateHash(template: Json | undefined): string {
	const digest = createHash('sha256').update(JSON.stringify(template ?? null)).digest();
	return [...digest.subarray(0, 10)].map(byte => alphabet[byte % alphabet.length]).join('');
}

/** Five characters of the alphabet generated names use (no vowels, no look-alikes). */
function suffix(): string {
	return [...randomBytes(5)].map(byte => alphabet[byte % alphabet.length]).join('');
}

const alphabet = 'bcdfghjklmnpqrstvwxz2456789';
