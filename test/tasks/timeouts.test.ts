/**
 * nublado.yaml's `timeouts` reach the tasks' waits: run by the real `nub` on a sandbox this test
 * serves, a task whose rollout or claims cannot finish in its timeout fails with it, naming the
 * task, in seconds rather than the client's 10 minutes. A name that is no task is refused.
 */
import test, { type ExecutionContext } from 'ava';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Kube } from '../../lib/k8s/client.ts';
import { startSandbox } from '../../lib/sandbox/index.ts';
import { makeNubladoProject, nub, removeProject, summaryOf } from '../helpers/project.ts';

const base = `hostname: nublado.example.test
oauth: { provider: jwt, jwtCertificate: hub/example-signing-certificate.crt }
dhparam: { group: ffdhe2048 }
nfs: { server: 10.0.0.7 }
firefly: { enabled: false }
prepuller: { enabled: false }
landing: { enabled: false }
`;

async function project(t: ExecutionContext, yaml: string, rolloutDelayMs: number) {
	const dir = makeNubladoProject({ 'nublado.yaml': yaml });
	const sandbox = await startSandbox({ dir: join(dir, '.nub/sandbox'), loadBalancerDelayMs: 100, rolloutDelayMs });
	t.teardown(async () => {
		await sandbox.close();
		removeProject(dir);
	});
	return { dir, sandbox };
}

test('a timeout of 1s on nfs-volumes: its claims, bound after 60s, fail the task with a timeout naming it, in seconds', async t => {
	const { dir } = await project(t, `${base}timeouts: { nfs-volumes: 1s }\n`, 60_000);
	const started = Date.now();
	const result = await nub(dir, ['run', 'nfs-volumes']);
	t.is(result.code, 1, result.stdout + result.stderr);
	t.regex(result.stdout, /FAILED +nfs-volumes: timed out after 1(\.\d+)? s waiting for PersistentVolumeClaim nublado\/home to be bound/);
	t.true(Date.now() - started < 30_000, `took ${Date.now() - started} ms`);
});

test('NUBLADO_HUB_IMAGE reaches the hub Deployment; with an image that cannot be pulled and 10 minutes to roll out, the hub fails in seconds naming the image and the field that set it', async t => {
	const { dir, sandbox } = await project(t, `${base}timeouts: { hub: 10m }\n`, 100);
	const started = Date.now();
	const result = await nub(dir, ['run', 'hub'], { NUBLADO_HUB_IMAGE: 'lsstsqre/sciplat-hub:missing' });
	t.is(result.code, 1, result.stdout + result.stderr);
	t.regex(result.stdout, /FAILED +hub: Deployment nublado\/hub: pod hub-\S+\/container hub: ImagePullBackOff: image lsstsqre\/sciplat-hub:missing cannot be pulled .*; to fix: .*hub\.image in nublado\.yaml \(or NUBLADO_HUB_IMAGE\)/);
	t.true(Date.now() - started < 60_000, `took ${Date.now() - started} ms`);
	const kube = await Kube.connect({ kubeconfig: sandbox.kubeconfigPath, context: 'nub-sandbox' });
	const hub = (await kube.read({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'hub', namespace: 'nublado' } })) as unknown as { spec: { template: { spec: { containers: Array<{ image: string }> } } } };
	t.deepEqual(hub.spec.template.spec.containers.map(container => container.image), ['lsstsqre/sciplat-hub:missing']);
});

test('a name in timeouts that is no task of the deployment is refused before anything runs, naming the field', async t => {
	const { dir, sandbox } = await project(t, `${base}timeouts: { default: 5m, hubb: 15m, firefly: 20m }\n`, 100);
	const result = await nub(dir, ['run', 'all']);
	t.is(result.code, 2, result.stderr);
	t.regex(result.stderr, /nublado\.yaml: timeouts\.hubb: no task of this deployment is named "hubb" \(did you mean "hub"\?\)/);
	// Firefly is disabled here: its name is no task either.
	t.regex(result.stderr, /nublado\.yaml: timeouts\.firefly: no task of this deployment is named "firefly"/);
	t.is(sandbox.requests.length, 0);
});

test('a timeout is no input of the task: a rerun with another timeout, after a success, reruns nothing', async t => {
	const { dir } = await project(t, `${base}timeouts: { nfs-volumes: 30s }\n`, 100);
	const first = await nub(dir, ['run', 'nfs-volumes']);
	t.is(first.code, 0, first.stdout + first.stderr);
	writeFileSync(join(dir, 'nublado.yaml'), `${base}timeouts: { default: 2m, nfs-volumes: 45s }\n`);
	const second = await nub(dir, ['run', 'nfs-volumes', '--json']);
	t.is(second.code, 0, second.stdout + second.stderr);
	const summary = summaryOf(second.stdout);
	t.deepEqual(summary.succeeded, []);
	t.true(summary.cached.includes('nfs-volumes'), JSON.stringify(summary));
});
