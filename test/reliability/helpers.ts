/**
 * Shared pieces of the reliability tests: a seeded generator, the nublado project and its sandbox,
 * the secrets read from the state as nub reads them, the cluster's objects normalized so two
 * deployments compare, whole `--json` lines, and the forms a secret can take in text.
 */
import { lstatSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { createSealer } from '../../lib/engine/sealer.ts';
import { StateStore } from '../../lib/engine/state-store.ts';
import { mulberry32 } from '../../lib/sandbox/faults.ts';
import { startSandbox, type FaultOptions, type Sandbox } from '../../lib/sandbox/index.ts';
import type { KubeObject } from '../../lib/k8s/objects.ts';
import { secretChecksum } from '../../tasks/hub.ts';
import { makeNubladoProject, removeProject } from '../helpers/project.ts';

/** A seeded generator, uniform in [0, 1): the same seed gives the same numbers (mulberry32). */
export const seededRandom = mulberry32;

/** A seed from the environment variable `name` (to replay a failure), else a fresh one. */
export function seedFrom(name: string): number {
	const given = process.env[name];
	if (given !== undefined && given !== '') {
		const seed = Number(given);
		if (!Number.isInteger(seed) || seed < 0 || seed >= 2 ** 32) throw new Error(`${name} must be a whole number from 0 to 2^32-1, got ${given}`);
		return seed;
	}
	return Math.floor(Math.random() * 2 ** 32);
}

/**
 * The configuration of the reliability runs: the whole platform (ingress, TLS, fileserver and its
 * volumes, keepalive, hub, proxy, Firefly, prepuller, landing page) on the sandbox, with real but
 * quick 1024-bit DH parameters.
 */
export const nubladoYaml = `hostname: nublado.example.test
oauth:
  provider: jwt
  jwtCertificate: hub/example-signing-certificate.crt
tls:
  source: self-signed
dhparam:
  bits: 1024
`;

/** A nublado project with its own sandbox (small delays), removed at `close`. */
export interface Deployment {
	dir: string;
	sandbox: Sandbox;
	close(): Promise<void>;
}

export async function nubladoDeployment(options: { yaml?: string; files?: Record<string, string>; faults?: FaultOptions; delayMs?: number } = {}): Promise<Deployment> {
	const dir = makeNubladoProject({ 'nublado.yaml': options.yaml ?? nubladoYaml, ...options.files });
	const delay = options.delayMs ?? 50;
	const sandbox = await startSandbox({ dir: join(dir, '.nub/sandbox'), loadBalancerDelayMs: delay, rolloutDelayMs: delay, ...(options.faults ? { faults: options.faults } : {}) });
	let closed: Promise<void> | undefined;
	return {
		dir,
		sandbox,
		close: () =>
			(closed ??= (async () => {
				await sandbox.close();
				removeProject(dir);
			})()),
	};
}

/**
 * The outputs of the state's secret tasks, decrypted with the project's key as nub would
 * (`.nub/key`, or `key` when given as NUB_STATE_KEY).
 */
export function stateSecrets(dir: string, key?: string, state = StateStore.load(join(dir, '.nub'))): Record<string, unknown> {
	const stateDir = join(dir, '.nub');
	const sealer = createSealer({ stateDir, fromEnvironment: key, readOnly: true });
	const out: Record<string, unknown> = {};
	for (const name of state.names()) {
		const ok = state.lastSuccess(name);
		if (ok?.sealed !== undefined) out[name] = JSON.parse(sealer.open(ok.sealed, name, ok));
	}
	return out;
}

/** The tasks with a recorded success in the state, with their outputs (undefined for secret ones). */
export function stateOutputs(dir: string, state = StateStore.load(join(dir, '.nub'))): Map<string, unknown> {
	const out = new Map<string, unknown>();
	for (const name of state.names()) {
		const ok = state.lastSuccess(name);
		if (ok) out.set(name, ok.output);
	}
	return out;
}

/** The values made once by the deployment, as the state holds them (undefined: not made yet). */
export function madeOnce(secrets: Record<string, unknown>): Record<string, string | undefined> {
	const ca = secrets.ca as { certPem: string; keyPem: string; fingerprint: string } | undefined;
	const cert = secrets['tls-certificate'] as { certPem: string; keyPem: string } | undefined;
	return {
		'ca fingerprint': ca?.fingerprint,
		'ca key': ca?.keyPem,
		certificate: cert?.certPem,
		'certificate key': cert?.keyPem,
		'dh parameters': secrets['dh-params'] as string | undefined,
		'hub crypto key': secrets['hub-crypto-key'] as string | undefined,
		'proxy token': secrets['proxy-token'] as string | undefined,
		'firefly password': secrets['firefly-password'] as string | undefined,
	};
}

/** A cluster object as the sandbox stores it. */
export type ClusterObject = { apiVersion: string; kind: string; metadata: Record<string, any>; [key: string]: any };

/** Every object of the sandbox cluster of `dir` (what its API serves), from its saved state. */
export function clusterObjects(dir: string): ClusterObject[] {
	const state = JSON.parse(readFileSync(join(dir, '.nub/sandbox/state.json'), 'utf8')) as { objects: Array<{ object: ClusterObject }> };
	return state.objects.map(entry => entry.object);
}

const objectKey = (object: ClusterObject) => `${object.apiVersion} ${object.kind} ${object.metadata.namespace ? `${object.metadata.namespace}/` : ''}${object.metadata.name}`;

/**
 * The cluster's objects with what legitimately differs between two deployments of the same
 * configuration taken out, by object (`apiVersion kind namespace/name`), in a stable order:
 *
 * - what the server sets on every write: uid, resourceVersion, creationTimestamp, generation,
 *   managedFields (times), status (rollouts, load balancer addresses, bound phases), and the
 *   uid and resourceVersion in references to other objects (a volume's claimRef);
 * - what the server allocates in the order objects arrive (which varies with scheduling and with
 *   where a run was killed): Service cluster IPs, replaced wherever they appear (they flow into the
 *   NFS volumes, keepalive, the hub) by the name of their Service; node ports (presence only); the
 *   names of dynamically provisioned volumes (`pvc-<uid>`), replaced by their claim's;
 * - Secret data values (random per deployment): keys only. The values are checked against the
 *   state separately (`checkClusterAgainstState`);
 * - the values in `replace` (the state's random values that objects embed), by their placeholder;
 * - the prepuller's minute (chosen from the clock at the first deployment): `<minute>`;
 * - the hub's secret checksum (an HMAC of Secret hub's values): `<secret checksum>`, checked
 *   against the state separately.
 */
export function normalizeCluster(objects: readonly ClusterObject[], replace: Record<string, string> = {}): Record<string, unknown> {
	const substitutions: Array<[RegExp, string]> = [];
	for (const object of objects) {
		if (object.kind === 'Service' && typeof object.spec?.clusterIP === 'string' && object.spec.clusterIP !== 'None') {
			const ip = object.spec.clusterIP as string;
			substitutions.push([new RegExp(`(?<![0-9.])${ip.replaceAll('.', '\\.')}(?![0-9])`, 'g'), `<clusterIP of ${object.metadata.namespace}/${object.metadata.name}>`]);
		}
		if (object.kind === 'PersistentVolume' && /^pvc-[0-9a-f-]{36}$/.test(object.metadata.name) && object.spec?.claimRef) {
			substitutions.push([new RegExp(object.metadata.name, 'g'), `<volume of ${object.spec.claimRef.namespace}/${object.spec.claimRef.name}>`]);
		}
	}
	for (const [value, placeholder] of Object.entries(replace)) {
		if (value.length >= 8) substitutions.push([new RegExp(value.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), 'g'), placeholder]);
	}
	const text = (value: string) => substitutions.reduce((result, [pattern, placeholder]) => result.replace(pattern, placeholder), value);
	const walk = (value: unknown): unknown => {
		if (typeof value === 'string') return text(value);
		if (Array.isArray(value)) return value.map(walk);
		if (value && typeof value === 'object') {
			const out: Record<string, unknown> = {};
			for (const key of Object.keys(value).sort()) {
				const item = (value as Record<string, unknown>)[key];
				// References to other objects carry their uid and resourceVersion: server-set too.
				out[text(key)] = key === 'nodePort' || key === 'healthCheckNodePort' || key === 'uid' || key === 'resourceVersion' ? `<${key}>` : walk(item);
			}
			return out;
		}
		return value;
	};
	const result: Record<string, unknown> = {};
	for (const original of objects) {
		const object = structuredClone(original);
		const metadata = object.metadata;
		for (const field of ['uid', 'resourceVersion', 'creationTimestamp', 'generation', 'managedFields']) delete metadata[field];
		delete object.status;
		if (object.kind === 'Secret') {
			for (const field of ['data', 'stringData']) {
				if (object[field]) object[field] = Object.fromEntries(Object.keys(object[field]).sort().map(key => [key, '<value>']));
			}
		}
		if (object.kind === 'CronJob' && typeof object.spec?.schedule === 'string') object.spec.schedule = object.spec.schedule.replace(/^\d{1,2} /, '<minute> ');
		const annotations = object.spec?.template?.metadata?.annotations;
		if (annotations?.['nublado/secret-checksum']) annotations['nublado/secret-checksum'] = '<secret checksum>';
		const normalized = walk(object) as ClusterObject;
		result[objectKey(normalized)] = normalized;
	}
	return Object.fromEntries(Object.keys(result).sort().map(key => [key, result[key]]));
}

