import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { parse } from 'yaml';
import type { SandboxOptions } from '../../lib/sandbox/index.ts';
import { kubectl, withSandbox, type KubectlResult } from './helpers.ts';

const manifest = (replicas: number) => `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: x
spec:
  replicas: ${replicas}
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:1.27
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: x
spec:
  type: LoadBalancer
  selector: {app: web}
  ports:
  - port: 80
`;

/** A sandbox and a `kubectl` bound to its kubeconfig, with a private HOME (discovery cache) and a manifest folder. */
async function kubectlSandbox(t: ExecutionContext, options: Partial<SandboxOptions> = {}) {
	const { sandbox, dir } = await withSandbox(t, { loadBalancerDelayMs: 100, rolloutDelayMs: 100, ...options });
	const home = join(dirname(dir), 'home');
	mkdirSync(home);
	const run = (...args: string[]) => kubectl(sandbox.kubeconfigPath, home, args);
	const write = (name: string, text: string) => {
		const path = join(home, name);
		writeFileSync(path, text);
		return path;
	};
	return { sandbox, run, write };
}

/** The result, failing the test with kubectl's output when it exited non-zero. */
function ok(t: ExecutionContext, result: KubectlResult): string {
	t.is(result.code, 0, result.stderr);
	return result.stdout;
}

test('kubectl get namespaces prints the server-side table; create namespace works', async t => {
	const { run } = await kubectlSandbox(t);
	const before = ok(t, await run('get', 'namespaces'));
	t.regex(before, /^NAME\s+STATUS\s+AGE\n/);
	t.regex(before, /^default\s+Active\s+\d+s$/m);
	t.regex(before, /^kube-system\s+Active\s+\d+s$/m);

	t.is(ok(t, await run('create', 'namespace', 'x')), 'namespace/x created\n');
	t.regex(ok(t, await run('get', 'namespace', 'x')), /^x\s+Active\s+\d+s$/m);
	const again = await run('create', 'namespace', 'x');
	t.is(again.code, 1);
	t.is(again.stderr.trim(), 'Error from server (AlreadyExists): namespaces "x" already exists');
});

