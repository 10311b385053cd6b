import { mkdirSync, readFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { writeAside } from '../files/write-aside.ts';
import { NubError } from '../engine/errors.ts';
import { printable } from '../engine/printable.ts';
import type { LockHolder } from '../engine/lock.ts';
import type { Kube } from '../k8s/client.ts';
import { KubeError } from '../k8s/errors.ts';
import type { KubeObject } from '../k8s/objects.ts';

/**
 * Team state (`cluster({ context, state: 'kubernetes' })`): the run lock is a Lease in the cluster
 * and the state a Secret beside it, so operators on several machines share one state and cannot
 * run at once. The run itself still uses the file store in `.nub/`: the Secret is downloaded
 * over it once the lease is held, and the file uploaded after every record and at the end.
 */

export const defaultStateNamespace = 'nub-state';
const leaseName = 'nub-lock';
const secretName = 'nub-state';
const secretKey = 'state.jsonl';
/** A Secret holds 1 MiB; what goes past this is refused before the server does it less clearly. */
export const maxStateBytes = 900_000;

/**
 * The lease's duration: 20 s, or NUB_LEASE_SECONDS (tests shorten it to watch a crashed holder's
 * lease expire). It is renewed four times per duration.
 */
export function leaseSeconds(env: Readonly<Record<string, string | undefined>>): number {
	const given = env.NUB_LEASE_SECONDS;
	if (given === undefined || given === '') return 20;
	const seconds = Number(given);
	if (!Number.isInteger(seconds) || seconds < 1) throw new NubError('usage', `NUB_LEASE_SECONDS must be a whole number of seconds, at least 1, got "${given}"`);
	return seconds;
}

interface LeaseSpec {
	holderIdentity?: string;
	leaseDurationSeconds?: number;
	acquireTime?: string;
	renewTime?: string;
}

const leaseRef = (namespace: string) => ({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: leaseName, namespace } });
const secretRef = (namespace: string) => ({ apiVersion: 'v1', kind: 'Secret', metadata: { name: secretName, namespace } });

function specOf(lease: KubeObject): LeaseSpec {
	return (lease.spec ?? {}) as LeaseSpec;
}

/** When the lease lapses by itself (its holder stopped renewing), in ms since the epoch. */
function expiresAt(lease: KubeObject): number {
	const spec = specOf(lease);
	const renewed = Date.parse(spec.renewTime ?? spec.acquireTime ?? '');
	return (Number.isNaN(renewed) ? 0 : renewed) + (spec.leaseDurationSeconds ?? 0) * 1000;
}

function describeHolder(lease: KubeObject, namespace: string, now = Date.now()): string {
	const spec = specOf(lease);
	const renewed = Date.parse(spec.renewTime ?? spec.acquireTime ?? '');
	const ago = Number.isNaN(renewed) ? 'never renewed' : `renewed ${Math.max(0, Math.round((now - renewed) / 1000))} s ago`;
	// The Lease is anyone's who may write it in the cluster: its holder is shown escaped.
	return `${spec.holderIdentity === undefined ? 'an unknown holder' : printable(String(spec.holderIdentity))} holds the state lock (Lease ${namespace}/${leaseName}, ${ago})`;
}

function isConflict(error: unknown): boolean {
	return error instanceof KubeError && error.reason === 'conflict';
}

function leaseObject(namespace: string, holder: string, seconds: number, acquired: Date, resourceVersion?: string): KubeObject {
	return {
		...leaseRef(namespace),
		metadata: { ...leaseRef(namespace).metadata, ...(resourceVersion ? { resourceVersion } : {}) },
		spec: { holderIdentity: holder, leaseDurationSeconds: seconds, acquireTime: microTime(acquired), renewTime: microTime(new Date()) },
	};
}

/**
 * A Lease's times are MicroTime: RFC 3339 with exactly six digits of fractions. The API server
 * refuses JavaScript's three (`.764Z`) with a 400; the sandbox took them, a real one does not.
 */
