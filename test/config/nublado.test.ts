import test from 'ava';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, durationMs, envName, loadConfig, parseConfig, timeoutOf } from '../../lib/config/nublado.ts';

const github = `hostname: nb.example.org
oauth:
  provider: github
  clientId: abc123
  clientSecret: { env: GITHUB_SECRET }
  allowedGroups: [lsst-sqre]
`;

test('defaults and derived values follow the facts: namespace, routes, callback, JVM, header size, landing', t => {
	const config = parseConfig(`${github}routes: { hub: "nb/", firefly: "/ff//" }\nfirefly: { memory: 8G }\n`, 'nublado.yaml');
	t.is(config.namespace, 'nb');
	t.is(config.clusterName, 'nb-example-org');
	t.deepEqual(config.routes, { hub: '/nb', firefly: '/ff' });
	t.is(config.oauth.callbackUrl, 'https://nb.example.org/nb/hub/oauth_callback');
	t.is(config.firefly.jvmSize, '7168M');
	t.is(config.hub.maxHttpHeaderSize, 8192);
	t.is(config.hub.sessionDbUrl, 'sqlite:////home/jovyan/jupyterhub.sqlite');
	t.deepEqual(config.dhparam, { bits: 2048 });
	t.is(config.nfs.sizeBytes, 20 * 2 ** 30);
	t.true(config.landing.enabled);
	t.is(config.prepuller.minute, undefined, 'chosen once by a task, not here');
	t.deepEqual(config.oauth.clientSecret, { env: 'GITHUB_SECRET' });

	const jwt = parseConfig('hostname: nb.example.org\noauth: { provider: jwt, jwtCertificate: hub/example-signing-certificate.crt }\nroutes: { hub: / }\n', 'nublado.yaml');
	t.is(jwt.hub.maxHttpHeaderSize, 16384);
	t.false(jwt.landing.enabled, 'no landing page when the hub is at /');
	t.is(jwt.oauth.callbackUrl, 'https://nb.example.org/hub/oauth_callback');
	t.is(parseConfig('hostname: a.b\noauth: { provider: jwt, jwtCertificate: hub/example-signing-certificate.crt }\nfirefly: { memory: 4G }\n', 'x').firefly.jvmSize, '3584M');
	// A folder inside the project, however written, or an absolute one (the operator's explicit choice).
	const folders = parseConfig(`${github}landing: { folder: site/../www/ }\nhub: { configFolder: /srv/hub-config }\n`, 'x');
	t.is(folders.landing.folder, 'site/../www/');
	t.is(folders.hub.configFolder, '/srv/hub-config');
});

test('the prepuller pulls what the hub offers: the repository it scans, or lab.image alone; logging ships to 5044', t => {
	const scan = parseConfig(github, 'nublado.yaml').prepuller;
	t.deepEqual(scan, { enabled: true, images: [], noScan: false, owner: 'lsstsqre', name: 'sciplat-lab', experimentals: 0, dailies: 3, weeklies: 2, releases: 1, sortField: 'name', debug: false });
	const one = parseConfig(`${github}lab: { image: lsstsqre/sciplat-lab:w_2019_38, repoOwner: other }\n`, 'nublado.yaml').prepuller;
	t.deepEqual([one.images, one.noScan, one.owner], [['lsstsqre/sciplat-lab:w_2019_38'], true, 'other']);
	t.is(parseConfig(`${github}prepuller: { images: [a/b:1], noScan: false, command: /bin/true }\n`, 'nublado.yaml').prepuller.command, '/bin/true');
	const logging = parseConfig(`${github}logging: { enabled: true, rabbitmqHost: rmq.example.org:5671, rabbitmqVhost: "%2f", rabbitmqPassword: { env: P }, beatsCa: a, beatsCert: b, beatsKey: c }\n`, 'nublado.yaml').logging;
	t.like(logging, { enabled: true, rabbitmqHost: 'rmq.example.org:5671', rabbitmqVhost: '%2f', logstashPort: 5044, shipperName: 'nb-example-org' });
});

