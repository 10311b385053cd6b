/**
 * The differential: one sequence of raw HTTPS requests, the ones nub's client
 * (@kubernetes/client-node through lib/k8s/client.ts) and kubectl send, sent byte for byte to a
 * sandbox and to a real kube-apiserver (the test control plane of cluster/), and the answers
 * compared on what nub and kubectl read of them: the status code, the Status reason and details,
 * and the fields nub reads (resourceVersion changed or not, generation, field managers, the
 * fields nub set as the server kept them, the status of workloads, Services and claims).
 *
 *   step ──same bytes──> sandbox ──> view ┐
 *        └─same bytes──> real    ──> view ┴─> identical, or a known divergence (below, with why)
 *
 * What legitimately differs is normalized before the views are built: uids, times,
 * resourceVersion values (but not whether one changed), allocated addresses. Every other
 * difference must be in `knownDivergences`, or the test fails; so must a listed one that went
 * away. docs/sandbox-differential.md is the table this test prints.
 *
 * NUB_DIFFERENTIAL_DUMP=<file> writes both sides' raw answers of every step there, to study one.
 */
import test from 'ava';
import { KubeConfig } from '@kubernetes/client-node';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { repoRoot } from '../helpers/project.ts';
import { realCluster } from '../helpers/real-cluster.ts';
import { withSandbox } from './helpers.ts';

// ---------------------------------------------------------------------------------------------
// Talking to one server

/** One API server, as the raw requests reach it: its URL, the CA it is trusted by, a bearer token. */
interface Endpoint {
	name: 'sandbox' | 'real';
	server: string;
	ca: string;
	token: string;
}

/** An answer: status code and body (parsed JSON, or the text). */
interface Reply {
	code: number;
	body: any;
}

/** What a step sends; the body is sent as given (a string) or as JSON. */
interface Call {
	method?: string;
	path: string;
	body?: unknown;
	contentType?: string;
	accept?: string;
}

/** The endpoint of a kubeconfig's context: server, CA data and token, as a client would read them. */
function endpointOf(name: Endpoint['name'], kubeconfig: string, context: string): Endpoint {
	const config = new KubeConfig();
	config.loadFromFile(kubeconfig);
	config.setCurrentContext(context);
	const cluster = config.getCurrentCluster()!;
	const ca = cluster.caData ? Buffer.from(cluster.caData, 'base64').toString('utf8') : readFileSync(cluster.caFile!, 'utf8');
	return { name, server: cluster.server, ca, token: config.getCurrentUser()!.token! };
}

/** Both sides get the same headers, so managers taken from the user agent are the same. */
const userAgent = 'nub-differential/1.0';

function send(endpoint: Endpoint, call: Call): Promise<Reply> {
	const body = call.body === undefined ? undefined : typeof call.body === 'string' ? call.body : JSON.stringify(call.body);
	return new Promise((resolve, reject) => {
		const req = request(
			new URL(call.path, endpoint.server),
			{
				method: call.method ?? 'GET',
				ca: endpoint.ca,
				headers: {
					Authorization: `Bearer ${endpoint.token}`,
					Accept: call.accept ?? 'application/json, */*;q=0.8',
					'User-Agent': userAgent,
					// A length, always: Node frames a DELETE's body with none, which no server reads.
					...(body === undefined ? {} : { 'Content-Type': call.contentType ?? 'application/json', 'Content-Length': String(Buffer.byteLength(body)) }),
				},
			},
			res => {
				const chunks: Buffer[] = [];
				res.on('data', (chunk: Buffer) => chunks.push(chunk));
				res.on('end', () => resolve({ code: res.statusCode ?? 0, body: parse(Buffer.concat(chunks).toString('utf8')) }));
			},
		);
		req.on('error', reject);
		req.end(body);
	});
}

function parse(text: string): unknown {
	try {
		return JSON.parse(text);
	} catch {
		return text;
	}
}

/**
 * A watch: the status code and its first `count` events (or what came within `timeoutMs`); the
 * connection is closed after them.
 */
function watch(endpoint: Endpoint, path: string, count: number, timeoutMs = 10_000): Promise<Reply> {
	return new Promise((resolve, reject) => {
		const events: unknown[] = [];
		let code = 0;
		let buffered = '';
		const req = request(new URL(path, endpoint.server), { ca: endpoint.ca, headers: { Authorization: `Bearer ${endpoint.token}`, Accept: 'application/json', 'User-Agent': userAgent } }, res => {
			code = res.statusCode ?? 0;
			res.setEncoding('utf8');
			res.on('data', (chunk: string) => {
				buffered += chunk;
				for (let end = buffered.indexOf('\n'); end >= 0; end = buffered.indexOf('\n')) {
					const line = buffered.slice(0, end).trim();
					buffered = buffered.slice(end + 1);
					if (line) events.push(parse(line));
				}
				if (events.length >= count) finish();
			});
			res.on('end', finish);
		});
		const timer = setTimeout(finish, timeoutMs);
		function finish() {
			clearTimeout(timer);
			req.destroy();
			resolve({ code, body: events.slice(0, count) });
		}
		req.on('error', error => (events.length > 0 || code !== 0 ? finish() : reject(error)));
		req.end();
	});
}

/** Sends `call` until `done` holds for the answer (or `timeoutMs` passed): the last answer. */
async function until(endpoint: Endpoint, call: Call, done: (reply: Reply) => boolean, timeoutMs = 60_000): Promise<Reply> {
	const deadline = Date.now() + timeoutMs;
	for (;;) {
		const reply = await send(endpoint, call);
		if (done(reply) || Date.now() > deadline) return reply;
		await new Promise(resolve => setTimeout(resolve, 100));
	}
}

// ---------------------------------------------------------------------------------------------
// Views: what is compared of an answer

/** One side while the sequence runs: its endpoint and what earlier steps remembered there. */
interface Side {
	endpoint: Endpoint;
	/** Remembered values (resourceVersions, uids) by key. */
	memory: Map<string, any>;
}

/**
 * The Status part of an answer: reason, message and details, the causes with their reason, field
 * and message (nub shows those of a 409 or 422, and reads "immutable" in them; kubectl prints
 * the message).
 */
function statusView(body: any): unknown {
	if (body?.kind !== 'Status') return undefined;
	const details = body.details ?? {};
	// The real server appends a diff of its Go structs to some messages (a volume's source, a
	// claim's spec); the sandbox has no Go structs to print: compared up to it.
	const firstPart = (text: string | undefined) => text?.replace(/\n@@[\s\S]*$/, '');
	return {
		status: body.status,
		reason: body.reason,
		message: firstPart(body.message),
		details: {
			name: details.name,
			group: details.group,
			kind: details.kind,
			causes: details.causes?.map((cause: any) => ({ reason: cause.reason, field: cause.field, message: firstPart(cause.message) })),
		},
	};
}

/** The managers the sequence writes as: the fields each owns are compared too (they decide conflicts). */
const requestManagers = new Set(['nub', 'other', userAgent.split('/')[0]]);

/**
 * The test control plane links kube-controller-manager into one binary, nubkube, so its
 * controllers write as `nubkube`; on a cluster (and in the sandbox) they are kube-controller-manager.
 */
const managerName = (manager: string) => (manager === 'nubkube' ? 'kube-controller-manager' : manager);

/**
 * The object's bookkeeping nub reads: name, namespace, generation, whether the resourceVersion
 * changed since the last answer about the same object (`key`), the field managers (and what the
 * sequence's own managers own), and deletion.
 */