/**
 * The differences between the cluster and what the state says it should hold: the Secrets' data
 * are the state's Secret outputs, byte for byte; the JWT certificate ConfigMap holds the state's
 * chain; the prepuller runs at the state's minute. Empty when everything matches.
 */
export function checkClusterAgainstState(objects: readonly ClusterObject[], secrets: Record<string, unknown>, outputs: Map<string, unknown>, namespace = 'nublado'): string[] {
	const problems: string[] = [];
	const find = (kind: string, name: string) => objects.find(object => object.kind === kind && object.metadata.name === name && object.metadata.namespace === namespace);
	for (const [secret, task] of [['tls', 'tls-secret'], ['hub', 'hub-secret'], ['firefly', 'firefly-secret']] as const) {
		const inCluster = find('Secret', secret)?.data;
		const inState = (secrets[task] as { data?: Record<string, string> } | undefined)?.data;
		if (!inState) problems.push(`the state has no output of ${task}`);
		else if (JSON.stringify(inCluster) !== JSON.stringify(inState)) problems.push(`Secret ${secret} in the cluster is not the state's ${task}`);
	}
	const tls = (secrets['tls-secret'] as { data?: Record<string, string> } | undefined)?.data;
	const decoded = (key: string) => Buffer.from(tls?.[key] ?? '', 'base64').toString('utf8');
	const cert = secrets['tls-certificate'] as { certPem: string; keyPem: string; chainPem: string } | undefined;
	if (decoded('dhparam.pem') !== secrets['dh-params']) problems.push('Secret tls carries other DH parameters than the state');
	if (decoded('tls.key') !== cert?.keyPem) problems.push('Secret tls carries another key than the state');
	if (decoded('root_chain.pem') !== (secrets.ca as { certPem?: string } | undefined)?.certPem) problems.push('Secret tls carries another CA than the state');
	const hub = (secrets['hub-secret'] as { data?: Record<string, string> } | undefined)?.data;
	if (Buffer.from(hub?.jupyterhub_crypto_key ?? '', 'base64').toString() !== secrets['hub-crypto-key']) problems.push('Secret hub carries another crypto key than the state');
	if (Buffer.from(hub?.configproxy_auth_token ?? '', 'base64').toString() !== secrets['proxy-token']) problems.push('Secret hub carries another proxy token than the state');
	// With jwt, the identity provider's certificate the configuration names, as the state read it.
	const jwt = find('ConfigMap', 'jwt-cert')?.data?.['signing-certificate.pem'];
	if (outputs.has('jwt-certificate') && (jwt === undefined || jwt !== outputs.get('jwt-certificate'))) problems.push('ConfigMap jwt-cert does not hold the certificate the state read');
	const minute = outputs.get('prepuller-minute');
	const schedule = find('CronJob', 'prepuller')?.spec?.schedule;
	if (schedule !== `${minute} * * * *`) problems.push(`CronJob prepuller runs at ${schedule}, the state chose minute ${minute}`);
	const checksum = find('Deployment', 'hub')?.spec?.template?.metadata?.annotations?.['nublado/config-checksum'];
	if (typeof checksum !== 'string' || checksum === '') problems.push('Deployment hub has no configuration checksum');
	const secretSum = find('Deployment', 'hub')?.spec?.template?.metadata?.annotations?.['nublado/secret-checksum'];
	if (secretSum !== secretChecksum(secrets['hub-secret'] as KubeObject | undefined)) problems.push("Deployment hub's secret checksum is not that of the state's Secret hub");
	return problems;
}