test('environment variables override fields, and their problems name the variable', t => {
	t.is(envName('firefly.replicas'), 'NUBLADO_FIREFLY_REPLICAS');
	t.is(envName('oauth.clientId'), 'NUBLADO_OAUTH_CLIENT_ID');
	const config = parseConfig(github, 'nublado.yaml', { NUBLADO_FIREFLY_REPLICAS: '3', NUBLADO_PREPULLER_ENABLED: 'false', NUBLADO_OAUTH_ALLOWED_GROUPS: 'a, b' });
	t.is(config.firefly.replicas, 3);
	t.false(config.prepuller.enabled);
	t.deepEqual(config.oauth.allowedGroups, ['a', 'b']);
	const error = t.throws(() => parseConfig(github, 'nublado.yaml', { NUBLADO_PREPULLER_MINUTE: '75' }), { instanceOf: ConfigError });
	t.is(error!.message, 'NUBLADO_PREPULLER_MINUTE: prepuller.minute: expected a whole number from 0 to 59, got 75');
});

const bad: Array<[string, string, string[]]> = [
	['jwt without the identity provider\'s certificate', 'hostname: a.b\noauth: { provider: jwt }\n', ["nublado.yaml: oauth.jwtCertificate: is required for jwt: the identity provider's token-signing certificate (a PEM file)"]],
	['settings of another provider', `${github.replace('  allowedGroups', '  jwtCertificate: idp.pem\n  cilogonIdp: https://idp.example.org\n  allowedGroups')}`, [
		'nublado.yaml: oauth.jwtCertificate: is only for provider: jwt',
		'nublado.yaml: oauth.cilogonIdp: is only for provider: cilogon',
	]],
	['a group with a comma', 'hostname: a.b\noauth: { provider: github, clientId: x, clientSecret: { env: S }, allowedGroups: ["lsst,evil"] }\n', ['nublado.yaml: oauth.allowedGroups[0]: expected a name without a comma, got "lsst,evil"']],
	['DNS settings that are no names, which nsupdate\'s script would take as commands', 'hostname: a.b\noauth: { provider: jwt, jwtCertificate: hub/example-signing-certificate.crt }\ndns: { provider: rfc2136, server: "ns.example.test send", zone: "example.test update", keyName: "nub;x", keySecret: { env: TSIG } }\n', [
		'nublado.yaml: dns.server: expected host or host:port ([IPv6]:port), got "ns.example.test send"',
		'nublado.yaml: dns.zone: expected a DNS name, got "example.test update"',
		'nublado.yaml: dns.keyName: expected a DNS name (the key\'s name in BIND), got "nub;x"',
	]],
	['folders that leave the project (every file of a folder goes into the cluster)', 'hostname: a.b\noauth: { provider: jwt, jwtCertificate: hub/example-signing-certificate.crt }\nlanding: { folder: ../outside }\nhub: { configFolder: hub/../../etc }\n', [
		'nublado.yaml: landing.folder: "../outside" leaves the project folder: give a folder inside it, or an absolute path to use one elsewhere',
		'nublado.yaml: hub.configFolder: "hub/../../etc" leaves the project folder: give a folder inside it, or an absolute path to use one elsewhere',
	]],
	['a missing hostname', 'oauth: { provider: jwt, jwtCertificate: hub/example-signing-certificate.crt }\n', ['nublado.yaml: hostname: is required']],
	['minute 75', `${github}prepuller: { minute: 75 }\n`, ['nublado.yaml: prepuller.minute: expected a whole number from 0 to 59, got 75']],
	['an unknown provider', 'hostname: a.b\noauth: { provider: gitlab }\n', ['nublado.yaml: oauth.provider: expected one of github, cilogon, jwt, got "gitlab" (did you mean "github"?)']],
	['a value with a newline', 'hostname: a.b\noauth: { provider: jwt, jwtCertificate: hub/example-signing-certificate.crt }\nlab: { selectorTitle: "LSST\\nevil: true" }\n', ['nublado.yaml: lab.selectorTitle: expected a single line, got a value with a line break']],
	['a misspelt key', 'hostname: a.b\noauth: { provider: jwt, jwtCertificate: hub/example-signing-certificate.crt }\nfierfly: { enabled: false }\n', ['nublado.yaml: fierfly: unknown field (did you mean "firefly"?)']],
	['wrong types', 'hostname: a.b\noauth: { provider: jwt, jwtCertificate: hub/example-signing-certificate.crt }\nfirefly: { replicas: two, enabled: yes please }\nnfs: { size: lots }\n', [
		'nublado.yaml: nfs.size: expected a size such as 20Gi, got "lots"',
		'nublado.yaml: firefly.enabled: expected true or false, got "yes please"',
		'nublado.yaml: firefly.replicas: expected a whole number from 1 to 100, got "two"',
	]],
	['a credential written in clear', 'hostname: a.b\noauth: { provider: github, clientId: x, clientSecret: hunter2, allowedGroups: [o] }\n', [
		'nublado.yaml: oauth.clientSecret: expected a reference to the secret, { env: VARIABLE } or { file: path }, got the value itself (keep credentials out of this file)',
	]],
	['github without its credentials', 'hostname: a.b\n', [
		'nublado.yaml: oauth.clientId: is required for github',
		'nublado.yaml: oauth.clientSecret: is required for github: { env: NAME } or { file: path }',
		'nublado.yaml: oauth.allowedGroups: is required for github: the organizations or groups allowed in',
	]],
	['jwt with a small header limit, an NFS server by name', 'hostname: a.b\noauth: { provider: jwt, jwtCertificate: hub/example-signing-certificate.crt }\nhub: { maxHttpHeaderSize: 8192 }\nnfs: { server: nfs.example.org }\n', [
		'nublado.yaml: hub.maxHttpHeaderSize: must be at least 16384 with jwt (large tokens), got 8192',
		'nublado.yaml: nfs.server: expected in-cluster or an IP address (volumes need the server\'s IP, not a name), got "nfs.example.org"',
	]],
	['YAML that does not parse', 'hostname: [a\n', ['nublado.yaml:2: not valid YAML: Flow sequence in block collection must be sufficiently indented and end with a ]']],
	['Firefly limits below what it requests (3G, 0.8 CPU)', `${github}firefly: { memory: 2G, cpu: 0.5 }\n`, [
		'nublado.yaml: firefly.cpu: expected a number of at least 0.8, got 0.5',
	]],
	['Firefly memory below its 3G request', `${github}firefly: { memory: 2900M }\n`, ['nublado.yaml: firefly.memory: must be at least 3G, the memory Firefly requests, got 2900M']],
	['values the logging images cannot take', `${github}logging: { enabled: true, rabbitmqHost: "rmq.example.org/x", rabbitmqVhost: /logs, rabbitmqPassword: { env: P }, shipperName: "a/b", beatsCa: a, beatsCert: b, beatsKey: c }\n`, [
		'nublado.yaml: logging.rabbitmqHost: expected a host name, with :port if not 5672, got "rmq.example.org/x"',
		'nublado.yaml: logging.rabbitmqVhost: expected a vhost as an amqp URI writes it (no /: the vhost / is %2f), got "/logs"',
		'nublado.yaml: logging.shipperName: expected letters, digits, ., _ and -, got "a/b"',
	]],
	['prepuller settings its image cannot follow', `${github}prepuller: { images: [a/b:1, c/d:2], command: "echo pulled" }\n`, [
		'nublado.yaml: prepuller.command: expected one word: the image passes it on unquoted, got "echo pulled"',
	]],
	['two images to prepull', `${github}prepuller: { images: [a/b:1, c/d:2] }\n`, ["nublado.yaml: prepuller.images: the prepuller's image pulls only one image of its list; give at most one, got 2"]],
	['no scan and nothing to pull', `${github}prepuller: { noScan: true }\n`, ['nublado.yaml: prepuller.images: is required with noScan: true (there is nothing else to pull)']],
	['timeouts that are no durations, a name that is no task name', `${github}timeouts: { default: ten minutes, hub: 15, "Hub!": 1m }\n`, [
		'nublado.yaml: timeouts.default: expected a duration such as 90s, 10m or 1h, got "ten minutes"',
		'nublado.yaml: timeouts.hub: expected a duration such as 90s, 10m or 1h, got 15',
		'nublado.yaml: timeouts.Hub!: expected a task name (nub graph all shows them) or default, got "Hub!"',
	]],
	['a timeout of zero', `${github}timeouts: { proxy: 0s }\n`, ['nublado.yaml: timeouts.proxy: expected a duration of more than 0, such as 90s or 10m, got "0s"']],
	['timeouts that are no mapping', `${github}timeouts: 10m\n`, ['nublado.yaml: timeouts: expected a mapping, got "10m"']],
	['a scan of a registry other than Docker Hub', `${github}lab: { repoHost: registry.example.org }\n`, ['nublado.yaml: prepuller.noScan: the prepuller scans only Docker Hub, not registry.example.org: set noScan: true and images']],
];

