import test from 'ava';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kube } from '../../lib/k8s/client.ts';
import { KubeError } from '../../lib/k8s/errors.ts';
import type { KubeObject } from '../../lib/k8s/objects.ts';
import { ManifestError } from '../../lib/k8s/validate.ts';
import { startSandbox, type Sandbox, type SandboxOptions } from '../../lib/sandbox/index.ts';

/** A sandbox of its own for one test, on a temporary folder, and a client connected to it. */
async function withSandbox(t: { teardown(fn: () => unknown): void }, options: Partial<SandboxOptions> = {}) {
	const dir = mkdtempSync(join(tmpdir(), 'nub-k8s-'));
	const sandbox = await startSandbox({ dir, loadBalancerDelayMs: 300, rolloutDelayMs: 300, ...options });
	t.teardown(async () => {
		await sandbox.close();
		rmSync(dir, { recursive: true, force: true });
	});
	const kube = await Kube.connect({ kubeconfig: sandbox.kubeconfigPath, context: 'nub-sandbox' }, { minRetryMs: 20 });
	return { sandbox, kube, dir };
}

const namespace = (name: string): KubeObject => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
const deployment = (name: string, ns: string, replicas = 1): KubeObject => ({
	apiVersion: 'apps/v1',
	kind: 'Deployment',
	metadata: { name, namespace: ns, labels: { app: name } },
	spec: {
		replicas,
		selector: { matchLabels: { app: name } },
		template: { metadata: { labels: { app: name } }, spec: { containers: [{ name, image: `example/${name}:1`, ports: [{ containerPort: 8080 }] }] } },
	},
});
const service = (name: string, ns: string, type = 'ClusterIP'): KubeObject => ({
	apiVersion: 'v1',
	kind: 'Service',
	metadata: { name, namespace: ns },
	spec: { type, selector: { app: name }, ports: [{ port: 80, targetPort: 8080 }] },
});
const writes = (sandbox: Sandbox) => sandbox.requests.filter(request => !['GET'].includes(request.method));

test('apply creates namespace first, then the rest; applying again changes nothing', async t => {
	// No controller writes a status between the two applies (that would change a resourceVersion).
	const { sandbox, kube } = await withSandbox(t, { rolloutDelayMs: 3_600_000, loadBalancerDelayMs: 3_600_000 });
	// The namespace comes last in the list: apply still creates it first.
	const objects = [deployment('hub', 'nublado'), service('hub', 'nublado'), namespace('nublado')];
	const first = await kube.apply(objects);
	t.deepEqual(first.map(result => result.action), ['created', 'created', 'created']);
	t.is(first[0]!.object.metadata.name, 'hub');
	const managers = (first[0]!.object.metadata.managedFields as Array<{ manager: string; operation: string }>).map(entry => `${entry.manager}/${entry.operation}`);
	t.deepEqual(managers, ['nub/Apply']);

	const versions = first.map(result => result.object.metadata.resourceVersion);
	const again = await kube.apply(objects);
	t.deepEqual(again.map(result => result.action), ['unchanged', 'unchanged', 'unchanged']);
	t.deepEqual(again.map(result => result.object.metadata.resourceVersion), versions);

	const changed = await kube.apply([deployment('hub', 'nublado', 2)]);
	t.is(changed[0]!.action, 'configured');
	t.true(writes(sandbox).every(request => request.method === 'PATCH'), 'apply only ever sends server-side apply patches');
});

test('waits: a ClusterIP, a LoadBalancer address, a rollout; a timeout says what it saw', async t => {
	// Rollouts take 2 s here, so that the timeout below cannot race a finished rollout.
	const { kube } = await withSandbox(t, { rolloutDelayMs: 2000, loadBalancerDelayMs: 400 });
	await kube.apply([namespace('ingress'), service('web', 'ingress', 'LoadBalancer'), service('internal', 'ingress'), deployment('web', 'ingress')]);
	t.regex(await kube.waitForClusterIp('ingress', 'web'), /^10\.(9[6-9]|1[01]\d)\.\d+\.\d+$/);
	t.regex(await kube.waitForLoadBalancer('ingress', 'web'), /^\d+\.\d+\.\d+\.\d+$/);
	// A ClusterIP Service never gets an external address: the wait says what it saw, as it goes and at the end.
	const progress: string[] = [];
	const never = await t.throwsAsync(kube.waitForLoadBalancer('ingress', 'internal', { timeoutMs: 300, log: line => progress.push(line) }));
	// How long it took depends on the machine's load: the message's shape is what is checked.
	t.regex(never!.message, /^timed out after \d+(\.\d)? s waiting for Service ingress\/internal to get an external address; last seen: status\.loadBalancer\.ingress is empty$/);
	t.deepEqual(progress, ['waiting for Service ingress/internal to get an external address: status.loadBalancer.ingress is empty']);
	await t.notThrowsAsync(kube.waitForRollout('Deployment', 'ingress', 'web'));

	await kube.apply([deployment('web', 'ingress', 3)]);
	const error = await t.throwsAsync(kube.waitForRollout('Deployment', 'ingress', 'web', { timeoutMs: 150 }));
	t.regex(error!.message, /^timed out after \d+(\.\d)? s waiting for Deployment ingress\/web to roll out; last seen: /);
});

