/**
 * The controllers a deployment waits on, simulated: a cloud load balancer gives LoadBalancer
 * Services an ingress IP, workloads report a finished rollout (or, with an image of the failure
 * convention, failing pods: failures.ts), claims get bound to a volume. Each reaction is a
 * PendingChange with a wall-clock due time kept in the store, so one promised before a restart is
 * still made after it.
 *
 *   write ──observe()──> pending (state.json) ──due──> status written (new resourceVersion)
 */
import { randomUUID } from 'node:crypto';
import type { Json, KubeObject } from './patch.ts';
import { recordUpdate } from './patch.ts';
import { sandboxProvisioner } from './defaults.ts';
import { failingStatus, failureOf, firstState, makePod, makeReplicaSet, podOrigins, podStatus, templateHash, warningEvent, type Failure, type PodState } from './failures.ts';
import { asRecord, copy, metadataOf } from './object.ts';
import { findResourceType, type ResourceType } from './resources.ts';
import { keyOf, type ObjectRef, type PendingChange, type Store } from './store.ts';

/** Delays of the simulated controllers. */
export interface BehaviourOptions {
	loadBalancerDelayMs: number;
	rolloutDelayMs: number;
}

/** The manager name status writes are recorded under, as on a real cluster. */
const controllerManager = 'kube-controller-manager';
const rolloutKinds = new Set(['Deployment', 'DaemonSet', 'StatefulSet', 'ReplicaSet']);
/** The workloads whose failing images get pods (failures.ts). */
const podMakingKinds = new Set(['Deployment', 'DaemonSet', 'StatefulSet']);
/** A served type by group and resource (one the sandbox always serves). */
const served = (group: string, resource: string) => findResourceType(group, 'v1', resource)!;
const timeNow = () => new Date().toISOString().replace(/\.\d+Z$/, 'Z');

/** Runs the pending changes of a store as they fall due. */
export class Controllers {
	private timer: NodeJS.Timeout | undefined;
	private stopped = false;
	private unsubscribe: (() => void) | undefined;

	constructor(
		private readonly store: Store,
		private readonly options: BehaviourOptions,
	) {}

	/** Starts the clock; overdue changes (from before a restart) are made at once. */
	start(): void {
		this.stopped = false;
		// Deletions come from handlers and from cascades alike: watched on the store.
		this.unsubscribe = this.store.subscribe(event => {
			if (event.type === 'DELETED' && event.resourceType.kind === 'PersistentVolumeClaim') this.claimDeleted(event.object);
		});
		this.schedule();
	}

	/** Stops making changes; pending ones stay in the store for the next start. */
	stop(): void {
		this.stopped = true;
		this.unsubscribe?.();
		clearTimeout(this.timer);
	}

	/** A deleted claim releases the volume bound to it. */
	private claimDeleted(claim: KubeObject): void {
		const volumes = findResourceType('', 'v1', 'persistentvolumes')!;
		for (const volume of this.store.list(volumes)) {
			if (asRecord(asRecord(volume.spec)?.claimRef)?.uid !== metadataOf(claim).uid) continue;
			this.add({ action: 'release', ref: { group: '', resource: volumes.resource, name: metadataOf(volume).name! }, due: Date.now() });
		}
	}

	/** Reacts to an object just stored (`previous`: the version it replaced). */
	observe(type: ResourceType, object: KubeObject, previous: KubeObject | undefined): void {
		const metadata = metadataOf(object);
		const ref: ObjectRef = { group: type.group, resource: type.resource, namespace: metadata.namespace, name: metadata.name! };
		const now = Date.now();
		if (type.kind === 'Service' && asRecord(object.spec)?.type === 'LoadBalancer' && !ingressOf(object) && !this.isPending(ref, 'loadBalancer')) {
			this.add({ action: 'loadBalancer', ref, due: now + this.options.loadBalancerDelayMs });
		}
		if (rolloutKinds.has(type.kind) && (!previous || metadataOf(previous).generation !== metadata.generation)) {
			// A newer spec supersedes the rollout of the older one.
			this.store.pending = this.store.pending.filter(change => !(change.action === 'rollout' && keyOf(change.ref) === keyOf(ref)));
			this.add({ action: 'rollout', ref, due: now + this.options.rolloutDelayMs, generation: metadata.generation });
		}
		if (type.kind === 'PersistentVolumeClaim' && !previous) this.add({ action: 'bind', ref, due: now + this.options.rolloutDelayMs });
		if (type.kind === 'PersistentVolume' && !previous) this.add({ action: 'available', ref, due: now });
	}

