import pRetry from 'p-retry';
import type { KubeConfig, KubernetesObject, KubernetesObjectApi } from '@kubernetes/client-node';
import { canonicalJson } from '../engine/json.ts';
import { fieldManager, ownedByNub, withManagedByLabel } from './field-manager.ts';
import { classifyClaim, classifyDeployment, classifyJob, classifyLoadBalancer, classifyPods, RolloutFailedError, type FailureDetail, type FirstSeen } from './classify.ts';
import { explainFailure } from './explain.ts';
import { explainError, KubeError, type Operation } from './errors.ts';
import { loadBalancerAddress } from './load-balancer.ts';
import { newestPods } from './newest-pods.ts';
import { applyStages, describeObject, type KubeObject, type ObjectSource } from './objects.ts';
import { validateObjects } from './validate.ts';
import { sleep, waitUntil, type Observation } from './wait.ts';

/** Which cluster: a context of a kubeconfig file (the default file when none is given). */
export interface ClusterTarget {
	context: string;
	kubeconfig?: string;
}

export interface KubeOptions {
	/** Attempts after the first for a call that failed transiently (5xx, 429, a reset). Default 6. */
	retries?: number;
	/** First pause before a retry, doubling each time (up to 5 s). Default 200 ms. */
	minRetryMs?: number;
	/** Told of every retry (the CLI counts them for the summary). */
	onRetry?: (message: string) => void;
}

/** Per call: the task's signal and log, and where its objects came from. */
export interface CallOptions {
	signal?: AbortSignal;
	log?: (line: string) => void;
	sourceOf?: (object: KubeObject) => ObjectSource | undefined;
	/** Told of each retry of this call (default: its log). */
	onRetry?: (message: string) => void;
}

/** What applying one object did. */
export interface ApplyResult {
	/** The object as the server has it after the apply. */
	object: KubeObject;
	/** `created`, `configured` (changed) or `unchanged` (the server kept its resourceVersion). */
	action: 'created' | 'configured' | 'unchanged';
}

/** A reference to one object. */
export type ObjectRef = Pick<KubeObject, 'apiVersion' | 'kind'> & { metadata: { name: string; namespace?: string } };

/** How a deletion treats what the object owns (Kubernetes' DeleteOptions.propagationPolicy). */
export interface DeleteOptions {
	propagationPolicy?: 'Foreground' | 'Background' | 'Orphan';
}

export interface WaitCall extends CallOptions {
	timeoutMs?: number;
}

/** A rollout wait's options: how long a crash loop may last before it is hopeless. */
export interface RolloutCall extends WaitCall {
	/** For a component that restarts until a peer is up. Default 0: the first CrashLoopBackOff ends the wait. */
	crashGraceMs?: number;
}

/** Label and field selectors of a list (`app=hub`, `involvedObject.name=hub-7d9f`). */
export interface Selectors {
	label?: string;
	field?: string;
}

export { fieldManager } from './field-manager.ts';

/**
 * A connection to one cluster through @kubernetes/client-node (imported when the first connection
 * is made, so a run that connects to no cluster never loads it). Every call retries what is transient with backoff and
 * honours Retry-After, and throws a KubeError that says what to do otherwise.
 */
export class Kube {
	private constructor(
		private readonly api: KubernetesObjectApi & { uriPath(spec: KubernetesObject, action: 'list'): Promise<string> },
		private readonly config: KubeConfig,
		/** The API server's URL. */
		readonly server: string,
		/** The kubeconfig context in use. */
		readonly context: string,
		private readonly options: KubeOptions,
	) {}

