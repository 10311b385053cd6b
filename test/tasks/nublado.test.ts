import test, { type ExecutionContext } from 'ava';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkDhParams } from '../../lib/crypto/index.ts';
import { lookupA } from '../../lib/dns/dns.ts';
import { Kube } from '../../lib/k8s/client.ts';
import type { KubeObject } from '../../lib/k8s/objects.ts';
import { startSandbox, type Sandbox } from '../../lib/sandbox/index.ts';
import { startBind } from '../helpers/bind.ts';
import { makeNubladoProject, nub, removeProject, summaryOf } from '../helpers/project.ts';

/**
 * The whole nublado deployment, run by the real `nub` against a sandbox this test serves (so it
 * can count the requests), with a real BIND9 for the DNS record.
 */
async function deployment(t: ExecutionContext, yaml: (bind: { port: number }) => string, env: Record<string, string> = {}) {
	const bind = await startBind('example.test', { nublado: '127.0.0.1' });
	const dir = makeNubladoProject({ 'nublado.yaml': yaml(bind) });
	const sandbox = await startSandbox({ dir: join(dir, '.nub/sandbox'), loadBalancerDelayMs: 100, rolloutDelayMs: 100 });
	t.teardown(async () => {
		await sandbox.close();
		await bind.stop();
		removeProject(dir);
	});
	const kube = await Kube.connect({ kubeconfig: sandbox.kubeconfigPath, context: 'nub-sandbox' });
	const run = (args: string[], more: Record<string, string> = {}) => nub(dir, args, { NUBLADO_TSIG_SECRET: bind.key.secret, ...env, ...more });
	return { bind, dir, sandbox, kube, run };
}

const config = (bind: { port: number }) => `hostname: nublado.example.test
oauth:
  provider: github
  clientId: client-123
  clientSecret: { env: OAUTH_SECRET }
  allowedGroups: [lsst-sqre, lsst]
tls:
  source: self-signed
dhparam:
  bits: 1024
prepuller:
  minute: 17
dns:
  provider: rfc2136
  server: 127.0.0.1:${bind.port}
  zone: example.test
  keyName: nub-key
  keySecret: { env: NUBLADO_TSIG_SECRET }
`;

const writes = (sandbox: Sandbox) => sandbox.requests.filter(request => request.method !== 'GET' && !request.fault);
const get = async (kube: Kube, apiVersion: string, kind: string, name: string, namespace?: string) =>
	(await kube.read({ apiVersion, kind, metadata: { name, ...(namespace ? { namespace } : {}) } })) as KubeObject & Record<string, any>;