/** The whole lines of `--json` output, parsed; a line cut off by a kill (no newline yet) is left out. */
export function wholeJsonLines(stdout: string): Array<Record<string, any>> {
	const end = stdout.lastIndexOf('\n');
	if (end === -1) return [];
	return stdout
		.slice(0, end)
		.split('\n')
		.filter(line => line.trim() !== '')
		.map(line => JSON.parse(line) as Record<string, any>);
}

/**
 * The forms a secret value can take in text, each with what it is: raw, its lines (a PEM's body
 * lines, shown on their own), hex, base64 (padded, unpadded, URL-safe) and, as it reads inside the
 * base64 of a longer text that embeds it, at each of the three byte alignments, cut to the
 * characters that depend on the value alone (as lib/engine/redact.ts redacts them). Forms shorter
 * than 12 characters are left out: they would match by chance.
 */
export function secretForms(value: string): Array<{ form: string; as: string }> {
	const bytes = Buffer.from(value, 'utf8');
	const forms: Array<{ form: string; as: string }> = [
		{ form: value, as: 'raw' },
		{ form: bytes.toString('hex'), as: 'hex' },
		{ form: bytes.toString('base64'), as: 'base64' },
		{ form: bytes.toString('base64').replace(/=+$/, ''), as: 'base64 unpadded' },
		{ form: bytes.toString('base64url'), as: 'base64url' },
	];
	for (const shift of [0, 1, 2]) {
		const shifted = Buffer.concat([Buffer.alloc(shift), bytes]);
		const whole = shifted.subarray(0, shifted.length - (shifted.length % 3));
		const inner = whole.toString('base64').slice([0, 2, 3][shift]);
		forms.push({ form: inner, as: `inside base64, offset ${shift}` }, { form: inner.replaceAll('+', '-').replaceAll('/', '_'), as: `inside base64url, offset ${shift}` });
	}
	value.split('\n').forEach((line, index) => {
		if (line.length >= 16 && line !== value && !line.startsWith('-----')) forms.push({ form: line, as: `line ${index + 1}` });
	});
	const seen = new Set<string>();
	return forms.filter(({ form }) => form.length >= 12 && !seen.has(form) && seen.add(form));
}

