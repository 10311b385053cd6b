/**
 * Every container nublado deploys, checked against its image's contract (templates/contracts.yaml):
 * as deployed to the sandbox by the real `nub`, with the default configuration and with every
 * optional component on. And the checker itself: each way a container can break a contract.
 */
import test from 'ava';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { KubeObject } from '../../lib/k8s/objects.ts';
import { contractProblems, imageRepository, loadContracts, type ImageContract } from '../../tasks/contracts.ts';
import { makeNubladoProject, nub, removeProject, repoRoot } from '../helpers/project.ts';
import { clusterObjects } from '../reliability/helpers.ts';

const contracts = loadContracts(repoRoot);

/** Deploys nublado with `yaml` to a sandbox of its own and returns what the cluster holds. */
async function deployed(t: { teardown(fn: () => void): void }, yaml: string, files: Record<string, string> = {}, env: Record<string, string> = {}): Promise<KubeObject[]> {
	const dir = makeNubladoProject({ 'nublado.yaml': yaml, ...files });
	t.teardown(() => removeProject(dir));
	const result = await nub(dir, ['run', 'all', '--json'], env);
	if (result.code !== 0) throw new Error(`nub run all failed (exit ${result.code}): ${result.stderr}${result.stdout.slice(-2000)}`);
	return clusterObjects(dir) as KubeObject[];
}

const images = (objects: readonly KubeObject[]) =>
	new Set(
		objects.flatMap(object => {
			const spec = (object.kind === 'CronJob' ? (object.spec as any)?.jobTemplate?.spec?.template?.spec : (object.spec as any)?.template?.spec) as { containers?: Array<{ image: string }>; initContainers?: Array<{ image: string }> } | undefined;
			return [...(spec?.initContainers ?? []), ...(spec?.containers ?? [])].map(container => imageRepository(container.image));
		}),
	);

test('the default configuration: every container keeps its image\'s contract', async t => {
	const objects = await deployed(t, 'hostname: nublado.example.test\noauth: { provider: jwt, jwtCertificate: hub/example-signing-certificate.crt }\ndhparam: { group: ffdhe2048 }\nprepuller: { minute: 5 }\n');
	t.deepEqual(contractProblems(objects, contracts), []);
	t.true(images(objects).has('lsstsqre/sciplat-hub'));
});

test('every optional component on (GitHub, logging, Firefly, the prepuller, the landing page): every container keeps its contract', async t => {
	const secret = { OAUTH_SECRET: 'oauth-secret', RABBITMQ_PASSWORD: 'rabbit' };
	const tls = { 'beats/ca.crt': 'ca\n', 'beats/beats.crt': 'cert\n', 'beats/beats.key': 'key\n' };
	const objects = await deployed(
		t,
		`hostname: nublado.example.test
oauth: { provider: github, clientId: id, clientSecret: { env: OAUTH_SECRET }, allowedGroups: [lsst] }
dhparam: { group: ffdhe2048 }
prepuller: { enabled: true, minute: 5 }
firefly: { enabled: true }
landing: { enabled: true }
logging:
  enabled: true
  rabbitmqHost: rabbit.example.test
  rabbitmqVhost: nublado
  rabbitmqPassword: { env: RABBITMQ_PASSWORD }
  beatsCa: beats/ca.crt
  beatsCert: beats/beats.crt
  beatsKey: beats/beats.key
`,
		tls,
		secret,
	);
	t.deepEqual(contractProblems(objects, contracts), []);
	for (const image of images(objects)) t.truthy(contracts[image], `a contract for ${image}`);
	t.true(images(objects).size >= 10, [...images(objects)].join(', '));
});

// ---- The checker ------------------------------------------------------------------------------

