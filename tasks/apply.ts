/**
 * The deployment's building block: a task that renders templates (and builds objects in code),
 * applies them with server-side apply, waits for what must be ready, and returns what it applied.
 *
 *     const keepalive = applyTask({
 *       name: 'keepalive',
 *       needs: { nfsIp: nfsServiceIp },
 *       templates: ['keepalive/deployment.yaml'],
 *       values: ({ nfsIp }) => ({ NAMESPACE: namespace, NFS_SERVER_IP: nfsIp }),
 *       preview: { nfsIp: '10.96.0.10' },
 *       rollouts: [{ kind: 'Deployment', name: 'keepalive' }],
 *     });
 *
 * Before anything of a run is applied, every apply task's templates are rendered (with `preview`
 * standing in for what its needs will give) and checked against the Kubernetes schemas: a missing
 * value or a wrong type stops the run with nothing applied.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { kube, task, type KubeObject, type Needs, type OutputsOf, type Task, type TaskContext, type TaskKube } from 'nub';
import { envName } from '../lib/config/nublado.ts';
import { knownAfterApply, type ObjectDiff } from '../lib/engine/changes.ts';
import type { Json } from '../lib/engine/json.ts';
import { withUndo } from '../lib/engine/undo.ts';
import { orphansOf, undoApplied, type Applied } from '../lib/k8s/applied.ts';
import { diffObjects } from '../lib/k8s/diff.ts';
import { driftOf } from '../lib/k8s/drift.ts';
import { describeObject } from '../lib/k8s/objects.ts';
import { kubeClient } from '../lib/k8s/task-helpers.ts';
import { sourceOf } from '../lib/k8s/sources.ts';
import { validateObjects } from '../lib/k8s/validate.ts';
import { renderTemplate, type TemplateValue } from '../lib/render/template.ts';

// What an apply task records is lib/k8s's: destroy, prune and the checks read it from there.
export type { Applied, AppliedObject } from '../lib/k8s/applied.ts';
export { orphansOf } from '../lib/k8s/applied.ts';

/** A Deployment, DaemonSet or StatefulSet to wait for after the apply. */
export interface Rollout {
	kind: 'Deployment' | 'DaemonSet' | 'StatefulSet';
	name: string;
	namespace: string;
	/** How long its pods may crash-loop before the wait gives up (a component that restarts until a peer is up). Default 0. */
	crashGraceMs?: number;
}

export interface ApplySpec<N extends Needs> {
	name: string;
	description?: string;
	group?: string;
	needs?: N;
	/** Templates under templates/, rendered with `values`. */
	templates?: readonly string[];
	values?: (inputs: OutputsOf<N>) => Record<string, TemplateValue | undefined>;
	/** Render every template once per entry, its values over `values` (the six NFS exports). */
	each?: ReadonlyArray<Record<string, TemplateValue>>;
	/**
	 * The nublado.yaml field that sets a template value (`{ HUB_IMAGE: 'hub.image' }`): a failed
	 * rollout that the value explains (an image that cannot be pulled) names the field to change.
	 */
	fields?: Readonly<Record<string, string>>;
	/** Stand-ins for the needs' outputs, to render the templates before the run. */
	preview?: Partial<OutputsOf<N>>;
	/** Objects built in code (Secrets from values, ConfigMaps from folders), applied with the rest. */
	objects?: (inputs: OutputsOf<N>, root: string) => KubeObject[];
	/** More inputs of the cache key: folders the objects are built from, configuration. */
	files?: readonly string[];
	config?: Json;
	rollouts?: readonly Rollout[];
	/** PersistentVolumeClaims waited for, after the apply, until bound to their volumes. */
	claims?: ReadonlyArray<{ namespace: string; name: string }>;
	/**
	 * How long the waits for `rollouts` and `claims` may take together (nublado.yaml's `timeouts`);
	 * unset, each wait has the client's 10 minutes. Not in the cache key: a longer wait changes nothing applied.
	 */
	timeoutMs?: number;
	/**
	 * Runs before the apply, with the objects about to be applied: for what the cluster cannot
	 * change in place (an immutable field), which the task replaces itself.
	 */
	prepare?: (objects: readonly KubeObject[], cluster: TaskKube, context: TaskContext) => Promise<void>;
}

/** The folder of the templates, relative to the Nubfile. */
export const templatesFolder = 'templates';

