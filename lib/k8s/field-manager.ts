import type { KubeObject } from './objects.ts';

/** The field manager nub applies as: `kubectl get -o yaml --show-managed-fields` shows it. */
export const fieldManager = 'nub';

/**
 * Whether nub manages the live object: one of its `metadata.managedFields` entries names nub's
 * field manager (every object nub applies gets one). Destroy and prune delete only such objects:
 * a record in the state, however authentic, only says what nub made once; the cluster says
 * whether the object there now is still nub's (not one made by hand, or by someone else under
 * the same name).
 */
export function ownedByNub(live: KubeObject): boolean {
	const entries = (live.metadata as { managedFields?: unknown } | undefined)?.managedFields;
	if (!Array.isArray(entries)) return false;
	return entries.some(entry => typeof entry === 'object' && entry !== null && (entry as { manager?: unknown }).manager === fieldManager);
}

/** The label nub puts on every object it applies (Kubernetes' recommended `managed-by`). */
export const managedByLabel = 'app.kubernetes.io/managed-by';

/**
 * The object to apply, with nub's `managed-by` label: a field nub's apply always owns, so every
 * object nub applies keeps an entry of nub's in its managedFields. (The API server drops an entry
 * that owns no field: a bare ServiceAccount or Namespace applied as it is would carry none, and
 * nothing would tell it from one made by hand.)
 */
export function withManagedByLabel(object: KubeObject): KubeObject {
	const labels = (object.metadata as { labels?: Record<string, string> }).labels;
	if (labels?.[managedByLabel] === fieldManager) return object;
	return { ...object, metadata: { ...object.metadata, labels: { ...labels, [managedByLabel]: fieldManager } } };
}
