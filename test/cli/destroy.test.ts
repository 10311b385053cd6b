import test, { type ExecutionContext } from 'ava';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { lookupA } from '../../lib/dns/dns.ts';
import { StateStore } from '../../lib/engine/state-store.ts';
import { Kube } from '../../lib/k8s/client.ts';
import type { KubeObject } from '../../lib/k8s/objects.ts';
import { startSandbox, type Sandbox } from '../../lib/sandbox/index.ts';
import { startBind, type Bind } from '../helpers/bind.ts';
import { cleanup, tempDir } from '../helpers/engine.ts';
import { finished, makeNubladoProject, nub, removeProject, startNub, summaryOf, waitFor } from '../helpers/project.ts';

/**
 * `nub destroy` on the whole nublado deployment, run by the real `nub` against a sandbox this test
 * serves (so it can see every request), with a real BIND9 for the DNS record when asked.
 */
async function deployed(t: ExecutionContext, options: { bind?: boolean } = {}) {
	const bind = options.bind ? await startBind('example.test', { nublado: '127.0.0.1' }) : undefined;
	const dns = bind ? `dns:\n  provider: rfc2136\n  server: 127.0.0.1:${bind.port}\n  zone: example.test\n  keyName: nub-key\n  keySecret: { env: NUBLADO_TSIG_SECRET }\n` : '';
	const dir = makeNubladoProject({ 'nublado.yaml': `hostname: nublado.example.test\noauth: { provider: jwt, jwtCertificate: hub/example-signing-certificate.crt }\ndhparam: { group: ffdhe2048 }\nprepuller: { minute: 5 }\n${dns}` });
	const sandbox = await startSandbox({ dir: join(dir, '.nub/sandbox'), loadBalancerDelayMs: 50, rolloutDelayMs: 50 });
	t.teardown(async () => {
		await sandbox.close();
		await bind?.stop();
		removeProject(dir);
	});
	const env = bind ? { NUBLADO_TSIG_SECRET: bind.key.secret } : {};
	const run = (args: string[]) => nub(dir, args, env);
	const first = await run(['run', 'all', '--json']);
	t.is(first.code, 0, first.stderr + first.stdout.slice(-1500));
	const kube = await Kube.connect({ kubeconfig: sandbox.kubeconfigPath, context: 'nub-sandbox' });
	return { dir, sandbox, kube, run, bind, env, recorded: recordedObjects(dir) };
}

type Recorded = { apiVersion: string; kind: string; name: string; namespace?: string };

/** Every object the state's outputs list (what nub applied). */
function recordedObjects(dir: string): Recorded[] {
	const objects: Recorded[] = [];
	for (const line of readFileSync(join(dir, '.nub/state.jsonl'), 'utf8').split('\n').slice(1)) {
		if (!line) continue;
		const record = JSON.parse(line) as { t: string; output?: { objects?: Recorded[] } };
		if (record.t === 'ok' && Array.isArray(record.output?.objects)) objects.push(...record.output.objects);
	}
	return objects;
}

const writes = (sandbox: Sandbox) => sandbox.requests.filter(request => request.method !== 'GET');
const seed = new Set(['Namespace/default', 'Namespace/kube-system', 'Namespace/kube-public', 'Namespace/kube-node-lease', 'Service/default/kubernetes', 'StorageClass/standard']);
const idOf = (object: KubeObject) => `${object.kind}/${object.metadata.namespace ? `${object.metadata.namespace}/` : ''}${object.metadata.name}`;

/** What is left in the cluster of every kind nub applied, but the seed and what the sandbox's provisioner made. */
async function leftOver(kube: Kube, recorded: Recorded[]): Promise<string[]> {
	const kinds = new Map(recorded.map(object => [`${object.apiVersion}/${object.kind}`, object]));
	const left: string[] = [];
	for (const { apiVersion, kind } of kinds.values()) {
		for (const object of await kube.list(apiVersion, kind, undefined)) {
			if (seed.has(idOf(object))) continue;
			// A volume the sandbox provisioned for a claim (a real cluster deletes it with the claim).
			if (kind === 'PersistentVolume' && (object.metadata.annotations as Record<string, string> | undefined)?.['pv.kubernetes.io/provisioned-by']) continue;
			left.push(idOf(object));
		}
	}
	return left.sort();
}