	/** Binds the claims still Pending, soon: a volume just became Available may be what one waits for. */
	private retryPendingClaims(): void {
		const claims = findResourceType('', 'v1', 'persistentvolumeclaims')!;
		for (const claim of this.store.list(claims)) {
			const claimRef: ObjectRef = { group: '', resource: claims.resource, namespace: metadataOf(claim).namespace, name: metadataOf(claim).name! };
			if (phaseOf(claim) === 'Pending' && !this.isPending(claimRef, 'bind')) this.add({ action: 'bind', ref: claimRef, due: Date.now() });
		}
	}

	private isPending(ref: ObjectRef, action: PendingChange['action']): boolean {
		return this.store.pending.some(change => change.action === action && keyOf(change.ref) === keyOf(ref));
	}

	private add(change: PendingChange): void {
		this.store.pending.push(change);
		this.store.savePending();
		this.schedule();
	}

	/** Arms one timer for the earliest due change. */
	private schedule(): void {
		clearTimeout(this.timer);
		if (this.stopped || this.store.pending.length === 0) return;
		const due = Math.min(...this.store.pending.map(change => change.due));
		this.timer = setTimeout(() => this.runDue(), Math.max(0, due - Date.now()));
		this.timer.unref();
	}

	private runDue(): void {
		const now = Date.now();
		const due = this.store.pending.filter(change => change.due <= now);
		this.store.pending = this.store.pending.filter(change => change.due > now);
		this.store.savePending();
		for (const change of due) this.apply(change);
		this.schedule();
	}

	private apply(change: PendingChange): void {
		const type = findResourceType(change.ref.group, 'v1', change.ref.resource);
		const object = type && this.store.get(type, change.ref.namespace, change.ref.name);
		if (!type || !object) return; // deleted meanwhile
		const status = asRecord(object.status) ?? {};
		switch (change.action) {
			case 'loadBalancer':
				if (asRecord(object.spec)?.type !== 'LoadBalancer' || ingressOf(object)) return;
				this.writeStatus(type, object, { ...status, loadBalancer: { ingress: [{ ip: this.freeLoadBalancerIp(), ipMode: 'VIP' }] } });
				return;
			case 'rollout': {
				if (metadataOf(object).generation !== change.generation) return; // superseded
				const failure = podMakingKinds.has(type.kind) ? failureOf(asRecord(object.spec)?.template) : undefined;
				if (failure) {
					this.fail(type, object, failure);
					return;
				}
				this.removeFailedPods(object, undefined);
				this.writeStatus(type, object, rolloutStatus(object, status));
				return;
			}
			case 'backOff': {
				// The kubelet stops retrying the pull at once: ErrImagePull becomes ImagePullBackOff.
				const waiting = ((asRecord(object.status)?.containerStatuses ?? []) as Json[]).concat((asRecord(object.status)?.initContainerStatuses ?? []) as Json[]);
				if (!waiting.some(entry => asRecord(asRecord(asRecord(entry)?.state)?.waiting)?.reason === 'ErrImagePull')) return;
				this.writeStatus(type, object, podStatus(asRecord(object.spec) ?? {}, metadataOf(object).name!, 'ImagePullBackOff', timeNow()), undefined, 'kubelet');
				this.store.put(served('', 'events'), warningEvent(object, 'ImagePullBackOff', timeNow()));
				return;
			}
			case 'bind':
				this.bind(type, object);
				return;
			case 'release': {
				// What the PV controller does once a bound volume's claim is gone: a Delete policy
				// deletes the volume (its provisioner frees the storage), any other releases it.
				if (phaseOf(object) !== 'Bound') return;
				if (asRecord(object.spec)?.persistentVolumeReclaimPolicy === 'Delete') this.store.remove(type, undefined, metadataOf(object).name!);
				else this.writeStatus(type, object, { ...status, phase: 'Released' });
				return;
			}
			case 'available':
				// A new volume starts Pending, as on the real server; the PV controller makes it
				// Available, or Bound when it already names its claim.
				if (phaseOf(object) !== 'Pending') return;
				this.writeStatus(type, object, { ...status, phase: asRecord(asRecord(object.spec)?.claimRef) ? 'Bound' : 'Available' });
				this.retryPendingClaims();
				return;
		}
	}

	/** Stores a new status for `object` as the controller manager (or `manager`) would. */
	private writeStatus(type: ResourceType, object: KubeObject, status: Json, spec?: Json, manager = controllerManager): void {
		const after = copy(object);
		after.status = status;
		if (spec !== undefined) after.spec = spec;
		this.store.put(type, recordUpdate(object, after, { manager, time: timeNow(), subresource: 'status' }));
	}

