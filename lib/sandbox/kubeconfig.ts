/**
 * The kubeconfig a sandbox writes beside its state: one cluster, an admin user and a read-only
 * viewer, each with a context; the admin's is current.
 */
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { Credentials } from './credentials.ts';
import { writeSecretFile } from './credentials.ts';

/** The context (and cluster and user) name of the admin. */
export const adminContext = 'nub-sandbox';
/** The context (and user) name of the read-only viewer. */
export const viewerContext = 'nub-sandbox-viewer';

/** Writes `<dir>/kubeconfig` for a server at `url`; returns its path. Rewritten on each start, as the port may change. */
export function writeKubeconfig(dir: string, url: string, credentials: Credentials): string {
	const config = {
		apiVersion: 'v1',
		kind: 'Config',
		clusters: [{ name: adminContext, cluster: { 'certificate-authority-data': Buffer.from(credentials.caPem).toString('base64'), server: url } }],
		users: [
			{ name: adminContext, user: { token: credentials.admin.token } },
			{ name: viewerContext, user: { token: credentials.viewer.token } },
		],
		contexts: [
			{ name: adminContext, context: { cluster: adminContext, user: adminContext, namespace: 'default' } },
			{ name: viewerContext, context: { cluster: adminContext, user: viewerContext, namespace: 'default' } },
		],
		'current-context': adminContext,
		preferences: {},
	};
	const path = join(dir, 'kubeconfig');
	writeSecretFile(path, stringify(config));
	return path;
}
