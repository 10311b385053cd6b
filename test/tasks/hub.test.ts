/**
 * The hub starts with nub's configuration, for real: nublado deployed by the real `nub` to a real
 * control plane (cluster/), then the hub run as its pod would run it (test/helpers/hub.ts: the
 * rendered Deployment's environment and mounts, `jupyterhub -f` the rendered
 * jupyterhub_config.py, the hub ServiceAccount's own token), in front of the real
 * configurable-http-proxy with the rendered token, with the packages the 2019 hub image installed
 * (hub/requirements.txt: JupyterHub 1.0.0, oauthenticator 0.9.0, kubespawner 0.10.1,
 * namespacedkubespawner 0.0.19, jupyterhubutils 0.8.1). GitHub is a loopback stand-in
 * (oauthenticator reads its host from GITHUB_HOST). A user of an allowed organization logs in and
 * spawns: the lab pod appears in the real cluster, in the user's own namespace, with the mounts of
 * mountpoints.json on the fileserver Service's address; a user of no allowed organization, or of a
 * denied one, is refused.
 *
 * Ports: the hub binds 8081 (as its image does), which must be free.
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { KubeObject } from '../../lib/k8s/objects.ts';
import { mountpoints } from '../../tasks/hub.ts';
import { startGitHubStandIn, type GitHubStandIn } from '../helpers/github-standin.ts';
import { freePort, portTaken, startHubAsItsPod, startProxy, type Started } from '../helpers/hub.ts';
import { makeNubladoProject, nub, removeProject } from '../helpers/project.ts';
import { startRealCluster, type RealCluster } from '../helpers/real-cluster.ts';
import { requireProgram } from '../helpers/tools.ts';

const clientId = 'client-0123456789';
const clientSecret = 'oauth-secret-value-42';
const namespace = 'nublado';
const labImage = 'lsstsqre/sciplat-lab:w_2019_38';

let cluster: RealCluster;
let github: GitHubStandIn;
let proxy: Started;
let hub: Started & { env: Record<string, string> };
let dir: string;
let publicUrl: string;
let proxyApi: string;
let token: string;

test.before(async () => {
	if (await portTaken(8081)) throw new Error('port 8081 is taken: the hub binds it, as its image does');
	cluster = await startRealCluster();
	github = await startGitHubStandIn({
		clientId,
		clientSecret,
		users: [
			{ login: 'alice', id: 4242, name: 'Alice Ferris', email: 'alice@example.test', organizations: [{ login: 'lsst-sqre', id: 1001 }, { login: 'astro', id: 1002 }] },
			{ login: 'mallory', id: 6666, organizations: [{ login: 'elsewhere', id: 2001 }] },
			{ login: 'eve', id: 7777, organizations: [{ login: 'lsst-sqre', id: 1001 }, { login: 'banned', id: 3001 }] },
		],
	});
	dir = makeNubladoProject({
		'nublado.yaml': `hostname: nublado.example.test
oauth:
  provider: github
  clientId: ${clientId}
  clientSecret: { env: OAUTH_SECRET }
  allowedGroups: [lsst-sqre]
  deniedGroups: [banned]
dhparam: { group: ffdhe2048 }
lab: { image: ${labImage} }
`,
	});
	const deployed = await nub(dir, ['run', 'all', '--json', ...cluster.nubArgs], { OAUTH_SECRET: clientSecret });
	if (deployed.code !== 0) throw new Error(`nub run all failed: ${deployed.stderr}${deployed.stdout.slice(-2000)}`);

	await startProxyAndHub();
});

/** The real proxy with the rendered token, then the hub as its pod would start. */
async function startProxyAndHub() {
	const secret = (await cluster.admin.read({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'hub', namespace } })) as KubeObject & { data: Record<string, string> };
	token = Buffer.from(secret.data.configproxy_auth_token!, 'base64').toString();
	const [port, apiPort] = [await freePort(), await freePort()];
	proxy = startProxy({ token, port, apiPort, hubUrl: 'http://127.0.0.1:8081', route: '/nb' });
	publicUrl = `http://127.0.0.1:${port}`;
	proxyApi = `http://127.0.0.1:${apiPort}`;
	await until('the proxy to answer', async () => (await fetch(`${proxyApi}/api/routes`, { headers: { Authorization: `token ${token}` } })).ok);
	// The Services it talks to run here (the proxy's API, its own); GitHub is the stand-in.
	hub = await startHubAsItsPod({
		cluster,
		namespace,
		overrides: { PROXY_SERVICE_HOST: '127.0.0.1', PROXY_SERVICE_PORT_API: String(apiPort), HUB_SERVICE_HOST: '127.0.0.1', GITHUB_HOST: github.host, GITHUB_HTTP: '1' },
	});
	await until('the hub to answer through the proxy', async () => {
		if (hub.child.exitCode !== null) throw new Error(`the hub exited (${hub.child.exitCode}):\n${hub.output().slice(-4000)}`);
		return (await fetch(`${publicUrl}/nb/hub/api`).catch(() => undefined))?.ok === true;
	});
}