	/**
	 * A workload whose template fails (failures.ts): its ReplicaSet (a Deployment's), its pods
	 * with the convention's status and a Warning event each, and a status that never says
	 * available. Pods of an earlier template go, and pods past the replica count; pods already
	 * made for this template stay.
	 */
	private fail(workloadType: ResourceType, workload: KubeObject, failure: Failure): void {
		const now = timeNow();
		const namespace = metadataOf(workload).namespace!;
		const spec = asRecord(workload.spec) ?? {};
		const replicas = typeof spec.replicas === 'number' ? spec.replicas : 1;
		let owner = workload;
		if (workload.kind === 'Deployment') {
			const made = makeReplicaSet(workload, replicas, now);
			const found = this.store.get(served('apps', 'replicasets'), namespace, metadataOf(made).name!);
			owner = found ? this.scale(found, replicas) : this.create(served('apps', 'replicasets'), made, now);
		}
		this.removeFailedPods(workload, owner);
		const pods = served('', 'pods');
		const origins = podOrigins(workload, owner);
		const existing = this.ownedBy(pods, namespace, metadataOf(owner).uid!);
		// A StatefulSet's pods have fixed names; the others' are any `count` of them.
		const keeps = (pod: KubeObject, index: number) => (workload.kind === 'StatefulSet' ? origins.some(origin => origin.name === metadataOf(pod).name) : index < origins.length);
		for (const pod of existing.filter((pod, index) => !keeps(pod, index))) this.store.remove(pods, namespace, metadataOf(pod).name!);
		const kept = existing.filter(keeps);
		const wanted = workload.kind === 'StatefulSet' ? origins.filter(origin => !kept.some(pod => metadataOf(pod).name === origin.name)) : origins.slice(kept.length);
		const state: PodState = firstState(failure);
		for (const origin of wanted) {
			const pod = this.create(pods, makePod(spec.template, origin, namespace, state, now), now);
			this.store.put(served('', 'events'), warningEvent(pod, state, now));
			if (failure === 'pull') this.add({ action: 'backOff', ref: { group: '', resource: 'pods', namespace, name: metadataOf(pod).name! }, due: Date.now() + this.options.rolloutDelayMs });
		}
		this.writeStatus(workloadType, workload, failingStatus(workload, kept.length + wanted.length, now));
	}

	/**
	 * Removes the pods the sandbox made for `workload` but those of `keep`'s current template
	 * (`keep`: its current owner, while it fails), and scales a Deployment's other ReplicaSets
	 * to 0, as a rollout leaves them. Only a workload that failed before has any.
	 */
	private removeFailedPods(workload: KubeObject, keep: KubeObject | undefined): void {
		if (!podMakingKinds.has(workload.kind)) return;
		const namespace = metadataOf(workload).namespace!;
		const pods = served('', 'pods');
		const owners = workload.kind === 'Deployment' ? this.ownedBy(served('apps', 'replicasets'), namespace, metadataOf(workload).uid!) : [workload];
		const hash = templateHash(asRecord(workload.spec)?.template);
		const current = (pod: KubeObject) => Object.values(metadataOf(pod).labels ?? {}).some(value => value === hash || value.endsWith(`-${hash}`));
		for (const owner of owners) {
			const stays = keep !== undefined && metadataOf(owner).uid === metadataOf(keep).uid;
			for (const pod of this.ownedBy(pods, namespace, metadataOf(owner).uid!)) if (!stays || !current(pod)) this.store.remove(pods, namespace, metadataOf(pod).name!);
			if (!stays && owner.kind === 'ReplicaSet') this.scale(owner, 0);
		}
	}

	/** Sets a ReplicaSet's replicas (as the deployment controller does), and its status to match. */
	private scale(replicaSet: KubeObject, replicas: number): KubeObject {
		if (asRecord(replicaSet.spec)?.replicas === replicas) return replicaSet;
		const scaled = copy(replicaSet);
		const generation = (metadataOf(replicaSet).generation ?? 1) + 1;
		metadataOf(scaled).generation = generation;
		scaled.spec = { ...(asRecord(replicaSet.spec) ?? {}), replicas };
		scaled.status = replicas > 0 ? { replicas, fullyLabeledReplicas: replicas, observedGeneration: generation } : { observedGeneration: generation };
		return this.store.put(served('apps', 'replicasets'), recordUpdate(replicaSet, scaled, { manager: controllerManager, time: timeNow() }));
	}

