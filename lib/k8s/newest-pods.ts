import { canonicalJson } from '../engine/json.ts';
import type { KubeObject } from './objects.ts';

/** Lists the objects of a kind in a namespace that match a label selector (`app=hub,pod-template-hash=7d9f`). */
export type List = (apiVersion: string, kind: string, namespace: string | undefined, selectors: { label: string }) => Promise<KubeObject[]>;

/**
 * The pods of a workload's newest revision: for a Deployment, those of its newest ReplicaSet (by
 * pod-template-hash); for a StatefulSet, those of its updateRevision; for a DaemonSet, those of
 * its newest ControllerRevision (both by controller-revision-hash).
 */
export async function newestPods(kind: string, workload: KubeObject, list: List): Promise<KubeObject[]> {
	const namespace = (workload.metadata as { namespace?: string }).namespace;
	const uid = (workload.metadata as { uid?: string }).uid;
	const matchLabels = (workload.spec as { selector?: { matchLabels?: Record<string, string> } } | undefined)?.selector?.matchLabels ?? {};
	const label = Object.entries(matchLabels)
		.map(([key, value]) => `${key}=${value}`)
		.join(',');
	const owned = (object: KubeObject) => ((object.metadata as { ownerReferences?: Array<{ uid?: string }> }).ownerReferences ?? []).some(owner => owner.uid === uid);
	const revisionLabel = (revision: string, hash: string) => (label ? `${label},${revision}=${hash}` : `${revision}=${hash}`);
	let selector: string | undefined;
	if (kind === 'Deployment') {
		// The newest ReplicaSet is the one made from the Deployment's template, as the controller finds it:
		// the same template but for the pod-template-hash label. None yet: no pod of this revision to judge.
		const template = canonicalJson((workload.spec as { template?: unknown } | undefined)?.template ?? null);
		const sets = (await list('apps/v1', 'ReplicaSet', namespace, { label })).filter(owned);
		const newest = sets.find(set => canonicalJson(withoutHash((set.spec as { template?: unknown } | undefined)?.template)) === template);
		const hash = (newest?.metadata as { labels?: Record<string, string> } | undefined)?.labels?.['pod-template-hash'];
		if (!hash) return [];
		selector = revisionLabel('pod-template-hash', hash);
	} else if (kind === 'StatefulSet') {
		const update = (workload.status as { updateRevision?: string } | undefined)?.updateRevision;
		if (!update) return [];
		selector = revisionLabel('controller-revision-hash', update);
	} else {
		const revisions = (await list('apps/v1', 'ControllerRevision', namespace, { label })).filter(owned);
		const newest = revisions.sort((a, b) => Number((b as { revision?: number }).revision ?? 0) - Number((a as { revision?: number }).revision ?? 0))[0];
		const hash = (newest?.metadata as { labels?: Record<string, string> } | undefined)?.labels?.['controller-revision-hash'];
		if (!hash) return [];
		selector = revisionLabel('controller-revision-hash', hash);
	}
	const pods = await list('v1', 'Pod', namespace, { label: selector });
	return pods.sort((a, b) => String((a.metadata as { name?: string }).name).localeCompare(String((b.metadata as { name?: string }).name)));
}

/** A ReplicaSet's pod template as its Deployment has it: without the pod-template-hash label. */
function withoutHash(template: unknown): unknown {
	const metadata = (template as { metadata?: { labels?: Record<string, string> } } | undefined)?.metadata;
	if (!metadata?.labels) return template ?? null;
	const { 'pod-template-hash': _hash, ...labels } = metadata.labels;
	return { ...(template as object), metadata: { ...metadata, labels } };
}