for (const [title, text, expected] of bad) {
	test(`bad configuration, ${title}: every problem, one line each`, t => {
		const error = t.throws(() => parseConfig(text, 'nublado.yaml'), { instanceOf: ConfigError });
		t.deepEqual(error!.problems, expected);
	});
}

test('without nublado.yaml, the sandbox example is used; with one, it is read', t => {
	const dir = mkdtempSync(join(tmpdir(), 'nub-config-'));
	t.teardown(() => rmSync(dir, { recursive: true, force: true }));
	const example = loadConfig(dir, {});
	t.is(example.file, undefined);
	t.is(example.config.hostname, 'nublado.sandbox.test');
	t.is(example.config.kubernetes, undefined);
	writeFileSync(join(dir, 'nublado.yaml'), `${github}kubernetes: { context: gke_prod }\n`);
	const given = loadConfig(dir, {});
	t.is(given.file, 'nublado.yaml');
	t.deepEqual(given.config.kubernetes, { context: 'gke_prod', state: 'file' });
});

test('the committed example configuration is valid', t => {
	const config = parseConfig(readFileSync(new URL('../../nublado.example.yaml', import.meta.url), 'utf8'), 'nublado.example.yaml');
	t.is(config.hostname, 'nublado.example.org');
	t.deepEqual(config.kubernetes, { context: 'gke_my-project_us-central1-a_nublado', state: 'file' });
	t.deepEqual(config.timeouts, { default: '10m', hub: '15m', firefly: '20m' });
});

