import type { ExecutionContext } from 'ava';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { auditEvents, builtNubkube, mutatingRequests, startControlPlane, type AuditEvent, type ControlPlane } from '../../cluster/control-plane.ts';
import { Kube } from '../../lib/k8s/client.ts';

/** A real control plane for one test file, and what its tests use of it. */
export interface RealCluster extends ControlPlane {
	/** A client as nub's operator (the context nub deploys with). */
	kube: Kube;
	/** A client in system:masters, for what a test does behind nub's back. */
	admin: Kube;
	/** Runs the kubectl of the same release, as admin; resolves with its output, rejects on failure. */
	kubectl(...args: string[]): Promise<string>;
	/** The audit log's requests so far. */
	audit(): AuditEvent[];
	/** The requests by nub's user that changed the cluster since `since` (an index into audit()). */
	mutationsSince(since: number): AuditEvent[];
	/** The arguments that point nub at this cluster. */
	nubArgs: string[];
	/** Stops it and removes its folder. */
	close(): Promise<void>;
}

export interface RealClusterOptions {
	podReadyDelayMs?: number;
	loadBalancerDelayMs?: number;
	nodes?: number;
}

/** A real cluster stopped when the test ends (in a hook: startRealCluster, and close it after). */
export async function realCluster(t: ExecutionContext, options: RealClusterOptions = {}): Promise<RealCluster> {
	const cluster = await startRealCluster(options);
	t.teardown(() => cluster.close());
	return cluster;
}

/**
 * Starts nub's test control plane (cluster/nubkube: etcd, kube-apiserver, kube-controller-manager,
 * kube-scheduler, kwok) in a temporary folder, with quick pods (100 ms to Ready) and LoadBalancer
 * addresses (200 ms). It must have been built: the README's test command builds it first. It
 * ends with this process however it ends.
 */
export async function startRealCluster(options: RealClusterOptions = {}): Promise<RealCluster> {
	const build = builtNubkube();
	if (!build) throw new Error('the test control plane is not built: npm run cluster -- build (the README\'s test command does it)');
	const dir = mkdtempSync(join(tmpdir(), 'nub-kube-'));
	let plane: ControlPlane;
	try {
		plane = await startControlPlane({ dir, build, podReadyDelayMs: options.podReadyDelayMs ?? 100, loadBalancerDelayMs: options.loadBalancerDelayMs ?? 200, ...(options.nodes ? { nodes: options.nodes } : {}) });
	} catch (error) {
		rmSync(dir, { recursive: true, force: true });
		throw error;
	}
	const kube = await Kube.connect({ kubeconfig: plane.kubeconfig, context: plane.context });
	const admin = await Kube.connect({ kubeconfig: plane.kubeconfig, context: plane.adminContext });
	const kubectl = (...args: string[]) =>
		new Promise<string>((resolve, reject) => {
			execFile(build.kubectl, ['--kubeconfig', plane.kubeconfig, '--context', plane.adminContext, ...args], { maxBuffer: 1 << 24 }, (error, stdout, stderr) =>
				error ? reject(new Error(`kubectl ${args.join(' ')}: ${stderr || error.message}`)) : resolve(stdout),
			);
		});
	const audit = () => auditEvents(plane.auditLog);
	return {
		...plane,
		kube,
		admin,
		kubectl,
		audit,
		mutationsSince: since => mutatingRequests(audit().slice(since), plane.operatorUser),
		nubArgs: ['--kubeconfig', plane.kubeconfig, '--context', plane.context],
		close: async () => {
			await plane.stop();
			rmSync(dir, { recursive: true, force: true });
		},
	};
}
