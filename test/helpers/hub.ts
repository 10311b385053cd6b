import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { KubeObject } from '../../lib/k8s/objects.ts';
import { builtHubEnvironment } from './hub-env.ts';
import { repoRoot } from './project.ts';
import type { RealCluster } from './real-cluster.ts';
import { requireProgram } from './tools.ts';

type Container = {
	env?: Array<{ name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string; optional?: boolean }; configMapKeyRef?: { name: string; key: string } } }>;
	volumeMounts?: Array<{ name: string; mountPath: string }>;
};
type Volume = { name: string; configMap?: { name: string }; secret?: { secretName: string }; persistentVolumeClaim?: { claimName: string } };

/** A process started as a pod's container would be: its output kept for the test's messages. */
export interface Started {
	child: ChildProcess;
	output(): string;
	exited: Promise<number | null>;
	stop(signal?: NodeJS.Signals): Promise<void>;
}

function started(child: ChildProcess): Started {
	let output = '';
	child.stdout?.setEncoding('utf8').on('data', chunk => (output += chunk));
	child.stderr?.setEncoding('utf8').on('data', chunk => (output += chunk));
	const exited = new Promise<number | null>(resolve => child.on('exit', code => resolve(code)));
	return {
		child,
		output: () => output,
		exited,
		stop: async (signal = 'SIGTERM') => {
			if (child.exitCode === null && child.signalCode === null) child.kill(signal);
			await exited;
		},
	};
}

/** A free loopback port. */
export function freePort(): Promise<number> {
	return new Promise((resolve, reject) => {
		const server = createServer();
		server.once('error', reject);
		server.listen(0, '127.0.0.1', () => {
			const { port } = server.address() as { port: number };
			server.close(() => resolve(port));
		});
	});
}

/** Whether something listens on 127.0.0.1:`port`. */
export function portTaken(port: number): Promise<boolean> {
	return new Promise(resolve => {
		const server = createServer();
		server.once('error', () => resolve(true));
		server.listen(port, '0.0.0.0', () => server.close(() => resolve(false)));
	});
}

/** The real configurable-http-proxy from npm, with the token it is given. */
export function startProxy(options: { token: string; port: number; apiPort: number; hubUrl: string; route: string }): Started {
	const bin = join(repoRoot, 'node_modules/.bin/configurable-http-proxy');
	const child = spawn(bin, ['--ip', '127.0.0.1', '--port', String(options.port), '--api-ip', '127.0.0.1', '--api-port', String(options.apiPort), '--error-target', `${options.hubUrl}${options.route}/hub/error`], {
		env: { ...process.env, CONFIGPROXY_AUTH_TOKEN: options.token },
		stdio: ['ignore', 'pipe', 'pipe'],
	});
	return started(child);
}

/**
 * The hub of a deployed nublado, started as its pod would start it: `jupyterhub -f` the
 * rendered jupyterhub_config.py, with the Deployment's environment (Secret values resolved), the
 * variables Kubernetes gives a pod for each Service of its namespace (`overrides` point some at
 * what runs here instead), the ConfigMaps and Secrets mounted at their paths and an empty folder
 * for each claim (a private mount namespace, `unshare -m`, puts them at /opt/lsst/..., /home/...),
 * and the hub ServiceAccount's token where client libraries look for it in a pod. It runs as root:
 * the Python environment is in root's cache folder, which user 768 cannot read.
 */