test('a task\'s timeout is its own entry, else timeouts.default, else none (the client\'s 10 minutes)', t => {
	const config = parseConfig(`${github}timeouts: { default: 90s, hub: 15m, proxy: 500ms, firefly: 1h }\n`, 'nublado.yaml');
	t.is(timeoutOf(config, 'hub'), 15 * 60_000);
	t.is(timeoutOf(config, 'proxy'), 500);
	t.is(timeoutOf(config, 'firefly'), 3_600_000);
	t.is(timeoutOf(config, 'keepalive'), 90_000);
	t.deepEqual(parseConfig(github, 'nublado.yaml').timeouts, {});
	t.is(timeoutOf(parseConfig(github, 'nublado.yaml'), 'hub'), undefined);
	t.is(durationMs('10m'), 600_000);
	t.true(Number.isNaN(durationMs('10 m')));
});

test('timeouts are set from the environment too: NUBLADO_TIMEOUTS_<TASK>, over the file\'s entry; a bad one names the variable', t => {
	const config = parseConfig(`${github}timeouts: { hub: 15m, proxy: 1m }\n`, 'nublado.yaml', { NUBLADO_TIMEOUTS_HUB: '20s', NUBLADO_TIMEOUTS_NFS_VOLUMES: '90s', NUBLADO_TIMEOUTS_DEFAULT: '5m' });
	t.deepEqual(config.timeouts, { hub: '20s', proxy: '1m', 'nfs-volumes': '90s', default: '5m' });
	const error = t.throws(() => parseConfig(github, 'nublado.yaml', { NUBLADO_TIMEOUTS_HUB: 'soon' }), { instanceOf: ConfigError });
	t.is(error!.message, 'NUBLADO_TIMEOUTS_HUB: timeouts.hub: expected a duration such as 90s, 10m or 1h, got "soon"');
});

test('the hub\'s image is overridden from the environment, NUBLADO_HUB_IMAGE, and checked', t => {
	t.is(envName('hub.image'), 'NUBLADO_HUB_IMAGE');
	t.is(parseConfig(github, 'nublado.yaml', { NUBLADO_HUB_IMAGE: 'lsstsqre/sciplat-hub:missing' }).hub.image, 'lsstsqre/sciplat-hub:missing');
	const error = t.throws(() => parseConfig(github, 'nublado.yaml', { NUBLADO_HUB_IMAGE: 'Not An Image' }), { instanceOf: ConfigError });
	t.is(error!.message, 'NUBLADO_HUB_IMAGE: hub.image: expected a container image, got "Not An Image"');
});