	static async connect(target: ClusterTarget, options: KubeOptions = {}): Promise<Kube> {
		const { KubeConfig, KubernetesObjectApi } = await import('./client-node.ts');
		/** The client's object API, with the URL of a kind's collection (for watches) made public. */
		class ObjectApi extends KubernetesObjectApi {
			uriPath(spec: KubernetesObject, action: 'list'): Promise<string> {
				return this.specUriPath(spec, action);
			}
		}
		const config = new KubeConfig();
		const file = target.kubeconfig ?? 'the default kubeconfig';
		try {
			if (target.kubeconfig) config.loadFromFile(target.kubeconfig);
			else config.loadFromDefault();
		} catch (error) {
			throw new KubeError(`cannot read ${file}: ${(error as Error).message}`, undefined, false, undefined, { cause: error, reason: 'config' });
		}
		if (!config.getContextObject(target.context)) {
			const known = config.getContexts().map(context => `"${context.name}"`);
			throw new KubeError(`${file} has no context "${target.context}" (it has ${known.length > 0 ? known.join(', ') : 'none'})`, undefined, false, undefined, { reason: 'config' });
		}
		config.setCurrentContext(target.context);
		const server = config.getCurrentCluster()?.server;
		if (!server) throw new KubeError(`context "${target.context}" in ${file} names no cluster with a server`, undefined, false, undefined, { reason: 'config' });
		return new Kube(config.makeApiClient(ObjectApi), config, server, target.context, options);
	}

	/**
	 * Applies the objects with server-side apply (field manager `nub`), in stages (namespaces first,
	 * workloads last: see applyStages), each stage's objects at once. Every
	 * object is checked against its kind's schema before the first request: an invalid one stops
	 * the apply with nothing sent. Applying the same objects again changes nothing.
	 */
	async apply(objects: readonly KubeObject[], call: CallOptions = {}): Promise<ApplyResult[]> {
		await validateObjects(objects, call.sourceOf);
		const results = new Map<KubeObject, ApplyResult>();
		// A stage's objects at once (a task's fifteen objects in the time of one), the stages in turn.
		for (const stage of applyStages(objects)) {
			await Promise.all(
				stage.map(async object => {
					const before = await this.read(object, call);
					const applied = await this.call({ verb: 'apply', object }, call, () =>
						this.api.patch(withManagedByLabel(object) as KubernetesObject, undefined, undefined, fieldManager, true, 'application/apply-patch+yaml'),
					);
					const after = plain(applied);
					// Unchanged when the server kept the object as it was: its resourceVersion, or (a controller
					// may have written its status meanwhile) everything but status and bookkeeping.
					const same = before !== undefined && (resourceVersionOf(before) === resourceVersionOf(after) || canonicalJson(content(before)) === canonicalJson(content(after)));
					const action = before === undefined ? 'created' : same ? 'unchanged' : 'configured';
					call.log?.(`${describeObject(object)} ${action}`);
					results.set(object, { object: after, action });
				}),
			);
		}
		return objects.map(object => results.get(object)!);
	}

	/**
	 * What applying the object would make of it: server-side apply as `apply` sends it, with
	 * `dryRun=All`, so the server admits, defaults and validates it and stores nothing.
	 */
	async dryRunApply(object: KubeObject, call: CallOptions = {}): Promise<KubeObject> {
		return plain(
			await this.call({ verb: 'dry-run apply', object }, call, () =>
				this.api.patch(withManagedByLabel(object) as KubernetesObject, undefined, 'All', fieldManager, true, 'application/apply-patch+yaml'),
			),
		);
	}

	/** The object as the server has it, or undefined when there is none. */
	async read(ref: ObjectRef, call: CallOptions = {}): Promise<KubeObject | undefined> {
		try {
			return plain(await this.call({ verb: 'read', object: ref }, call, () => this.api.read(header(ref))));
		} catch (error) {
			if (error instanceof KubeError && error.reason === 'not-found') return undefined;
			throw error;
		}
	}

	/** The objects of a kind, in one namespace or (cluster-scoped, or none given) all of them. */
	async list(apiVersion: string, kind: string, namespace: string | undefined, call: CallOptions = {}, selectors: Selectors = {}): Promise<KubeObject[]> {
		const operation = { verb: 'list', object: { apiVersion, kind, metadata: { name: `(every ${kind})`, ...(namespace ? { namespace } : {}) } } };
		try {
			const list = await this.call(operation, call, () => this.api.list(apiVersion, kind, namespace, undefined, undefined, undefined, selectors.field, selectors.label));
			// Items of a list carry no apiVersion and kind (the list says them once): put them back.
			return ((plain(list) as unknown as { items?: KubeObject[] }).items ?? []).map(item => ({ ...item, apiVersion, kind }));
		} catch (error) {
			// A namespace that is gone holds nothing.
			if (error instanceof KubeError && error.reason === 'not-found') return [];
			throw error;
		}
	}

