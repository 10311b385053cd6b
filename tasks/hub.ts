import { createHash, createHmac, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { task, type KubeObject, type Task } from 'nub';
import { madeFromUnknown } from '../lib/engine/changes.ts';
import { secretManifest } from '../lib/k8s/secret.ts';
import { timeoutOf } from '../lib/config/nublado.ts';
import { applyTask, type Applied } from './apply.ts';
import { credentialsOf, credentialTask } from './credentials.ts';
import { folderMapTask, type FolderMap } from './landing.ts';
import type { Deployment } from './platform.ts';
import type { SecretTasks } from './secrets.ts';

/**
 * JupyterHub and its proxy. Secret hub holds the OAuth settings, the session database URL, the
 * crypto key and the proxy token; ConfigMap hub-config holds hub/config/, and its checksum
 * on the Deployment makes a configuration change roll the hub (the manual's "redeploy"). The
 * proxy comes after the hub's Service and Secret exist: it reads both when it starts.
 */
export function hubTasks(
	deployment: Deployment,
	upstream: { namespace: Task<Applied>; tls: Task<Applied>; nfsServiceIp: Task<string>; secrets: SecretTasks },
) {
	const { config } = deployment;
	const ns = config.namespace;
	const { oauth } = config;
	const { oauthClientSecret } = credentialsOf(config);
	const oauthSecret = oauth.provider === 'jwt' ? undefined : credentialTask('oauth-client-secret', 'hub', oauthClientSecret!, deployment);
	const { hubCryptoKey, proxyToken } = upstream.secrets;
	const hubSecret = task({
		name: 'hub-secret',
		description: 'Secret hub: OAuth settings, session database, crypto key, proxy token',
		group: 'hub',
		secret: 'inputs',
		// A manifest from values: `nub plan --diff` builds it to show what the hub would apply.
		pure: true,
		needs: (oauthSecret ? { hubCryptoKey, proxyToken, oauthSecret } : { hubCryptoKey, proxyToken }) as { hubCryptoKey: Task<string>; proxyToken: Task<string>; oauthSecret?: Task<string> },
		inputs: { config: { ns, oauth, sessionDbUrl: config.hub.sessionDbUrl } },
		run: ({ hubCryptoKey, proxyToken, oauthSecret }) => {
			const groups = (list: string[]) => list.join(',');
			const github = oauth.provider === 'github';
			return secretManifest({
				name: 'hub',
				namespace: ns,
				data: {
					oauth_client_id: oauth.clientId ?? '',
					oauth_secret: oauthSecret ?? '',
					oauth_callback_url: oauth.callbackUrl,
					github_organization_whitelist: github ? groups(oauth.allowedGroups) : '',
					github_organization_denylist: github ? groups(oauth.deniedGroups) : '',
					cilogon_group_whitelist: oauth.provider === 'cilogon' ? groups(oauth.allowedGroups) : '',
					cilogon_group_denylist: oauth.provider === 'cilogon' ? groups(oauth.deniedGroups) : '',
					session_db_url: config.hub.sessionDbUrl,
					jupyterhub_crypto_key: hubCryptoKey,
					configproxy_auth_token: proxyToken,
				},
			});
		},
	});
	const hubConfig = folderMapTask({
		name: 'hub-config',
		group: 'hub',
		description: `ConfigMap hub-config from ${config.hub.configFolder}/ (jupyterhub_config.py and the NN-*.py files it loads)`,
		configMap: 'hub-config',
		namespace: ns,
		folder: config.hub.configFolder,
	});
	const resourceMap = folderMapTask({
		name: 'hub-resources',
		group: 'hub',
		description: 'ConfigMap resourcemap from hub/resources/ (users and groups with bigger labs)',
		configMap: 'resourcemap',
		namespace: ns,
		folder: 'hub/resources',
	});
	const jwtCertificate = oauth.provider === 'jwt' ? jwtCertificateTask(oauth.jwtCertificate!) : undefined;
	const lab = config.lab;
	// The proxy first, with what it and the hub read at start: Secret hub and both Services.
	const proxy = applyTask({
		name: 'proxy',
		description: `the configurable-http-proxy, Secret hub, the hub's and proxy's Services, and the Ingress at ${config.routes.hub}`,
		group: 'proxy',
		needs: { namespace: upstream.namespace, tls: upstream.tls, hubSecret },
		templates: ['hub/services.yaml', 'proxy/proxy.yaml'],
		values: () => ({ NAMESPACE: ns, HOSTNAME: config.hostname, HUB_ROUTE: config.routes.hub, MAX_HTTP_HEADER_SIZE: config.hub.maxHttpHeaderSize }),
		objects: ({ hubSecret }) => [hubSecret],
		rollouts: [{ kind: 'Deployment', namespace: ns, name: 'proxy' }],
		timeoutMs: timeoutOf(config, 'proxy'),
	});
	const hub = applyTask({
		name: 'hub',
		description: 'JupyterHub: configuration, permissions, storage, Deployment (after the proxy, which it asks for routes at start)',
		group: 'hub',
		needs: { namespace: upstream.namespace, nfsIp: upstream.nfsServiceIp, proxy, hubSecret, hubConfig, resourceMap, ...(jwtCertificate ? { jwtCertificate } : {}) } as HubNeeds,
		templates: ['hub/hub.yaml'],
		fields: { HUB_IMAGE: 'hub.image' },
		values: ({ nfsIp, hubSecret, hubConfig, resourceMap, jwtCertificate }) => ({
			NAMESPACE: ns,
			HOSTNAME: config.hostname,
			HUB_ROUTE: config.routes.hub,
			FIREFLY_ROUTE: config.routes.firefly,
			OAUTH_PROVIDER: oauth.provider,
			HUB_IMAGE: config.hub.image,
			DEBUG: config.hub.debug ? 'true' : '',
			NFS_SERVER_IP: nfsIp,
			LAB_SELECTOR_TITLE: lab.selectorTitle,
			LAB_IMAGE: lab.image ?? '',
			LAB_REPO_HOST: lab.repoHost,
			LAB_REPO_OWNER: lab.repoOwner,
			LAB_REPO_NAME: lab.repoName,
			LAB_IDLE_TIMEOUT: String(lab.idleTimeout),
			LAB_MEM_LIMIT: lab.limits.memory,
			LAB_CPU_LIMIT: String(lab.limits.cpu),
			LAB_MEM_GUARANTEE: lab.guarantees.memory,
			LAB_CPU_GUARANTEE: String(lab.guarantees.cpu),
			TINY_MAX_CPU: String(lab.sizes.tinyCpu),
			MB_PER_CPU: String(lab.sizes.mbPerCpu),
			SIZE_INDEX: String(['tiny', 'small', 'medium', 'large'].indexOf(lab.sizes.default)),
			LAB_SIZE_RANGE: String(lab.sizes.range),
			ALLOW_DASK_SPAWN: lab.allowDask ? 'true' : '',
			MAX_DASK_WORKERS: String(lab.maxDaskWorkers),
			CILOGON_HOST: oauth.cilogonHost,
			CILOGON_IDP: oauth.cilogonIdp ?? '',
			JWT: oauth.provider === 'jwt',
			// Every file the hub reads at start: a change to any rolls it.
			CONFIG_CHECKSUM: createHash('sha256').update([hubConfig?.checksum, resourceMap?.checksum, jwtCertificate ?? ''].join('\0')).digest('hex').slice(0, 16),
			SECRET_CHECKSUM: secretChecksum(hubSecret),
		}),
		preview: { nfsIp: '10.96.0.10', hubConfig: previewMap, resourceMap: previewMap },
		objects: ({ hubConfig, resourceMap, jwtCertificate }) => [
			hubConfig.configMap,
			resourceMap.configMap,
			mountpointsMap(ns),
			...(jwtCertificate ? [{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'jwt-cert', namespace: ns }, data: { 'signing-certificate.pem': jwtCertificate } }] : []),
		],
		rollouts: [{ kind: 'Deployment', namespace: ns, name: 'hub' }],
		timeoutMs: timeoutOf(config, 'hub'),
	});
	return { hubSecret, hubConfig, resourceMap, hub, proxy, ...(jwtCertificate ? { jwtCertificate } : {}), ...(oauthSecret ? { oauthSecret } : {}) };
}