function metaView(side: Side, key: string, object: any): unknown {
	const metadata = object?.metadata;
	if (!metadata) return undefined;
	const entries: any[] = metadata.managedFields ?? [];
	return {
		name: metadata.name,
		namespace: metadata.namespace,
		generation: metadata.generation,
		resourceVersion: versionChange(side, key, metadata.resourceVersion),
		managers: entries.map(entry => [managerName(entry.manager), entry.operation, entry.subresource ?? ''].join('/')).sort(),
		owned: Object.fromEntries(entries.filter(entry => requestManagers.has(entry.manager)).map(entry => [`${entry.manager}/${entry.operation}`, entry.fieldsV1])),
		deleting: metadata.deletionTimestamp !== undefined,
		finalizers: metadata.finalizers,
	};
}

/** `new` the first time, then `same` or `changed`: what is compared of resourceVersion values. */
function versionChange(side: Side, key: string, version: string | undefined): string {
	if (version === undefined) return 'none';
	const before = side.memory.get(`rv:${key}`);
	side.memory.set(`rv:${key}`, version);
	return before === undefined ? 'new' : before === version ? 'same' : 'changed';
}

/**
 * What the server kept of the fields nub sent: `sent` walked, each of its leaves looked up in
 * `live` (absent ones as `<absent>`), as lib/k8s/drift.ts compares them.
 */
function kept(sent: unknown, live: unknown): unknown {
	if (Array.isArray(sent)) return Array.isArray(live) ? sent.map((item, i) => kept(item, live[i])) : live === undefined ? '<absent>' : live;
	if (sent !== null && typeof sent === 'object') {
		if (live === null || typeof live !== 'object') return live === undefined ? '<absent>' : live;
		return Object.fromEntries(Object.entries(sent).map(([key, value]) => [key, kept(value, (live as Record<string, unknown>)[key])]));
	}
	return live === undefined ? '<absent>' : live;
}

/** Replaces what legitimately differs between two servers: addresses, times, uids. */
function normalize(value: unknown): unknown {
	if (Array.isArray(value)) return value.map(normalize);
	if (value !== null && typeof value === 'object') {
		return Object.fromEntries(
			Object.entries(value).map(([key, inner]) => {
				if (typeof inner === 'string' && /^(uid|creationTimestamp|deletionTimestamp|time|lastUpdateTime|lastTransitionTime|lastProbeTime)$/.test(key)) return [key, `<${key}>`];
				return [key, normalize(inner)];
			}),
		);
	}
	if (typeof value === 'string' && /^\d+\.\d+\.\d+\.\d+$/.test(value)) return '<ip>';
	// A time inside a message (a conflict names when its manager wrote).
	if (typeof value === 'string') return value.replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z/g, '<time>');
	return value;
}

// ---------------------------------------------------------------------------------------------
// The sequence

const ns = 'nub-diff';
const apply = (path: string, object: unknown, manager = 'nub', extra = '&force=true'): Call => ({
	method: 'PATCH',
	path: `${path}?fieldManager=${manager}${extra}`,
	body: object,
	contentType: 'application/apply-patch+yaml',
});

const configMap = (data: Record<string, string>) => ({
	apiVersion: 'v1',
	kind: 'ConfigMap',
	metadata: { name: 'settings', namespace: ns, labels: { app: 'diff' } },
	data,
	binaryData: { 'logo.png': Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 1, 2, 255]).toString('base64') },
});
const configMapPath = `/api/v1/namespaces/${ns}/configmaps`;

const deployment = (image: string) => ({
	apiVersion: 'apps/v1',
	kind: 'Deployment',
	metadata: { name: 'web', namespace: ns, labels: { app: 'web' } },
	spec: {
		replicas: 1,
		selector: { matchLabels: { app: 'web' } },
		template: {
			metadata: { labels: { app: 'web' } },
			spec: {
				containers: [{ name: 'web', image, ports: [{ containerPort: 8080 }], env: [{ name: 'EMPTY', value: '' }, { name: 'SET', value: 'yes' }] }],
			},
		},
	},
});
const deploymentPath = `/apis/apps/v1/namespaces/${ns}/deployments`;

const service = (type: string, name = 'web') => ({
	apiVersion: 'v1',
	kind: 'Service',
	metadata: { name, namespace: ns },
	spec: { type, selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] },
});
const servicePath = `/api/v1/namespaces/${ns}/services`;

const secret = {
	apiVersion: 'v1',
	kind: 'Secret',
	metadata: { name: 'hub', namespace: ns },
	type: 'Opaque',
	data: { token: Buffer.from('s3cret').toString('base64'), empty: '' },
};

/** A PersistentVolume as templates/nfs/volume.yaml makes them: no class (`""`), read-write. */
const volume = {
	apiVersion: 'v1',
	kind: 'PersistentVolume',
	metadata: { name: `home-${ns}`, labels: { 'nublado/export': 'home' } },
	spec: {
		capacity: { storage: '1Gi' },
		accessModes: ['ReadWriteMany'],
		persistentVolumeReclaimPolicy: 'Retain',
		storageClassName: '',
		mountOptions: ['local_lock=all'],
		nfs: { server: '10.96.0.12', path: '/exports/home', readOnly: false },
	},
};
const claim = (name: string, spec: Record<string, unknown>) => ({
	apiVersion: 'v1',
	kind: 'PersistentVolumeClaim',
	metadata: { name, namespace: ns },
	spec: { accessModes: ['ReadWriteMany'], resources: { requests: { storage: '1Gi' } }, ...spec },
});
const claimPath = `/api/v1/namespaces/${ns}/persistentvolumeclaims`;

const leasePath = `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases`;
const lease = (holder: string, renewTime: string, resourceVersion?: string) => ({
	apiVersion: 'coordination.k8s.io/v1',
	kind: 'Lease',
	metadata: { name: 'nub-lock', namespace: ns, ...(resourceVersion ? { resourceVersion } : {}) },
	spec: { holderIdentity: holder, leaseDurationSeconds: 20, acquireTime: '2026-01-02T03:04:05.123456Z', renewTime },
});

/** A Deployment's rollout as nub judges it (lib/k8s/client.ts rollout): done, and the counts it reads. */
function rolloutView(object: any): unknown {
	const status = object?.status ?? {};
	const wanted = object?.spec?.replicas ?? 1;
	return {
		observedCurrent: (status.observedGeneration ?? 0) >= (object?.metadata?.generation ?? 0),
		replicas: status.replicas,
		updatedReplicas: status.updatedReplicas,
		availableReplicas: status.availableReplicas,
		done: (status.updatedReplicas ?? 0) >= wanted && (status.availableReplicas ?? 0) >= wanted && (status.replicas ?? 0) <= wanted,
		conditions: (status.conditions ?? []).map((condition: any) => `${condition.type}=${condition.status}`).sort(),
	};
}
/**
 * Rolled out and settled: nub's test, and the controller's last word on it (Progressing with
 * NewReplicaSetAvailable), so that no status write of it comes after.
 */
function rolledOut(reply: Reply): boolean {
	const view = rolloutView(reply.body) as { done: boolean; observedCurrent: boolean };
	const progressing = (reply.body?.status?.conditions ?? []).find((condition: any) => condition.type === 'Progressing');
	return reply.code === 200 && view.done && view.observedCurrent && progressing?.reason === 'NewReplicaSetAvailable';
}

