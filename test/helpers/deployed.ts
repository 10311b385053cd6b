import type { ExecutionContext } from 'ava';
import { join } from 'node:path';
import { Kube } from '../../lib/k8s/client.ts';
import { startSandbox } from '../../lib/sandbox/index.ts';
import { makeNubladoProject, nub, removeProject } from './project.ts';

/**
 * The nublado deployment run once by the real `nub` against a sandbox this test serves (quick
 * controllers, the RFC 7919 DH group), and a client on that sandbox: the starting point of the
 * tests that then change the cluster or the configuration behind nub's back.
 */
export async function deployedNublado(t: ExecutionContext) {
	const dir = makeNubladoProject({ 'nublado.yaml': 'hostname: nublado.example.test\noauth: { provider: jwt, jwtCertificate: hub/example-signing-certificate.crt }\ndhparam: { group: ffdhe2048 }\nprepuller: { minute: 5 }\n' });
	const sandbox = await startSandbox({ dir: join(dir, '.nub/sandbox'), loadBalancerDelayMs: 50, rolloutDelayMs: 50 });
	t.teardown(async () => {
		await sandbox.close();
		removeProject(dir);
	});
	const first = await nub(dir, ['run', 'all', '--json']);
	t.is(first.code, 0, first.stderr + first.stdout.slice(-1500));
	const kube = await Kube.connect({ kubeconfig: sandbox.kubeconfigPath, context: 'nub-sandbox' });
	return { dir, sandbox, kube };
}