const deletes = (sandbox: Sandbox) => sandbox.requests.filter(request => request.method === 'DELETE').map(request => request.path);

test('destroy: --dry-run lists and changes nothing; destroy deletes every object of nub\'s, DNS first, dependents first; run all deploys again', async t => {
	const { dir, sandbox, kube, run, bind, recorded } = await deployed(t, { bind: true });
	t.true(recorded.length > 40, `recorded ${recorded.length} objects`);
	const address = (await lookupA('nublado.example.test', { host: bind!.host, port: bind!.port }))[0];
	t.truthy(address);

	// --dry-run: every object listed, in order; no write request, the state as it was.
	const stateBefore = readFileSync(join(dir, '.nub/state.jsonl'));
	const writesBefore = writes(sandbox).length;
	const dry = await run(['destroy', '--dry-run']);
	t.is(dry.code, 0, dry.stderr);
	t.is(writes(sandbox).length, writesBefore, 'a dry run wrote to the cluster');
	t.deepEqual(readFileSync(join(dir, '.nub/state.jsonl')), stateBefore, 'a dry run wrote the state');
	t.regex(dry.stdout, /^dns:\n {2}delete the DNS record nublado\.example\.test A \(rfc2136\)\n/);
	for (const object of recorded) t.true(dry.stdout.includes(`  delete ${object.kind} ${object.namespace ? `${object.namespace}/` : ''}${object.name}\n`), `${object.kind} ${object.name} listed`);
	t.regex(dry.stdout, /would delete \d+ objects of \d+ tasks .*dry run: nothing changed\n$/);
	const lines = dry.stdout.split('\n');
	t.true(lines.indexOf('keepalive:') < lines.indexOf('nfs-volumes:') && lines.indexOf('nfs-volumes:') < lines.indexOf('fileserver-deployment:'));
	t.is(lines.filter(line => line.endsWith(':')).at(-1), 'namespace:');
	t.deepEqual(await lookupA('nublado.example.test', { host: bind!.host, port: bind!.port }), [address!]);

	// The destroy.
	const destroyed = await run(['destroy', '--json']);
	t.is(destroyed.code, 0, destroyed.stderr + destroyed.stdout.slice(-2000));
	const events = destroyed.stdout.trim().split('\n').map(line => JSON.parse(line) as Record<string, unknown>);
	const effects = events.filter(event => event.type === 'undo-log' || event.type === 'undo-object');
	t.is(effects[0]!.name, 'dns', 'the DNS record goes first');
	t.true(effects.every(event => event.command === 'destroy'));
	t.deepEqual(await lookupA('nublado.example.test', { host: bind!.host, port: bind!.port }), []);
	t.deepEqual(summaryOf(destroyed.stdout).failed, []);
	t.deepEqual(await leftOver(kube, recorded), []);
	// Dependents first: what mounts NFS before the volumes, the volumes before the fileserver, its namespace last.
	const order = deletes(sandbox);
	const at = (path: string) => order.findIndex(deleted => deleted.endsWith(path));
	for (const path of ['deployments/keepalive', 'deployments/firefly', 'persistentvolumeclaims/datasets', 'persistentvolumeclaims/home', 'persistentvolumes/home-nublado', 'deployments/fileserver', 'services/fileserver', 'namespaces/nublado']) t.true(at(path) >= 0, path);
	t.true(at('deployments/keepalive') < at('persistentvolumeclaims/home'));
	t.true(at('deployments/firefly') < at('persistentvolumeclaims/datasets'));
	t.true(at('persistentvolumeclaims/home') < at('persistentvolumes/home-nublado'));
	t.true(at('persistentvolumes/home-nublado') < at('deployments/fileserver'));
	t.true(at('deployments/fileserver') < at('services/fileserver'));
	t.true(order.at(-1)!.endsWith('/namespaces/nublado'), order.at(-1));
	t.is(sandbox.requests.filter(request => request.method === 'DELETE').length, new Set(order).size, 'each object deleted once');

	// Everything is forgotten: a second destroy does nothing; plan says every task never ran.
	const again = await run(['destroy', '--json']);
	t.is(again.code, 0, again.stderr);
	t.deepEqual(summaryOf(again.stdout).destroyed, []);
	const plan = await run(['plan', 'all']);
	t.regex(plan.stdout, /run +namespace +never ran/);
	t.regex(plan.stdout, /run +ca +never ran/);

	// And run all makes it all again.
	const redeploy = await run(['run', 'all', '--json']);
	t.is(redeploy.code, 0, redeploy.stderr + redeploy.stdout.slice(-1500));
	t.deepEqual(summaryOf(redeploy.stdout).cached, []);
	t.truthy(await kube.read({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'hub', namespace: 'nublado' } }));
	t.is((await lookupA('nublado.example.test', { host: bind!.host, port: bind!.port })).length, 1);
	t.is((await leftOver(kube, recorded)).length, new Set(recorded.map(object => `${object.kind}/${object.namespace ?? ''}/${object.name}`)).size);
});