/** The kinds nub's templates and tasks use (templates/ scanned, plus what tasks and team state write). */
function nubKinds(): Array<{ apiVersion: string; kind: string }> {
	const found = new Map<string, { apiVersion: string; kind: string }>();
	const add = (apiVersion: string, kind: string) => found.set(`${apiVersion} ${kind}`, { apiVersion, kind });
	const walk = (dir: string) => {
		for (const entry of readdirSync(dir, { withFileTypes: true })) {
			if (entry.isDirectory()) walk(join(dir, entry.name));
			else if (entry.name.endsWith('.yaml')) {
				for (const match of readFileSync(join(dir, entry.name), 'utf8').matchAll(/^apiVersion: (\S+)\s*\nkind: (\w+)/gm)) add(match[1]!, match[2]!);
			}
		}
	};
	walk(join(repoRoot, 'templates'));
	for (const [apiVersion, kind] of [['v1', 'Secret'], ['v1', 'ConfigMap'], ['v1', 'Pod'], ['v1', 'Namespace'], ['coordination.k8s.io/v1', 'Lease']] as const) add(apiVersion, kind);
	return [...found.values()].sort((a, b) => `${a.apiVersion} ${a.kind}`.localeCompare(`${b.apiVersion} ${b.kind}`));
}

/** A Deployment of one image tagged `tag` (and a sidecar that runs), and its app label. */
const failing = (tag: string) => {
	const name = `fails-${tag}`;
	const object = deployment(`lsstsqre/sciplat-hub:${tag}`);
	const template = object.spec.template;
	return {
		...object,
		metadata: { name, namespace: ns, labels: { app: name } },
		spec: {
			...object.spec,
			selector: { matchLabels: { app: name } },
			template: { metadata: { labels: { app: name } }, spec: { containers: [template.spec.containers[0]!, { name: 'sidecar', image: 'nginx:1.27' }] } },
		},
	};
};

/**
 * The steps of a Deployment whose pod asks for 8 CPUs, more than any node has (the control
 * plane's kwok nodes and the sandbox's one have 4): its pod read until the scheduler gave up on
 * it, and the scheduler's FailedScheduling event. The node counts are normalized (`0/N nodes`,
 * `N Insufficient cpu`): the control plane has three nodes, the sandbox one; the wording is compared.
 */
function unschedulableSteps(): Step[] {
	const name = 'fails-unschedulable';
	const object = failing('unschedulable');
	const spec = object.spec as any;
	const wanted = { ...object, metadata: { ...object.metadata, name }, spec: { ...spec, selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'hungry', image: 'nginx:1.27', resources: { requests: { cpu: '8' } } }] } } } };
	const counts = (text: string | undefined) => text?.replace(/\b\d+\/\d+ nodes/g, '0/<N> nodes').replace(/: \d+ /g, ': <N> ').replace(/, \d+ /g, ', <N> ');
	const podsPath = `/api/v1/namespaces/${ns}/pods?labelSelector=app%3D${name}`;
	const scheduling = (pod: any) => (pod.status?.conditions ?? []).find((condition: any) => condition.type === 'PodScheduled');
	return [
		step('apply Deployment whose pod requests more CPU than a node has (create)', apply(`${deploymentPath}/${name}`, wanted), { key: name }),
		step('list its pods until the scheduler found no node', { path: podsPath }, {
			poll: reply => reply.body?.items?.length > 0 && reply.body.items.every((pod: any) => scheduling(pod)?.reason === 'Unschedulable'),
			extra: body => ({
				pods: body?.items?.map(podView),
				scheduled: body?.items?.map((pod: any) => ({ status: scheduling(pod)?.status, reason: scheduling(pod)?.reason, message: counts(scheduling(pod)?.message), node: pod.spec?.nodeName })),
			}),
		}),
		step('list the FailedScheduling events of its pods', { path: `/api/v1/namespaces/${ns}/events?fieldSelector=reason%3DFailedScheduling` }, {
			poll: reply => (reply.body?.items ?? []).some((event: any) => event.involvedObject?.name?.startsWith(`${name}-`)),
			extra: body => {
				const events = (body?.items ?? []).filter((event: any) => event.involvedObject?.name?.startsWith(`${name}-`));
				return [...new Set(events.map((event: any) => JSON.stringify({ type: event.type, reason: event.reason, message: counts(event.message), kind: event.involvedObject.kind, reportingComponent: event.reportingComponent })))].sort();
			},
		}),
	];
}

/** What is compared of a pod: its owner, phase, conditions and each container's status. */
function podView(pod: any): unknown {
	const names = (text: string | undefined) => text?.replaceAll(pod.metadata.name, '<pod>');
	const container = (status: any) => ({
		name: status.name,
		ready: status.ready,
		started: status.started,
		restartCount: status.restartCount,
		waiting: status.state?.waiting ? { reason: status.state.waiting.reason, message: names(status.state.waiting.message) } : undefined,
		running: status.state?.running !== undefined,
		lastTerminated: status.lastState?.terminated ? { exitCode: status.lastState.terminated.exitCode, reason: status.lastState.terminated.reason } : undefined,
	});
	return {
		labels: Object.keys(pod.metadata.labels ?? {}).sort(),
		owner: (pod.metadata.ownerReferences ?? []).map((owner: any) => `${owner.kind} ${owner.name.replace(/-[a-z0-9]{6,10}$/, '-<hash>')} controller=${owner.controller}`),
		name: pod.metadata.name.replace(/-[a-z0-9]{6,10}-[a-z0-9]{5}$/, '-<hash>-<suffix>'),
		phase: pod.status?.phase,
		conditions: (pod.status?.conditions ?? []).map((condition: any) => `${condition.type}=${condition.status}`).sort(),
		containers: (pod.status?.containerStatuses ?? []).map(container),
	};
}

/**
 * The steps of one failing Deployment: applied, its pods read until the convention's state,
 * its rollout and ReplicaSet as nub and kubectl see them, the Warning events of its pods.
 */
