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
	/**
	 * Where nub keeps its state: `file` (default) in `.nub/` beside the Nubfile, one per working
	 * copy; `kubernetes` in the cluster itself, for a team: the state in a Secret and the run lock
	 * in a Lease, both in `stateNamespace`. The team then shares NUB_STATE_KEY (required).
	 */
	state?: 'file' | 'kubernetes';
	/** The namespace of the team state; default `nub-state`. */
	stateNamespace?: string;
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
	if (spec.state !== undefined && spec.state !== 'file' && spec.state !== 'kubernetes') {
		throw new Error(`cluster(): state must be 'file' or 'kubernetes', got ${JSON.stringify(spec.state)}`);
	}
	if (spec.stateNamespace !== undefined && !/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(spec.stateNamespace)) {
		throw new Error(`cluster(): stateNamespace must be a namespace name, got ${JSON.stringify(spec.stateNamespace)}`);
	}
	const made = Object.freeze({
		context: spec.context,
		...(spec.kubeconfig ? { kubeconfig: spec.kubeconfig } : {}),
		...(spec.state ? { state: spec.state } : {}),
		...(spec.stateNamespace ? { stateNamespace: spec.stateNamespace } : {}),
	}) as Cluster;
	declared.add(made);
	return made;
}

export function isCluster(value: unknown): value is Cluster {
	return typeof value === 'object' && value !== null && declared.has(value);
}
