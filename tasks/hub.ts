import { task, type Task } from 'nub';
import { secretManifest } from '../lib/k8s/secret.ts';
import { applyTask, type Applied } from './apply.ts';
import { credentialTask } from './credentials.ts';
import { folderMapTask } from './landing.ts';
import type { Deployment } from './platform.ts';
import type { SecretTasks } from './secrets.ts';
import { exports } from './storage.ts';

/**
 * JupyterHub and its proxy. Secret hub holds the OAuth settings, the session database URL, the
 * crypto key and the proxy token; ConfigMap hub-config holds jupyterhub_config.d, and its checksum
 * on the Deployment makes a configuration change roll the hub (the manual's "redeploy"). The
 * proxy comes after the hub's Service and Secret exist: it reads both when it starts.
 */
export function hubTasks(
	{ config, credentials }: Deployment,
	upstream: { namespace: Task<Applied>; tls: Task<Applied>; nfsServiceIp: Task<string>; secrets: SecretTasks },
) {
	const ns = config.namespace;
	const { oauth } = config;
	const oauthSecret = oauth.provider === 'jwt' ? undefined : credentialTask('oauth-client-secret', 'hub', credentials.oauthClientSecret!);
	const { hubCryptoKey, proxyToken } = upstream.secrets;
	const hubSecret = task({
		name: 'hub-secret',
		description: 'Secret hub: OAuth settings, session database, crypto key, proxy token',
		group: 'hub',
		secret: 'inputs',
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
		description: `ConfigMap hub-config from ${config.hub.configFolder}/ (loaded in lexical order)`,
		configMap: 'hub-config',
		namespace: ns,
		folder: config.hub.configFolder,
	});
	const jwtCertificate = task({
		name: 'jwt-certificate',
		description: 'the certificate that checks JWT signatures (the deployment\'s chain)',
		group: 'hub',
		secret: 'inputs',
		needs: { certificate: upstream.secrets.tlsCertificate },
		run: ({ certificate }) => certificate.chainPem || certificate.certPem,
	});
	const hub = applyTask({
		name: 'hub',
		description: 'JupyterHub: Secret, configuration, permissions, storage, Service, Deployment',
		group: 'hub',
		needs: { namespace: upstream.namespace, nfsIp: upstream.nfsServiceIp, hubSecret, hubConfig, jwtCertificate },
		templates: ['hub/hub.yaml'],
		values: ({ nfsIp, hubConfig, jwtCertificate }) => ({
			NAMESPACE: ns,
			HOSTNAME: config.hostname,
			HUB_ROUTE: config.routes.hub,
			FIREFLY_ROUTE: config.routes.firefly,
			OAUTH_PROVIDER: oauth.provider,
			K8S_CONTEXT: config.kubernetes?.context ?? 'nub-sandbox',
			HUB_IMAGE: config.hub.image,
			LAB_IMAGE: config.lab.image ?? '',
			LAB_SELECTOR_TITLE: config.lab.selectorTitle,
			LAB_REPO_HOST: config.lab.repoHost,
			LAB_OWNER: config.lab.repoOwner,
			LAB_REPO_NAME: config.lab.repoName,
			NFS_SERVER_IP: nfsIp,
			MOUNTPOINTS: JSON.stringify(exports.map(({ EXPORT, READ_ONLY }) => ({ mountpoint: `/${EXPORT}`, server: nfsIp, path: `/exports/${EXPORT}`, readOnly: READ_ONLY }))),
			JWT_CERTIFICATE: jwtCertificate,
			CONFIG_CHECKSUM: hubConfig?.checksum,
		}),
		preview: { nfsIp: '10.96.0.10', hubConfig: { configMap: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'preview' } }, checksum: '0' }, jwtCertificate: 'preview' },
		objects: ({ hubSecret, hubConfig }) => [hubSecret, hubConfig.configMap],
		rollouts: [{ kind: 'Deployment', namespace: ns, name: 'hub' }],
	});
	const proxy = applyTask({
		name: 'proxy',
		description: `the configurable-http-proxy and its Ingress at ${config.routes.hub}`,
		group: 'proxy',
		needs: { hub, tls: upstream.tls },
		templates: ['proxy/proxy.yaml'],
		values: () => ({ NAMESPACE: ns, HOSTNAME: config.hostname, HUB_ROUTE: config.routes.hub, MAX_HTTP_HEADER_SIZE: config.hub.maxHttpHeaderSize }),
		rollouts: [{ kind: 'Deployment', namespace: ns, name: 'proxy' }],
	});
	return { hubSecret, hubConfig, jwtCertificate, hub, proxy, ...(oauthSecret ? { oauthSecret } : {}) };
}
