import test from 'ava';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { kubectl } from '../sandbox/helpers.ts';
import { finished, makeProject, nub, removeProject, startNub, summaryOf, waitFor } from '../helpers/project.ts';

/** A Nubfile whose task applies a namespace and a ConfigMap through the run's cluster. */
const nubfile = (extra = '') => `import { kube, task } from 'nub';
${extra}
export const deploy = task({
	name: 'deploy',
	inputs: { version: 2 },
	run: async (_, context) => {
		const cluster = await kube(context);
		const results = await cluster.apply([
			{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'demo' } },
			{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'settings', namespace: 'demo' }, data: { greeting: 'hello' } },
		]);
		return { server: cluster.server.replace(/:\\d+$/, ''), actions: results.map(result => result.action) };
	},
});
`;

test('with no cluster named, a run deploys to the embedded sandbox, says so in one line, and the cluster persists', async t => {
	const dir = makeProject({ 'Nubfile.ts': nubfile() });
	t.teardown(() => removeProject(dir));
	// A kubeconfig whose current context points somewhere else must not be used.
	writeFileSync(join(dir, 'elsewhere.yaml'), 'apiVersion: v1\nkind: Config\ncurrent-context: prod\ncontexts: [{name: prod, context: {cluster: prod, user: prod}}]\nclusters: [{name: prod, cluster: {server: "https://192.0.2.1:6443"}}]\nusers: [{name: prod, user: {token: x}}]\n');
	const first = await nub(dir, ['run', 'deploy', '--json'], { KUBECONFIG: join(dir, 'elsewhere.yaml') });
	t.is(first.code, 0, first.stderr);
	t.regex(first.stderr, /^nub: no cluster named: using the embedded sandbox \(kubectl --kubeconfig \.nub\/sandbox\/kubeconfig\)\n$/);
	const end = first.stdout.split('\n').filter(Boolean).map(line => JSON.parse(line)).find(event => event.type === 'task-end');
	t.deepEqual(end.output, { server: 'https://127.0.0.1', actions: ['created', 'created'] });
	t.true(existsSync(join(dir, '.nub/sandbox/kubeconfig')));

	// The embedded sandbox stopped with the run, and kept its cluster: served again, kubectl sees
	// what the run applied.
	const server = startNub(dir, ['sandbox', 'serve']);
	const served = finished(server);
	let out = '';
	server.stdout!.on('data', chunk => (out += chunk));
	t.teardown(() => server.kill('SIGKILL'));
	await waitFor(() => out.includes('Ctrl-C stops it'), 'the sandbox to serve');
	const home = join(dir, 'home');
	mkdirSync(home);
	const got = await kubectl(join(dir, '.nub/sandbox/kubeconfig'), home, ['get', 'configmap', 'settings', '-n', 'demo', '-o', 'jsonpath={.data.greeting}']);
	t.is(got.stdout, 'hello', got.stderr);
	const managers = await kubectl(join(dir, '.nub/sandbox/kubeconfig'), home, ['get', 'configmap', 'settings', '-n', 'demo', '--show-managed-fields', '-o', 'jsonpath={.metadata.managedFields[*].manager}']);
	t.is(managers.stdout, 'nub');
	server.kill('SIGINT');
	t.is((await served).code, 0);

	// A cached run never starts the sandbox nor loads the client: no line about it.
	const cached = await nub(dir, ['run', 'deploy']);
	t.is(cached.stderr, '');
});

