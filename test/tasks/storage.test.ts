/**
 * The NFS volumes when what a bound volume cannot change does change: a deployment made before
 * teststand became read-only (its volume read-write, ReadWriteMany, as nub made it then) is
 * brought to the templates' read-only ReadOnlyMany volume and claim by a plain `nub run all`,
 * on the sandbox, which refuses the in-place change as the real server does.
 */
import test from 'ava';
import { Kube } from '../../lib/k8s/client.ts';
import type { KubeObject } from '../../lib/k8s/objects.ts';
import { nub, summaryOf } from '../helpers/project.ts';
import { nubladoDeployment } from '../reliability/helpers.ts';

const yaml = `hostname: nublado.example.test
oauth: { provider: jwt, jwtCertificate: hub/example-signing-certificate.crt }
dhparam: { group: ffdhe2048 }
firefly: { enabled: false }
prepuller: { enabled: false }
landing: { enabled: false }
`;

test('a read-write teststand volume from an earlier deployment is made anew read-only, with its claim; the other exports stay', async t => {
	const deployment = await nubladoDeployment({ yaml });
	t.teardown(() => deployment.close());
	const first = await nub(deployment.dir, ['run', 'all', '--json']);
	t.is(first.code, 0, first.stderr + first.stdout.slice(-2000));
	const kube = await Kube.connect({ kubeconfig: deployment.sandbox.kubeconfigPath, context: 'nub-sandbox' });
	const volume = (name: string) => kube.read({ apiVersion: 'v1', kind: 'PersistentVolume', metadata: { name } }) as Promise<(KubeObject & { spec: any }) | undefined>;
	const claim = (name: string) => kube.read({ apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name, namespace: 'nublado' } }) as Promise<(KubeObject & { spec: any }) | undefined>;

	// The teststand volume and claim as nub made them before: read-write.
	const server = (await volume('teststand-nublado'))!.spec.nfs.server as string;
	const home = (await volume('home-nublado'))!.metadata.uid;
	await kube.delete({ apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: 'teststand', namespace: 'nublado' } });
	await kube.waitForGone({ apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: 'teststand', namespace: 'nublado' } });
	await kube.delete({ apiVersion: 'v1', kind: 'PersistentVolume', metadata: { name: 'teststand-nublado' } });
	await kube.waitForGone({ apiVersion: 'v1', kind: 'PersistentVolume', metadata: { name: 'teststand-nublado' } });
	const size = { storage: '19456Mi' };
	await kube.create({
		apiVersion: 'v1',
		kind: 'PersistentVolume',
		metadata: { name: 'teststand-nublado' },
		spec: { capacity: size, accessModes: ['ReadWriteMany'], persistentVolumeReclaimPolicy: 'Retain', storageClassName: '', mountOptions: ['local_lock=all'], nfs: { server, path: '/exports/teststand' } },
	});
	await kube.create({
		apiVersion: 'v1',
		kind: 'PersistentVolumeClaim',
		metadata: { name: 'teststand', namespace: 'nublado' },
		spec: { accessModes: ['ReadWriteMany'], storageClassName: '', volumeName: 'teststand-nublado', resources: { requests: size } },
	});

	const second = await nub(deployment.dir, ['run', 'all', '--json']);
	t.is(second.code, 0, second.stderr + second.stdout.slice(-2000));
	t.true(summaryOf(second.stdout).succeeded.includes('nfs-volumes'));
	t.regex(second.stdout, /teststand-nublado: a volume's NFS source and a claim's access modes cannot change in place, so they and their claims are made anew/);
	const teststand = (await volume('teststand-nublado'))!;
	t.true(teststand.spec.nfs.readOnly);
	t.deepEqual(teststand.spec.accessModes, ['ReadOnlyMany']);
	t.deepEqual((await claim('teststand'))!.spec.accessModes, ['ReadOnlyMany']);
	t.is((await volume('home-nublado'))!.metadata.uid, home, 'home was left as it was');

	const third = await nub(deployment.dir, ['run', 'all', '--json']);
	t.is(third.code, 0, third.stderr);
	t.deepEqual(summaryOf(third.stdout).succeeded, []);
});
