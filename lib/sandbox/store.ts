/**
 * The cluster's objects, the global resourceVersion counter and the pending status changes, kept
 * in memory and written to `<dir>/state.json` after every write (temporary file, then rename, so
 * a killed process leaves either the old state or the new one, never half of it).
 *
 *   write ──> object gets the next resourceVersion ──> state.json ──> watchers get the event
 */
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { writeAside } from '../files/write-aside.ts';
import type { KubeObject } from './patch.ts';
import { copy, metadataOf } from './object.ts';
import type { ResourceType } from './resources.ts';

/** Where an object lives: its type, namespace (cluster-scoped: undefined) and name. */
export interface ObjectRef {
	group: string;
	resource: string;
	namespace?: string;
	name: string;
}

/** A status change the simulated controllers owe an object, due at a wall-clock time. */
export interface PendingChange {
	/**
	 * `loadBalancer`: a LoadBalancer Service gets its ingress IP;
	 * `rollout`: a workload reports its `generation` rolled out;
	 * `bind`: a PersistentVolumeClaim gets bound;
	 * `available`: a new PersistentVolume leaves Pending (the PV controller's first look at it);
	 * `release`: a volume whose claim was deleted is Released, or deleted by its Delete policy;
	 * `backOff`: a pod whose image cannot be pulled goes from ErrImagePull to ImagePullBackOff.
	 */
	action: 'loadBalancer' | 'rollout' | 'bind' | 'available' | 'release' | 'backOff';
	ref: ObjectRef;
	/** Epoch milliseconds. Wall-clock, so a change survives a restart and finishes after it. */
	due: number;
	/** For `rollout`: the generation the change reports (a later spec change supersedes it). */
	generation?: number;
}

/** A change to one object, as a watch reports it. */
export interface StoreEvent {
	type: 'ADDED' | 'MODIFIED' | 'DELETED';
	resourceType: ResourceType;
	object: KubeObject;
	/** The global resourceVersion after the change. */
	resourceVersion: number;
}

interface StateFile {
	resourceVersion: number;
	objects: Array<{ group: string; resource: string; object: KubeObject }>;
	pending: PendingChange[];
}

/** How many past events a watch can resume from; older resourceVersions get 410 Gone. */
const historySize = 1000;

/** The state of one sandbox cluster. */
export class Store {
	private readonly objects = new Map<string, { group: string; resource: string; object: KubeObject }>();
	private readonly listeners = new Set<(event: StoreEvent) => void>();
	private readonly history: StoreEvent[] = [];
	private counter = 0;
	/** Status changes not yet made; behaviour.ts adds and completes them. */
	pending: PendingChange[] = [];

	/** Loads `<dir>/state.json` if there is one. */
	constructor(private readonly dir: string) {
		let state: StateFile | undefined;
		try {
			state = JSON.parse(readFileSync(statePath(dir), 'utf8')) as StateFile;
		} catch (error) {
			if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
		}
		if (!state) return;
		this.counter = state.resourceVersion;
		this.pending = state.pending;
		for (const entry of state.objects) this.objects.set(keyOf({ ...entry, ...refParts(entry.object) }), entry);
	}

	/** The last resourceVersion handed out. */
	get resourceVersion(): number {
		return this.counter;
	}

	/** Whether the store holds no objects (a fresh or reset cluster). */
	get empty(): boolean {
		return this.objects.size === 0;
	}

	/** A copy of one object, or undefined. */
	get(type: ResourceType, namespace: string | undefined, name: string): KubeObject | undefined {
		const entry = this.objects.get(keyOf({ group: type.group, resource: type.resource, namespace, name }));
		return entry && copy(entry.object);
	}

	/** Copies of the objects of a type, in one namespace or all, ordered by namespace then name (etcd key order). */
	list(type: ResourceType, namespace?: string): KubeObject[] {
		const prefix = `${type.group}/${type.resource}/`;
		const keys = [...this.objects.keys()].filter(key => key.startsWith(prefix) && (namespace === undefined || key.startsWith(`${prefix}${namespace}/`)));
		return keys.sort().map(key => copy(this.objects.get(key)!.object));
	}

	/**
	 * Stores an object (new or replacing one) with the next resourceVersion, saves the state and
	 * tells watchers. Returns the stored copy.
	 */
	put(type: ResourceType, object: KubeObject): KubeObject {
		const metadata = metadataOf(object);
		const key = keyOf({ group: type.group, resource: type.resource, namespace: metadata.namespace, name: metadata.name! });
		const existed = this.objects.has(key);
		metadata.resourceVersion = String(++this.counter);
		const stored = copy(object);
		this.objects.set(key, { group: type.group, resource: type.resource, object: stored });
		this.save();
		this.emit({ type: existed ? 'MODIFIED' : 'ADDED', resourceType: type, object: copy(stored), resourceVersion: this.counter });
		return copy(stored);
	}

	/** Removes an object, saves and tells watchers; returns what was removed, with the deletion's resourceVersion. */
	remove(type: ResourceType, namespace: string | undefined, name: string): KubeObject | undefined {
		const key = keyOf({ group: type.group, resource: type.resource, namespace, name });
		const entry = this.objects.get(key);
		if (!entry) return undefined;
		this.objects.delete(key);
		this.pending = this.pending.filter(change => keyOf(change.ref) !== key);
		const object = copy(entry.object);
		metadataOf(object).resourceVersion = String(++this.counter);
		this.save();
		this.emit({ type: 'DELETED', resourceType: type, object: copy(object), resourceVersion: this.counter });
		return object;
	}

	/** Saves after a change to `pending` alone. */
	savePending(): void {
		this.save();
	}

	/** Empties the cluster; the resourceVersion counter keeps counting, so watchers never see it go back. */
	clear(): void {
		this.objects.clear();
		this.pending = [];
		this.history.length = 0;
		this.save();
	}

	/** Calls `listener` with every change from now on; returns the unsubscribe function. */
	subscribe(listener: (event: StoreEvent) => void): () => void {
		this.listeners.add(listener);
		return () => this.listeners.delete(listener);
	}

	/**
	 * The remembered events after `resourceVersion`, or undefined when that version is older than
	 * the history (the watch must then restart from a list: 410 Gone).
	 */
	eventsSince(resourceVersion: number): StoreEvent[] | undefined {
		// Every increment of the counter is an event, so the history is complete from its first entry.
		const oldest = this.history[0]?.resourceVersion ?? this.counter + 1;
		if (resourceVersion < oldest - 1) return undefined;
		return this.history.filter(event => event.resourceVersion > resourceVersion);
	}

	private emit(event: StoreEvent): void {
		this.history.push(event);
		if (this.history.length > historySize) this.history.shift();
		for (const listener of this.listeners) listener(event);
	}

	private save(): void {
		const state: StateFile = { resourceVersion: this.counter, objects: [...this.objects.values()], pending: this.pending };
		writeAside(statePath(this.dir), JSON.stringify(state), { mode: 0o600 });
	}
}

/** Deletes the saved objects of a stopped sandbox. */
export function removeState(dir: string): void {
	rmSync(statePath(dir), { force: true });
}

function statePath(dir: string): string {
	return join(dir, 'state.json');
}

function refParts(object: KubeObject): { namespace?: string; name: string } {
	const metadata = metadataOf(object);
	return { namespace: metadata.namespace, name: metadata.name! };
}

/** The map key of an object: `group/resource/namespace/name` (namespace empty when cluster-scoped). */
export function keyOf(ref: ObjectRef): string {
	return `${ref.group}/${ref.resource}/${ref.namespace ?? ''}/${ref.name}`;
}