	/**
	 * The same LIST for every caller: checks, which all run before anything is applied, share one
	 * request per kind and namespace instead of one GET per object.
	 */
	snapshot(apiVersion: string, kind: string, namespace: string | undefined, call: CallOptions = {}): Promise<KubeObject[]> {
		const key = `${apiVersion}/${kind}/${namespace ?? ''}`;
		let listed = this.snapshots.get(key);
		if (!listed) {
			listed = this.list(apiVersion, kind, namespace, call);
			listed.catch(() => this.snapshots.delete(key));
			this.snapshots.set(key, listed);
		}
		return listed;
	}

	private readonly snapshots = new Map<string, Promise<KubeObject[]>>();

	/**
	 * Creates the object (POST): a 409 AlreadyExists KubeError when it exists. For what must not be
	 * merged into an existing object, like taking a lock.
	 */
	async create(object: KubeObject, call: CallOptions = {}): Promise<KubeObject> {
		return plain(await this.call({ verb: 'create', object }, call, () => this.api.create(object as KubernetesObject)));
	}

	/**
	 * Replaces the object (PUT). With `metadata.resourceVersion` set, the server refuses with 409
	 * Conflict when the object changed since that version was read: a compare-and-swap.
	 */
	async replace(object: KubeObject, call: CallOptions = {}): Promise<KubeObject> {
		return plain(await this.call({ verb: 'replace', object }, call, () => this.api.replace(object as KubernetesObject)));
	}

	/** Deletes the object; false when it was not there. */
	async delete(ref: ObjectRef, call: CallOptions = {}): Promise<boolean> {
		try {
			await this.call({ verb: 'delete', object: ref }, call, () => this.api.delete(header(ref) as KubernetesObject));
			call.log?.(`${describeObject(ref)} deleted`);
			return true;
		} catch (error) {
			if (error instanceof KubeError && error.reason === 'not-found') return false;
			throw error;
		}
	}

	/**
	 * Deletes an object nub manages (destroy and prune), with a propagation policy: `Foreground`
	 * keeps it (being deleted) until what it owns is gone, so a Deployment is gone only once its
	 * pods are. False when it was not there. Refuses, with a `not-managed` KubeError, an object
	 * whose live managedFields do not name nub's field manager (`ownedByNub`): the state saying
	 * nub made it is not enough. The deletion is conditional on the uid read, so an object made
	 * anew under the name meanwhile is not deleted either.
	 */
	async deleteWith(ref: ObjectRef, options: DeleteOptions, call: CallOptions = {}): Promise<boolean> {
		const live = await this.read(ref, call);
		if (!live) return false;
		if (!ownedByNub(live)) {
			throw new KubeError(`${describeObject(ref)} is not managed by nub (no field manager "${fieldManager}" in its managedFields): not deleted; delete it yourself if it is to go`, undefined, false, undefined, { reason: 'not-managed' });
		}
		const uid = (live.metadata as { uid?: string }).uid;
		try {
			await this.call({ verb: 'delete', object: ref }, call, () =>
				this.api.delete(header(ref) as KubernetesObject, undefined, undefined, undefined, undefined, options.propagationPolicy, uid ? { preconditions: { uid } } : undefined),
			);
			call.log?.(`${describeObject(ref)} deleted`);
			return true;
		} catch (error) {
			if (error instanceof KubeError && error.reason === 'not-found') return false;
			throw error;
		}
	}

