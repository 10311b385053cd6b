/**
 * The nublado deployment on a real Kubernetes control plane (cluster/: the official
 * kube-apiserver, controllers and scheduler, kwok's nodes), by the real `nub` binary, with a real
 * BIND9 for the DNS record. One cluster and one project for the file; the tests run in order,
 * each starting from where the last left the cluster: deploy, a no-op, a forced prepuller, repairs,
 * pruning, destroy. Writes are counted from the API server's audit log, by nub's user only.
 */
import test from 'ava';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { lookupA } from '../../lib/dns/dns.ts';
import { StateStore } from '../../lib/engine/state-store.ts';
import type { KubeObject } from '../../lib/k8s/objects.ts';
import { startBind, type Bind } from '../helpers/bind.ts';
import { githubNubladoYaml, makeNubladoProject, nub, removeProject, summaryOf, type NubResult } from '../helpers/project.ts';
import { startRealCluster, type RealCluster } from '../helpers/real-cluster.ts';

type Recorded = { apiVersion: string; kind: string; name: string; namespace?: string };

let cluster: RealCluster;
let bind: Bind;
let dir: string;
let run: (args: string[], env?: Record<string, string>) => Promise<NubResult>;

const yaml = (port: number) => `${githubNubladoYaml}dns:
  provider: rfc2136
  server: 127.0.0.1:${port}
  zone: example.test
  keyName: nub-key
  keySecret: { env: NUBLADO_TSIG_SECRET }
`;

test.before(async () => {
	cluster = await startRealCluster();
	bind = await startBind('example.test', { nublado: '127.0.0.1' });
	dir = makeNubladoProject({ 'nublado.yaml': yaml(bind.port) });
	run = (args, env = {}) => nub(dir, [...args, ...cluster.nubArgs], { OAUTH_SECRET: 'oauth-secret-value-42', NUBLADO_TSIG_SECRET: bind.key.secret, ...env });
});

test.after.always(async () => {
	await cluster?.close();
	await bind?.stop();
	if (dir) removeProject(dir);
});

const read = async (apiVersion: string, kind: string, name: string, namespace?: string) =>
	(await cluster.admin.read({ apiVersion, kind, metadata: { name, ...(namespace ? { namespace } : {}) } })) as (KubeObject & Record<string, any>) | undefined;

/** What `nub run` ran, by its `--json` summary. */
const ran = (result: NubResult) => summaryOf(result.stdout).succeeded.sort();

/** The objects each task recorded in the state (its last success's output). */
async function recorded(): Promise<Map<string, Recorded[]>> {
	const state = StateStore.load(join(dir, '.nub'));
	const byTask = new Map<string, Recorded[]>();
	for (const name of state.names()) {
		const objects = (state.lastSuccess(name)?.output as { objects?: Recorded[] } | undefined)?.objects;
		if (Array.isArray(objects)) byTask.set(name, objects);
	}
	return byTask;
}

/** `resource namespace/name` of the objects nub's user wrote since `mark`, each once, sorted. */
const written = (mark: number) => [...new Set(cluster.mutationsSince(mark).map(event => `${event.objectRef?.resource} ${event.objectRef?.namespace ?? ''}/${event.objectRef?.name}`))].sort();
/** The same form for recorded objects (the plural of every kind nublado applies is regular). */
const identities = (objects: Recorded[]) => [...new Set(objects.map(object => `${object.kind.toLowerCase()}${object.kind.endsWith('s') ? 'es' : 's'} ${object.namespace ?? ''}/${object.name}`))].sort();

const describe = (o: { kind?: string; resource?: string; namespace?: string; name?: string }) => `${o.kind ?? o.resource} ${o.namespace ? `${o.namespace}/` : ''}${o.name}`;

