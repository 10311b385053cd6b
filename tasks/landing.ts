import { createHash } from 'node:crypto';
import { isAbsolute, resolve } from 'node:path';
import { task, type KubeObject, type Task } from 'nub';
import { configMapFromFolder } from '../lib/render/folder.ts';
import { timeoutOf } from '../lib/config/nublado.ts';
import { applyTask, type Applied } from './apply.ts';
import type { Deployment } from './platform.ts';

/** A ConfigMap built from a folder, and a checksum of it that rolls what mounts it. */
export interface FolderMap {
	configMap: KubeObject;
	checksum: string;
}

/**
 * ConfigMap `name` from `folder` (relative to the Nubfile, or absolute); reruns when a file of it
 * changes. Dotfiles are left out (see configMapFromFolder).
 */
export function folderMapTask(options: { name: string; group: string; description: string; configMap: string; namespace: string; folder: string }): Task<FolderMap> {
	return task({
		name: options.name,
		description: options.description,
		group: options.group,
		inputs: { files: [options.folder], config: { configMap: options.configMap, namespace: options.namespace } },
		// A ConfigMap from files: `nub plan --diff` builds it to show what would be applied.
		pure: true,
		// A file name that cannot be a key (not UTF-8, a space) stops the run before anything is applied.
		preflight: ({ root }) => void configMapFromFolder({ name: options.configMap, namespace: options.namespace, folder: resolve(root, options.folder), shown: options.folder, ...(isAbsolute(options.folder) ? {} : { within: root }) }),
		run: (_, { root }) => {
			const configMap = configMapFromFolder({ name: options.configMap, namespace: options.namespace, folder: resolve(root, options.folder), shown: options.folder, ...(isAbsolute(options.folder) ? {} : { within: root }) });
			const checksum = createHash('sha256').update(JSON.stringify([configMap.data ?? {}, configMap.binaryData ?? {}])).digest('hex').slice(0, 16);
			return { configMap, checksum };
		},
	});
}

/** The landing page at `/` (only when the hub is elsewhere): its files, nginx, Service, Ingress. */
export function landingTask({ config }: Deployment, needs: { namespace: Task<Applied>; tls: Task<Applied> }) {
	const content = folderMapTask({
		name: 'landing-content',
		group: 'landing',
		description: `ConfigMap landing-page-www from ${config.landing.folder}/`,
		configMap: 'landing-page-www',
		namespace: config.namespace,
		folder: config.landing.folder,
	});
	return applyTask({
		name: 'landing',
		description: 'the landing page at /',
		group: 'landing',
		needs: { ...needs, content },
		templates: ['landing/landing.yaml'],
		values: ({ content }) => ({ NAMESPACE: config.namespace, HOSTNAME: config.hostname, CONTENT_CHECKSUM: content.checksum }),
		preview: { content: { configMap: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'preview' } }, checksum: '0' } },
		objects: ({ content }) => [content.configMap],
		rollouts: [{ kind: 'Deployment', namespace: config.namespace, name: 'landing-page' }],
		timeoutMs: timeoutOf(config, 'landing'),
	});
}