	/** Waits until the object is gone (reads until 404): a deletion with finalizers or dependents takes a while. */
	async waitForGone(ref: ObjectRef, call: WaitCall = {}): Promise<void> {
		await this.waitFor(ref, `${describeObject(ref)} to be gone`, 300_000, call, object => {
			if (!object) return { value: true, seen: 'gone' };
			const deleting = (object.metadata as { deletionTimestamp?: string }).deletionTimestamp;
			const finalizers = (object.metadata as { finalizers?: string[] }).finalizers ?? [];
			return { seen: deleting ? `being deleted${finalizers.length > 0 ? ` (finalizers: ${finalizers.join(', ')})` : ''}` : 'still there' };
		});
	}

	/** Waits for a Service's ClusterIP and returns it. */
	waitForClusterIp(namespace: string, name: string, call: WaitCall = {}): Promise<string> {
		const ref = { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace } };
		return this.waitFor(ref, `Service ${namespace}/${name} to get a ClusterIP`, 60_000, call, service => {
			if (!service) return { seen: 'no such Service yet' };
			const ip = (service.spec as { clusterIP?: string } | undefined)?.clusterIP;
			return ip && ip !== 'None' ? { value: ip, seen: ip } : { seen: 'no ClusterIP yet' };
		});
	}

	/**
	 * Waits for a LoadBalancer Service's external address (IP, or hostname) and returns it, checked
	 * (see loadBalancerAddress): one that is neither an IP address nor a DNS name ends the wait
	 * with a LoadBalancerAddressError.
	 */
	waitForLoadBalancer(namespace: string, name: string, call: WaitCall = {}): Promise<string> {
		const ref = { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace } };
		const object = `Service ${namespace}/${name}`;
		const firstSeen: FirstSeen = new Map();
		// The watch sees the Service, not the service controller's events: look again at least every 2 s.
		return this.waitFor(ref, `${object} to get an external address`, 300_000, call, async service => {
			if (!service) return { seen: 'no such Service yet' };
			const found = loadBalancerAddress(service);
			const address = found?.ip ?? found?.hostname;
			if (address) return { value: address, seen: address };
			const events = await this.listToJudge('v1', 'Event', namespace, call, { field: `involvedObject.kind=Service,involvedObject.name=${name}` });
			const hopeless = classifyLoadBalancer(object, events, firstSeen, Date.now());
			if (hopeless) throw failed(hopeless);
			return { seen: 'status.loadBalancer.ingress is empty' };
		}, 2000);
	}

	/**
	 * Waits for a Job to complete (condition Complete). A Job marked Failed, or whose pods are
	 * hopeless as a rollout's are (an image that cannot be pulled, a crash loop past `crashGraceMs`),
	 * ends the wait at once with a RolloutFailedError.
	 */
	async waitForJob(namespace: string, name: string, call: RolloutCall = {}): Promise<void> {
		const ref = { apiVersion: 'batch/v1', kind: 'Job', metadata: { name, namespace } };
		const object = `Job ${namespace}/${name}`;
		const firstSeen: FirstSeen = new Map();
		await this.waitFor(ref, `${object} to complete`, 600_000, call, async job => {
			if (!job) return { seen: 'no such Job yet' };
			const status = (job.status ?? {}) as { succeeded?: number; active?: number; conditions?: Array<{ type: string; status: string }> };
			if (status.conditions?.some(condition => condition.type === 'Complete' && condition.status === 'True')) return { value: true, seen: 'complete' };
			const stopped = classifyJob(object, job);
			if (stopped) throw failed(stopped);
			// The Job's pods carry its uid (batch.kubernetes.io/controller-uid, as the controller labels them).
			const uid = (job.metadata as { uid?: string }).uid;
			const pods = uid ? await this.listToJudge('v1', 'Pod', namespace, call, { label: `batch.kubernetes.io/controller-uid=${uid}` }) : [];
			const verdict = classifyPods(object, pods, firstSeen, Date.now(), { crashGraceMs: call.crashGraceMs ?? 0 });
			if (verdict.hopeless) throw failed(await this.withLogLines(namespace, verdict.hopeless));
			const seen = `${status.succeeded ?? 0} succeeded, ${status.active ?? 0} active`;
			return { seen: verdict.progress ? `${seen}; ${verdict.progress}` : seen };
		}, 2000);
	}

	/**
	 * Waits until a PersistentVolumeClaim is bound to a volume. A pending claim whose binder or
	 * provisioner keeps warning (ProvisioningFailed, FailedBinding) past a short grace ends the wait
	 * with a RolloutFailedError (`claim-unbound`) naming the event.
	 */
	async waitForBound(namespace: string, name: string, call: WaitCall = {}): Promise<void> {
		const ref = { apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name, namespace } };
		const object = `PersistentVolumeClaim ${namespace}/${name}`;
		const firstSeen: FirstSeen = new Map();
		// The watch sees the claim, not its events: look again at least every 2 s.
		await this.waitFor(ref, `${object} to be bound`, 120_000, call, async claim => {
			if (!claim) return { seen: 'no such claim yet' };
			const phase = (claim.status as { phase?: string } | undefined)?.phase ?? 'no phase yet';
			if (phase === 'Bound') return { value: true, seen: phase };
			const events = await this.listToJudge('v1', 'Event', namespace, call, { field: `involvedObject.kind=PersistentVolumeClaim,involvedObject.name=${name}` });
			const hopeless = classifyClaim(object, events, firstSeen, Date.now());
			if (hopeless) throw failed(hopeless);
			return { seen: phase };
		}, 2000);
	}

	/**
	 * Waits for a Deployment, DaemonSet or StatefulSet to roll out: the controller has seen the
	 * latest spec (observedGeneration) and every replica is updated and available. Each look also
	 * classifies the pods of the newest revision (see classify.ts): a hopeless one (an image that
	 * cannot be pulled, a crash loop past `crashGraceMs`, a missing Secret key, no node for it) ends
	 * the wait at once with a RolloutFailedError; otherwise the progress line names a pod and its state.
	 */
	async waitForRollout(kind: 'Deployment' | 'DaemonSet' | 'StatefulSet', namespace: string, name: string, call: RolloutCall = {}): Promise<void> {
		const ref = { apiVersion: 'apps/v1', kind, metadata: { name, namespace } };
		const object = `${kind} ${namespace}/${name}`;
		const firstSeen: FirstSeen = new Map();
		await this.waitFor(
			ref,
			`${object} to roll out`,
			600_000,
			call,
			async workload => {
				if (!workload) return { seen: `no such ${kind} yet` };
				const progress = rollout(kind, workload);
				if (progress.done) return { value: true, seen: progress.seen };
				const stalled = kind === 'Deployment' ? classifyDeployment(object, workload) : undefined;
				if (stalled) throw failed(stalled);
				const pods = await newestPods(kind, workload, (apiVersion, listed, namespace, selectors) => this.listToJudge(apiVersion, listed, namespace, call, selectors));
				const verdict = classifyPods(object, pods, firstSeen, Date.now(), { crashGraceMs: call.crashGraceMs ?? 0 });
				if (verdict.hopeless) throw failed(await this.withLogLines(namespace, verdict.hopeless));
				return { seen: verdict.progress ? `${progress.seen}; ${verdict.progress}` : progress.seen };
			},
			// The watch sees the workload, not its pods: look again at least every 2 s.
			2000,
		);
	}

	/**
	 * A list that a wait judges by, beside the object it waits for: a kind the cluster does not serve
	 * (a sandbox without ControllerRevisions) or may not be listed gives nothing to judge, and the
	 * wait goes on as it would without it.
	 */
	private async listToJudge(apiVersion: string, kind: string, namespace: string | undefined, call: CallOptions, selectors: Selectors): Promise<KubeObject[]> {
		try {
			return await this.list(apiVersion, kind, namespace, call, selectors);
		} catch (error) {
			if (error instanceof KubeError && (error.reason === 'unknown-kind' || error.reason === 'forbidden')) return [];
			throw error;
		}
	}

	/** For a crash: the detail with the last lines of the container's previous run added to its message. */
	private async withLogLines(namespace: string, detail: FailureDetail): Promise<FailureDetail> {
		if ((detail.case !== 'crash-loop' && detail.case !== 'oom') || !detail.pod || !detail.container) return detail;
		return { ...detail, message: `${detail.message}; ${await this.lastLogLines(namespace, detail.pod, detail.container)}` };
	}

	/** The last lines of a container's previous run, as `last log lines: ...`, or says the API serves none. */
	private async lastLogLines(namespace: string, pod: string, container: string): Promise<string> {
		try {
			const { CoreV1Api } = await import('./client-node.ts');
			const log = await this.config.makeApiClient(CoreV1Api).readNamespacedPodLog({ name: pod, namespace, container, previous: true, tailLines: 5 });
			const lines = String(log ?? '').trim();
			return lines ? `last log lines: ${lines.split('\n').join(' | ')}` : 'the container logged nothing';
		} catch {
			return 'the API serves no log for it';
		}
	}

	/**
	 * Reads the object and judges it until the judge returns a value, looking again when the object
	 * changes (a watch) or after at most `lookEveryMs`. The judge may throw to end the wait.
	 */
	private waitFor<T>(
		ref: ObjectRef,
		what: string,
		defaultTimeoutMs: number,
		call: WaitCall,
		judge: (object: KubeObject | undefined) => Observation<T> | Promise<Observation<T>>,
		lookEveryMs = Number.POSITIVE_INFINITY,
	): Promise<T> {
		let seen: KubeObject | undefined;
		return waitUntil(
			async () => {
				seen = await this.read(ref, call);
				return judge(seen);
			},
			{
				what,
				timeoutMs: call.timeoutMs ?? defaultTimeoutMs,
				signal: call.signal,
				progress: call.log,
				// A watch from the version just read: the next look comes as soon as the object
				// changes, as `kubectl rollout status` sees it, instead of after a pause.
				change: maxMs => this.nextChange(ref, (seen?.metadata as { resourceVersion?: string } | undefined)?.resourceVersion, Math.min(maxMs, lookEveryMs), call),
			},
		);
	}

	/**
	 * Resolves at the first change of the object after `resourceVersion` (a watch event), when the
	 * watch ends, or after `maxMs`. A watch refused for a transient reason counts as a retry, as
	 * any call's would, and resolves after a short pause (the next look reads again).
	 */
	private async nextChange(ref: ObjectRef, resourceVersion: string | undefined, maxMs: number, call: CallOptions): Promise<void> {
		call.signal?.throwIfAborted();
		const { Watch } = await import('./client-node.ts');
		const path = await this.api.uriPath({ apiVersion: ref.apiVersion, kind: ref.kind, metadata: { ...(ref.metadata.namespace ? { namespace: ref.metadata.namespace } : {}) } }, 'list');
		const timeoutSeconds = Math.max(1, Math.min(60, Math.ceil(maxMs / 1000)));
		let stop: AbortController | undefined;
		let timer: NodeJS.Timeout | undefined;
		let onAbort: (() => void) | undefined;
		const failure = await new Promise<unknown>((resolve, reject) => {
			const end = (error?: unknown) => {
				clearTimeout(timer);
				if (onAbort) call.signal?.removeEventListener('abort', onAbort);
				stop?.abort();
				resolve(error);
			};
			timer = setTimeout(() => end(), maxMs);
			onAbort = () => {
				clearTimeout(timer);
				stop?.abort();
				reject(call.signal!.reason);
			};
			call.signal?.addEventListener('abort', onAbort, { once: true });
			new Watch(this.config)
				.watch(
					path,
					{ fieldSelector: `metadata.name=${ref.metadata.name}`, timeoutSeconds, allowWatchBookmarks: false, ...(resourceVersion ? { resourceVersion } : {}) },
					type => {
						if (type !== 'BOOKMARK') end();
					},
					error => end(error ?? undefined),
				)
				.then(controller => {
					stop = controller;
				}, end);
		});
		if (failure === undefined || failure === null) return;
		// The watch reports an HTTP failure as an Error with statusCode (the other calls: code).
		const status = (failure as { statusCode?: number }).statusCode;
		const error = explainError(status ? Object.assign(new Error(String((failure as Error).message)), { code: status }) : failure, { verb: 'watch', object: ref, server: this.server, context: this.context });
		if (!error.retryable) return;
		const message = `${error.message}; watching again`;
		(call.onRetry ?? call.log)?.(message);
		this.options.onRetry?.(message);
		await sleep(error.retryAfterMs ?? this.options.minRetryMs ?? 200, call.signal);
	}

	/** One API call, retried while the failure is transient; failures explained. */
	private call<T>(operation: Omit<Operation, 'server' | 'context'>, call: CallOptions, request: () => Promise<T>): Promise<T> {
		const full: Operation = { ...operation, server: this.server, context: this.context };
		return pRetry(
			async () => {
				try {
					return await request();
				} catch (error) {
					throw explainError(error, full);
				}
			},
			{
				retries: this.options.retries ?? 6,
				minTimeout: this.options.minRetryMs ?? 200,
				maxTimeout: 5000,
				factor: 2,
				randomize: true,
				...(call.signal ? { signal: call.signal } : {}),
				shouldRetry: ({ error }) => error instanceof KubeError && error.retryable,
				onFailedAttempt: async ({ error, attemptNumber, retriesLeft }) => {
					if (!(error instanceof KubeError) || !error.retryable || retriesLeft <= 0) return;
					const message = `${error.message}; retrying (attempt ${attemptNumber + 1})`;
					(call.onRetry ?? call.log)?.(message);
					this.options.onRetry?.(message);
					if (error.retryAfterMs !== undefined) await sleep(error.retryAfterMs, call.signal);
				},
			},
		);
	}
}

