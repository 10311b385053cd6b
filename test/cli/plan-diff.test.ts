/**
 * `nub plan --diff`, `--detailed-exitcode` and saved plans (`--out`, `nub run --plan`), by the real
 * `nub` binary against a real control plane (cluster/: the official kube-apiserver with its audit
 * log). The tests run in order on one cluster and project: a fresh cluster, a full run, then
 * changes a run would make, each shown before it is made.
 */
import test from 'ava';
import { join } from 'node:path';
import type { ObjectChange } from '../../lib/engine/changes.ts';
import { StateStore } from '../../lib/engine/state-store.ts';
import { githubNubladoYaml, makeNubladoProject, nub, removeProject, type NubResult } from '../helpers/project.ts';
import { startRealCluster, type RealCluster } from '../helpers/real-cluster.ts';

let cluster: RealCluster;
let dir: string;
/** What the plan of a fresh cluster listed, held against what the run then applied. */
let freshObjects: string[] = [];
let run: (args: string[], env?: Record<string, string>) => Promise<NubResult>;

const yaml = githubNubladoYaml;
const oauthSecret = 'oauth-secret-value-42';

test.before(async () => {
	cluster = await startRealCluster();
	dir = makeNubladoProject({ 'nublado.yaml': yaml });
	run = (args, env = {}) => nub(dir, [...args, ...cluster.nubArgs], { OAUTH_SECRET: oauthSecret, ...env });
});

test.after.always(async () => {
	await cluster?.close();
	if (dir) removeProject(dir);
});

/** The `diff-object` records of a `--json` plan. */
const records = (result: NubResult) =>
	result.stdout
		.split('\n')
		.filter(line => line.startsWith('{'))
		.map(line => JSON.parse(line) as { type?: string } & ObjectChange)
		.filter(event => event.type === 'diff-object');
const find = (all: ObjectChange[], kind: string, name: string) => all.find(record => record.kind === kind && record.name === name);

/** Asserts that nub's user changed nothing since `mark`, and that it did ask for dry runs. */
function onlyDryRuns(t: import('ava').ExecutionContext, mark: number) {
	t.deepEqual(cluster.mutationsSince(mark).map(event => `${event.verb} ${event.requestURI}`), []);
	t.true(cluster.audit().slice(mark).some(event => event.user.username === cluster.operatorUser && event.verb === 'patch' && event.requestURI.includes('dryRun=All')));
}