type HubNeeds = { namespace: Task<Applied>; nfsIp: Task<string>; proxy: Task<Applied>; hubSecret: Task<KubeObject>; hubConfig: Task<FolderMap>; resourceMap: Task<FolderMap>; jwtCertificate?: Task<string> };

const previewMap: FolderMap = { configMap: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'preview' } }, checksum: '0' };

/**
 * What the spawner mounts in every lab (mountpoints.json, ConfigMap fs-mounts): the fileserver's
 * exports, at the paths the labs and keepalive use, read-only where the data is shared. The
 * server is the hub's EXTERNAL_FILESERVER_IP (each entry may name its own: fileserver-host).
 */
export const mountpoints = [
	{ mountpoint: '/home', mode: 'rw', 'fileserver-export': '/exports/home' },
	{ mountpoint: '/scratch', mode: 'rw', 'fileserver-export': '/exports/scratch' },
	{ mountpoint: '/project', mode: 'rw', 'fileserver-export': '/exports/project' },
	{ mountpoint: '/datasets', mode: 'ro', 'fileserver-export': '/exports/datasets' },
	{ mountpoint: '/software', mode: 'ro', 'fileserver-export': '/exports/software' },
	{ mountpoint: '/lsstdata/offline/teststand', mode: 'ro', 'fileserver-export': '/exports/teststand' },
];