test.serial('nub run all deploys every component: real rollouts, the ClusterIP into the volumes and the hub, the LoadBalancer address into DNS', async t => {
	const first = await run(['run', 'all', '--json']);
	t.is(first.code, 0, first.stderr + first.stdout.slice(-3000));
	t.deepEqual(summaryOf(first.stdout).failed, []);
	t.true(first.stdout.includes('the platform is at https://nublado.example.test/nb/'));

	// Rollouts were real: each Deployment's pods were made by its ReplicaSet, scheduled on a
	// kwok node, and are Ready.
	for (const [namespace, name] of [['ingress-nginx', 'nginx-ingress-controller'], ['nublado', 'fileserver'], ['nublado', 'keepalive'], ['nublado', 'hub'], ['nublado', 'proxy'], ['nublado', 'firefly'], ['nublado', 'landing-page']] as const) {
		const deployment = await read('apps/v1', 'Deployment', name, namespace);
		t.truthy(deployment, `Deployment ${namespace}/${name}`);
		t.is(deployment!.status.availableReplicas, deployment!.spec.replicas, `Deployment ${namespace}/${name} available`);
		const selector = deployment!.spec.selector.matchLabels as Record<string, string>;
		const pods = (await cluster.admin.list('v1', 'Pod', namespace)).filter(pod => Object.entries(selector).every(([k, v]) => (pod.metadata.labels as Record<string, string>)?.[k] === v)) as any[];
		t.true(pods.length > 0 && pods.every(pod => pod.spec.nodeName?.startsWith('kwok-node-') && pod.status.phase === 'Running'), `pods of ${name}`);
	}
	// Every claim is bound by the real binder: the NFS claims to nub's volumes, physpvc and
	// hub-physpvc to provisioned ones.
	for (const claim of await cluster.admin.list('v1', 'PersistentVolumeClaim', 'nublado')) t.is((claim.status as any).phase, 'Bound', describe({ ...claim.metadata, kind: 'PersistentVolumeClaim' }));

	// The fileserver's ClusterIP, from the real allocator, in the NFS volumes and the hub.
	const nfsIp = (await read('v1', 'Service', 'fileserver', 'nublado'))!.spec.clusterIP as string;
	t.regex(nfsIp, /^10\.96\.\d+\.\d+$/);
	for (const volume of ['home', 'scratch', 'project', 'datasets', 'software', 'teststand']) t.is((await read('v1', 'PersistentVolume', `${volume}-nublado`))!.spec.nfs.server, nfsIp);
	t.true(JSON.stringify((await read('apps/v1', 'Deployment', 'hub', 'nublado'))!.spec.template.spec).includes(nfsIp), 'the hub knows the fileserver\'s address');

	// The LoadBalancer address, from the cloud stand-in, in BIND9.
	const ingressIp = (await read('v1', 'Service', 'ingress-nginx', 'ingress-nginx'))!.status.loadBalancer.ingress[0].ip as string;
	t.regex(ingressIp, /^127\.0\.100\.\d+$/);
	t.deepEqual(await lookupA('nublado.example.test', { host: bind.host, port: bind.port }), [ingressIp]);

	// Every object each task recorded exists.
	for (const [task, objects] of await recorded()) {
		for (const object of objects) t.truthy(await read(object.apiVersion, object.kind, object.name, object.namespace), `${describe(object)} of ${task}`);
	}
});

test.serial('a second nub run all changes nothing: no mutating request by nub\'s user in the audit log', async t => {
	const mark = cluster.audit().length;
	const second = await run(['run', 'all', '--json']);
	t.is(second.code, 0, second.stderr);
	t.deepEqual(ran(second), []);
	t.deepEqual(cluster.mutationsSince(mark).map(event => `${event.verb} ${event.requestURI}`), []);
	// The drift checks did look: nub's user read the cluster.
	t.true(cluster.audit().slice(mark).some(event => event.user.username === cluster.operatorUser && event.verb === 'list'));
});

test.serial('nub run prepuller --force writes only the prepuller\'s objects', async t => {
	const prepuller = (await recorded()).get('prepuller')!;
	t.is(prepuller.length, 6);
	const mark = cluster.audit().length;
	const forced = await run(['run', 'prepuller', '--force', '--json']);
	t.is(forced.code, 0, forced.stderr);
	t.deepEqual(ran(forced), ['prepuller']);
	t.deepEqual(written(mark), identities(prepuller));
});

test.serial('what kubectl deletes or edits behind nub\'s back is repaired by the next run, and only that', async t => {
	await cluster.kubectl('-n', 'nublado', 'delete', 'configmap', 'landing-page-www');
	await cluster.kubectl('-n', 'nublado', 'scale', 'deployment', 'firefly', '--replicas=3');
	await cluster.kubectl('-n', 'nublado', 'label', 'service', 'hub', 'app=tampered', '--overwrite');
	const plan = await run(['plan', 'all']);
	t.is(plan.code, 0, plan.stderr);
	t.regex(plan.stdout, /landing.*ConfigMap nublado\/landing-page-www deleted/);
	t.regex(plan.stdout, /firefly.*Deployment nublado\/firefly: spec\.replicas changed/);
	const byTask = await recorded();
	const mark = cluster.audit().length;
	const repaired = await run(['run', 'all', '--json']);
	t.is(repaired.code, 0, repaired.stderr);
	// Service hub is applied with the proxy, which the hub comes after.
	t.deepEqual(ran(repaired), ['firefly', 'landing', 'proxy']);
	t.truthy(await read('v1', 'ConfigMap', 'landing-page-www', 'nublado'));
	t.is((await read('apps/v1', 'Deployment', 'firefly', 'nublado'))!.spec.replicas, 1);
	t.is(((await read('v1', 'Service', 'hub', 'nublado'))!.metadata.labels as Record<string, string>).app, 'hub');
	// Only the three tasks' objects were written (the proxy's rerun re-applies its own).
	const theirs = new Set(identities(['firefly', 'landing', 'proxy'].flatMap(task => byTask.get(task)!)));
	t.deepEqual(written(mark).filter(object => !theirs.has(object)), []);
	const again = await run(['run', 'all', '--json']);
	t.deepEqual(ran(again), []);
});