/*
 * Quadratic parsing (issue 17, item 7): the yaml package's duplicate-key check compared each key
 * with every key before it, 40,000 keys took 54 s, and Ctrl-C waited for the parse to end.
 */
const manyKeys = (count: number) => `hostname: nb.example.org\n${Array.from({ length: count }, (_, n) => `k${n}: ${n}\n`).join('')}`;

test('a nublado.yaml of 40,000 keys is refused in one line naming the file, without the quadratic parse (11 s before)', t => {
	const text = manyKeys(40_000);
	const started = performance.now();
	const error = t.throws(() => parseConfig(text, 'nublado.yaml'), { instanceOf: ConfigError });
	const ms = performance.now() - started;
	t.deepEqual(error!.problems, ['nublado.yaml: more than 10,000 YAML nodes (keys, values, items), the most nub reads in a configuration (a real one has a few hundred): is this the right file?']);
	// Before: 11 s here for the parse alone (54 s on the machine of the issue); now about 0.2 s.
	// The bound tells the two apart with room for a CI machine busy with other test files (a bound
	// of 1 s left it a factor of 4).
	t.true(ms < 5000, `${Math.round(ms)} ms`);
});

test('keys under the bound are read: 4,900 unknown keys are all named', t => {
	const error = t.throws(() => parseConfig(manyKeys(4_900), 'nublado.yaml'), { instanceOf: ConfigError });
	t.is(error!.problems.length, 4_900);
	t.is(error!.problems[4_899], 'nublado.yaml: k4899: unknown field; known here: hostname, namespace, kubernetes, oauth, tls, dhparam, routes, hub, lab, nfs, firefly, prepuller, logging, landing, timeouts, dns');
});

test('a file over 1 MiB is refused before it is read; a text over 1 MiB before it is parsed', t => {
	const big = `hostname: nb.example.org\n# ${'x'.repeat(1024 * 1024)}\n`;
	const message = 'nublado.yaml: 1.0 MiB, more than the 1 MiB nub reads in a configuration (a real one is about 10 KB): is this the right file?';
	t.deepEqual(t.throws(() => parseConfig(big, 'nublado.yaml'), { instanceOf: ConfigError })!.problems, [message]);
	const dir = mkdtempSync(join(tmpdir(), 'nub-config-'));
	writeFileSync(join(dir, 'nublado.yaml'), big);
	t.deepEqual(t.throws(() => loadConfig(dir, {}), { instanceOf: ConfigError })!.problems, [message]);
	rmSync(dir, { recursive: true, force: true });
});

test('a key twice in a mapping is still refused, each repeat named by line, at any depth', t => {
	const error = t.throws(() => parseConfig('hostname: nb.example.org\nhub:\n  image: a\n  image: b\nhostname: again\n', 'nublado.yaml'), { instanceOf: ConfigError });
	t.deepEqual(error!.problems, ['nublado.yaml:4: not valid YAML: Map keys must be unique ("image" again)', 'nublado.yaml:5: not valid YAML: Map keys must be unique ("hostname" again)']);
	// Keys equal as text but not as values (1 and "1") are two keys, as the yaml package has it.
	const distinct = t.throws(() => parseConfig('hostname: nb.example.org\nextra: { 1: a, "1": b }\n', 'nublado.yaml'), { instanceOf: ConfigError });
	t.deepEqual(distinct!.problems.map(problem => problem.split(';')[0]), ['nublado.yaml: extra: unknown field']);
});

test('an unknown key of a megabyte is named without measuring its distance to every field', t => {
	const started = performance.now();
	const error = t.throws(() => parseConfig(`hostname: nb.example.org\n? ${'k'.repeat(1000 * 1000)}\n: 1\n`, 'nublado.yaml'), { instanceOf: ConfigError });
	// Measured against every field, the key cost seconds each (tens of seconds in all); now tens of
	// milliseconds. The bound leaves room for a busy CI machine.
	t.true(performance.now() - started < 5000, `${Math.round(performance.now() - started)} ms`);
	t.regex(error!.problems[0]!, /^nublado\.yaml: k+: unknown field; known here: /);
});