export async function startHubAsItsPod(options: { cluster: RealCluster; namespace: string; overrides: Record<string, string> }): Promise<Started & { env: Record<string, string> }> {
	const { cluster, namespace } = options;
	const python = builtHubEnvironment();
	if (!python) throw new Error("the hub's Python environment is not made: npm run setup (the README's test command makes it)");
	requireProgram('unshare', 'util-linux');
	const deployment = (await cluster.admin.read({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'hub', namespace } })) as KubeObject & { spec: { template: { spec: { containers: Container[]; volumes: Volume[] } } } };
	const pod = deployment.spec.template.spec;
	const container = pod.containers[0]!;
	const read = async (kind: 'Secret' | 'ConfigMap', name: string) => (await cluster.admin.read({ apiVersion: 'v1', kind, metadata: { name, namespace } })) as (KubeObject & { data?: Record<string, string>; binaryData?: Record<string, string> }) | undefined;

	// The environment: the Deployment's, then each Service's variables as a kubelet writes them.
	const env: Record<string, string> = {};
	for (const variable of container.env ?? []) {
		if (variable.value !== undefined) env[variable.name] = variable.value;
		const ref = variable.valueFrom?.secretKeyRef;
		if (ref) {
			const data = (await read('Secret', ref.name))?.data?.[ref.key];
			if (data === undefined && !ref.optional) throw new Error(`the hub's ${variable.name} names Secret ${ref.name} key ${ref.key}, which is not there`);
			if (data !== undefined) env[variable.name] = Buffer.from(data, 'base64').toString('utf8');
		}
	}
	for (const service of await cluster.admin.list('v1', 'Service', namespace)) {
		const prefix = service.metadata.name.toUpperCase().replaceAll('-', '_');
		const spec = service.spec as { clusterIP: string; ports: Array<{ name?: string; port: number }> };
		env[`${prefix}_SERVICE_HOST`] = spec.clusterIP;
		env[`${prefix}_SERVICE_PORT`] = String(spec.ports[0]!.port);
		for (const port of spec.ports) if (port.name) env[`${prefix}_SERVICE_PORT_${port.name.toUpperCase().replaceAll('-', '_')}`] = String(port.port);
	}
	const apiserver = new URL(cluster.server);
	Object.assign(env, { KUBERNETES_SERVICE_HOST: apiserver.hostname, KUBERNETES_SERVICE_PORT: apiserver.port, HOME: '/home/jovyan' }, options.overrides);

	// The files: each mount's ConfigMap or Secret keys, an empty folder for a claim.
	const stage = mkdtempSync(join(tmpdir(), 'nub-hub-pod-'));
	const mounts: string[] = [];
	for (const mount of container.volumeMounts ?? []) {
		const volume = pod.volumes.find(candidate => candidate.name === mount.name)!;
		const folder = join(stage, 'mounts', String(mounts.length));
		mkdirSync(folder, { recursive: true });
		const source = volume.configMap ? await read('ConfigMap', volume.configMap.name) : volume.secret ? await read('Secret', volume.secret.secretName) : undefined;
		if ((volume.configMap || volume.secret) && !source) throw new Error(`the hub mounts ${volume.configMap ? 'ConfigMap' : 'Secret'} ${volume.configMap?.name ?? volume.secret?.secretName}, which is not there`);
		for (const [key, value] of Object.entries(source?.data ?? {})) writeFileSync(join(folder, key), volume.secret ? Buffer.from(value, 'base64') : value);
		for (const [key, value] of Object.entries(source?.binaryData ?? {})) writeFileSync(join(folder, key), Buffer.from(value, 'base64'));
		mounts.push(`${folder} ${mount.mountPath}`);
	}
	// The ServiceAccount's token, as the kubelet projects it.
	const account = join(stage, 'serviceaccount');
	mkdirSync(account);
	const { stdout: token } = await promisify(execFile)(cluster.build.kubectl, ['--kubeconfig', cluster.kubeconfig, '--context', cluster.adminContext, '-n', namespace, 'create', 'token', 'hub', '--duration=2h']);
	writeFileSync(join(account, 'token'), token.trim());
	writeFileSync(join(account, 'ca.crt'), Buffer.from(/certificate-authority-data: (\S+)/.exec(readFileSync(cluster.kubeconfig, 'utf8'))![1]!, 'base64'));
	writeFileSync(join(account, 'namespace'), namespace);
	mounts.push(`${account} /var/run/secrets/kubernetes.io/serviceaccount`);

	// Inside a private mount namespace: tmpfs over the top folders the mounts go under (the host's
	// stay as they are), then each mount bound at its path, then the hub.
	const tops = [...new Set(mounts.map(line => `/${line.split(' ')[1]!.split('/').filter(Boolean)[0]}`))].map(top => (top === '/var' ? '/run' : top));
	const script = [
		'set -e',
		...tops.map(top => `mount -t tmpfs tmpfs ${top}`),
		...mounts.map(line => {
			const [from, to] = line.split(' ');
			const target = to!.replace(/^\/var\/run\//, '/run/');
			return `mkdir -p ${target} && mount --bind ${from} ${target}`;
		}),
		'cd /home/jovyan',
		`exec ${join(python, 'bin', 'jupyterhub')} -f /opt/lsst/software/jupyterhub/config/jupyterhub_config.py`,
	].join('\n');
	writeFileSync(join(stage, 'start.sh'), script);
	const child = spawn('unshare', ['-m', '--propagation', 'private', '/bin/sh', join(stage, 'start.sh')], {
		env: { PATH: `${join(python, 'bin')}:/usr/local/bin:/usr/bin:/bin`, ...env },
		stdio: ['ignore', 'pipe', 'pipe'],
	});
	const hub = started(child);
	void hub.exited.then(() => rmSync(stage, { recursive: true, force: true }));
	return { ...hub, env };
}