test.serial('the fileserver Service deleted: made anew with a new ClusterIP, which the volumes (immutable: made anew), keepalive and the hub follow', async t => {
	const old = (await read('v1', 'Service', 'fileserver', 'nublado'))!.spec.clusterIP as string;
	await cluster.kubectl('-n', 'nublado', 'delete', 'service', 'fileserver');
	const repaired = await run(['run', 'all', '--json']);
	t.is(repaired.code, 0, repaired.stderr + repaired.stdout.slice(-3000));
	t.regex(repaired.stdout, /the NFS server moved from [\d.]+ to [\d.]+: volumes cannot change their server/);
	const ip = (await read('v1', 'Service', 'fileserver', 'nublado'))!.spec.clusterIP as string;
	t.not(ip, old);
	for (const volume of ['home', 'scratch', 'project', 'datasets', 'software', 'teststand']) {
		t.is((await read('v1', 'PersistentVolume', `${volume}-nublado`))!.spec.nfs.server, ip);
		t.is((await read('v1', 'PersistentVolumeClaim', volume, 'nublado'))!.status.phase, 'Bound');
	}
	const keepalive = (await read('apps/v1', 'Deployment', 'keepalive', 'nublado'))!;
	t.true((keepalive.spec.template.spec.volumes as Array<{ nfs: { server: string } }>).every(volume => volume.nfs.server === ip));
	t.is(keepalive.status.availableReplicas, 1);
	t.true(JSON.stringify((await read('apps/v1', 'Deployment', 'hub', 'nublado'))!.spec.template.spec).includes(ip));
	// Firefly, which mounts a claim, has a pod again on the new one.
	await cluster.kube.waitForRollout('Deployment', 'nublado', 'firefly', { timeoutMs: 60_000 });
	const again = await run(['run', 'all', '--json']);
	t.deepEqual(ran(again), []);
});

test.serial('nub run --prune deletes what a component switched off no longer produces, and nothing else', async t => {
	const firefly = (await recorded()).get('firefly')!;
	const off = { NUBLADO_FIREFLY_ENABLED: 'false' };
	const mark = cluster.audit().length;
	const pruned = await run(['run', 'all', '--prune', '--json'], off);
	t.is(pruned.code, 0, pruned.stderr);
	const deletes = cluster.mutationsSince(mark);
	t.true(deletes.every(event => event.verb === 'delete'), deletes.map(event => `${event.verb} ${event.requestURI}`).join('\n'));
	t.deepEqual(deletes.map(event => event.objectRef?.name).sort(), firefly.map(object => object.name).sort());
	for (const object of firefly) t.falsy(await read(object.apiVersion, object.kind, object.name, object.namespace), `${describe(object)} pruned`);
	// The garbage collector takes the Deployment's ReplicaSet and pods.
	const left = async () => (await cluster.admin.list('v1', 'Pod', 'nublado')).filter(pod => (pod.metadata.labels as Record<string, string>)?.app === 'firefly');
	const deadline = Date.now() + 60_000;
	while ((await left()).length > 0 && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 250));
	t.deepEqual(await left(), []);
	const nothing = await run(['plan', 'all'], off);
	t.notRegex(nothing.stdout, /^prune /m);
});

test.serial('nub destroy leaves nothing nub made: the namespaces go through the real controller, the volumes are released, the DNS record goes', async t => {
	const everything = [...(await recorded()).values()].flat();
	t.true(everything.length > 40, `${everything.length} objects recorded`);
	const claims = await cluster.admin.list('v1', 'PersistentVolumeClaim', 'nublado');
	const provisioned = claims.map(claim => (claim.spec as { volumeName: string }).volumeName).filter(name => name.startsWith('pvc-'));
	t.is(provisioned.length, 2, 'physpvc and hub-physpvc have provisioned volumes');
	writeFileSync(join(dir, 'nublado.yaml'), yaml(bind.port) + 'firefly: { enabled: false }\n');
	const destroyed = await run(['destroy', '--json']);
	t.is(destroyed.code, 0, destroyed.stderr + destroyed.stdout.slice(-2000));
	for (const object of everything) t.falsy(await read(object.apiVersion, object.kind, object.name, object.namespace), `${describe(object)} is gone`);
	for (const namespace of ['nublado', 'ingress-nginx']) t.falsy(await read('v1', 'Namespace', namespace), `Namespace ${namespace}`);
	// physpvc's volume (class fast, Retain) is Released and kept, as its class says; hub-physpvc's
	// (the default class, Delete) is deleted by the provisioner.
	const volumes = (await cluster.admin.list('v1', 'PersistentVolume', undefined)) as any[];
	t.true(volumes.every(volume => volume.status.phase === 'Released'), volumes.map(v => `${v.metadata.name} ${v.status.phase}`).join(', '));
	t.deepEqual(volumes.map(volume => volume.spec.claimRef?.name), ['physpvc']);
	t.deepEqual(await lookupA('nublado.example.test', { host: bind.host, port: bind.port }), []);
	const plan = await run(['plan', 'all']);
	t.regex(plan.stdout, /never ran/);
});