function failureSteps(tag: string, reason: string, lastEvent: string): Step[] {
	const object = failing(tag);
	const name = object.metadata.name;
	const podsPath = `/api/v1/namespaces/${ns}/pods?labelSelector=app%3D${name}`;
	const waitingFor = (reply: Reply) => reply.body?.items?.length > 0 && reply.body.items.every((pod: any) => pod.status?.containerStatuses?.some((status: any) => status.state?.waiting?.reason === reason));
	return [
		step(`apply Deployment with an image tagged ${tag} (create)`, apply(`${deploymentPath}/${name}`, object), { key: name, extra: body => ({ kept: kept(object, body) }) }),
		step(`list the ${tag} Deployment's pods until ${reason}`, { path: podsPath }, { poll: waitingFor, extra: body => ({ pods: body?.items?.map(podView) }) }),
		step(`get the ${tag} Deployment until its controller saw it`, { path: `${deploymentPath}/${name}` }, {
			poll: reply => reply.body?.status?.observedGeneration === 1 && reply.body?.status?.updatedReplicas === 1,
			extra: body => ({ rollout: rolloutView(body), unavailable: body?.status?.unavailableReplicas, ready: body?.status?.readyReplicas }),
		}),
		step(`list the ${tag} Deployment's pods as a Table (kubectl get pods)`, {
			path: podsPath,
			accept: 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json',
		}, {
			extra: body => ({
				columns: body?.columnDefinitions?.filter((column: any) => column.priority === 0).map((column: any) => column.name),
				// Name, Ready, Status, Restarts (without how long ago): Age differs by timing.
				cells: body?.rows?.map((row: any) => [String(row.cells[0]).replace(/-[a-z0-9]{6,10}-[a-z0-9]{5}$/, '-<hash>-<suffix>'), row.cells[1], row.cells[2], String(row.cells[3]).replace(/ \(.*\)$/, '')]),
			}),
		}),
		step(`list the ${tag} Deployment's ReplicaSets`, { path: `/apis/apps/v1/namespaces/${ns}/replicasets?labelSelector=app%3D${name}` }, {
			extra: body =>
				body?.items?.map((rs: any) => ({
					name: rs.metadata.name.replace(/-[a-z0-9]{6,10}$/, '-<hash>'),
					owner: rs.metadata.ownerReferences?.map((owner: any) => `${owner.kind} ${owner.name} controller=${owner.controller}`),
					labels: Object.keys(rs.metadata.labels ?? {}).sort(),
					replicas: rs.spec?.replicas,
					status: { replicas: rs.status?.replicas, ready: rs.status?.readyReplicas ?? 0, available: rs.status?.availableReplicas ?? 0 },
				})),
		}),
		step(`list the Warning events of the ${tag} Deployment's pods`, { path: `/api/v1/namespaces/${ns}/events?fieldSelector=type%3DWarning` }, {
			// The event of the state the pods are in may come a moment after it.
			poll: reply => (reply.body?.items ?? []).some((event: any) => event.involvedObject?.name?.startsWith(`${name}-`) && event.message === lastEvent),
			extra: body => {
				const events = (body?.items ?? []).filter((event: any) => event.involvedObject?.name?.startsWith(`${name}-`));
				// The involved object's apiVersion and fieldPath are left out: a kubelet sets them (and the
				// sandbox does), kwok's stages do not.
				return [...new Set(events.map((event: any) => JSON.stringify({ type: event.type, reason: event.reason, message: event.message, kind: event.involvedObject.kind })))].sort();
			},
		}),
	];
}

/** One request of the sequence (or a short poll of one), sent to each side in turn. */
interface Step {
	/** The row's name in the table. */
	name: string;
	/** What is sent, for the table: `PATCH /api/v1/...`. */
	request: string;
	/** Sends the request to one side; returns the answer. */
	run(side: Side): Promise<Reply>;
	/** What is compared of the answer. */
	view(reply: Reply, side: Side): unknown;
}

interface StepOptions {
	/** The object's key in the sides' memory: its metadata is compared, resourceVersion as changed or not. */
	key?: string;
	/** The fields compared beside the bookkeeping. */
	extra?: (body: any, side: Side) => unknown;
	/** Sends the call again until this holds (or `pollMs` passed). */
	poll?: (reply: Reply) => boolean;
	pollMs?: number;
	/**
	 * Reads the object (`key`) just before, so "resourceVersion same" means this write changed
	 * nothing, whatever controllers wrote since the step before.
	 */
	readFirst?: string;
}

/** A side for describing a call built from memory: what it remembers shows as `<key>`. */
const placeholders: Side = {
	endpoint: { name: 'real', server: 'https://example.invalid', ca: '', token: '' },
	memory: new (class extends Map<string, any> {
		override get(key: string) {
			return `<${key}>`;
		}
	})(),
};

/** The usual step: one call, compared on its code, Status, bookkeeping and `extra` fields. */
function step(name: string, call: Call | ((side: Side) => Call), options: StepOptions = {}): Step {
	const example = typeof call === 'function' ? call(placeholders) : call;
	return {
		name,
		request: `${example.method ?? 'GET'} ${decodeURIComponent(example.path)}${example.contentType && example.contentType !== 'application/json' ? ` (${example.contentType})` : ''}`,
		run: async side => {
			if (options.readFirst) {
				const before = await send(side.endpoint, { path: options.readFirst });
				side.memory.set(`rv:${options.key}`, before.body?.metadata?.resourceVersion);
			}
			const c = typeof call === 'function' ? call(side) : call;
			return options.poll ? until(side.endpoint, c, options.poll, options.pollMs) : send(side.endpoint, c);
		},
		view: (reply, side) =>
			normalize({
				code: reply.code,
				status: statusView(reply.body),
				kind: typeof reply.body === 'object' ? reply.body?.kind : typeof reply.body,
				meta: reply.body?.kind === 'Status' || !options.key ? undefined : metaView(side, options.key, reply.body),
				fields: reply.body?.kind === 'Status' || !options.extra ? undefined : options.extra(reply.body, side),
			}),
	};
}

/**
 * Discovery of a group version: for each kind nub uses in it, how it is served (what kubectl
 * reads too: short names, categories, the storage version hash it caches by, subresources).
 */
function discoveryStep(path: string, groupVersion: string): Step {
	const kinds = nubKinds().filter(entry => entry.apiVersion === groupVersion);
	return {
		name: `discovery ${path}`,
		request: `GET ${path}`,
		run: side => send(side.endpoint, { path }),
		view: reply => ({
			code: reply.code,
			kind: reply.body?.kind,
			groupVersion: reply.body?.groupVersion,
			resources: Object.fromEntries(
				kinds.map(({ kind }) => {
					const all: any[] = reply.body?.resources ?? [];
					const resource = all.find(candidate => candidate.kind === kind && !candidate.name.includes('/'));
					if (!resource) return [kind, { served: false }];
					const subresources = all.filter(candidate => candidate.name.startsWith(`${resource.name}/`)).map(candidate => `${candidate.name} ${[...candidate.verbs].sort().join(',')}`);
					const served = {
						name: resource.name,
						singularName: resource.singularName,
						namespaced: resource.namespaced,
						verbs: [...resource.verbs].sort(),
						shortNames: resource.shortNames,
						categories: resource.categories,
						storageVersionHash: resource.storageVersionHash,
						status: subresources.filter(name => name.startsWith(`${resource.name}/status `)),
						// The others (scale, exec, logs, proxy...): compared apart, see knownDivergences.
						otherSubresources: subresources.filter(name => !name.startsWith(`${resource.name}/status `)),
					};
					return [kind, served];
				}),
			),
		}),
	};
}