/** Where a rollout stands: done, and what was seen, like `kubectl rollout status` says it. */
export function rollout(kind: string, object: KubeObject): { done: boolean; seen: string } {
	const generation = (object.metadata as { generation?: number }).generation ?? 0;
	const status = (object.status ?? {}) as Record<string, number | undefined>;
	if ((status.observedGeneration ?? 0) < generation) return { done: false, seen: 'the controller has not seen the latest spec yet' };
	if (kind === 'DaemonSet') {
		const desired = status.desiredNumberScheduled ?? 0;
		const updated = status.updatedNumberScheduled ?? 0;
		const available = status.numberAvailable ?? 0;
		return { done: desired > 0 && updated >= desired && available >= desired, seen: `${updated}/${desired} updated, ${available}/${desired} available` };
	}
	const wanted = ((object.spec as { replicas?: number } | undefined)?.replicas ?? 1) as number;
	const updated = status.updatedReplicas ?? 0;
	const available = kind === 'StatefulSet' ? (status.readyReplicas ?? 0) : (status.availableReplicas ?? 0);
	const total = status.replicas ?? 0;
	const done = updated >= wanted && available >= wanted && total <= wanted;
	return { done, seen: `${updated}/${wanted} updated, ${available}/${wanted} available${total > wanted ? `, ${total - wanted} old still running` : ''}` };
}

function header(ref: ObjectRef): { apiVersion: string; kind: string; metadata: { name: string; namespace?: string } } {
	return { apiVersion: ref.apiVersion, kind: ref.kind, metadata: { name: ref.metadata.name, ...(ref.metadata.namespace ? { namespace: ref.metadata.namespace } : {}) } };
}

/** The client hands back model classes with Date fields: nub keeps plain JSON. */
function plain(object: unknown): KubeObject {
	return JSON.parse(JSON.stringify(object)) as KubeObject;
}

/** The object without what changes when nothing is applied: status and the server's bookkeeping. */
function content(object: KubeObject): unknown {
	const { status: _status, ...rest } = object;
	const { resourceVersion: _version, managedFields: _fields, generation: _generation, ...metadata } = object.metadata as Record<string, unknown>;
	return { ...rest, metadata };
}

function resourceVersionOf(object: KubeObject): string | undefined {
	return (object.metadata as { resourceVersion?: string }).resourceVersion;
}

/** A hopeless wait's error, with what to do about it as far as the cluster alone tells (see explain.ts). */
function failed(detail: FailureDetail): RolloutFailedError {
	return new RolloutFailedError(explainFailure(detail));
}