	/** The objects of `objectType` in `namespace` whose controller (owner) has `uid`. */
	private ownedBy(objectType: ResourceType, namespace: string, uid: string): KubeObject[] {
		return this.store.list(objectType, namespace).filter(object => ((metadataOf(object).ownerReferences ?? []) as Json[]).some(owner => asRecord(owner)?.uid === uid));
	}

	/** Stores a new object made by the controller manager. */
	private create(objectType: ResourceType, object: KubeObject, now: string): KubeObject {
		return this.store.put(objectType, recordUpdate(undefined, object, { manager: controllerManager, time: now }));
	}

	/** Binds a Pending claim: to the volume it names, else to a fitting Available one, else to a newly provisioned one. */
	private bind(claimType: ResourceType, claim: KubeObject): void {
		if (phaseOf(claim) !== 'Pending') return;
		const volumeType = findResourceType('', 'v1', 'persistentvolumes')!;
		const spec = asRecord(claim.spec) ?? {};
		const className = typeof spec.storageClassName === 'string' ? spec.storageClassName : '';
		const request = String(asRecord(asRecord(spec.resources)?.requests)?.storage ?? '1Gi');
		const accessModes = (spec.accessModes ?? ['ReadWriteOnce']) as string[];
		const claimMetadata = metadataOf(claim);
		let volume: KubeObject | undefined;
		if (typeof spec.volumeName === 'string' && spec.volumeName !== '') {
			volume = this.store.get(volumeType, undefined, spec.volumeName);
			if (!volume || (phaseOf(volume) !== 'Available' && !claimRefMatches(volume, claim))) return; // waits for the volume
		} else {
			volume = this.store
				.list(volumeType)
				.find(candidate => {
					const volumeSpec = asRecord(candidate.spec) ?? {};
					return (
						phaseOf(candidate) === 'Available' &&
						!asRecord(volumeSpec.claimRef) &&
						(volumeSpec.storageClassName ?? '') === className &&
						accessModes.every(mode => ((volumeSpec.accessModes ?? []) as string[]).includes(mode)) &&
						bytes(String(asRecord(volumeSpec.capacity)?.storage ?? '0')) >= bytes(request)
					);
				});
		}
		const claimRef = { kind: 'PersistentVolumeClaim', namespace: claimMetadata.namespace!, name: claimMetadata.name!, uid: claimMetadata.uid!, apiVersion: 'v1', resourceVersion: claimMetadata.resourceVersion! };
		let provisioned = false;
		if (!volume) {
			if (className === '' || !this.store.get(findResourceType('storage.k8s.io', 'v1', 'storageclasses')!, undefined, className)) return; // no class to provision from: stays Pending, as on a real cluster
			provisioned = true;
			volume = this.store.put(volumeType, {
				apiVersion: 'v1',
				kind: 'PersistentVolume',
				metadata: {
					name: `pvc-${claimMetadata.uid}`,
					uid: randomUUID(),
					creationTimestamp: new Date().toISOString(),
					annotations: { 'pv.kubernetes.io/provisioned-by': sandboxProvisioner },
					finalizers: ['kubernetes.io/pv-protection'],
				},
				spec: {
					capacity: { storage: request },
					accessModes,
					persistentVolumeReclaimPolicy: 'Delete',
					storageClassName: className,
					volumeMode: String(spec.volumeMode ?? 'Filesystem'),
					hostPath: { path: `/var/lib/nub-sandbox/pvc-${claimMetadata.uid}`, type: '' },
					claimRef,
				},
				status: { phase: 'Bound' },
			} as KubeObject);
		} else {
			// The controller sets the volume's claimRef, and says so, as the real one does.
			const claimed = copy(volume);
			metadataOf(claimed).annotations = { ...metadataOf(volume).annotations, 'pv.kubernetes.io/bound-by-controller': 'yes' };
			this.writeStatus(volumeType, claimed, { ...(asRecord(volume.status) ?? {}), phase: 'Bound' }, { ...(asRecord(volume.spec) ?? {}), claimRef });
		}
		const volumeName = metadataOf(volume).name!;
		const capacity = asRecord(asRecord(volume.spec)?.capacity) ?? { storage: request };
		const bound = copy(claim);
		metadataOf(bound).annotations = {
			...claimMetadata.annotations,
			'pv.kubernetes.io/bind-completed': 'yes',
			...(provisioned
				? { 'pv.kubernetes.io/bound-by-controller': 'yes', 'volume.beta.kubernetes.io/storage-provisioner': sandboxProvisioner, 'volume.kubernetes.io/storage-provisioner': sandboxProvisioner }
				: {}),
		};
		this.writeStatus(claimType, bound, { phase: 'Bound', accessModes, capacity }, { ...spec, volumeName });
	}