function steps(): Step[] {
	const groupVersions = [...new Set(nubKinds().map(entry => entry.apiVersion))];
	const configMapKeep = (body: any) => ({ kept: kept(configMap({}), body), data: body?.data });
	return [
		// Discovery: what clients read first.
		{
			name: 'discovery /api',
			request: 'GET /api',
			run: side => send(side.endpoint, { path: '/api' }),
			view: reply => ({ code: reply.code, kind: reply.body?.kind, versions: reply.body?.versions }),
		},
		{
			name: 'discovery /apis',
			request: 'GET /apis',
			run: side => send(side.endpoint, { path: '/apis' }),
			view: reply => ({
				code: reply.code,
				kind: reply.body?.kind,
				groups: groupVersions
					.filter(gv => gv.includes('/'))
					.map(gv => {
						const group = (reply.body?.groups ?? []).find((candidate: any) => candidate.name === gv.split('/')[0]);
						return { gv, served: group?.versions.some((v: any) => v.groupVersion === gv) ?? false, preferred: group?.preferredVersion?.groupVersion };
					}),
			}),
		},
		...groupVersions.map(gv => discoveryStep(gv === 'v1' ? '/api/v1' : `/apis/${gv}`, gv)),

		// Server-side apply of a namespace, then a ConfigMap: create, no-op, update, conflict.
		step('apply Namespace (create)', apply(`/api/v1/namespaces/${ns}`, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } }), {
			key: 'ns',
			extra: body => ({ phase: body?.status?.phase, label: body?.metadata?.labels?.['kubernetes.io/metadata.name'] }),
		}),
		step('apply ConfigMap (create)', apply(`${configMapPath}/settings`, configMap({ a: '1', b: 'two' })), { key: 'cm', extra: configMapKeep }),
		step('apply ConfigMap again (no-op)', apply(`${configMapPath}/settings`, configMap({ a: '1', b: 'two' })), { key: 'cm', extra: configMapKeep, readFirst: `${configMapPath}/settings` }),
		step('apply ConfigMap (update)', apply(`${configMapPath}/settings`, configMap({ a: '1', b: 'three' })), { key: 'cm', extra: configMapKeep }),
		step(
			'apply ConfigMap by another manager, no force (conflict)',
			apply(`${configMapPath}/settings`, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'settings', namespace: ns }, data: { b: 'mine' } }, 'other', ''),
		),
		step(
			'apply ConfigMap by another manager, a field of its own',
			apply(`${configMapPath}/settings`, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'settings', namespace: ns }, data: { c: 'theirs' } }, 'other', ''),
			{ key: 'cm', extra: configMapKeep },
		),
		step('update ConfigMap with PUT (an Update manager: the user agent)', { method: 'PUT', path: `${configMapPath}/settings`, body: configMap({ a: '1', b: 'three', c: 'theirs', d: 'put' }) }, {
			key: 'cm',
			extra: configMapKeep,
		}),
		step(
			'apply ConfigMap by another manager, no force, over the PUT\'s field (conflict)',
			apply(`${configMapPath}/settings`, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'settings', namespace: ns }, data: { c: 'theirs', d: 'mine' } }, 'other', ''),
		),
		step('patch ConfigMap, strategic merge (kubectl patch, client-side apply)', {
			method: 'PATCH',
			path: `${configMapPath}/settings?fieldManager=kubectl-patch`,
			body: { data: { e: 'smp' } },
			contentType: 'application/strategic-merge-patch+json',
		}, { key: 'cm', extra: configMapKeep }),
		step('patch ConfigMap, JSON merge patch', { method: 'PATCH', path: `${configMapPath}/settings`, body: { data: { e: null, f: 'merge' } }, contentType: 'application/merge-patch+json' }, {
			key: 'cm',
			extra: configMapKeep,
		}),
		step('patch ConfigMap, JSON patch with a failing test (422)', {
			method: 'PATCH',
			path: `${configMapPath}/settings`,
			body: [{ op: 'test', path: '/data/f', value: 'other' }, { op: 'remove', path: '/data/f' }],
			contentType: 'application/json-patch+json',
		}),
		step('patch ConfigMap, JSON patch', { method: 'PATCH', path: `${configMapPath}/settings`, body: [{ op: 'remove', path: '/data/f' }], contentType: 'application/json-patch+json' }, {
			key: 'cm',
			extra: configMapKeep,
		}),
		step('get ConfigMap', { path: `${configMapPath}/settings` }, { key: 'cm', extra: configMapKeep }),
		step('get a missing ConfigMap (404)', { path: `${configMapPath}/nothing` }),
		step('get an unknown group version (404, discovery)', { path: '/apis/nosuch.example.com/v1' }),
		step('list an unknown resource of a known group (404)', { path: `/apis/apps/v1/namespaces/${ns}/nosuchthings` }),
		{
			name: 'get with a token the server does not know (401)',
			request: `GET ${configMapPath}/settings (Authorization: Bearer wrong)`,
			run: side => send({ ...side.endpoint, token: 'wrong' }, { path: `${configMapPath}/settings` }),
			view: reply => ({ code: reply.code, status: statusView(reply.body) }),
		},
		step('create an existing ConfigMap (409 AlreadyExists)', { method: 'POST', path: configMapPath, body: configMap({ a: '1' }) }),
		step('create an invalid ConfigMap (422)', { method: 'POST', path: configMapPath, body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'Bad_Name' } } }),
		step('create a Deployment whose selector misses its labels (422)', {
			method: 'POST',
			path: deploymentPath,
			body: { ...deployment('nginx:1.27'), metadata: { name: 'bad' }, spec: { ...deployment('nginx:1.27').spec, selector: { matchLabels: { app: 'other' } } } },
		}),
		step('create a Service without ports (422)', { method: 'POST', path: servicePath, body: { apiVersion: 'v1', kind: 'Service', metadata: { name: 'bad' }, spec: { selector: { app: 'web' } } } }),

		// Lists and watches.
		step('create a second labelled ConfigMap (POST, as kubectl create, fieldValidation=Strict)', {
			method: 'POST',
			path: `${configMapPath}?fieldManager=kubectl-create&fieldValidation=Strict`,
			body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'second', labels: { app: 'diff' } }, data: { x: 'y' } },
		}, { key: 'second', extra: body => ({ data: body?.data }) }),
		step('list ConfigMaps by label', { path: `${configMapPath}?labelSelector=app%3Ddiff` }, {
			extra: (body, side) => {
				side.memory.set('listVersion', body?.metadata?.resourceVersion);
				return { names: body?.items?.map((item: any) => item.metadata.name), itemKinds: body?.items?.map((item: any) => item.kind ?? '<absent>'), version: typeof body?.metadata?.resourceVersion };
			},
		}),
		step('list ConfigMaps with resourceVersion', side => ({ path: `${configMapPath}?labelSelector=app%3Ddiff&resourceVersion=${side.memory.get('listVersion')}` }), {
			extra: body => ({ names: body?.items?.map((item: any) => item.metadata.name) }),
		}),
		step('list ConfigMaps (whole namespace)', { path: configMapPath }, { extra: body => ({ names: body?.items?.map((item: any) => item.metadata.name) }) }),
		step('list ConfigMaps by label, limit=1 (a chunked list)', { path: `${configMapPath}?labelSelector=app%3Ddiff&limit=1` }, {
			extra: (body, side) => {
				side.memory.set('continue', body?.metadata?.continue);
				return { names: body?.items?.map((item: any) => item.metadata.name), continues: typeof body?.metadata?.continue, remaining: body?.metadata?.remainingItemCount };
			},
		}),
		step('list ConfigMaps by label, the next chunk', side => ({ path: `${configMapPath}?labelSelector=app%3Ddiff&limit=1&continue=${encodeURIComponent(side.memory.get('continue') ?? '')}` }), {
			extra: body => ({ names: body?.items?.map((item: any) => item.metadata.name), continues: typeof body?.metadata?.continue, remaining: body?.metadata?.remainingItemCount }),
		}),
		{
			// A fresh etcd has compacted nothing yet: both replay history (the sandbox keeps the last
			// 1000 events, and answers an older version with 410 Expired, as a compacted etcd does).
			name: 'watch ConfigMaps by label from resourceVersion 1 (history replayed)',
			request: `GET ${configMapPath}?watch=true&labelSelector=app%3Ddiff&resourceVersion=1`,
			run: side => watch(side.endpoint, `${configMapPath}?watch=true&labelSelector=app%3Ddiff&resourceVersion=1`, 2),
			view: reply => normalize({ code: reply.code, events: (reply.body as any[]).map(event => ({ type: event.type, name: event.object?.metadata?.name, b: event.object?.data?.b })) }),
		},
		step('list ConfigMaps by label as a Table (kubectl get)', {
			path: `${configMapPath}?labelSelector=app%3Ddiff`,
			accept: 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json',
		}, {
			extra: body => ({ columns: body?.columnDefinitions?.map((column: any) => column.name), cells: body?.rows?.map((row: any) => row.cells.slice(0, -1)) }),
		}),
		step('apply ConfigMap (update, to be watched)', apply(`${configMapPath}/settings`, configMap({ a: '1', b: 'four' })), { key: 'cm', extra: configMapKeep }),
		{
			name: 'watch ConfigMaps from the list\'s resourceVersion (first event)',
			request: `GET ${configMapPath}?watch=true&labelSelector=app%3Ddiff&resourceVersion=<list>`,
			run: side => watch(side.endpoint, `${configMapPath}?watch=true&labelSelector=app%3Ddiff&resourceVersion=${side.memory.get('listVersion')}`, 1),
			view: reply => normalize({ code: reply.code, events: (reply.body as any[]).map(event => ({ type: event.type, name: event.object?.metadata?.name, b: event.object?.data?.b })) }),
		},
		{
			name: 'watch ConfigMaps from resourceVersion 0 (initial events)',
			request: `GET ${configMapPath}?watch=true&labelSelector=app%3Ddiff&resourceVersion=0`,
			run: side => watch(side.endpoint, `${configMapPath}?watch=true&labelSelector=app%3Ddiff&resourceVersion=0`, 2),
			// The initial events come in no promised order.
			view: reply => normalize({ code: reply.code, events: (reply.body as any[]).map(event => ({ type: event.type, name: event.object?.metadata?.name, b: event.object?.data?.b })).sort((a, b) => a.name.localeCompare(b.name)) }),
		},

		// Dry runs: answered as if done, nothing kept.
		step('create ConfigMap, dryRun=All', { method: 'POST', path: `${configMapPath}?dryRun=All`, body: { ...configMap({ x: '1' }), metadata: { name: 'dry', namespace: ns } } }, {
			key: 'dry',
			extra: body => ({ data: body?.data }),
		}),
		step('get the dry-run ConfigMap (404)', { path: `${configMapPath}/dry` }),
		step('apply a new ConfigMap, dryRun=All', apply(`${configMapPath}/dry-apply`, { ...configMap({ x: '1' }), metadata: { name: 'dry-apply', namespace: ns } }, 'nub', '&force=true&dryRun=All'), {
			key: 'dry-apply',
			extra: body => ({ data: body?.data }),
		}),
		step('get the dry-run applied ConfigMap (404)', { path: `${configMapPath}/dry-apply` }),
		step('apply ConfigMap (update), dryRun=All', apply(`${configMapPath}/settings`, configMap({ a: '1', b: 'dry' })  , 'nub', '&force=true&dryRun=All'), { key: 'cm-dry', extra: configMapKeep }),
		step('get ConfigMap after the dry-run update', { path: `${configMapPath}/settings` }, { key: 'cm', extra: configMapKeep }),
		// What nub plan --diff sends (and kubectl --dry-run=server): a PUT and a DELETE answered as
		// if done, nothing kept; an apply into a namespace that does not exist refused.
		step('update ConfigMap with PUT, dryRun=All', { method: 'PUT', path: `${configMapPath}/settings?dryRun=All`, body: configMap({ a: '1', b: 'put-dry' }) }, { key: 'cm-dry', extra: configMapKeep }),
		step('get ConfigMap after the dry-run PUT', { path: `${configMapPath}/settings` }, { key: 'cm', extra: configMapKeep }),
		step('delete ConfigMap, dryRun=All', { method: 'DELETE', path: `${configMapPath}/settings?dryRun=All` }, { extra: body => ({ kind: body?.kind, name: body?.metadata?.name ?? body?.details?.name }) }),
		step('get ConfigMap after the dry-run delete', { path: `${configMapPath}/settings` }, { key: 'cm', extra: configMapKeep }),
		step('apply a ConfigMap into a namespace that does not exist, dryRun=All (404)', apply('/api/v1/namespaces/nub-diff-absent/configmaps/dry', { ...configMap({ x: '1' }), metadata: { name: 'dry', namespace: 'nub-diff-absent' } }, 'nub', '&force=true&dryRun=All')),

		// A Secret with data.
		step('apply Secret (create)', apply(`/api/v1/namespaces/${ns}/secrets/hub`, secret), { key: 'secret', extra: body => kept(secret, body) }),
		step('apply Secret again (no-op)', apply(`/api/v1/namespaces/${ns}/secrets/hub`, secret), { key: 'secret', extra: body => kept(secret, body), readFirst: `/api/v1/namespaces/${ns}/secrets/hub` }),

		// A Deployment: create, rollout, no-op, update, rollout.
		step('apply Deployment (create)', apply(`${deploymentPath}/web`, deployment('nginx:1.27')), {
			key: 'deploy',
			extra: body => ({ kept: kept(deployment('nginx:1.27'), body), rollout: rolloutView(body) }),
		}),
		step('get Deployment until rolled out', { path: `${deploymentPath}/web` }, { poll: rolledOut, extra: body => rolloutView(body) }),
		step('apply Deployment again (no-op)', apply(`${deploymentPath}/web`, deployment('nginx:1.27')), {
			key: 'deploy',
			extra: body => kept(deployment('nginx:1.27'), body),
			readFirst: `${deploymentPath}/web`,
		}),
		step('apply Deployment (new image)', apply(`${deploymentPath}/web`, deployment('nginx:1.28')), {
			key: 'deploy',
			extra: body => ({ kept: kept(deployment('nginx:1.28'), body), rollout: rolloutView(body) }),
		}),
		{
			name: 'watch Deployments by name from resourceVersion 0 (kubectl rollout status)',
			request: `GET ${deploymentPath}?watch=true&fieldSelector=metadata.name%3Dweb&resourceVersion=0`,
			run: side => watch(side.endpoint, `${deploymentPath}?watch=true&fieldSelector=metadata.name%3Dweb&resourceVersion=0`, 1),
			view: reply => normalize({ code: reply.code, events: (reply.body as any[]).map(event => ({ type: event.type, name: event.object?.metadata?.name, generation: event.object?.metadata?.generation })) }),
		},
		step('get Deployment until the new image rolled out', { path: `${deploymentPath}/web` }, { poll: rolledOut, extra: body => rolloutView(body) }),
		step('apply Deployment with another selector (422, immutable)', apply(`${deploymentPath}/web`, {
			...deployment('nginx:1.28'),
			spec: { ...deployment('nginx:1.28').spec, selector: { matchLabels: { app: 'web', v: '2' } }, template: { ...deployment('nginx:1.28').spec.template, metadata: { labels: { app: 'web', v: '2' } } } },
		})),

		// Services: a ClusterIP allocated, a LoadBalancer address given.
		step('apply Service ClusterIP (create)', apply(`${servicePath}/web`, service('ClusterIP')), {
			key: 'svc',
			extra: body => ({ kept: kept(service('ClusterIP'), body), clusterIP: body?.spec?.clusterIP, clusterIPs: body?.spec?.clusterIPs }),
		}),
		step('apply Service with another clusterIP (422)', apply(`${servicePath}/web`, { ...service('ClusterIP'), spec: { ...service('ClusterIP').spec, clusterIP: '10.96.200.200' } })),
		step('apply Service again (no-op)', apply(`${servicePath}/web`, service('ClusterIP')), {
			key: 'svc',
			extra: body => ({ kept: kept(service('ClusterIP'), body), clusterIP: body?.spec?.clusterIP }),
			readFirst: `${servicePath}/web`,
		}),
		step('apply Service LoadBalancer (create)', apply(`${servicePath}/edge`, service('LoadBalancer', 'edge')), {
			key: 'lb',
			extra: body => ({ kept: kept(service('LoadBalancer', 'edge'), body), nodePort: typeof body?.spec?.ports?.[0]?.nodePort }),
		}),
		step('get Service until it has an ingress address', { path: `${servicePath}/edge` }, {
			poll: reply => reply.body?.status?.loadBalancer?.ingress?.[0]?.ip !== undefined,
			extra: body => ({ ingress: body?.status?.loadBalancer?.ingress }),
		}),

		// Volumes: a PersistentVolume without a class, a claim on it, a claim of the default class.
		step('apply PersistentVolume with storageClassName "" (create)', apply(`/api/v1/persistentvolumes/${volume.metadata.name}`, volume), { key: 'pv', extra: body => kept(volume, body) }),
		step('get PersistentVolume until Available', { path: `/api/v1/persistentvolumes/${volume.metadata.name}` }, {
			poll: reply => reply.body?.status?.phase === 'Available',
			extra: body => ({ phase: body?.status?.phase, volumeMode: body?.spec?.volumeMode }),
		}),
		step('apply PersistentVolume again (no-op)', apply(`/api/v1/persistentvolumes/${volume.metadata.name}`, volume), {
			key: 'pv',
			extra: body => kept(volume, body),
			readFirst: `/api/v1/persistentvolumes/${volume.metadata.name}`,
		}),
		step('apply PersistentVolume with another NFS server (422, immutable)', apply(`/api/v1/persistentvolumes/${volume.metadata.name}`, { ...volume, spec: { ...volume.spec, nfs: { ...volume.spec.nfs, server: '10.96.0.13' } } })),
		step('apply PersistentVolumeClaim on that volume (create)', apply(`${claimPath}/home`, claim('home', { storageClassName: '', volumeName: volume.metadata.name })), {
			key: 'pvc-home',
			extra: body => ({ kept: kept(claim('home', { storageClassName: '', volumeName: volume.metadata.name }), body), phase: body?.status?.phase }),
		}),
		step('get the claim until Bound', { path: `${claimPath}/home` }, {
			poll: reply => reply.body?.status?.phase === 'Bound',
			extra: body => ({ phase: body?.status?.phase, volumeName: body?.spec?.volumeName, capacity: body?.status?.capacity }),
		}),
		step('apply PersistentVolumeClaim with another storageClassName (422, immutable)', apply(`${claimPath}/home`, claim('home', { storageClassName: 'standard', volumeName: volume.metadata.name }))),
		step('apply PersistentVolumeClaim of the default class (create)', apply(`${claimPath}/scratch`, claim('scratch', { accessModes: ['ReadWriteOnce'] })), {
			key: 'pvc-scratch',
			extra: body => ({ storageClassName: body?.spec?.storageClassName, phase: body?.status?.phase }),
		}),
		step('get the default-class claim until Bound', { path: `${claimPath}/scratch` }, {
			poll: reply => reply.body?.status?.phase === 'Bound',
			extra: body => ({ phase: body?.status?.phase, storageClassName: body?.spec?.storageClassName, hasVolume: typeof body?.spec?.volumeName }),
		}),

		// The team-state Lease: create, compare-and-swap updates.
		step('create Lease', { method: 'POST', path: leasePath, body: lease('a', '2026-01-02T03:04:05.123456Z') }, {
			key: 'lease',
			extra: (body, side) => {
				side.memory.set('leaseVersion', body?.metadata?.resourceVersion);
				return { spec: body?.spec };
			},
		}),
		step('create Lease again (409 AlreadyExists)', { method: 'POST', path: leasePath, body: lease('b', '2026-01-02T03:04:05.123456Z') }),
		step('update Lease with the current resourceVersion', side => ({ method: 'PUT', path: `${leasePath}/nub-lock`, body: lease('a', '2026-01-02T03:04:15.123456Z', side.memory.get('leaseVersion')) }), {
			key: 'lease',
			extra: body => ({ spec: body?.spec }),
		}),
		step('update Lease with a stale resourceVersion (409 Conflict)', side => ({ method: 'PUT', path: `${leasePath}/nub-lock`, body: lease('b', '2026-01-02T03:04:25.123456Z', side.memory.get('leaseVersion')) })),
		step('update Lease with a millisecond renewTime (not MicroTime)', { method: 'PUT', path: `${leasePath}/nub-lock`, body: lease('a', '2026-01-02T03:04:35.123Z') }, { key: 'lease', extra: body => ({ spec: body?.spec }) }),
		step('delete Lease', { method: 'DELETE', path: `${leasePath}/nub-lock` }),

		// The failure convention (cluster/nubkube/kwok-stages.yaml): images tagged missing, crash, oom.
		...failureSteps('missing', 'ImagePullBackOff', 'Error: ImagePullBackOff'),
		...failureSteps('crash', 'CrashLoopBackOff', 'Back-off restarting failed container'),
		...failureSteps('oom', 'CrashLoopBackOff', 'Back-off restarting failed container'),
		...unschedulableSteps(),

		// kubectl's requests: a Table, a strict create, a delete with a body.
		step('get Deployment as a Table (kubectl get)', {
			path: `${deploymentPath}/web`,
			accept: 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json',
		}, {
			extra: body => ({ columns: body?.columnDefinitions?.map((column: any) => column.name), cells: body?.rows?.map((row: any) => row.cells.slice(0, -1)), object: body?.rows?.[0]?.object?.kind }),
		}),
		step('apply ConfigMap as kubectl apply --server-side does (fieldValidation=Strict)', apply(`${configMapPath}/kubectl`, { ...configMap({ k: 'v' }), metadata: { name: 'kubectl', namespace: ns } }, 'kubectl', '&force=false&fieldValidation=Strict'), {
			key: 'cm-kubectl',
			extra: body => ({ data: body?.data }),
		}),
		step('create ConfigMap with an unknown field (no fieldValidation: the default)', {
			method: 'POST',
			path: configMapPath,
			body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'lenient' }, data: { a: '1' }, extra: 'field' },
		}, { extra: body => kept({ data: { a: '1' }, extra: 'field' }, body) }),
		step('create ConfigMap with an unknown field, fieldValidation=Strict (kubectl create)', {
			method: 'POST',
			path: `${configMapPath}?fieldManager=kubectl-create&fieldValidation=Strict`,
			body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'strict' }, data: { a: '1' }, extra: 'field' },
		}),
		step('delete ConfigMap with DeleteOptions Background (kubectl delete)', {
			method: 'DELETE',
			path: `${configMapPath}/settings`,
			body: { kind: 'DeleteOptions', apiVersion: 'v1', propagationPolicy: 'Background' },
		}),
		step('get the deleted ConfigMap until 404', { path: `${configMapPath}/settings` }, { poll: reply => reply.code === 404 }),

		// Deletion: a Deployment in the foreground, a missing object, the namespace.
		step('delete Deployment, propagationPolicy=Foreground', { method: 'DELETE', path: `${deploymentPath}/web?propagationPolicy=Foreground` }, {
			extra: body => ({ deleting: body?.metadata?.deletionTimestamp !== undefined, finalizers: body?.metadata?.finalizers, generation: body?.metadata?.generation }),
		}),
		step('get Deployment until 404', { path: `${deploymentPath}/web` }, { poll: reply => reply.code === 404 }),
		step('delete Service, propagationPolicy=Background', { method: 'DELETE', path: `${servicePath}/web?propagationPolicy=Background` }, { extra: body => ({ name: body?.metadata?.name }) }),
		step('delete a missing Deployment (404)', { method: 'DELETE', path: `${deploymentPath}/web` }),
		step('delete Secret', { method: 'DELETE', path: `/api/v1/namespaces/${ns}/secrets/hub` }),
		step('delete PersistentVolumeClaim', { method: 'DELETE', path: `${claimPath}/scratch` }, {
			extra: body => ({ deleting: body?.metadata?.deletionTimestamp !== undefined, finalizers: body?.metadata?.finalizers }),
		}),
		step('get the claim until 404', { path: `${claimPath}/scratch` }, { poll: reply => reply.code === 404 }),
		step('list PersistentVolumes until the claim\'s provisioned volume is gone', { path: '/api/v1/persistentvolumes' }, {
			poll: reply => !reply.body?.items?.some((item: any) => item.spec?.claimRef?.name === 'scratch'),
			extra: body => ({ names: body?.items?.map((item: any) => item.metadata.name) }),
		}),
		step('delete Namespace', { method: 'DELETE', path: `/api/v1/namespaces/${ns}` }, { extra: body => ({ phase: body?.status?.phase, deleting: body?.metadata?.deletionTimestamp !== undefined }) }),
		step('get Namespace until 404', { path: `/api/v1/namespaces/${ns}` }, { poll: reply => reply.code === 404, pollMs: 120_000 }),
		step('get a Secret of the deleted namespace (404)', { path: `/api/v1/namespaces/${ns}/secrets/hub` }),
		step('get PersistentVolume until its deleted claim released it', { path: `/api/v1/persistentvolumes/${volume.metadata.name}` }, {
			poll: reply => reply.body?.status?.phase === 'Released',
			extra: body => ({ phase: body?.status?.phase, claim: body?.spec?.claimRef?.name, boundByController: body?.metadata?.annotations?.['pv.kubernetes.io/bound-by-controller'] }),
		}),
		step('delete PersistentVolume', { method: 'DELETE', path: `/api/v1/persistentvolumes/${volume.metadata.name}` }, {
			extra: body => ({ name: body?.metadata?.name, deleting: body?.metadata?.deletionTimestamp !== undefined, finalizers: body?.metadata?.finalizers }),
		}),
		step('get PersistentVolume until 404', { path: `/api/v1/persistentvolumes/${volume.metadata.name}` }, { poll: reply => reply.code === 404 }),
	];
}

