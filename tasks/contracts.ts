/**
 * Image contracts: what each image nublado deploys needs from its pod (templates/contracts.yaml),
 * read from the images' sources, and the check of rendered objects against them. A manifest
 * that runs an image with a command it lacks, names an environment variable it never reads, or
 * leaves out a file it reads fails here, where the sandbox would have rolled it out anyway.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import type { KubeObject } from 'nub';

/** What one image needs. Every fact says where it comes from (`source`). */
export interface ImageContract {
	/** Where in lsst-sqre/jupyterlabdemo (at e29d0ec, or the commit named) the facts come from. */
	source: string;
	/** The image's own command (its Dockerfile's CMD or ENTRYPOINT): a container gives this or none. */
	command?: string[];
	/** The user the image runs as (its Dockerfile's USER); a pod that sets one must set this. */
	user?: number;
	/** Ports it listens on: the container must declare them. */
	ports?: number[];
	env?: {
		/** Variables it cannot start without. */
		required?: string[];
		/** Variables it reads when set. Any other is a variable the image never reads. */
		optional?: string[];
	};
	/** Files it reads, which the pod must provide: each under a mount, and in the ConfigMap or Secret mounted there. */
	files?: string[];
	/** Folders it writes: a volume that is not a ConfigMap or Secret, mounted writable. */
	writable?: string[];
	/** It needs a privileged container (an NFS server). */
	privileged?: boolean;
	/** It must have CPU and memory requests and limits (the original manifests set them). */
	resources?: boolean;
}

/** The contracts file, beside the templates it checks. */
export const contractsFile = join('templates', 'contracts.yaml');

/** The contracts of `root`'s templates/contracts.yaml, by image repository (no tag). */
export function loadContracts(root: string): Record<string, ImageContract> {
	return parse(readFileSync(join(root, contractsFile), 'utf8')) as Record<string, ImageContract>;
}