const contract: ImageContract = {
	source: 'test',
	command: ['/run.sh'],
	user: 768,
	ports: [8081],
	env: { required: ['NEEDED'], optional: ['MAYBE'] },
	files: ['/etc/app/config.py', '/etc/app/sub/extra.py'],
	writable: ['/home/app'],
	privileged: true,
	resources: true,
};
const good = (): KubeObject[] => [
	{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'app', namespace: 'ns' }, data: { 'config.py': '', 'extra.py': '' } },
	{
		apiVersion: 'apps/v1',
		kind: 'Deployment',
		metadata: { name: 'app', namespace: 'ns' },
		spec: {
			template: {
				spec: {
					securityContext: { runAsUser: 768 },
					containers: [
						{
							name: 'app',
							image: 'example/app:1.0',
							command: ['/run.sh'],
							env: [{ name: 'NEEDED', value: 'x' }, { name: 'MAYBE', value: 'y' }],
							ports: [{ containerPort: 8081 }],
							securityContext: { privileged: true },
							resources: { requests: { cpu: '1', memory: '1G' }, limits: { cpu: '2', memory: '2G' } },
							volumeMounts: [
								{ name: 'config', mountPath: '/etc/app' },
								{ name: 'home', mountPath: '/home/app' },
							],
						},
					],
					volumes: [
						{ name: 'config', configMap: { name: 'app', items: [{ key: 'config.py', path: 'config.py' }, { key: 'extra.py', path: 'sub/extra.py' }] } },
						{ name: 'home', persistentVolumeClaim: { claimName: 'home' } },
					],
				},
			},
		},
	},
];
const container = (objects: KubeObject[]) => (objects[1]!.spec as any).template.spec.containers[0];
const where = 'Deployment ns/app, container app (example/app:1.0)';

test('the checker: a container that keeps the contract passes', t => {
	t.deepEqual(contractProblems(good(), { 'example/app': contract }), []);
	t.is(imageRepository('docker.io/lsstsqre/sciplat-hub:0.16.6'), 'lsstsqre/sciplat-hub');
	t.is(imageRepository('registry.example:5000/a/b'), 'registry.example:5000/a/b');
	t.is(imageRepository('a/b@sha256:00'), 'a/b');
});

const breaches: Array<[string, (objects: KubeObject[]) => void, string]> = [
	['another command', objects => (container(objects).command = ['/hub.sh']), `${where}: runs ["/hub.sh"]; the image's command is ["/run.sh"]`],
	['another user', objects => ((objects[1]!.spec as any).template.spec.securityContext.runAsUser = 0), `${where}: runs as user 0; the image runs as 768`],
	['a required variable missing', objects => (container(objects).env = [{ name: 'MAYBE', value: 'y' }]), `${where}: sets no NEEDED, which the image needs`],
	['an invented variable', objects => container(objects).env.push({ name: 'FILESERVER_IP', value: '10.0.0.1' }), `${where}: sets FILESERVER_IP, which the image never reads`],
	['a port left out', objects => (container(objects).ports = []), `${where}: declares no port 8081, which the image listens on`],
	['not privileged', objects => (container(objects).securityContext = {}), `${where}: is not privileged, which the image needs`],
	['no memory limit', objects => delete container(objects).resources.limits.memory, `${where}: has no memory limit`],
	['a file with no mount', objects => container(objects).volumeMounts.shift(), `${where}: mounts nothing at /etc/app/config.py, which the image reads\n${where}: mounts nothing at /etc/app/sub/extra.py, which the image reads`],
	['a file the ConfigMap lacks', objects => delete (objects[0]!.data as Record<string, string>)['config.py'], `${where}: /etc/app/config.py: ConfigMap app, mounted at /etc/app, has no key config.py`],
	[
		'a file the mount\'s items leave out',
		objects => ((objects[1]!.spec as any).template.spec.volumes[0].configMap.items = [{ key: 'config.py', path: 'config.py' }]),
		`${where}: /etc/app/sub/extra.py: ConfigMap app is mounted at /etc/app with items that do not include sub/extra.py`,
	],
	['a read-only home', objects => (container(objects).volumeMounts[1].readOnly = true), `${where}: has no writable volume at /home/app, where the image writes`],
	['an image with no contract', objects => (container(objects).image = 'example/other:2'), 'Deployment ns/app, container app (example/other:2): no contract for image example/other in templates/contracts.yaml'],
];

for (const [title, breach, expected] of breaches) {
	test(`the checker: ${title}`, t => {
		const objects = good();
		breach(objects);
		t.deepEqual(contractProblems(objects, { 'example/app': contract }), expected.split('\n'));
	});
}