// ---------------------------------------------------------------------------------------------
// Known divergences: each step allowed to differ, the view paths that may, and why they stay.

const knownDivergences: Record<string, { paths: string[]; why: string }> = {
	'discovery /api/v1': {
		paths: ['resources.Namespace.otherSubresources', 'resources.Pod.otherSubresources', 'resources.Service.otherSubresources', 'resources.ServiceAccount.otherSubresources'],
		why: 'the sandbox serves one subresource, status; it runs no containers, proxies nothing and issues no tokens, so it does not announce exec, log, proxy, eviction or token (nub uses none)',
	},
	'discovery /apis/apps/v1': {
		paths: ['resources.Deployment.otherSubresources'],
		why: 'nor the scale subresource (kubectl scale; nub sets replicas by apply)',
	},
	'list ConfigMaps (whole namespace)': {
		paths: ['fields.names'],
		why: 'the real controller manager publishes a ConfigMap kube-root-ca.crt (and a ServiceAccount default) into every namespace; the sandbox does not. nub finds its objects by name, never by what else a namespace holds, and tests that compare sandbox contents would see the CA of each sandbox',
	},
	'create ConfigMap with an unknown field (no fieldValidation: the default)': {
		paths: ['fields.extra'],
		why: 'the real server drops a field its Go type does not have (with a warning); the sandbox has no Go types and keeps it. nub checks every manifest against its kind\'s schema before sending it, so no unknown field reaches a server from nub',
	},
	'create ConfigMap with an unknown field, fieldValidation=Strict (kubectl create)': {
		paths: ['code', 'status', 'kind'],
		why: 'likewise, kubectl\'s strict field validation (a 400 naming the unknown field) needs the types the sandbox does not have; kubectl users of the sandbox see a typo accepted',
	},
};

