// The graph that `npx nub run all` runs until the whole nublado deployment lands in tasks/: the
// deployment's derived settings, its secrets (tasks/secrets.ts: a CA and server certificate, DH
// parameters, hub keys, tokens) and the Kubernetes Secrets built from them. Nothing here talks to
// a cluster yet; every value is real and typed, and the secrets are made once, kept encrypted
// under .nub/ and never printed.
import { task } from 'nub';
import { secretManifest } from './lib/k8s/secret.ts';
import { secretTasks } from './tasks/secrets.ts';

const settings = {
	hostname: process.env.NUB_EXAMPLE_HOSTNAME ?? 'nublado.example.org',
	hubRoute: 'nb/',
};
const namespace = settings.hostname.split('.')[0]!;

const secrets = secretTasks({
	hostname: settings.hostname,
	namespace,
	tls: { source: 'self-signed' },
	dhparam: { bits: 2048 },
});
const { hubCryptoKey, proxyToken } = secrets;

/** Routes get a leading `/` and no trailing `/` (except `/` itself). */
const normalizeRoute = (route: string) => `/${route.replace(/^\/+|\/+$/g, '')}`;

export const names = task({
	name: 'names',
	description: 'Namespace and cluster name derived from the hostname',
	group: 'config',
	inputs: { config: settings.hostname },
	run: () => ({ namespace: settings.hostname.split('.')[0]!, clusterName: settings.hostname.replaceAll('.', '-') }),
});

const hubRoute = task({ name: 'hub-route', group: 'config', inputs: { config: settings.hubRoute }, run: () => normalizeRoute(settings.hubRoute) });

const callbackUrl = task({
	name: 'oauth-callback-url',
	group: 'config',
	needs: { hubRoute },
	run: ({ hubRoute }) => `https://${settings.hostname}${hubRoute === '/' ? '' : hubRoute}/hub/oauth_callback`,
});

// Chosen once, 15 minutes ahead, so the first pull comes after the deployment; the cache keeps it.
const prepullerMinute = task({ name: 'prepuller-minute', group: 'prepuller', run: () => (new Date().getMinutes() + 15) % 60 });

const hubSecret = task({
	name: 'hub-secret',
	description: 'Secret hub: the OAuth callback URL, the crypto key and the proxy token',
	group: 'hub',
	secret: 'inputs',
	needs: { names, callbackUrl, hubCryptoKey, proxyToken },
	run: ({ names, callbackUrl, hubCryptoKey, proxyToken }, { log }) => {
		const secret = secretManifest({
			name: 'hub',
			namespace: names.namespace,
			data: { oauth_callback_url: callbackUrl, jupyterhub_crypto_key: hubCryptoKey, configproxy_auth_token: proxyToken },
		});
		log.info(`Secret hub in namespace ${names.namespace}: keys ${Object.keys(secret.data).join(', ')}`);
		return secret;
	},
});

export const prepuller = task({
	name: 'prepuller',
	description: 'The prepuller schedule',
	needs: { prepullerMinute, names },
	run: ({ prepullerMinute, names }, { log }) => {
		const schedule = `${prepullerMinute} * * * *`;
		log.info(`CronJob prepuller in ${names.namespace}: "${schedule}"`);
		return schedule;
	},
});

export const hub = task({ name: 'hub', description: 'The hub Secret and its inputs', needs: { hubSecret } });

export const rotateHubKey = task({
	name: 'rotate-hub-key',
	description: 'Rotate the hub crypto key (a new key first, the previous one kept) and update the hub',
	needs: { hub },
	forces: [hubCryptoKey],
});

export const tls = task({ name: 'tls', description: 'Secret tls: certificate, key, chain, DH parameters', needs: { tlsSecret: secrets.tlsSecret } });

export const firefly = task({ name: 'firefly', description: 'Secret firefly: the admin password', needs: { fireflySecret: secrets.fireflySecret } });

export const all = task({
	name: 'all',
	description: 'The whole example deployment',
	needs: { hub, tls, firefly, prepuller, hubRoute },
	run: ({ hubRoute }, { log }) => {
		const url = `https://${settings.hostname}${hubRoute}`;
		log.info(`The platform will be at ${url}`);
		return url;
	},
});