function mountpointsMap(namespace: string): KubeObject {
	return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'fs-mounts', namespace }, data: { 'mountpoints.json': `${JSON.stringify(mountpoints, null, 2)}\n` } };
}

/**
 * The identity provider's token-signing certificate (jwt), from the file the configuration names:
 * checked before anything runs to be a PEM certificate, and reread when it changes.
 */
function jwtCertificateTask(file: string): Task<string> {
	const read = (root: string) => {
		const path = isAbsolute(file) ? file : join(root, file);
		let text: string;
		try {
			text = readFileSync(path, 'utf8');
		} catch (error) {
			throw new Error(`oauth.jwtCertificate: cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
		}
		try {
			new X509Certificate(text);
		} catch {
			throw new Error(`oauth.jwtCertificate: ${file} is not a PEM certificate`);
		}
		return text;
	};
	return task({
		name: 'jwt-certificate',
		description: 'the identity provider\'s token-signing certificate (oauth.jwtCertificate)',
		group: 'hub',
		inputs: { files: [file] },
		preflight: ({ root }) => void read(root),
		pure: true,
		run: (_, { root }) => read(root),
	});
}

/**
 * Secret hub's values as an HMAC keyed by its own crypto key: it changes when any value does (a
 * rotated key, a new OAuth secret) and reveals none of them. `0` before the Secret is made (preview).
 */
export function secretChecksum(secret: KubeObject | undefined): string {
	const data = (secret?.data ?? undefined) as Record<string, string> | undefined;
	if (!data?.jupyterhub_crypto_key) return '0';
	// In a plan's diff, a value still to be made stands in as a marker: what is made from it is too.
	const unknown = Object.values(data).map(value => Buffer.from(value, 'base64').toString('utf8')).find(madeFromUnknown);
	if (unknown) return unknown;
	const key = Buffer.from(data.jupyterhub_crypto_key, 'base64');
	const values = Object.keys(data).sort().map(name => `${name}=${data[name]}`).join('\n');
	return createHmac('sha256', key).update(values).digest('hex').slice(0, 16);
}