test('the whole platform on the sandbox: every object, the values that flow, then a no-op that writes nothing', async t => {
	const { bind, dir, sandbox, kube, run } = await deployment(t, config, { OAUTH_SECRET: 'oauth-secret-value-42' });
	const first = await run(['run', 'all', '--json']);
	t.is(first.code, 0, first.stderr + first.stdout.slice(-2000));
	const summary = summaryOf(first.stdout);
	t.deepEqual(summary.failed, []);
	t.true(summary.succeeded.includes('all'));
	t.true(first.stdout.includes('the platform is at https://nublado.example.test/nb/'));

	// Every component's objects.
	const ns = 'nublado';
	const expected: Array<[string, string, string, string?]> = [
		['v1', 'Namespace', ns],
		['v1', 'Namespace', 'ingress-nginx'],
		['apps/v1', 'Deployment', 'nginx-ingress-controller', 'ingress-nginx'],
		['v1', 'Service', 'ingress-nginx', 'ingress-nginx'],
		['rbac.authorization.k8s.io/v1', 'ClusterRole', 'nginx-ingress-clusterrole'],
		['v1', 'Secret', 'tls', ns],
		['storage.k8s.io/v1', 'StorageClass', 'fast'],
		['v1', 'Service', 'fileserver', ns],
		['v1', 'PersistentVolumeClaim', 'physpvc', ns],
		['apps/v1', 'Deployment', 'fileserver', ns],
		['apps/v1', 'Deployment', 'keepalive', ns],
		['v1', 'Secret', 'firefly', ns],
		['apps/v1', 'Deployment', 'firefly', ns],
		['networking.k8s.io/v1', 'Ingress', 'firefly', ns],
		['batch/v1', 'CronJob', 'prepuller', ns],
		['rbac.authorization.k8s.io/v1', 'ClusterRoleBinding', `prepuller-${ns}`],
		['v1', 'Secret', 'hub', ns],
		['v1', 'ConfigMap', 'hub-config', ns],
		['v1', 'ConfigMap', 'resourcemap', ns],
		['v1', 'ConfigMap', 'fs-mounts', ns],
		['v1', 'PersistentVolumeClaim', 'hub-physpvc', ns],
		['apps/v1', 'Deployment', 'hub', ns],
		['rbac.authorization.k8s.io/v1', 'RoleBinding', 'dask', ns],
		['apps/v1', 'Deployment', 'proxy', ns],
		['networking.k8s.io/v1', 'Ingress', 'proxy', ns],
		['v1', 'ConfigMap', 'landing-page-www', ns],
		['apps/v1', 'Deployment', 'landing-page', ns],
	];
	for (const export_ of ['home', 'scratch', 'project', 'datasets', 'software', 'teststand']) {
		expected.push(['v1', 'PersistentVolume', `${export_}-${ns}`], ['v1', 'PersistentVolumeClaim', export_, ns]);
	}
	for (const [apiVersion, kind, name, namespace] of expected) t.truthy(await get(kube, apiVersion, kind, name, namespace), `${kind} ${namespace ?? ''}/${name}`);

	// The NFS service IP flows into the volumes and keepalive.
	const nfsIp = (await get(kube, 'v1', 'Service', 'fileserver', ns)).spec.clusterIP as string;
	t.regex(nfsIp, /^10\./);
	t.is((await get(kube, 'v1', 'PersistentVolume', `home-${ns}`)).spec.nfs.server, nfsIp);
	t.true((await get(kube, 'v1', 'PersistentVolume', `datasets-${ns}`)).spec.nfs.readOnly);
	const keepaliveVolumes = (await get(kube, 'apps/v1', 'Deployment', 'keepalive', ns)).spec.template.spec.volumes as Array<{ nfs: { server: string } }>;
	t.is(keepaliveVolumes.length, 6);
	t.true(keepaliveVolumes.every(volume => volume.nfs.server === nfsIp));

	// The ingress address flows into the DNS record, in a real BIND.
	const ingressIp = (await get(kube, 'v1', 'Service', 'ingress-nginx', 'ingress-nginx')).status.loadBalancer.ingress[0].ip as string;
	t.deepEqual(await lookupA('nublado.example.test', { host: bind.host, port: bind.port }), [ingressIp]);

	// Secret hub: every key, a valid crypto key, the OAuth values.
	const hub = (await get(kube, 'v1', 'Secret', 'hub', ns)).data as Record<string, string>;
	const value = (key: string) => Buffer.from(hub[key]!, 'base64').toString('utf8');
	t.deepEqual(Object.keys(hub).sort(), [
		'cilogon_group_denylist', 'cilogon_group_whitelist', 'configproxy_auth_token', 'github_organization_denylist', 'github_organization_whitelist',
		'jupyterhub_crypto_key', 'oauth_callback_url', 'oauth_client_id', 'oauth_secret', 'session_db_url',
	]);
	t.regex(value('jupyterhub_crypto_key'), /^[0-9a-f]{64};[0-9a-f]{64}$/);
	t.regex(value('configproxy_auth_token'), /^[0-9a-f]{64}$/);
	t.is(value('oauth_secret'), 'oauth-secret-value-42');
	t.is(value('oauth_callback_url'), 'https://nublado.example.test/nb/hub/oauth_callback');
	t.is(value('github_organization_whitelist'), 'lsst-sqre,lsst');

	// Secret tls: a chain openssl verifies, DH parameters openssl accepts.
	const tls = (await get(kube, 'v1', 'Secret', 'tls', ns)).data as Record<string, string>;
	const work = mkdtempSync(join(tmpdir(), 'nub-tls-'));
	t.teardown(() => rmSync(work, { recursive: true, force: true }));
	for (const key of ['tls.crt', 'root_chain.pem', 'dhparam.pem']) writeFileSync(join(work, key), Buffer.from(tls[key]!, 'base64'));
	t.regex(execFileSync('openssl', ['verify', '-CAfile', join(work, 'root_chain.pem'), join(work, 'tls.crt')], { encoding: 'utf8' }), /OK/);
	// openssl exits non-zero (and execFileSync throws) when the parameters fail its check.
	t.notThrows(() => execFileSync('openssl', ['dhparam', '-check', '-noout', '-in', join(work, 'dhparam.pem')], { stdio: ['ignore', 'pipe', 'pipe'] }));
	t.is(checkDhParams(readFileSync(join(work, 'dhparam.pem'), 'utf8')).bits, 1024);

	// The prepuller's minute and what it pulls (a scan of lsstsqre/sciplat-lab; no command: its own
	// echo), the landing page's PNG byte for byte, the hub's configuration.
	const prepullerJob = (await get(kube, 'batch/v1', 'CronJob', 'prepuller', ns)).spec;
	t.is(prepullerJob.schedule, '17 * * * *');
	const pulls = Object.fromEntries(prepullerJob.jobTemplate.spec.template.spec.containers[0].env.map((v: { name: string; value?: string }) => [v.name, v.value ?? '']));
	t.like(pulls, { PREPULLER_OWNER: 'lsstsqre', PREPULLER_IMAGE_NAME: 'sciplat-lab', PREPULLER_NO_SCAN: '', PREPULLER_COMMAND: '', PREPULLER_NAMESPACE: ns });
	// Firefly requests what the real one did, with the configured limits; it works on scratch.
	const firefly = (await get(kube, 'apps/v1', 'Deployment', 'firefly', ns)).spec.template.spec;
	const { requests, limits } = firefly.containers[0].resources;
	t.deepEqual([requests.memory, ['0.8', '800m'].includes(requests.cpu), limits], ['3G', true, { memory: '4G', cpu: '3' }]);
	t.deepEqual(firefly.volumes, [{ name: 'scratch', persistentVolumeClaim: { claimName: 'scratch' } }]);
	const landing = await get(kube, 'v1', 'ConfigMap', 'landing-page-www', ns);
	t.deepEqual(Buffer.from(landing.binaryData['logo.png'], 'base64'), readFileSync(join(dir, 'landing/logo.png')));
	t.true(landing.data['index.html'].includes('LSST Science Platform'));
	t.deepEqual(Object.keys((await get(kube, 'v1', 'ConfigMap', 'hub-config', ns)).data), ['10-authenticator.py', '20-spawner.py', '30-environment.py', 'jupyterhub_config.py']);
	t.is((await get(kube, 'apps/v1', 'Deployment', 'proxy', ns)).spec.template.spec.containers[0].env[0].value, '--max-http-header-size=8192');

	// A second run executes nothing and sends no write.
	const before = writes(sandbox).length;
	const second = await run(['run', 'all', '--json']);
	t.is(second.code, 0, second.stderr);
	t.deepEqual(summaryOf(second.stdout).succeeded, []);
	t.is(writes(sandbox).length, before, 'a cached run wrote to the cluster');
});