export function microTime(date: Date): string {
	return date.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

export interface TeamStateOptions {
	kube: Kube;
	namespace: string;
	holder: LockHolder;
	seconds: number;
	/** The state folder (`.nub/`): its state.jsonl is replaced by the cluster's. */
	stateDir: string;
	/** Told of upload retries and renewal trouble (stderr). */
	warn: (line: string) => void;
}

/** The held team lock and the state's upload; `close` uploads the last state and releases. */
export interface TeamState {
	/** Aborted when the lease was lost (someone else took it): the run must stop. */
	readonly lost: AbortSignal;
	/** Uploads the state file, coalesced: call after every record. */
	upload(): void;
	/** Waits for the last upload (throws a `state` NubError when it failed) and releases the lease. */
	close(): Promise<void>;
	/** Releases the lease without uploading (the run did not get going). */
	release(): Promise<void>;
}

/**
 * Takes the lease (or throws a `locked` NubError naming its holder), keeps renewing it, and
 * downloads the cluster's state into `.nub/state.jsonl`.
 */
export async function acquireTeamState(options: TeamStateOptions): Promise<TeamState> {
	const { kube, namespace, seconds } = options;
	const holder = `${options.holder.pid}@${options.holder.host} started ${options.holder.started} (${options.holder.command})`;
	await kube.apply([{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } }]);
	const acquired = new Date();
	let lease = await takeLease(kube, namespace, holder, seconds, acquired);
	const lost = new AbortController();
	let lastRenewed = Date.now();
	let renewing: Promise<void> = Promise.resolve();
	const renew = async () => {
		try {
			lease = await kube.replace(leaseObject(namespace, holder, seconds, acquired, resourceVersionOf(lease)));
			lastRenewed = Date.now();
		} catch (error) {
			if (isConflict(error)) {
				const now = await kube.read(leaseRef(namespace)).catch(() => undefined);
				lost.abort(new NubError('lock', `lost the state lock: ${now ? describeHolder(now, namespace) : `Lease ${namespace}/${leaseName} was deleted`}; this run stopped`));
				return;
			}
			options.warn(`nub: could not renew the state lock: ${(error as Error).message}`);
			// Past its duration the lease may be someone else's: stop rather than run on unlocked.
			if (Date.now() - lastRenewed > seconds * 1000) lost.abort(new NubError('lock', `lost the state lock: not renewed for ${seconds} s; this run stopped`));
		}
	};
	const timer = setInterval(() => {
		if (!lost.signal.aborted) renewing = renewing.then(renew);
	}, (seconds * 1000) / 4);
	timer.unref();
	const stop = async () => {
		clearInterval(timer);
		await renewing;
	};
	const release = async () => {
		await stop();
		if (lost.signal.aborted) return;
		// Only if still ours: a lease taken over meanwhile is someone else's to release.
		const current = await kube.read(leaseRef(namespace)).catch(() => undefined);
		if (current && specOf(current).holderIdentity === holder) await kube.delete(leaseRef(namespace)).catch(() => false);
	};
	try {
		await download(kube, namespace, options.stateDir);
	} catch (error) {
		await release();
		throw error;
	}
	const uploader = coalescedUploader(kube, namespace, join(options.stateDir, 'state.jsonl'), options.warn);
	// The local copy may be newer than the cluster's (first use of team state): upload it now.
	uploader.upload();
	return {
		lost: lost.signal,
		// Once the lease is lost the state is someone else's to write.
		upload: () => {
			if (!lost.signal.aborted) uploader.upload();
		},
		release: async () => {
			await uploader.uploaded().catch(() => undefined);
			await release();
		},
		close: async () => {
			try {
				if (!lost.signal.aborted) uploader.upload();
				await uploader.uploaded();
			} finally {
				await release();
			}
		},
	};
}

async function takeLease(kube: Kube, namespace: string, holder: string, seconds: number, acquired: Date): Promise<KubeObject> {
	try {
		return await kube.create(leaseObject(namespace, holder, seconds, acquired));
	} catch (error) {
		if (!isConflict(error)) throw error;
	}
	const existing = await kube.read(leaseRef(namespace));
	if (!existing) return takeLease(kube, namespace, holder, seconds, acquired); // released meanwhile
	if (expiresAt(existing) > Date.now()) throw lockedBy(existing, namespace);
	// Expired: its holder stopped renewing (crashed). Take it over as a compare-and-swap on its
	// resourceVersion: of two runs doing this at once, one gets 409 and is refused.
	try {
		return await kube.replace(leaseObject(namespace, holder, seconds, acquired, resourceVersionOf(existing)));
	} catch (error) {
		if (!isConflict(error)) throw error;
		const now = await kube.read(leaseRef(namespace));
		throw now ? lockedBy(now, namespace) : new NubError('lock', `the state lock Lease ${namespace}/${leaseName} changed while taking it over; try again`);
	}
}