test('kubectl against `nub sandbox serve`; a run meanwhile uses the served sandbox; --context names it explicitly', async t => {
	const dir = makeProject({ 'Nubfile.ts': nubfile() });
	t.teardown(() => removeProject(dir));
	const server = startNub(dir, ['sandbox', 'serve']);
	const served = finished(server);
	let out = '';
	server.stdout!.on('data', chunk => (out += chunk));
	t.teardown(() => server.kill('SIGKILL'));
	await waitFor(() => out.includes('Ctrl-C stops it'), 'the sandbox to serve');
	const url = /at (https:\/\/127\.0\.0\.1:\d+)/.exec(out)![1]!;
	const kubeconfig = /kubeconfig: (.+)/.exec(out)![1]!;
	t.is(kubeconfig, join(dir, '.nub/sandbox/kubeconfig'));
	const home = join(dir, 'home');
	mkdirSync(home);
	const run = (...args: string[]) => kubectl(kubeconfig, home, args);

	t.regex((await run('get', 'namespaces')).stdout, /^NAME\s+STATUS\s+AGE\n(.*\n)*default\s+Active/);
	t.is((await run('create', 'namespace', 'team')).stdout.trim(), 'namespace/team created');
	const deployment = join(home, 'web.yaml');
	writeFileSync(deployment, 'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: team}\nspec:\n  replicas: 1\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec: {containers: [{name: web, image: "nginx:1.27"}]}\n');
	t.is((await run('apply', '-f', deployment)).stdout.trim(), 'deployment.apps/web created');
	t.is((await run('apply', '--server-side', '-f', deployment)).stdout.trim(), 'deployment.apps/web serverside-applied');
	t.regex((await run('get', 'deploy', 'web', '-n', 'team', '-o', 'yaml')).stdout, /kind: Deployment\n[\s\S]*name: web\n[\s\S]*namespace: team/);
	const missing = await run('get', 'deploy', 'web', '-n', 'nowhere');
	t.not(missing.code, 0);
	t.regex(missing.stderr, /namespaces "nowhere" not found|deployments\.apps "web" not found/);
	t.is((await run('delete', 'deploy', 'web', '-n', 'team')).stdout.trim(), 'deployment.apps "web" deleted from team namespace');
	t.regex((await run('get', 'deploy', '-n', 'team')).stderr, /No resources found in team namespace/);

	// A run while it serves uses it (one server per folder), and says which.
	const viaServed = await nub(dir, ['run', 'deploy']);
	t.is(viaServed.code, 0, viaServed.stderr);
	t.regex(viaServed.stderr, new RegExp(`^nub: no cluster named: using the sandbox served by pid \\d+ at ${url.replaceAll('.', '\\.')}\\n$`));
	t.is((await run('get', 'configmap', 'settings', '-n', 'demo', '-o', 'jsonpath={.data.greeting}')).stdout, 'hello');

	// --context with --kubeconfig names the cluster: no sandbox line.
	const named = await nub(dir, ['run', 'deploy', '--force', '--json', '--context', 'nub-sandbox', '--kubeconfig', kubeconfig]);
	t.is(named.code, 0, named.stderr);
	t.is(named.stderr, '');
	t.deepEqual(summaryOf(named.stdout).succeeded, ['deploy']);

	// reset refuses while it serves; Ctrl-C stops it.
	const reset = await nub(dir, ['sandbox', 'reset']);
	t.is(reset.code, 2);
	t.regex(reset.stderr, /^nub: a sandbox is already serving \.nub\/sandbox \(pid \d+, https:\/\/127\.0\.0\.1:\d+\): stop it first\n$/);
	server.kill('SIGINT');
	t.is((await served).code, 0);
	const emptied = await nub(dir, ['sandbox', 'reset']);
	t.is(emptied.stdout, 'emptied the sandbox cluster in .nub/sandbox\n');
});

test('the Nubfile names its cluster with cluster(); an unknown context is a clear task error, never the current context', async t => {
	const dir = makeProject({ 'Nubfile.ts': nubfile("import { cluster } from 'nub';\nexport const target = cluster({ context: 'prod', kubeconfig: 'kube.yaml' });") });
	t.teardown(() => removeProject(dir));
	writeFileSync(join(dir, 'kube.yaml'), 'apiVersion: v1\nkind: Config\ncurrent-context: staging\ncontexts: [{name: staging, context: {cluster: s, user: s}}]\nclusters: [{name: s, cluster: {server: "https://192.0.2.1:6443"}}]\nusers: [{name: s, user: {token: x}}]\n');
	const result = await nub(dir, ['run', 'deploy']);
	t.is(result.code, 1);
	t.regex(result.stdout, /kube\.yaml has no context "prod" \(it has "staging"\)/);
	t.false(existsSync(join(dir, '.nub/sandbox')), 'no sandbox when a cluster is named');
	t.false(readFileSync(join(dir, 'kube.yaml'), 'utf8').includes('current-context: prod'));
	const usage = await nub(dir, ['run', 'deploy', '--kubeconfig', 'kube.yaml']);
	t.is(usage.code, 2);
	t.is(usage.stderr, 'nub: --kubeconfig needs --context: nub never deploys to the current context of a kubeconfig\n');
});
