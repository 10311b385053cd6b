// The example graph that `npx nub run all` runs until the nublado deployment lands in tasks/:
// the deployment's derived settings and its hub secrets, with the same shape of data flow.
// Nothing here talks to a cluster yet; every value is real and typed, and the secrets are made
// once, kept encrypted under .nub/ and never printed.
import { randomBytes } from 'node:crypto';
import { task } from 'nub';

const settings = {
	hostname: process.env.NUB_EXAMPLE_HOSTNAME ?? 'nublado.example.org',
	hubRoute: 'nb/',
};

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

const hubCryptoKey = task({
	name: 'hub-crypto-key',
	description: 'JupyterHub crypto key: two 32-byte keys, hex, joined with ";"',
	group: 'hub',
	secret: true,
	run: () => `${randomBytes(32).toString('hex')};${randomBytes(32).toString('hex')}`,
});

const proxyToken = task({ name: 'proxy-token', group: 'hub', secret: true, run: () => randomBytes(32).toString('hex') });

const hubSecret = task({
	name: 'hub-secret',
	group: 'hub',
	needs: { names, callbackUrl, hubCryptoKey, proxyToken },
	run: ({ names, callbackUrl, hubCryptoKey, proxyToken }, { log }) => {
		const data = { oauth_callback_url: callbackUrl, jupyterhub_crypto_key: hubCryptoKey, configproxy_auth_token: proxyToken };
		log.info(`Secret hub in namespace ${names.namespace}: keys ${Object.keys(data).join(', ')}`);
		return { namespace: names.namespace, keys: Object.keys(data) };
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

export const all = task({
	name: 'all',
	description: 'The whole example deployment',
	needs: { hub, prepuller, hubRoute },
	run: ({ hubRoute }, { log }) => {
		const url = `https://${settings.hostname}${hubRoute}`;
		log.info(`The platform will be at ${url}`);
		return url;
	},
});