test('prepuller --force touches only the prepuller; one configuration value reruns only what uses it; hub configuration rolls the hub', async t => {
	const { dir, sandbox, kube, run } = await deployment(t, config, { OAUTH_SECRET: 'oauth-secret-value-42' });
	t.is((await run(['run', 'all'])).code, 0);
	const version = async (kind: string, name: string) => (await get(kube, kind === 'CronJob' ? 'batch/v1' : 'apps/v1', kind, name, 'nublado')).metadata.resourceVersion;

	const mark = sandbox.requests.length;
	const prepuller = await run(['run', 'prepuller', '--force', '--json']);
	t.deepEqual(summaryOf(prepuller.stdout).succeeded, ['prepuller']);
	const touched = new Set(sandbox.requests.slice(mark).filter(request => request.method === 'PATCH').map(request => request.path.split('/').slice(-2).join('/')));
	t.deepEqual([...touched].sort(), ['clusterrolebindings/prepuller-nublado', 'clusterroles/prepuller-nublado', 'cronjobs/prepuller', 'rolebindings/prepuller', 'roles/prepuller', 'serviceaccounts/prepuller']);

	// firefly.replicas: only firefly reruns.
	const hubVersion = await version('Deployment', 'hub');
	const scaled = await run(['run', 'all', '--json'], { NUBLADO_FIREFLY_REPLICAS: '2' });
	t.deepEqual(summaryOf(scaled.stdout).succeeded, ['firefly']);
	t.is((await get(kube, 'apps/v1', 'Deployment', 'firefly', 'nublado')).spec.replicas, 2);
	t.is(await version('Deployment', 'hub'), hubVersion);

	// A file of the hub's configuration: the ConfigMap and the hub roll, nothing else.
	const checksum = async () => (await get(kube, 'apps/v1', 'Deployment', 'hub', 'nublado')).spec.template.metadata.annotations['nublado/config-checksum'];
	const oldChecksum = await checksum();
	writeFileSync(join(dir, 'hub/config/40-extra.py'), 'c.JupyterHub.shutdown_on_logout = True\n');
	const redeploy = await run(['run', 'all', '--json'], { NUBLADO_FIREFLY_REPLICAS: '2' });
	t.deepEqual(summaryOf(redeploy.stdout).succeeded, ['hub-config', 'hub']);
	t.not(await checksum(), oldChecksum);
	t.truthy((await get(kube, 'v1', 'ConfigMap', 'hub-config', 'nublado')).data['40-extra.py']);
});