/** The paths (`fields.kept.spec.x`) where two views differ. */
function differences(a: unknown, b: unknown, path = ''): string[] {
	if (isDeepStrictEqual(a, b)) return [];
	const isObject = (value: unknown) => value !== null && typeof value === 'object';
	if (isObject(a) && isObject(b) && Array.isArray(a) === Array.isArray(b)) {
		const keys = new Set([...Object.keys(a as object), ...Object.keys(b as object)]);
		return [...keys].flatMap(key => differences((a as any)[key], (b as any)[key], path ? `${path}.${key}` : key));
	}
	return [path || '(all)'];
}

test('the sandbox answers the sequence of requests as the real API server does', async t => {
	t.timeout(600_000);
	const [{ sandbox }, cluster] = await Promise.all([withSandbox(t), realCluster(t)]);
	const sides: Side[] = [
		{ endpoint: endpointOf('sandbox', sandbox.kubeconfigPath, 'nub-sandbox'), memory: new Map() },
		{ endpoint: endpointOf('real', cluster.kubeconfig, cluster.context), memory: new Map() },
	];
	const rows: Array<{ step: Step; identical: boolean; paths: string[]; views: unknown[]; replies: Reply[] }> = [];
	for (const current of steps()) {
		const replies = await Promise.all(sides.map(side => current.run(side)));
		const views = sides.map((side, i) => current.view(replies[i]!, side));
		const paths = differences(views[0], views[1]);
		rows.push({ step: current, identical: paths.length === 0, paths, views, replies });
	}
	if (process.env.NUB_DIFFERENTIAL_DUMP) {
		writeFileSync(process.env.NUB_DIFFERENTIAL_DUMP, JSON.stringify(rows.map(row => ({ name: row.step.name, request: row.step.request, identical: row.identical, paths: row.paths, views: row.views, replies: row.replies })), null, 2));
	}
	const identical = rows.filter(row => row.identical).length;
	t.log(`${rows.length} requests compared, ${identical} identical`);
	for (const row of rows) t.log(`${row.identical ? 'identical' : 'differs  '}  ${row.step.name}  (${row.step.request})${row.identical ? '' : `\n             at ${row.paths.join(', ')}: ${knownDivergences[row.step.name]?.why ?? 'NOT EXPLAINED'}`}`);

	t.is(new Set(rows.map(row => row.step.name)).size, rows.length, 'step names are unique');
	t.deepEqual(Object.keys(knownDivergences).filter(name => !rows.some(row => row.step.name === name)), [], 'every known divergence names a step');
	for (const row of rows) {
		const known = knownDivergences[row.step.name];
		if (row.identical) {
			t.true(known === undefined, `${row.step.name}: listed as a known divergence but identical now; remove it from the list`);
			continue;
		}
		const unexplained = row.paths.filter(path => !known?.paths.some(allowed => path === allowed || path.startsWith(`${allowed}.`)));
		t.deepEqual(unexplained, [], `${row.step.name}: sandbox ${JSON.stringify(row.views[0])} real ${JSON.stringify(row.views[1])}`);
	}
});
