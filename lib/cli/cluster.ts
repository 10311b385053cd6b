import { join, relative } from 'node:path';
import type { ClusterTarget, Kube } from '../k8s/client.ts';
import type { Output } from '../reporters/reporter.ts';

/** Which cluster a run talks to, and where the sandbox lives when it is the one. */
export interface ClusterChoice {
	/** A named context (from --context, or the Nubfile's cluster()); none means the sandbox. */
	target?: ClusterTarget;
	/** The project's folder: the sandbox is kept in .nub/sandbox/ there. */
	root: string;
	cwd: string;
	stderr: Output;
	onRetry?: (message: string) => void;
}

/** The run's cluster, connected on first use and closed at the end of the run. */
export interface ClusterConnection {
	kube(): Promise<Kube>;
	close(): Promise<void>;
}

/**
 * Connects lazily: a run whose tasks are all cached never loads the Kubernetes client nor starts
 * the sandbox. With no context named, it uses a sandbox already serving this project (`nub
 * sandbox serve`) or starts one in this process, and says so in one line.
 */
export function clusterConnection(choice: ClusterChoice): ClusterConnection {
	let connecting: Promise<Kube> | undefined;
	let stop: (() => Promise<void>) | undefined;
	const connect = async (): Promise<Kube> => {
		// Loaded when a task first connects: a cached run that checks nothing never loads it.
		const { Kube } = await import('../k8s/client.ts');
		const options = { ...(choice.onRetry ? { onRetry: choice.onRetry } : {}) };
		if (choice.target) return Kube.connect(choice.target, options);
		const dir = sandboxDir(choice.root);
		const { findRunningSandbox, startSandbox } = await import('../sandbox/index.ts');
		const running = findRunningSandbox(dir);
		let kubeconfig: string;
		if (running) {
			kubeconfig = running.kubeconfigPath;
			choice.stderr.write(`nub: no cluster named: using the sandbox served by pid ${running.pid} at ${running.url}\n`);
		} else {
			const sandbox = await startSandbox({ dir });
			stop = () => sandbox.close();
			kubeconfig = sandbox.kubeconfigPath;
			choice.stderr.write(`nub: no cluster named: using the embedded sandbox (kubectl --kubeconfig ${relative(choice.cwd, kubeconfig) || kubeconfig})\n`);
		}
		return Kube.connect({ kubeconfig, context: 'nub-sandbox' }, options);
	};
	return {
		kube: () => (connecting ??= connect()),
		close: async () => {
			await connecting?.catch(() => undefined);
			await stop?.();
		},
	};
}

/** Where a project's sandbox keeps its cluster, credentials and kubeconfig. */
export function sandboxDir(root: string): string {
	return join(root, '.nub', 'sandbox');
}