test.serial('a fresh cluster: every object to create; those in a namespace not there yet shown without a dry run; addresses and secrets known after apply; nothing written', async t => {
	const mark = cluster.audit().length;
	const plan = await run(['plan', 'all', '--diff', '--json', '--detailed-exitcode']);
	t.is(plan.code, 2, plan.stderr);
	onlyDryRuns(t, mark);
	const all = records(plan);
	t.true(all.length > 40);
	t.deepEqual([...new Set(all.map(record => record.action))], ['create']);
	// Cluster-scoped objects are dry-run: the server's answer, fields nub owns only.
	const namespace = find(all, 'Namespace', 'nublado')!;
	t.is(namespace.note, undefined);
	t.deepEqual(namespace.changes.map(change => change.path).sort(), ['metadata.labels[app.kubernetes.io/managed-by]', 'metadata.labels[app.kubernetes.io/part-of]']);
	// In namespace nublado, which does not exist yet: as rendered, and said so.
	const firefly = find(all, 'Deployment', 'firefly')!;
	t.regex(firefly.note ?? '', /namespace nublado does not exist yet: shown as rendered, without a dry run/);
	t.deepEqual(firefly.changes.find(change => change.path === 'spec.replicas'), { path: 'spec.replicas', before: null, after: '1' });
	// The fileserver's ClusterIP, which the volumes use: known after apply (the PV is dry-run).
	const home = find(all, 'PersistentVolume', 'home-nublado')!;
	t.is(home.note, undefined);
	t.is(home.changes.find(change => change.path === 'spec.nfs.server')?.after, '(known after apply)');
	// The LoadBalancer address in the DNS record, the hub's secrets to be made.
	t.is(find(all, 'DNS record', 'nublado.example.test')!.changes[0]!.after, '(known after apply)');
	// Secret tls, built from a certificate and DH parameters still to be made: its keys, known after apply.
	const tls = find(all, 'Secret', 'tls')!;
	t.deepEqual(tls.changes.filter(change => /^data[.[]/.test(change.path)).map(change => `${change.path}: ${change.after}`), ['data[dhparam.pem]', 'data[root_chain.pem]', 'data[tls.crt]', 'data[tls.key]'].map(path => `${path}: (known after apply)`));
	freshObjects = all.filter(record => record.kind !== 'DNS record').map(record => `${record.kind} ${record.namespace ?? ''}/${record.name}`).sort();
	const hubSecret = find(all, 'Secret', 'hub')!;
	t.is(hubSecret.changes.find(change => change.path === 'data.jupyterhub_crypto_key')?.after, '(known after apply)');
	t.is(hubSecret.changes.find(change => change.path === 'data.configproxy_auth_token')?.after, '(known after apply)');
	// A value given (the OAuth secret) is known, but shown only as a keyed hash, if at all.
	t.false(plan.stdout.includes(oauthSecret) || plan.stdout.includes(Buffer.from(oauthSecret).toString('base64')));
	t.true(plan.stdout.includes('"type":"diff-secret","task":"hub-crypto-key","maybe":false'));
	// The plain form, as the operator reads it.
	const plain = await run(['plan', 'all', '--diff']);
	t.is(plain.code, 0, plain.stderr);
	t.regex(plain.stdout, /^\+ PersistentVolume home-nublado {2}\(nfs-volumes: create\)$/m);
	t.regex(plain.stdout, /^ {4}\+ spec\.nfs\.server: \(known after apply\)$/m);
	t.notRegex(plain.stdout, /\u001B\[/, 'no colour when piped');
});

test.serial('after a full run nothing would change (exit 0); a changed Firefly replica count shows exactly spec.replicas: 1 → 2 (exit 2)', async t => {
	const deployed = await run(['run', 'all']);
	t.is(deployed.code, 0, deployed.stderr + deployed.stdout.slice(-2000));
	// The fresh cluster's plan listed exactly what the run applied.
	const state = StateStore.load(join(dir, '.nub'));
	const applied = [...state.names()].flatMap(name => (state.lastSuccess(name)?.output as { objects?: Array<{ kind: string; namespace?: string; name: string }> } | undefined)?.objects ?? []);
	t.deepEqual(freshObjects, [...new Set(applied.map(object => `${object.kind} ${object.namespace ?? ''}/${object.name}`))].sort());
	const nothing = await run(['plan', 'all', '--diff', '--detailed-exitcode']);
	t.is(nothing.code, 0, nothing.stdout + nothing.stderr);
	t.regex(nothing.stdout, /objects: 0 to create, 0 to update, 0 to delete, 0 unchanged/);
	// --all diffs the cached tasks too: a full audit, every object unchanged.
	const audit = await run(['plan', 'all', '--diff', '--all', '--json', '--detailed-exitcode']);
	t.is(audit.code, 0, audit.stderr);
	const everything = records(audit);
	t.true(everything.length > 40);
	t.deepEqual(everything.filter(record => record.action !== 'none').map(record => `${record.kind} ${record.name}: ${JSON.stringify(record.changes)}`), []);

	const mark = cluster.audit().length;
	const replicas = await run(['plan', 'all', '--diff', '--detailed-exitcode'], { NUBLADO_FIREFLY_REPLICAS: '2' });
	t.is(replicas.code, 2, replicas.stderr);
	onlyDryRuns(t, mark);
	const diff = replicas.stdout.slice(replicas.stdout.indexOf('\n\n') + 2);
	t.is(diff, '~ Deployment nublado/firefly  (firefly: update)\n    ~ spec.replicas: 1 → 2\nobjects: 0 to create, 1 to update, 0 to delete, 3 unchanged\n');
});

test.serial('rotate-hub-key shows the hub Secret\'s key changed, by keyed hashes, never its value', async t => {
	const mark = cluster.audit().length;
	const plan = await run(['plan', 'rotate-hub-key', '--diff', '--detailed-exitcode']);
	t.is(plan.code, 2, plan.stderr);
	onlyDryRuns(t, mark);
	// Secret hub is applied with the proxy; the hub's Deployment carries its checksum, which rolls the hub.
	t.regex(plan.stdout, /^~ Secret nublado\/hub {2}\(proxy: update\)\n {4}~ data\.jupyterhub_crypto_key: changed \(sha256 [0-9a-f]{8}… → \(known after apply\)\)$/m);
	t.regex(plan.stdout, /^~ Deployment nublado\/hub {2}\(hub: update\)\n {4}~ spec\.template\.metadata\.annotations\[nublado\/secret-checksum\]: [0-9a-f]{16} → \(known after apply\)$/m);
	t.regex(plan.stdout, /^\* secret hub-crypto-key: made anew, its value known after apply$/m);
	// Nothing else changes, and the key's value shows in no form.
	t.is(plan.stdout.match(/^ {4}~ /gm)?.length, 2);
	const live = (await cluster.admin.read({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'hub', namespace: 'nublado' } }))!;
	const key = (live as unknown as { data: Record<string, string> }).data.jupyterhub_crypto_key!;
	t.false(plan.stdout.includes(key) || plan.stdout.includes(Buffer.from(key, 'base64').toString('utf8')));
});

test.serial('switching a component off lists its objects for deletion', async t => {
	const plan = await run(['plan', 'all', '--diff', '--json', '--detailed-exitcode'], { NUBLADO_FIREFLY_ENABLED: 'false' });
	t.is(plan.code, 2, plan.stderr);
	const deleted = records(plan).filter(record => record.action === 'delete');
	t.deepEqual(deleted.map(record => `${record.kind} ${record.name}`).sort(), ['Deployment firefly', 'Ingress firefly', 'Secret firefly', 'Service firefly']);
	t.true(deleted.every(record => record.task === 'firefly'));
});

test.serial('a saved plan is applied when it holds, refused when someone edited an object with kubectl since, naming it', async t => {
	const env = { NUBLADO_FIREFLY_REPLICAS: '2' };
	const saved = await run(['plan', 'all', '--out', 'plan.json'], env);
	t.is(saved.code, 0, saved.stderr);
	const { readFileSync } = await import('node:fs');
	const text = readFileSync(`${dir}/plan.json`, 'utf8');
	t.false(text.includes(oauthSecret));
	await cluster.kubectl('-n', 'nublado', 'label', 'deployment', 'firefly', 'app=tampered', '--overwrite');
	const mark = cluster.audit().length;
	const refused = await run(['run', '--plan', 'plan.json'], env);
	t.is(refused.code, 2, refused.stdout);
	t.regex(refused.stderr, /the plan in plan\.json no longer holds, nothing applied: .*Deployment nublado\/firefly \(firefly\): changed in the cluster since the plan \(fields nub owns edited\)/);
	t.deepEqual(cluster.mutationsSince(mark), []);
	// Planned again after the edit, it holds, and is applied.
	t.is((await run(['plan', 'all', '--out', 'plan.json'], env)).code, 0);
	const applied = await run(['run', '--plan', 'plan.json'], env);
	t.is(applied.code, 0, applied.stderr);
	const firefly = (await cluster.admin.read({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'firefly', namespace: 'nublado' } })) as unknown as { spec: { replicas: number }; metadata: { labels: Record<string, string> } };
	t.is(firefly.spec.replicas, 2);
	t.is(firefly.metadata.labels.app, 'firefly');
	// A decision that moved: the same plan, the configuration changed back.
	const moved = await run(['run', '--plan', 'plan.json']);
	t.is(moved.code, 2);
	t.regex(moved.stderr, /task firefly: planned run, now (cached|run)|no longer holds/);
});

test.serial('--detailed-exitcode: 1 for every error, usage and configuration errors included', async t => {
	const usage = await run(['plan', '--diff', '--detailed-exitcode']);
	t.is(usage.code, 1, usage.stderr);
	const unknown = await run(['plan', 'all', '--diff', '--detailed-exitcode', '--bogus']);
	t.is(unknown.code, 1);
	const config = await run(['plan', 'all', '--diff', '--detailed-exitcode'], { NUBLADO_FIREFLY_REPLICAS: 'many' });
	t.is(config.code, 1, config.stderr);
	t.regex(config.stderr, /NUBLADO_FIREFLY_REPLICAS/);
	// Without the flag, the documented codes.
	t.is((await run(['plan', '--diff'])).code, 2);
});