test('destroy of one target: it and what depends on it, nothing it needs', async t => {
	const { sandbox, kube, run } = await deployed(t);
	const mark = sandbox.requests.length;
	const result = await run(['destroy', 'fileserver', '--json']);
	t.is(result.code, 0, result.stderr);
	const destroyed = summaryOf(result.stdout).destroyed!;
	for (const name of ['fileserver-deployment', 'nfs-volumes', 'keepalive', 'firefly', 'all']) t.true(destroyed.includes(name), name);
	for (const name of ['namespace', 'fileserver-service', 'nfs-service-ip', 'tls', 'ingress-controller', 'prepuller', 'hub', 'proxy']) t.false(destroyed.includes(name), name);
	t.truthy(await kube.read({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'fileserver', namespace: 'nublado' } }));
	t.falsy(await kube.read({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'fileserver', namespace: 'nublado' } }));
	t.false(sandbox.requests.slice(mark).some(request => request.method === 'DELETE' && request.path.includes('/namespaces/nublado') && request.path.endsWith('/nublado')));
	// run all puts back exactly that.
	const again = await run(['run', 'all', '--json']);
	t.is(again.code, 0, again.stderr);
	t.true(summaryOf(again.stdout).succeeded.includes('fileserver-deployment'));
	t.false(summaryOf(again.stdout).succeeded.includes('namespace'));
});

test('an interrupted destroy (SIGKILL) resumes where it stopped and completes', async t => {
	const { dir, sandbox, kube, env, recorded } = await deployed(t);
	sandbox.setFaults({ latencyMs: 40 });
	const child = startNub(dir, ['destroy', '--json'], env);
	const done = finished(child);
	await waitFor(() => sandbox.requests.some(request => request.method === 'DELETE' && request.path.endsWith('/deployments/hub')), 'the hub to be deleted');
	child.kill('SIGKILL');
	t.is((await done).signal, 'SIGKILL');
	sandbox.setFaults({});
	const gone = readFileSync(join(dir, '.nub/state.jsonl'), 'utf8').split('\n').filter(line => line.includes('"t":"gone"')).map(line => (JSON.parse(line) as { name: string }).name);
	t.true(gone.length > 0, 'some tasks were recorded gone before the kill');
	t.false(gone.includes('namespace'));
	t.truthy(await kube.read({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'nublado' } }), 'the kill came mid-way');
	const resumed = await nub(dir, ['destroy', '--json'], env);
	t.is(resumed.code, 0, resumed.stderr);
	const destroyed = summaryOf(resumed.stdout).destroyed!;
	t.deepEqual(destroyed.filter(name => gone.includes(name)), [], 'what was done is not done again');
	t.true(destroyed.includes('namespace'));
	t.deepEqual(await leftOver(kube, recorded), []);
});

