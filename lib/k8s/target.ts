/**
 * The cluster a Nubfile deploys to, declared by exporting one:
 *
 *     export const target = cluster({ context: 'gke_lsst_us-central1_nublado' });
 *
 * nub never deploys to whatever context happens to be current: a context is named here or with
 * `--context`, and with neither, nub uses its embedded sandbox.
 */
export interface ClusterSpec {
	/** The kubeconfig context. */
	context: string;
	/** The kubeconfig file; default `KUBECONFIG` or ~/.kube/config. */
	kubeconfig?: string;
}

/** A declared cluster: what `cluster()` returns. */
export interface Cluster extends Readonly<ClusterSpec> {
	readonly [brand]: true;
}

declare const brand: unique symbol;
const declared = new WeakSet<object>();

/** Declares the cluster to deploy to; export the result from the Nubfile. */
export function cluster(spec: ClusterSpec): Cluster {
	if (typeof spec?.context !== 'string' || spec.context.trim() === '') {
		throw new Error('cluster(): context must name a kubeconfig context');
	}
	const made = Object.freeze({ context: spec.context, ...(spec.kubeconfig ? { kubeconfig: spec.kubeconfig } : {}) }) as Cluster;
	declared.add(made);
	return made;
}

export function isCluster(value: unknown): value is Cluster {
	return typeof value === 'object' && value !== null && declared.has(value);
}