	/** A load balancer address not given to another Service, from 172.18.255.200 on (kind with MetalLB's usual pool). */
	private freeLoadBalancerIp(): string {
		const used = new Set(this.store.list(findResourceType('', 'v1', 'services')!).map(ingressOf));
		for (let host = 200; host < 255; host++) if (!used.has(`172.18.255.${host}`)) return `172.18.255.${host}`;
		throw new Error('the sandbox ran out of load balancer addresses');
	}
}

/** The first ingress IP (or hostname) of a Service, if it has one. */
function ingressOf(service: KubeObject): string | undefined {
	const ingress = asRecord((asRecord(asRecord(service.status)?.loadBalancer)?.ingress as Json[] | undefined)?.[0]);
	return (ingress?.ip ?? ingress?.hostname) as string | undefined;
}

function phaseOf(object: KubeObject): string | undefined {
	return asRecord(object.status)?.phase as string | undefined;
}

function claimRefMatches(volume: KubeObject, claim: KubeObject): boolean {
	const ref = asRecord(asRecord(volume.spec)?.claimRef);
	return ref?.name === metadataOf(claim).name && ref?.namespace === metadataOf(claim).namespace;
}

/**
 * A workload's status once all its replicas run the current generation: what the real
 * controllers report for one node. Zero counts are left out, as the real server omits them.
 */
function rolloutStatus(object: KubeObject, previous: Record<string, Json>): Json {
	const metadata = metadataOf(object);
	const spec = asRecord(object.spec) ?? {};
	const replicas = typeof spec.replicas === 'number' ? spec.replicas : 1;
	const hash = templateHash(spec.template);
	const counts = (fields: string[], value: number) => Object.fromEntries(value === 0 ? [] : fields.map(field => [field, value]));
	switch (object.kind) {
		case 'Deployment': {
			const now = new Date().toISOString();
			const conditions = (previous.conditions ?? []) as Json[];
			const since = (type: string) => (asRecord(conditions.find(condition => asRecord(condition)?.type === type))?.lastTransitionTime as string | undefined) ?? now;
			return {
				observedGeneration: metadata.generation!,
				...counts(['replicas', 'updatedReplicas', 'readyReplicas', 'availableReplicas'], replicas),
				conditions: [
					{ type: 'Available', status: 'True', lastUpdateTime: now, lastTransitionTime: since('Available'), reason: 'MinimumReplicasAvailable', message: 'Deployment has minimum availability.' },
					{ type: 'Progressing', status: 'True', lastUpdateTime: now, lastTransitionTime: since('Progressing'), reason: 'NewReplicaSetAvailable', message: `ReplicaSet "${metadata.name}-${hash}" has successfully progressed.` },
				],
			};
		}
		case 'StatefulSet':
			return {
				observedGeneration: metadata.generation!,
				...counts(['replicas', 'readyReplicas', 'currentReplicas', 'updatedReplicas', 'availableReplicas'], replicas),
				currentRevision: `${metadata.name}-${hash}`,
				updateRevision: `${metadata.name}-${hash}`,
				collisionCount: 0,
			};
		case 'DaemonSet':
			return {
				observedGeneration: metadata.generation!,
				currentNumberScheduled: 1,
				desiredNumberScheduled: 1,
				numberMisscheduled: 0,
				numberReady: 1,
				numberAvailable: 1,
				updatedNumberScheduled: 1,
			};
		default:
			return { observedGeneration: metadata.generation!, ...counts(['replicas', 'fullyLabeledReplicas', 'readyReplicas', 'availableReplicas'], replicas) };
	}
}

/** A storage quantity in bytes (`1Gi`, `500M`, `1e9`), enough to compare sizes. */
function bytes(quantity: string): number {
	const match = /^([0-9.e+]+)([KMGTPE]i?)?$/.exec(quantity.trim());
	if (!match) return 0;
	const powers = { K: 1, M: 2, G: 3, T: 4, P: 5, E: 6 } as const;
	const unit = match[2];
	const factor = unit ? (unit.endsWith('i') ? 1024 : 1000) ** powers[unit[0] as keyof typeof powers] : 1;
	return Number(match[1]) * factor;
}
