import type { TaskContext } from '../engine/task.ts';
import { RolloutFailedError } from './classify.ts';
import type { ApplyResult, Kube, ObjectRef, RolloutCall } from './client.ts';
import { explainFailure, type ExplainContext } from './explain.ts';
import { describeObject, type KubeObject } from './objects.ts';
import { sourceOf } from './sources.ts';

/** What the CLI adds to a task's context: the run's cluster, connected on first use. */
export interface KubeAccess {
	kube(): Promise<Kube>;
}

/**
 * A wait that judges what it sees (classify.ts): its timeout, and what the task knows beyond what
 * it applied through this client, for what to do when the wait is hopeless (explain.ts).
 */
export interface JudgedWait {
	timeoutMs?: number;
	explain?: Pick<ExplainContext, 'madeBy' | 'fieldOf'>;
}

/** The cluster as one task sees it: every call carries the task's signal and logs to its log. */
export interface TaskKube {
	/** The API server's URL and context, for messages. */
	readonly server: string;
	readonly context: string;
	apply(objects: readonly KubeObject[]): Promise<ApplyResult[]>;
	read(ref: ObjectRef): Promise<KubeObject | undefined>;
	/** The objects of a kind in a namespace (or cluster-wide), listed once per run for every caller. */
	snapshot(apiVersion: string, kind: string, namespace?: string): Promise<KubeObject[]>;
	/** The objects of a kind as they are now (not the run's shared snapshot). */
	list(apiVersion: string, kind: string, namespace?: string): Promise<KubeObject[]>;
	delete(ref: ObjectRef): Promise<boolean>;
	/** Waits until the object is gone (a deletion that finalizers or dependents hold). */
	waitForGone(ref: ObjectRef, options?: { timeoutMs?: number }): Promise<void>;
	waitForClusterIp(namespace: string, name: string, options?: { timeoutMs?: number }): Promise<string>;
	waitForLoadBalancer(namespace: string, name: string, options?: JudgedWait): Promise<string>;
	/** Ends early with a RolloutFailedError when the newest pods cannot become ready (see classify.ts); `crashGraceMs` lets a crash loop last that long first. */
	waitForRollout(kind: 'Deployment' | 'DaemonSet' | 'StatefulSet', namespace: string, name: string, options?: JudgedWait & { crashGraceMs?: number }): Promise<void>;
	waitForBound(namespace: string, name: string, options?: JudgedWait): Promise<void>;
	/** Waits for a Job to complete; ends early with a RolloutFailedError when it failed or its pods cannot run. */
	waitForJob(namespace: string, name: string, options?: JudgedWait & { crashGraceMs?: number }): Promise<void>;
}

/** The run's cluster client itself, which `kube()` wraps: for code that reports its own calls (the undo of an apply task). */
export async function kubeClient(context: TaskContext): Promise<Kube> {
	const access = (context as TaskContext & Partial<KubeAccess>).kube;
	if (typeof access !== 'function') {
		throw new Error(`task "${context.name}" needs a cluster, and none was given to it (the CLI gives one; in-process runs pass extendContext)`);
	}
	return access();
}

/**
 * The cluster for a task, so that the task reads as: render, apply, wait, return.
 *
 *     run: async ({ nfsIp }, context) => {
 *       const cluster = await kube(context);
 *       await cluster.apply(objects);
 *       return cluster.waitForClusterIp('nublado', 'fileserver');
 *     }
 */
export async function kube(context: TaskContext): Promise<TaskKube> {
	const client = await kubeClient(context);
	const call = (options: { timeoutMs?: number; crashGraceMs?: number } = {}): RolloutCall => ({
		...options,
		signal: context.signal,
		log: line => context.log.info(line),
		onRetry: message => context.retried(message),
		sourceOf,
	});
	// What this task applied, and what each apply did: a hopeless wait notes a change of this run.
	const applied: ApplyResult[] = [];
	const files = new Map<string, string>();
	const explained = async <T>(wait: (call: RolloutCall) => Promise<T>, options: JudgedWait & { crashGraceMs?: number } = {}): Promise<T> => {
		const { explain, ...rest } = options;
		try {
			return await wait(call(rest));
		} catch (error) {
			throw error instanceof RolloutFailedError ? new RolloutFailedError(explainFailure(error.detail, { ...explain, applied, fileOf: object => files.get(object) })) : error;
		}
	};
	return {
		server: client.server,
		context: client.context,
		apply: async objects => {
			const results = await client.apply(objects, call());
			applied.push(...results);
			for (const object of objects) {
				const file = sourceOf(object)?.file;
				if (file) files.set(describeObject(object), file);
			}
			return results;
		},
		read: ref => client.read(ref, call()),
		snapshot: (apiVersion, kind, namespace) => client.snapshot(apiVersion, kind, namespace, call()),
		list: (apiVersion, kind, namespace) => client.list(apiVersion, kind, namespace, call()),
		delete: ref => client.delete(ref, call()),
		waitForGone: (ref, options) => client.waitForGone(ref, call(options)),
		waitForClusterIp: (namespace, name, options) => client.waitForClusterIp(namespace, name, call(options)),
		waitForLoadBalancer: (namespace, name, options) => explained(wait => client.waitForLoadBalancer(namespace, name, wait), options),
		waitForRollout: (kind, namespace, name, options) => explained(wait => client.waitForRollout(kind, namespace, name, wait), options),
		waitForBound: (namespace, name, options) => explained(wait => client.waitForBound(namespace, name, wait), options),
		waitForJob: (namespace, name, options) => explained(wait => client.waitForJob(namespace, name, wait), options),
	};
}