/** Stops them: JupyterHub 1.0 does not stop on SIGTERM under Python 3.11 (hub/requirements.md). */
async function stopProxyAndHub() {
	await hub?.stop('SIGKILL');
	await proxy?.stop();
}

test.after.always(async () => {
	await stopProxyAndHub();
	await github?.close();
	await cluster?.close();
	if (dir) removeProject(dir);
});

/** Polls until `check` holds (30 s). */
async function until(what: string, check: () => Promise<boolean>): Promise<void> {
	const deadline = Date.now() + 60_000;
	while (!(await check().catch(error => (error instanceof Error && /exited/.test(error.message) ? Promise.reject(error) : false)))) {
		if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${hub ? `; the hub said:\n${hub.output().slice(-3000)}` : ''}`);
		await new Promise(resolve => setTimeout(resolve, 250));
	}
}

/** A browser's cookies, enough for the hub's login. */
class Browser {
	cookies = new Map<string, string>();
	async get(url: string, init: RequestInit = {}): Promise<Response> {
		const response = await fetch(url, { ...init, redirect: 'manual', headers: { ...(init.headers as Record<string, string>), Cookie: [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ') } });
		for (const cookie of response.headers.getSetCookie()) {
			const [pair] = cookie.split(';');
			const at = pair!.indexOf('=');
			this.cookies.set(pair!.slice(0, at), pair!.slice(at + 1));
		}
		return response;
	}
}

/**
 * GitHub's login as a browser does it: the hub sends it to GitHub, GitHub back to the callback.
 * The callback URL is the deployment's public one (https://<hostname>/nb/...); the browser here
 * reaches the hub through the local proxy, at the same path.
 */
async function logIn(login: string) {
	github.loginAs(login);
	const browser = new Browser();
	const start = await browser.get(`${publicUrl}/nb/hub/oauth_login`);
	const authorize = new URL(start.headers.get('location')!);
	const back = await fetch(authorize, { redirect: 'manual' });
	const callback = new URL(back.headers.get('location')!);
	const answer = await browser.get(`${publicUrl}${callback.pathname}${callback.search}`);
	return { browser, authorize, callback, answer };
}

test.serial('the hub started with nub\'s configuration: the LSST classes, its routes in the proxy, the callback and allow list in use', async t => {
	const log = hub.output();
	t.regex(log, /Using Authenticator: [\w.]*LSSTGitHubAuth/);
	t.regex(log, /Using Spawner: [\w.]*LSSTSpawner/);
	// Its route is in the real proxy, pointing at the hub.
	const routes = (await (await fetch(`${proxyApi}/api/routes`, { headers: { Authorization: `token ${token}` } })).json()) as Record<string, { target: string }>;
	t.is(routes['/nb']?.target, 'http://127.0.0.1:8081');
	// The login goes to GitHub with the deployment's client id, scopes and callback URL.
	const { authorize } = await logIn('alice');
	t.is(authorize.host, github.host);
	t.is(authorize.searchParams.get('client_id'), clientId);
	t.is(authorize.searchParams.get('redirect_uri'), 'https://nublado.example.test/nb/hub/oauth_callback');
	t.deepEqual(authorize.searchParams.get('scope')?.split(' ').sort(), ['public_repo', 'read:org', 'user:email']);
	// The crypto key: nub's Secret gives JUPYTERHUB_CRYPT_KEY two keys, new first. The hub starts
	// only with it when auth state is on; the spawn below reads the login's auth state back.
	t.regex(hub.env.JUPYTERHUB_CRYPT_KEY!, /^[0-9a-f]{64};[0-9a-f]{64}$/);
});

test.serial('a member of an allowed organization logs in and spawns: the lab pod, in the user\'s namespace, mounts what mountpoints.json says from the fileserver Service\'s address', async t => {
	const { browser, answer } = await logIn('alice');
	t.is(answer.status, 302, await answer.text());
	// The token exchange used the deployment's client secret; membership was asked of GitHub.
	t.true(github.requests.some(request => request.path === '/login/oauth/access_token' && request.query.client_secret === clientSecret));
	t.true(github.requests.some(request => request.path === '/api/v3/orgs/lsst-sqre/members/alice'));
	const spawn = await browser.get(`${publicUrl}/nb/hub/spawn`, {
		method: 'POST',
		headers: { 'Content-Type': 'application/x-www-form-urlencoded', Referer: `${publicUrl}/nb/hub/spawn` },
		body: new URLSearchParams({ kernel_image: labImage, size: 'small' }).toString(),
	});
	t.true([200, 302].includes(spawn.status), `spawn: ${spawn.status} ${await spawn.text()}`);

	const userNamespace = `${namespace}-alice`;
	let pod: (KubeObject & Record<string, any>) | undefined;
	await until('the lab pod', async () => {
		pod = (await cluster.admin.list('v1', 'Pod', userNamespace))[0] as typeof pod;
		return pod !== undefined;
	});
	t.is(pod!.metadata.name, 'nb-alice-w-2019-38');
	const lab = pod!.spec.containers[0];
	t.is(lab.image, labImage);
	// The size: small is twice tiny (0.5 CPU, 2048 MB per CPU), its guarantee a quarter of it
	// (kubespawner writes memory in bytes, reading M as MiB).
	t.like(lab.resources, { limits: { cpu: '1', memory: String(2048 * 2 ** 20) }, requests: { cpu: '250m', memory: String(512 * 2 ** 20) } });
	const env = Object.fromEntries((lab.env as Array<{ name: string; value: string }>).map(variable => [variable.name, variable.value]));
	t.is(env.EXTERNAL_UID, '4242');
	t.is(env.GITHUB_LOGIN, 'alice');
	t.is(env.GITHUB_EMAIL, 'alice@example.test');
	t.is(env.EXTERNAL_GROUPS, 'astro:1002,lsst-sqre:1001');
	t.is(env.EXTERNAL_HUB_URL, 'https://nublado.example.test/nb');
	t.is(env.JUPYTERLAB_IDLE_TIMEOUT, '43200');
	// Read from auth_state, which the hub keeps encrypted with JUPYTERHUB_CRYPT_KEY.
	t.is(env.GITHUB_NAME, 'Alice Ferris');
	// The mounts: mountpoints.json's, NFS from the fileserver Service's ClusterIP.
	const fileserver = ((await cluster.admin.read({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'fileserver', namespace } })) as any).spec.clusterIP as string;
	const volumes = pod!.spec.volumes as Array<{ name: string; nfs?: { server: string; path: string; readOnly?: boolean } }>;
	const mounts = lab.volumeMounts as Array<{ name: string; mountPath: string; readOnly?: boolean }>;
	for (const entry of mountpoints) {
		const mount = mounts.find(candidate => candidate.mountPath === entry.mountpoint);
		t.truthy(mount, `a mount at ${entry.mountpoint}`);
		t.is(mount!.readOnly === true, entry.mode === 'ro', `${entry.mountpoint} read-only as mountpoints.json says`);
		const volume = volumes.find(candidate => candidate.name === mount!.name);
		// (the API server drops readOnly: false, as it drops every false of a field that is not a pointer)
		t.deepEqual(volume?.nfs, { server: fileserver, path: entry['fileserver-export'], ...(entry.mode === 'ro' ? { readOnly: true } : {}) });
	}
	// The namespaced spawner made the user's namespace with its dask account and quota: the real
	// API server checked the hub's RBAC for each (a Role may grant only what the hub holds).
	t.truthy(await cluster.admin.read({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'dask', namespace: userNamespace } }));
	t.truthy(await cluster.admin.read({ apiVersion: 'v1', kind: 'ResourceQuota', metadata: { name: `quota-${userNamespace}`, namespace: userNamespace } }));
	t.is(pod!.spec.serviceAccountName, 'dask');
	// It ran as the hub's ServiceAccount, nothing more.
	t.true(cluster.audit().some(event => event.user.username === `system:serviceaccount:${namespace}:hub` && event.verb === 'create' && event.objectRef?.resource === 'pods'));
});

test.serial('a user in no allowed organization, or in a denied one, is refused', async t => {
	for (const login of ['mallory', 'eve']) {
		const { answer } = await logIn(login);
		t.is(answer.status, 403, `${login}: ${answer.status}`);
		t.falsy(await cluster.admin.read({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: `${namespace}-${login}` } }), `no namespace for ${login}`);
	}
});

/** A JWT as the identity provider signs it (RS256). */
function signJwt(claims: Record<string, unknown>, key: KeyObject): string {
	const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
	const body = `${part({ alg: 'RS256', typ: 'JWT' })}.${part(claims)}`;
	return `${body}.${sign('sha256', Buffer.from(body), key).toString('base64url')}`;
}

test.serial('with no proxy answering, the hub exits at start: why nub makes the proxy ready before it starts the hub', async t => {
	await stopProxyAndHub();
	// The proxy's Service address leads nowhere: nothing listens on that port.
	const closed = await freePort();
	const alone = await startHubAsItsPod({ cluster, namespace, overrides: { PROXY_SERVICE_HOST: '127.0.0.1', PROXY_SERVICE_PORT_API: String(closed), HUB_SERVICE_HOST: '127.0.0.1', GITHUB_HOST: github.host, GITHUB_HTTP: '1' } });
	const code = await Promise.race([alone.exited, new Promise<'running'>(resolve => setTimeout(() => resolve('running'), 60_000))]);
	if (code === 'running') await alone.stop('SIGKILL');
	t.not(code, 'running', 'the hub was still running after 60 s');
	t.not(code, 0);
	t.regex(alone.output(), /Connection refused|ConnectionRefusedError|Failed to connect|Errno 111/);
	await startProxyAndHub();
});

test.serial('switched to jwt: the hub checks tokens against the identity provider\'s certificate from the configuration, and admits only its allowed groups', async t => {
	await stopProxyAndHub();
	// The identity provider's key, and the certificate the operator gives nub.
	const provider = generateKeyPairSync('rsa', { modulusLength: 2048 });
	const impostor = generateKeyPairSync('rsa', { modulusLength: 2048 });
	const keyFile = join(dir, 'idp.key');
	writeFileSync(keyFile, provider.privateKey.export({ type: 'pkcs8', format: 'pem' }));
	execFileSync(requireProgram('openssl', 'openssl'), ['req', '-x509', '-key', keyFile, '-days', '30', '-subj', '/CN=identity provider', '-out', join(dir, 'idp.crt')], { stdio: 'ignore' });
	rmSync(keyFile);
	writeFileSync(join(dir, 'nublado.yaml'), `hostname: nublado.example.test
oauth:
  provider: jwt
  jwtCertificate: idp.crt
dhparam: { group: ffdhe2048 }
lab: { image: ${labImage} }
`);
	const switched = await nub(dir, ['run', 'all', '--json', ...cluster.nubArgs]);
	t.is(switched.code, 0, switched.stderr + switched.stdout.slice(-2000));
	const certificate = ((await cluster.admin.read({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'jwt-cert', namespace } })) as any).data['signing-certificate.pem'];
	t.is(certificate, readFileSync(join(dir, 'idp.crt'), 'utf8'));
	await startProxyAndHub();
	t.regex(hub.output(), /Using Authenticator: [\w.]*LSSTJWTAuth/);

	const now = Math.floor(Date.now() / 1000);
	const claims = { uid: 'carol', uidNumber: 3333, email: 'carol@example.test', aud: 'https://nublado.example.test', iat: now, exp: now + 600, isMemberOf: [{ name: 'lsst_users', id: 5000 }, { name: 'astro' }] };
	const login = (token: string) => new Browser().get(`${publicUrl}/nb/hub/login`, { headers: { 'X-Portal-Authorization': `Bearer ${token}` } });
	t.is((await login(signJwt(claims, impostor.privateKey))).status, 401, 'a token the provider did not sign');
	t.is((await login(signJwt({ ...claims, aud: 'https://elsewhere.example.test' }, provider.privateKey))).status, 401, 'a token for another audience');
	t.is((await login(signJwt({ ...claims, isMemberOf: [{ name: 'visitors', id: 9 }] }, provider.privateKey))).status, 403, 'a token of no allowed group');

	const browser = new Browser();
	const admitted = await browser.get(`${publicUrl}/nb/hub/login`, { headers: { 'X-Portal-Authorization': `Bearer ${signJwt(claims, provider.privateKey)}` } });
	t.is(admitted.status, 302, await admitted.text());
	const spawn = await browser.get(`${publicUrl}/nb/hub/spawn`, {
		method: 'POST',
		headers: { 'Content-Type': 'application/x-www-form-urlencoded', Referer: `${publicUrl}/nb/hub/spawn` },
		body: new URLSearchParams({ kernel_image: labImage, size: 'tiny' }).toString(),
	});
	t.true([200, 302].includes(spawn.status), `spawn: ${spawn.status}`);
	let pod: (KubeObject & Record<string, any>) | undefined;
	await until('carol\'s lab pod', async () => {
		pod = (await cluster.admin.list('v1', 'Pod', `${namespace}-carol`))[0] as typeof pod;
		return pod !== undefined;
	});
	const env = Object.fromEntries((pod!.spec.containers[0].env as Array<{ name: string; value: string }>).map(variable => [variable.name, variable.value]));
	t.is(env.EXTERNAL_UID, '3333');
	t.is(env.GITHUB_EMAIL, 'carol@example.test');
	t.regex(env.EXTERNAL_GROUPS!, /^astro:\d+,lsst_users:5000$/);
	t.truthy(env.ACCESS_TOKEN);
});
