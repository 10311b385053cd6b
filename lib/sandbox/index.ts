/**
 * The sandbox: nub's embedded Kubernetes API server for newcomers, demos and tests, on
 * https://127.0.0.1 with its own CA and tokens. kubectl and @kubernetes/client-node talk to it
 * as to a cluster, for the operations a deployment uses; its state lives in one folder, so a
 * restarted sandbox resumes the same cluster.
 *
 *   <dir>/ca.crt ca.key server.crt server.key tokens.json   made once, kept (0600)
 *   <dir>/kubeconfig                                          rewritten at each start (port)
 *   <dir>/state.json                                          objects, resourceVersion, pending changes
 *   <dir>/server.pid server.json                              while a server runs
 */
import { mkdirSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { Controllers } from './behaviour.ts';
import { loadOrMakeCredentials } from './credentials.ts';
import { FaultInjector, type FaultOptions } from './faults.ts';
import { writeKubeconfig } from './kubeconfig.ts';
import { findRunningSandbox, lockSandboxDir } from './lock.ts';
import { seedCluster } from './seed.ts';
import { RequestLog } from './request-log.ts';
import { createSandboxServer } from './server.ts';
import { removeState, Store } from './store.ts';

export type { FaultKind, FaultOptions } from './faults.ts';
export { RequestLog, requestLogCapacity, type RequestRecord } from './request-log.ts';
export type { RunningSandbox } from './lock.ts';
export { findRunningSandbox } from './lock.ts';

/** Options of startSandbox. */
export interface SandboxOptions {
	/** The state folder, e.g. `<project>/.nub/sandbox`; created 0700. */
	dir: string;
	/** Default: a free port. */
	port?: number;
	/** How long a LoadBalancer Service waits for its ingress IP; default 1500. */
	loadBalancerDelayMs?: number;
	/** How long after a spec change a workload reports its rollout done, and a claim gets bound; default 1000. */
	rolloutDelayMs?: number;
	/** Faults to inject from the start; see setFaults. */
	faults?: FaultOptions;
	/** How many requests `requests` keeps, the last ones; default `requestLogCapacity` (10,000). */
	keptRequests?: number;
}

/** A running sandbox. */
export interface Sandbox {
	/** `https://127.0.0.1:<port>`. */
	url: string;
	/** The kubeconfig with the admin (current) and viewer contexts. */
	kubeconfigPath: string;
	/** The CA certificate clients must trust. */
	caPem: string;
	/**
	 * The requests, in arrival order, with their status and injected fault: the last 10,000
	 * (`requestLogCapacity`), addressed by absolute index (see request-log.ts).
	 */
	requests: RequestLog;
	/** Replaces the injected faults (a seed restarts their sequence). */
	setFaults(faults: FaultOptions): void;
	/** Stops serving, ends watches and releases the folder; pending status changes stay for the next start. */
	close(): Promise<void>;
}

/** Stores of the sandboxes running in this process, by folder, so resetSandbox can empty a live one. */
const runningStores = new Map<string, Store>();

/** Starts a sandbox on `options.dir`; throws if another live one serves that folder. */
export async function startSandbox(options: SandboxOptions): Promise<Sandbox> {
	mkdirSync(options.dir, { recursive: true, mode: 0o700 });
	const lock = lockSandboxDir(options.dir);
	try {
		const credentials = loadOrMakeCredentials(options.dir);
		const store = new Store(options.dir);
		if (store.empty) seedCluster(store);
		const controllers = new Controllers(store, { loadBalancerDelayMs: options.loadBalancerDelayMs ?? 1500, rolloutDelayMs: options.rolloutDelayMs ?? 1000 });
		const faults = new FaultInjector(options.faults);
		const requests = new RequestLog(options.keptRequests);
		const { server, stopWatches } = createSandboxServer({ credentials, store, controllers, faults, requests });
		await new Promise<void>((resolve, reject) => {
			server.once('error', reject);
			server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
		});
		const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
		const kubeconfigPath = writeKubeconfig(options.dir, url, credentials);
		lock.advertise(url, kubeconfigPath);
		controllers.start();
		runningStores.set(options.dir, store);
		let closed: Promise<void> | undefined;
		return {
			url,
			kubeconfigPath,
			caPem: credentials.caPem,
			requests,
			setFaults: next => faults.set(next),
			close: () =>
				(closed ??= new Promise<void>(resolve => {
					controllers.stop();
					stopWatches();
					runningStores.delete(options.dir);
					server.close(() => resolve());
					server.closeAllConnections();
				}).finally(() => lock.release())),
		};
	} catch (error) {
		lock.release();
		throw error;
	}
}

/**
 * Empties the cluster of `dir` (objects and pending changes) and leaves it as new; the CA, tokens
 * and kubeconfig stay valid. A sandbox running in this process is emptied live; one running in
 * another process must be stopped first.
 */
export async function resetSandbox(dir: string): Promise<void> {
	const live = runningStores.get(dir);
	if (live) {
		live.clear();
		seedCluster(live);
		return;
	}
	const other = findRunningSandbox(dir);
	if (other) throw new Error(`a sandbox (pid ${other.pid}) is running on ${dir}; stop it before resetting`);
	removeState(dir);
}