test('the proxy (with Secret hub and both Services) is ready before the hub starts, which asks it for routes; a rotated hub key restarts the hub', async t => {
	const { kube, run } = await deployment(t, config, { OAUTH_SECRET: 'oauth-secret-value-42' });
	const first = await run(['run', 'all', '--json']);
	t.is(first.code, 0, first.stderr);
	// The proxy's task ends (its rollout done) before the hub's task starts.
	const lines = first.stdout.split('\n').filter(line => line.startsWith('{')).map(line => JSON.parse(line) as { type?: string; name?: string });
	const at = (type: string, name: string) => lines.findIndex(event => event.type === type && event.name === name);
	t.true(at('task-end', 'proxy') >= 0 && at('task-end', 'proxy') < at('task-start', 'hub'));
	for (const [kind, name] of [['Secret', 'hub'], ['Service', 'hub'], ['Service', 'proxy']]) {
		t.true(((await get(kube, 'v1', kind!, name!, 'nublado')).metadata.managedFields as unknown[]).length > 0, `${kind} ${name}`);
	}

	// The hub reads Secret hub at start: a rotated key changes its secret checksum, which rolls it.
	const secretChecksum = async () => (await get(kube, 'apps/v1', 'Deployment', 'hub', 'nublado')).spec.template.metadata.annotations['nublado/secret-checksum'];
	const before = await secretChecksum();
	t.regex(before, /^[0-9a-f]{16}$/);
	const rotated = await run(['run', 'rotate-hub-key', '--json']);
	t.is(rotated.code, 0, rotated.stderr);
	t.deepEqual(summaryOf(rotated.stdout).succeeded.sort(), ['hub', 'hub-crypto-key', 'hub-secret', 'proxy', 'rotate-hub-key']);
	t.not(await secretChecksum(), before);
});

const badConfigs: Array<[string, string, RegExp]> = [
	['a missing hostname', 'oauth: { provider: jwt, jwtCertificate: hub/example-signing-certificate.crt }\n', /^nub: nublado\.yaml: hostname: is required$/m],
	['minute 75', 'hostname: a.example.test\noauth: { provider: jwt, jwtCertificate: hub/example-signing-certificate.crt }\nprepuller: { minute: 75 }\n', /^nub: nublado\.yaml: prepuller\.minute: expected a whole number from 0 to 59, got 75$/m],
	['an unknown provider', 'hostname: a.example.test\noauth: { provider: okta }\n', /^nub: nublado\.yaml: oauth\.provider: expected one of github, cilogon, jwt, got "okta"$/m],
	['a value with a newline', 'hostname: a.example.test\noauth: { provider: jwt, jwtCertificate: hub/example-signing-certificate.crt }\nhub: { image: "x\\nkind: Secret" }\n', /^nub: nublado\.yaml: hub\.image: expected a container image, got a value with a line break$/m],
	['an unset credential', 'hostname: a.example.test\noauth: { provider: github, clientId: x, clientSecret: { env: NOT_SET_ANYWHERE }, allowedGroups: [o] }\n', /^nub: oauth\.clientSecret: the environment variable NOT_SET_ANYWHERE is not set$/m],
];

for (const [title, yaml, error] of badConfigs) {
	test(`bad configuration, ${title}: a clear error, exit 2, no request reaches the sandbox`, async t => {
		const dir = makeNubladoProject({ 'nublado.yaml': yaml });
		const sandbox = await startSandbox({ dir: join(dir, '.nub/sandbox') });
		t.teardown(async () => {
			await sandbox.close();
			removeProject(dir);
		});
		const before = sandbox.requests.length;
		for (const command of [['run', 'all'], ['plan', 'all']]) {
			const result = await nub(dir, command);
			t.is(result.code, 2, result.stderr);
			t.regex(result.stderr, error);
			t.is(result.stdout, '');
		}
		t.is(sandbox.requests.length, before);
	});
}

test('a template with a missing value stops the run before anything is applied', async t => {
	const dir = makeNubladoProject({ 'nublado.yaml': 'hostname: a.example.test\noauth: { provider: jwt, jwtCertificate: hub/example-signing-certificate.crt }\n' });
	writeFileSync(join(dir, 'templates/keepalive/deployment.yaml'), readFileSync(join(dir, 'templates/keepalive/deployment.yaml'), 'utf8').replace('name: keepalive\n', 'name: {{KEEPALIVE_NAME}}\n'));
	const sandbox = await startSandbox({ dir: join(dir, '.nub/sandbox') });
	t.teardown(async () => {
		await sandbox.close();
		removeProject(dir);
	});
	const result = await nub(dir, ['run', 'all']);
	t.is(result.code, 2);
	t.regex(result.stderr, /^nub: task "keepalive": templates\/keepalive\/deployment\.yaml: no value for \{\{KEEPALIVE_NAME\}\} \(line 7\)/);
	t.is(sandbox.requests.length, 0);
});