function lockedBy(lease: KubeObject, namespace: string) {
	return new NubError('lock', `locked: ${describeHolder(lease, namespace)}; nub unlock removes it if that run is gone`);
}

function resourceVersionOf(object: KubeObject): string | undefined {
	return (object.metadata as { resourceVersion?: string }).resourceVersion;
}

/** The state kept in the cluster (the JSONL log), or undefined when there is none yet. */
export async function readTeamState(kube: Kube, namespace: string): Promise<Buffer | undefined> {
	const secret = await kube.read(secretRef(namespace));
	const encoded = (secret?.data as Record<string, string> | undefined)?.[secretKey];
	return encoded === undefined ? undefined : Buffer.from(encoded, 'base64');
}

/** Replaces the local state with the cluster's; with none in the cluster, the local one stays. */
async function download(kube: Kube, namespace: string, stateDir: string) {
	const text = await readTeamState(kube, namespace);
	if (text === undefined) return;
	mkdirSync(stateDir, { recursive: true, mode: 0o700 });
	chmodSync(stateDir, 0o700);
	writeAside(join(stateDir, 'state.jsonl'), text, { mode: 0o600 });
}

/**
 * At most one upload in flight; a request meanwhile marks the file dirty and the latest content
 * goes up when the one in flight ends. A failed upload is retried (the client already retries
 * what is transient) a few times before `uploaded` reports it.
 */
function coalescedUploader(kube: Kube, namespace: string, file: string, warn: (line: string) => void) {
	let inFlight: Promise<void> | undefined;
	let dirty = false;
	let failure: Error | undefined;
	const once = async () => {
		let text: Buffer;
		try {
			text = readFileSync(file);
		} catch (error) {
			if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
			throw error;
		}
		if (text.length > maxStateBytes) {
			throw new NubError('state', `the state (${text.length} bytes) is past what the Secret ${namespace}/${secretName} can hold (${maxStateBytes} bytes): it was not uploaded`);
		}
		const secret = { ...secretRef(namespace), type: 'Opaque', data: { [secretKey]: text.toString('base64') } } as KubeObject;
		for (let attempt = 1; ; attempt++) {
			try {
				await kube.apply([secret]);
				failure = undefined;
				return;
			} catch (error) {
				if (attempt >= 3) throw error;
				warn(`nub: uploading the state to Secret ${namespace}/${secretName} failed: ${(error as Error).message}; retrying`);
			}
		}
	};
	const loop = async () => {
		while (dirty) {
			dirty = false;
			try {
				await once();
			} catch (error) {
				failure = error as Error;
				warn(`nub: uploading the state to Secret ${namespace}/${secretName} failed: ${failure.message}`);
			}
		}
		inFlight = undefined;
	};
	return {
		upload: () => {
			dirty = true;
			inFlight ??= loop();
		},
		uploaded: async () => {
			while (inFlight) await inFlight;
			if (failure) throw failure instanceof NubError ? failure : new NubError('state', `the state could not be uploaded to Secret ${namespace}/${secretName}: ${failure.message}`, { cause: failure });
		},
	};
}

/**
 * `nub unlock`: removes the lease when its holder stopped renewing it (a run that is gone and
 * whose lease has not lapsed yet, or one with a long duration); refuses while it is renewed.
 */
export async function unlockTeamState(kube: Kube, namespace: string): Promise<string> {
	const lease = await kube.read(leaseRef(namespace));
	if (!lease) return `no state lock held (no Lease ${namespace}/${leaseName})`;
	if (expiresAt(lease) > Date.now()) {
		throw new NubError('lock', `not unlocked: ${describeHolder(lease, namespace)} and it is being renewed: that run is alive`);
	}
	// Compare-and-swap again: delete only the lease as read, not one retaken meanwhile.
	const current = await kube.read(leaseRef(namespace));
	if (current && resourceVersionOf(current) !== resourceVersionOf(lease)) throw lockedBy(current, namespace);
	await kube.delete(leaseRef(namespace));
	return `removed the stale state lock: ${describeHolder(lease, namespace).replace(' holds the state lock', ' held it')}`;
}