export function applyTask<N extends Needs = {}>(spec: ApplySpec<N>): Task<Applied> {
	const templateFiles = (spec.templates ?? []).map(file => join(templatesFolder, file));
	const render = (root: string, inputs: OutputsOf<N>): KubeObject[] => {
		const values = spec.values?.(inputs) ?? {};
		const instances = spec.each ?? [{}];
		return templateFiles.flatMap(file => {
			const text = readFileSync(join(root, file), 'utf8');
			return instances.flatMap(instance => renderTemplate(text, { ...values, ...instance } as Record<string, TemplateValue>, file));
		});
	};
	// The values the configuration gives (the needs' part stands in from `preview`: what the needs
	// give is in the cache key through their outputs). A changed configuration value reruns exactly
	// the apply tasks whose templates use it.
	const configured = spec.values?.((spec.preview ?? {}) as OutputsOf<N>) ?? {};
	const applying = task({
		name: spec.name,
		...(spec.description ? { description: spec.description } : {}),
		...(spec.group ? { group: spec.group } : {}),
		needs: (spec.needs ?? {}) as N,
		// It applies objects: `nub watch` leaves it alone unless given --include-cluster.
		cluster: true,
		inputs: {
			files: [...templateFiles, ...(spec.files ?? [])],
			config: JSON.parse(JSON.stringify({ values: configured, each: spec.each ?? null, config: spec.config ?? null })) as Json,
		},
		// Checked when the templates or the values they get changed; unchanged, they were checked
		// when this task last succeeded.
		preflight: async ({ root, unchanged }) => {
			if (templateFiles.length === 0 || unchanged) return;
			await validateObjects(render(root, (spec.preview ?? {}) as OutputsOf<N>), sourceOf);
		},
		// Still as applied: every object exists and carries every field nub set. One LIST per kind
		// and namespace, shared with every other check of the run.
		check: async (inputs, context) => {
			const cluster = await kube(context);
			const drifts: string[] = [];
			for (const desired of [...render(context.root, inputs), ...(spec.objects?.(inputs, context.root) ?? [])]) {
				const live = (await cluster.snapshot(desired.apiVersion, desired.kind, desired.metadata.namespace)).find(object => object.metadata.name === desired.metadata.name);
				const drift = driftOf(desired, live);
				if (drift) drifts.push(drift);
			}
			return drifts.length === 0 ? undefined : drifts.length === 1 ? drifts[0] : `${drifts[0]} (and ${drifts.length - 1} more)`;
		},
		// What a run would change (`nub plan --diff`): the objects sent as dry runs and compared with
		// the live ones on the fields nub owns. An object a need has yet to make is known after apply.
		diff: async (inputs, context) => {
			const built = spec.objects?.(inputs, context.root) ?? [];
			const objects = [...render(context.root, inputs), ...built.filter(object => typeof object === 'object')];
			const records = await diffObjects(await kubeClient(context), objects, context.digest, { signal: context.signal });
			// An object a need builds, when that need could not be run for the plan (what it is made from comes later).
			const later = built.filter(object => typeof object !== 'object').map((marker): ObjectDiff => ({ kind: 'Object', name: `built by ${String(marker)}`, action: 'create', changes: [], note: knownAfterApply, live: null, planned: null }));
			return [...records, ...later];
		},
		run: async (inputs, context) => {
			const objects = [...render(context.root, inputs), ...(spec.objects?.(inputs, context.root) ?? [])];
			const cluster = await kube(context);
			await spec.prepare?.(objects, cluster, context);
			const results = await cluster.apply(objects);
			// One budget for all of the task's waits, each given what is left of it. A hopeless wait
			// says what the task knows and the cluster does not: which field set an image, which task
			// makes a Secret.
			const deadline = spec.timeoutMs === undefined ? undefined : Date.now() + spec.timeoutMs;
			const explain = { madeBy: madeByOf(spec.needs ?? {}, inputs), fieldOf: (value: string) => fieldOf(spec.fields, configured, value) };
			const wait = () => ({ explain, ...(deadline === undefined ? {} : { timeoutMs: Math.max(1, deadline - Date.now()) }) });
			for (const rollout of spec.rollouts ?? []) {
				await cluster.waitForRollout(rollout.kind, rollout.namespace, rollout.name, { ...wait(), ...(rollout.crashGraceMs === undefined ? {} : { crashGraceMs: rollout.crashGraceMs }) });
			}
			for (const claim of spec.claims ?? []) await cluster.waitForBound(claim.namespace, claim.name, wait());
			const applied = results.map(({ object }) => ({
				apiVersion: object.apiVersion,
				kind: object.kind,
				name: object.metadata.name,
				...(object.metadata.namespace ? { namespace: object.metadata.namespace } : {}),
			}));
			// What the last run applied and this one did not stays known until pruned.
			const orphans = orphansOf(context.previous, applied);
			if (orphans.length > 0) context.log.info(`no longer applied (nub run --prune deletes them): ${orphans.map(o => `${o.kind} ${o.namespace ? `${o.namespace}/` : ''}${o.name}`).join(', ')}`);
			return { objects: applied, ...(orphans.length > 0 ? { orphans } : {}) };
		},
	});
	// `nub destroy` deletes what the task's last success applied (and what it left orphaned).
	return withUndo<Applied>(applying, undoApplied);
}

/**
 * Which need's task made an object (`Secret nublado/hub` -> `hub-secret`): the need whose output
 * is the object, or holds it as one of its fields (a folder's ConfigMap).
 */
function madeByOf(needs: Needs, inputs: Record<string, unknown>): (object: string) => string | undefined {
	const makers = new Map<string, string>();
	const isObject = (value: unknown): value is KubeObject => typeof value === 'object' && value !== null && typeof (value as KubeObject).kind === 'string' && typeof (value as KubeObject).metadata?.name === 'string';
	for (const [key, need] of Object.entries(needs)) {
		const output = inputs[key];
		const held = typeof output === 'object' && output !== null ? [output, ...Object.values(output)] : [];
		for (const value of held) if (isObject(value)) makers.set(describeObject(value), need.name);
	}
	return object => makers.get(object);
}

/** `hub.image in nublado.yaml (or NUBLADO_HUB_IMAGE)` when a field set `value`, through the template value it gave. */
function fieldOf(fields: Readonly<Record<string, string>> | undefined, values: Record<string, unknown>, value: string): string | undefined {
	const path = Object.entries(fields ?? {}).find(([name]) => values[name] === value)?.[1];
	return path ? `${path} in nublado.yaml (or ${envName(path)})` : undefined;
}