test('optional parts switch on and off: external NFS, logging on, Firefly, prepuller and landing page off', async t => {
	const yaml = `hostname: lab.example.test
oauth: { provider: jwt, jwtCertificate: hub/example-signing-certificate.crt }
dhparam: { group: ffdhe2048 }
routes: { hub: / }
nfs: { server: 192.0.2.10 }
firefly: { enabled: false }
prepuller: { enabled: false }
logging:
  enabled: true
  rabbitmqHost: rmq.example.test
  rabbitmqVhost: logs
  rabbitmqPassword: { file: logging/rmq-password }
  beatsCa: logging/ca.crt
  beatsCert: logging/beats.crt
  beatsKey: logging/beats.key
`;
	const dir = makeNubladoProject({
		'nublado.yaml': yaml,
		'logging/rmq-password': 'rabbit-password-77\n',
		'logging/ca.crt': 'CA\n',
		'logging/beats.crt': 'CERT\n',
		'logging/beats.key': 'KEY\n',
	});
	const sandbox = await startSandbox({ dir: join(dir, '.nub/sandbox'), loadBalancerDelayMs: 50, rolloutDelayMs: 50 });
	t.teardown(async () => {
		await sandbox.close();
		removeProject(dir);
	});
	const list = await nub(dir, ['list']);
	const targets = list.stdout.split('\n').filter(Boolean).map(line => line.split(/\s+/)[0]);
	t.deepEqual(targets, ['all', 'dns', 'fileserver', 'hub', 'ingress', 'keepalive', 'logging', 'proxy', 'rotate-hub-key', 'tls']);
	const run = await nub(dir, ['run', 'all', '--json']);
	t.is(run.code, 0, run.stderr + run.stdout.slice(-1500));
	t.true(run.stdout.includes('the platform is at https://lab.example.test/'));
	const kube = await Kube.connect({ kubeconfig: sandbox.kubeconfigPath, context: 'nub-sandbox' });
	const ns = 'lab';
	t.is((await get(kube, 'v1', 'PersistentVolume', `home-${ns}`)).spec.nfs.server, '192.0.2.10');
	t.falsy(await get(kube, 'apps/v1', 'Deployment', 'fileserver', ns), 'no fileserver with an external NFS server');
	for (const [kind, name] of [['Deployment', 'firefly'], ['Deployment', 'landing-page'], ['CronJob', 'prepuller']] as const) {
		t.falsy(await get(kube, kind === 'CronJob' ? 'batch/v1' : 'apps/v1', kind, name, ns), `${kind} ${name} switched off`);
	}
	t.truthy(await get(kube, 'apps/v1', 'DaemonSet', 'filebeat', ns));
	const rmq = (await get(kube, 'v1', 'Secret', 'logstashrmq', ns)).data as Record<string, string>;
	t.is(Buffer.from(rmq['rabbitmq.pan.password']!, 'base64').toString(), 'rabbit-password-77');
	const beats = (await get(kube, 'v1', 'Secret', 'filebeat', ns)).data as Record<string, string>;
	t.deepEqual(Object.keys(beats).sort(), ['beats.crt', 'beats.key', 'ca.crt']);
	// filebeat as lsstsqre/k8s-filebeat reads it: host and port apart, docker's logs at /containerlogs.
	const filebeat = (await get(kube, 'apps/v1', 'DaemonSet', 'filebeat', ns)).spec.template.spec;
	t.deepEqual(Object.fromEntries(filebeat.containers[0].env.map((v: { name: string; value: string }) => [v.name, v.value])), { SHIPPER_NAME: 'lab-example-test', LOGSTASH_HOST: 'logstashrmq', LOGSTASH_PORT: '5044' });
	t.deepEqual(filebeat.containers[0].volumeMounts.map((m: { mountPath: string }) => m.mountPath), ['/containerlogs', '/tls']);
	t.is(filebeat.volumes[0].hostPath.path, '/var/lib/docker/containers');
	t.is((await get(kube, 'apps/v1', 'Deployment', 'proxy', ns)).spec.template.spec.containers[0].env[0].value, '--max-http-header-size=16384');
	t.false(readFileSync(join(dir, '.nub/state.jsonl'), 'utf8').includes('rabbit-password-77'));
});