test('an invalid manifest is refused before any request is sent', async t => {
	const { sandbox, kube } = await withSandbox(t);
	const before = sandbox.requests.length;
	const bad = deployment('hub', 'nublado');
	(bad.spec as { replicas: unknown }).replicas = 'two';
	const error = await t.throwsAsync(kube.apply([namespace('nublado'), bad]), { instanceOf: ManifestError });
	t.is(error!.message, 'Deployment nublado/hub: spec.replicas must be integer, got "two"');
	t.is(sandbox.requests.length, before);
});

test('refusals are explained: a missing namespace, a 422 from the server, an unknown kind, and the viewer\'s 403', async t => {
	const { sandbox, kube } = await withSandbox(t);
	const missing = await t.throwsAsync(kube.apply([service('hub', 'nowhere')]), { instanceOf: KubeError });
	t.regex(missing!.message, /^apply Service nowhere\/hub: namespaces "nowhere" not found \(404\)$/);

	await kube.apply([namespace('nublado')]);
	const mismatched = deployment('hub', 'nublado');
	(mismatched.spec as { selector: unknown }).selector = { matchLabels: { app: 'other' } };
	const invalid = await t.throwsAsync(kube.apply([mismatched]), { instanceOf: KubeError });
	t.is(invalid!.code, 422);
	t.regex(invalid!.message, /^Deployment nublado\/hub is invalid: spec\.template\.metadata\.labels: /);

	const unknown = await t.throwsAsync(kube.apply([{ apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w', namespace: 'nublado' } }]), { instanceOf: KubeError });
	t.regex(unknown!.message, /the cluster has no kind Widget in example\.com\/v1 \(API group "example\.com", version v1\)/);

	const viewer = await Kube.connect({ kubeconfig: sandbox.kubeconfigPath, context: 'nub-sandbox-viewer' });
	t.truthy(await viewer.read(namespace('nublado')), 'the viewer may read');
	const forbidden = await t.throwsAsync(viewer.apply([service('hub', 'nublado')]), { instanceOf: KubeError });
	t.is(forbidden!.code, 403);
	t.regex(forbidden!.message, /^apply Service nublado\/hub: forbidden: .*cannot .* resource "services".*; nub needs cluster-admin on the cluster, as the manual says: kubectl create clusterrolebinding admin-binding --clusterrole=cluster-admin --user=<your account>$/);
});

test('at a 10% error rate with resets and throttling, applying and waiting for 50 objects completes', async t => {
	const { sandbox } = await withSandbox(t, { rolloutDelayMs: 100, faults: { errorRate: 0.1, resetRate: 0.03, throttleRate: 0.03, retryAfterSeconds: 0, seed: 7 } });
	const retries: string[] = [];
	const kube = await Kube.connect({ kubeconfig: sandbox.kubeconfigPath, context: 'nub-sandbox' }, { minRetryMs: 10, retries: 10, onRetry: message => retries.push(message) });
	const objects: KubeObject[] = [namespace('load')];
	for (let i = 0; i < 49; i++) objects.push(i % 2 === 0 ? deployment(`app${i}`, 'load') : service(`app${i}`, 'load'));
	const results = await kube.apply(objects);
	t.is(results.length, 50);
	for (let i = 1; i < 50; i += 2) await kube.waitForRollout('Deployment', 'load', `app${i - 1}`);
	const faults = sandbox.requests.filter(request => request.fault);
	t.true(faults.length > 5, `only ${faults.length} faults injected`);
	t.true(retries.length >= faults.length - 2, `${retries.length} retries for ${faults.length} faults`);
	t.true(faults.some(request => request.fault === 'reset') && faults.some(request => request.fault === 'throttle'));
});

test('a server whose certificate the kubeconfig does not trust is a TLS error, not retried, and never skipped', async t => {
	const { sandbox, dir } = await withSandbox(t);
	const other = mkdtempSync(join(tmpdir(), 'nub-k8s-other-'));
	const otherSandbox = await startSandbox({ dir: other });
	t.teardown(async () => {
		await otherSandbox.close();
		rmSync(other, { recursive: true, force: true });
	});
	// This sandbox's kubeconfig, pointed at the other server: its CA does not sign that certificate.
	const config = readFileSync(sandbox.kubeconfigPath, 'utf8').replace(sandbox.url, otherSandbox.url);
	writeFileSync(join(dir, 'wrong-ca.yaml'), config);
	const kube = await Kube.connect({ kubeconfig: join(dir, 'wrong-ca.yaml'), context: 'nub-sandbox' }, { minRetryMs: 10 });
	const before = otherSandbox.requests.length;
	const error = await t.throwsAsync(kube.apply([namespace('x')]), { instanceOf: KubeError });
	t.regex(error!.message, /^TLS error from the API server at https:\/\/127\.0\.0\.1:\d+ \(context "nub-sandbox"\): [A-Z_]+; nub never turns certificate verification off/);
	t.is(otherSandbox.requests.length, before, 'no request got through');
});

test('a context that the kubeconfig does not have is named with the ones it has', async t => {
	const { sandbox } = await withSandbox(t);
	const error = await t.throwsAsync(Kube.connect({ kubeconfig: sandbox.kubeconfigPath, context: 'prod' }), { instanceOf: KubeError });
	t.is(error!.message, `${sandbox.kubeconfigPath} has no context "prod" (it has "nub-sandbox", "nub-sandbox-viewer")`);
});