/** The regular files under `dir`, not following symbolic links, skipping the folders `skip` (relative paths). */
export function filesUnder(dir: string, skip: readonly string[] = []): string[] {
	const out: string[] = [];
	const visit = (folder: string) => {
		for (const entry of readdirSync(folder)) {
			const path = join(folder, entry);
			if (skip.includes(relative(dir, path))) continue;
			const stat = lstatSync(path);
			if (stat.isDirectory()) visit(path);
			else if (stat.isFile()) out.push(path);
		}
	};
	visit(dir);
	return out;
}

/**
 * Polls `check` every 10 ms until it is true; throws after `deadlineMs` (default 90 s: these tests
 * run whole deployments, on machines that may be busy).
 */
export async function waitUntil(check: () => boolean, what: string, deadlineMs = 90_000): Promise<void> {
	const deadline = Date.now() + deadlineMs;
	while (!check()) {
		if (Date.now() > deadline) throw new Error(`timed out after ${deadlineMs} ms waiting for ${what}`);
		await sleep(10);
	}
}

/** Resolves after `ms`. */
export const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms));

/** Runs `jobs` with at most `limit` at a time; results in the order of `jobs`. */
export async function pool<T>(limit: number, jobs: ReadonlyArray<() => Promise<T>>): Promise<T[]> {
	const results: T[] = new Array(jobs.length);
	let next = 0;
	const worker = async () => {
		while (next < jobs.length) {
			const index = next++;
			results[index] = await jobs[index]!();
		}
	};
	await Promise.all(Array.from({ length: Math.min(limit, jobs.length) }, worker));
	return results;
}

/** A counting semaphore: `run` waits for one of `limit` places. */
export function limiter(limit: number) {
	let active = 0;
	const waiting: Array<() => void> = [];
	return async <T>(job: () => Promise<T>): Promise<T> => {
		// A place is handed straight to the next waiter, so none is taken twice.
		if (active < limit) active++;
		else await new Promise<void>(resolve => waiting.push(resolve));
		try {
			return await job();
		} finally {
			const next = waiting.shift();
			if (next) next();
			else active--;
		}
	};
}