test('kubectl apply -f: created, unchanged, configured; rollout status; -o yaml', async t => {
	const { run, write } = await kubectlSandbox(t);
	ok(t, await run('create', 'namespace', 'x'));
	const file = write('web.yaml', manifest(2));
	t.is(ok(t, await run('apply', '-f', file)), 'deployment.apps/web created\nservice/web created\n');
	t.is(ok(t, await run('apply', '-f', file)), 'deployment.apps/web unchanged\nservice/web unchanged\n');
	t.is(ok(t, await run('apply', '-f', write('web.yaml', manifest(3)))), 'deployment.apps/web configured\nservice/web unchanged\n');
	t.regex(ok(t, await run('rollout', 'status', 'deployment/web', '-n', 'x', '--timeout=20s')), /deployment "web" successfully rolled out/);

	const table = ok(t, await run('get', 'deploy', '-n', 'x'));
	t.regex(table, /^NAME\s+READY\s+UP-TO-DATE\s+AVAILABLE\s+AGE\nweb\s+3\/3\s+3\s+3\s+\d+s\n$/);
	const yaml = parse(ok(t, await run('get', 'deploy', 'web', '-n', 'x', '-o', 'yaml')));
	t.like(yaml, { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', namespace: 'x', generation: 2 }, spec: { replicas: 3 }, status: { observedGeneration: 2, availableReplicas: 3 } });
	t.truthy(yaml.metadata.annotations['kubectl.kubernetes.io/last-applied-configuration']);

	const services = ok(t, await run('get', 'svc', '-n', 'x'));
	t.regex(services, /^NAME\s+TYPE\s+CLUSTER-IP\s+EXTERNAL-IP\s+PORT\(S\)\s+AGE\n/);
	t.regex(services, /^web\s+LoadBalancer\s+10\.\d+\.\d+\.\d+\s+(<pending>|\d+\.\d+\.\d+\.\d+)\s+80:3\d{4}\/TCP\s+\d+s$/m);
});

test('kubectl apply --server-side twice, then delete returns promptly', async t => {
	// No rollout during the test: its status write would change the resourceVersion.
	const { run, write } = await kubectlSandbox(t, { rolloutDelayMs: 60_000, loadBalancerDelayMs: 60_000 });
	ok(t, await run('create', 'namespace', 'x'));
	const file = write('web.yaml', manifest(1));
	t.is(ok(t, await run('apply', '--server-side', '-f', file)), 'deployment.apps/web serverside-applied\nservice/web serverside-applied\n');
	const first = parse(ok(t, await run('get', 'deploy', 'web', '-n', 'x', '-o', 'yaml', '--show-managed-fields')));
	t.is(ok(t, await run('apply', '--server-side', '-f', file)), 'deployment.apps/web serverside-applied\nservice/web serverside-applied\n');
	const second = parse(ok(t, await run('get', 'deploy', 'web', '-n', 'x', '-o', 'yaml', '--show-managed-fields')));
	t.is(second.metadata.resourceVersion, first.metadata.resourceVersion);
	t.true(second.metadata.managedFields.some((entry: { manager: string; operation: string }) => entry.manager === 'kubectl' && entry.operation === 'Apply'));

	const started = Date.now();
	// kubectl of 1.36 names the namespace it deleted from.
	t.is(ok(t, await run('delete', '-f', file)), 'deployment.apps "web" deleted from x namespace\nservice "web" deleted from x namespace\n');
	// kubectl delete waits until the objects are gone: a sandbox that kept them would hold it for its
	// whole wait. The bound leaves room for a busy machine.
	t.true(Date.now() - started < 20_000, 'kubectl delete waits for the objects to disappear: they must go at once');
	const after = await run('get', 'deploy', 'web', '-n', 'x');
	t.is(after.stderr.trim(), 'Error from server (NotFound): deployments.apps "web" not found');
});

test('kubectl get in a missing namespace behaves as against a cluster', async t => {
	const { run } = await kubectlSandbox(t);
	const list = await run('get', 'deploy', '-n', 'missing');
	t.is(list.code, 0);
	t.is(list.stderr.trim(), 'No resources found in missing namespace.');
	const one = await run('get', 'deploy', 'web', '-n', 'missing');
	t.is(one.code, 1);
	t.is(one.stderr.trim(), 'Error from server (NotFound): namespaces "missing" not found');
});

test('kubectl get all -A lists every category-"all" type across namespaces', async t => {
	const { run, write } = await kubectlSandbox(t);
	ok(t, await run('create', 'namespace', 'x'));
	ok(t, await run('apply', '-f', write('web.yaml', manifest(1))));
	const all = ok(t, await run('get', 'all', '-A'));
	t.regex(all, /^NAMESPACE\s+NAME\s+TYPE\s+CLUSTER-IP\s+EXTERNAL-IP\s+PORT\(S\)\s+AGE$/m);
	t.regex(all, /^default\s+service\/kubernetes\s+ClusterIP\s+10\.96\.0\.1\s+<none>\s+443\/TCP\s+\d+s$/m);
	t.regex(all, /^x\s+service\/web\s+LoadBalancer\s/m);
	t.regex(all, /^NAMESPACE\s+NAME\s+READY\s+UP-TO-DATE\s+AVAILABLE\s+AGE$/m);
	t.regex(all, /^x\s+deployment\.apps\/web\s+\d\/1\s/m);
});

test('kubectl as the viewer: reads work, writes are Forbidden', async t => {
	const { run } = await kubectlSandbox(t);
	ok(t, await run('--context', 'nub-sandbox-viewer', 'get', 'namespaces'));
	const denied = await run('--context', 'nub-sandbox-viewer', 'create', 'namespace', 'nublado');
	t.is(denied.code, 1);
	t.is(denied.stderr.trim(), 'Error from server (Forbidden): namespaces is forbidden: User "viewer" cannot create resource "namespaces" in API group "" at the cluster scope');
});