/** `docker.io/lsstsqre/sciplat-hub:0.16.6` -> `lsstsqre/sciplat-hub`. */
export function imageRepository(image: string): string {
	const withoutDigest = image.split('@')[0]!;
	const lastColon = withoutDigest.lastIndexOf(':');
	const repository = lastColon > withoutDigest.lastIndexOf('/') ? withoutDigest.slice(0, lastColon) : withoutDigest;
	return repository.replace(/^(docker\.io|registry\.hub\.docker\.com)\//, '');
}

type Container = { name: string; image: string; command?: string[]; env?: Array<{ name: string }>; ports?: Array<{ containerPort: number }>; volumeMounts?: Array<{ name: string; mountPath: string; subPath?: string; readOnly?: boolean }>; securityContext?: { privileged?: boolean; runAsUser?: number }; resources?: { requests?: Record<string, unknown>; limits?: Record<string, unknown> } };
type Volume = { name: string; configMap?: { name: string; items?: Array<{ key: string; path: string }> }; secret?: { secretName: string; items?: Array<{ key: string; path: string }> }; [source: string]: unknown };
type PodSpec = { containers: Container[]; initContainers?: Container[]; volumes?: Volume[]; securityContext?: { runAsUser?: number } };

/** The pod template of a workload, or undefined for other kinds. */
function podSpecOf(object: KubeObject): PodSpec | undefined {
	const spec = object.spec as Record<string, any> | undefined;
	if (['Deployment', 'DaemonSet', 'StatefulSet', 'ReplicaSet', 'Job'].includes(object.kind)) return spec?.template?.spec;
	if (object.kind === 'CronJob') return spec?.jobTemplate?.spec?.template?.spec;
	if (object.kind === 'Pod') return spec as PodSpec;
	return undefined;
}

/**
 * Every way the objects' containers break their images' contracts, one line each naming the
 * object, the container and what is wrong; empty when every one holds.
 */
export function contractProblems(objects: readonly KubeObject[], contracts: Readonly<Record<string, ImageContract>>): string[] {
	const problems: string[] = [];
	const keysOf = (kind: 'ConfigMap' | 'Secret', name: string, namespace: string | undefined): Set<string> | undefined => {
		const found = objects.find(object => object.kind === kind && object.metadata.name === name && object.metadata.namespace === namespace);
		return found ? new Set([...Object.keys((found.data as object | undefined) ?? {}), ...Object.keys((found.binaryData as object | undefined) ?? {})]) : undefined;
	};
	for (const object of objects) {
		const pod = podSpecOf(object);
		if (!pod) continue;
		const namespace = object.metadata.namespace;
		for (const container of [...(pod.initContainers ?? []), ...pod.containers]) {
			const where = `${object.kind} ${namespace ? `${namespace}/` : ''}${object.metadata.name}, container ${container.name}`;
			const problem = (text: string) => problems.push(`${where} (${container.image}): ${text}`);
			const contract = contracts[imageRepository(container.image)];
			if (!contract) {
				problem(`no contract for image ${imageRepository(container.image)} in ${contractsFile}`);
				continue;
			}
			if (container.command && JSON.stringify(container.command) !== JSON.stringify(contract.command)) {
				problem(`runs ${JSON.stringify(container.command)}; the image's command is ${JSON.stringify(contract.command ?? '(none given)')}`);
			}
			const user = container.securityContext?.runAsUser ?? pod.securityContext?.runAsUser;
			if (user !== undefined && contract.user !== undefined && user !== contract.user) problem(`runs as user ${user}; the image runs as ${contract.user}`);
			const names = new Set((container.env ?? []).map(variable => variable.name));
			const known = new Set([...(contract.env?.required ?? []), ...(contract.env?.optional ?? [])]);
			for (const name of contract.env?.required ?? []) if (!names.has(name)) problem(`sets no ${name}, which the image needs`);
			for (const name of names) if (!known.has(name)) problem(`sets ${name}, which the image never reads`);
			const ports = new Set((container.ports ?? []).map(port => port.containerPort));
			for (const port of contract.ports ?? []) if (!ports.has(port)) problem(`declares no port ${port}, which the image listens on`);
			if (contract.privileged && container.securityContext?.privileged !== true) problem('is not privileged, which the image needs');
			if (contract.resources) {
				for (const side of ['requests', 'limits'] as const) {
					for (const resource of ['cpu', 'memory']) if (container.resources?.[side]?.[resource] === undefined) problem(`has no ${resource} ${side.slice(0, -1)}`);
				}
			}
			const mounts = container.volumeMounts ?? [];
			const volumeOf = (name: string) => (pod.volumes ?? []).find(volume => volume.name === name);
			// The mount a path is under: the deepest one whose mountPath is it or a folder above it.
			const mountFor = (path: string) =>
				mounts.filter(mount => path === mount.mountPath || path.startsWith(`${mount.mountPath.replace(/\/$/, '')}/`)).sort((a, b) => b.mountPath.length - a.mountPath.length)[0];
			for (const file of contract.files ?? []) {
				const mount = mountFor(file);
				if (!mount) {
					problem(`mounts nothing at ${file}, which the image reads`);
					continue;
				}
				const volume = volumeOf(mount.name);
				const relative = mount.subPath ? mount.subPath : file.slice(mount.mountPath.replace(/\/$/, '').length + 1);
				const source = volume?.configMap ? { kind: 'ConfigMap' as const, name: volume.configMap.name, items: volume.configMap.items } : volume?.secret ? { kind: 'Secret' as const, name: volume.secret.secretName, items: volume.secret.items } : undefined;
				if (!source || relative === '') continue;
				const key = source.items ? source.items.find(item => item.path === relative)?.key : relative;
				const keys = keysOf(source.kind, source.name, namespace);
				if (key === undefined) problem(`${file}: ${source.kind} ${source.name} is mounted at ${mount.mountPath} with items that do not include ${relative}`);
				else if (keys && !keys.has(key)) problem(`${file}: ${source.kind} ${source.name}, mounted at ${mount.mountPath}, has no key ${key}`);
			}
			for (const folder of contract.writable ?? []) {
				const mount = mountFor(folder);
				const volume = mount && volumeOf(mount.name);
				if (!mount || mount.readOnly || !volume || volume.configMap || volume.secret) problem(`has no writable volume at ${folder}, where the image writes`);
			}
		}
	}
	return problems;
}