test('a failure to delete one object is reported, what it needs is kept, and the rest still goes', async t => {
	const { dir, kube, run, recorded } = await deployed(t);
	// The prepuller's record lists an object nub does not manage (written under the key, as nub
	// would: the log refuses a record written by hand); destroy refuses to delete it.
	const stateDir = join(dir, '.nub');
	const recordObjects = async (change: (objects: Recorded[]) => Recorded[]) => {
		const state = StateStore.load(stateDir);
		const output = state.lastSuccess('prepuller')!.output as { objects: Recorded[] };
		state.replaceOutput('prepuller', { ...output, objects: change(output.objects) } as never);
		await state.close();
	};
	await recordObjects(objects => [...objects, { apiVersion: 'v1', kind: 'Namespace', name: 'kube-public' }]);
	const result = await run(['destroy']);
	t.is(result.code, 1, result.stderr);
	t.regex(result.stderr, /^nub: destroy failed: task "prepuller", Namespace kube-public: Namespace kube-public is not managed by nub \(no field manager "nub" in its managedFields\): not deleted; delete it yourself if it is to go$/m);
	t.regex(result.stderr, /^nub: destroy: task "namespace" kept: "prepuller", which needs it, failed$/m);
	t.is(result.stderr.split('\n').filter(line => line.startsWith('nub: destroy failed')).length, 1);
	// The rest went: the prepuller's other objects too; the platform's namespace is kept, empty of nub's objects.
	t.falsy(await kube.read({ apiVersion: 'batch/v1', kind: 'CronJob', metadata: { name: 'prepuller', namespace: 'nublado' } }));
	t.deepEqual(await leftOver(kube, recorded), ['Namespace/nublado']);
	// Once the cause is gone, destroy finishes.
	await recordObjects(objects => objects.filter(object => object.name !== 'kube-public'));
	const again = await run(['destroy', '--json']);
	t.is(again.code, 0, again.stderr);
	t.deepEqual(summaryOf(again.stdout).destroyed!.sort(), ['namespace', 'prepuller', 'prepuller-minute']);
	t.deepEqual(await leftOver(kube, recorded), []);
});

test('destroy takes the run lock, and refuses an unknown target', async t => {
	const { dir, run } = await deployed(t);
	const unknown = await run(['destroy', 'hubb']);
	t.is(unknown.code, 2);
	t.regex(unknown.stderr, /unknown target "hubb"/);
	writeFileSync(join(dir, '.nub/lock'), JSON.stringify({ pid: process.pid, host: (await import('node:os')).hostname(), started: new Date().toISOString(), command: 'nub run all' }));
	const locked = await run(['destroy']);
	t.is(locked.code, 2, locked.stderr);
	t.regex(locked.stderr, new RegExp(`another nub run holds the lock: pid ${process.pid}`));
});

const ok = (name: string, output: number, sealed?: string) => ({ name, deps: '', outHash: `h${output}`, ...(sealed ? { sealed } : { output }), at: 0, ms: 1 });

test('state: a gone task is unknown after a reload and after compaction; replacing an output keeps its hash and a later failure', async t => {
	const dir = tempDir();
	const stateDir = join(dir, '.nub');
	const store = StateStore.load(stateDir);
	store.recordSuccess(ok('a', 1));
	store.recordFailure({ name: 'a', error: 'broke', at: 0, ms: 1 });
	store.recordSuccess(ok('secret', 2, 'v2.sealed-text'));
	store.recordSuccess(ok('kept', 3));
	store.recordFailure({ name: 'kept', error: 'broke', at: 0, ms: 1 });
	store.recordGone('a');
	store.recordGone('secret');
	store.recordGone('never-ran'); // nothing to forget: nothing written
	t.is(store.get('a'), undefined);
	t.is(store.anySealed(), undefined, 'no key check against a secret that no longer counts');
	store.replaceOutput('kept', { objects: [] } as never);
	t.deepEqual(store.lastSuccess('kept')?.output, { objects: [] });
	t.is(store.lastSuccess('kept')?.outHash, 'h3');
	t.true(store.failedSince('kept'));
	await store.close();
	const reloaded = StateStore.load(stateDir);
	t.is(reloaded.get('a'), undefined);
	t.is(reloaded.get('secret'), undefined);
	t.deepEqual([...reloaded.names()], ['kept']);
	t.true(reloaded.failedSince('kept'));
	t.is(readFileSync(join(stateDir, 'state.jsonl'), 'utf8').split('\n').filter(line => line.includes('"t":"gone"')).length, 2);
	// Enough superseded records for the next write to compact the log: the gone tasks stay unknown.
	for (let i = 0; i < 1100; i++) reloaded.recordSuccess(ok('churn', i));
	await reloaded.close();
	const before = StateStore.load(stateDir);
	before.recordSuccess(ok('b', 4));
	await before.close();
	const lines = readFileSync(join(stateDir, 'state.jsonl'), 'utf8').trim().split('\n');
	t.true(lines.length < 10, `compacted to ${lines.length} lines`);
	const compacted = StateStore.load(stateDir);
	t.deepEqual([...compacted.names()].sort(), ['b', 'churn', 'kept']);
	t.is(compacted.get('a'), undefined);
	t.true(compacted.failedSince('kept'));
	cleanup(dir);
});
