import type { Task } from 'nub';
import type { SecretManifest } from '../lib/k8s/secret.ts';
import { timeoutOf } from '../lib/config/nublado.ts';
import { applyTask, type Applied } from './apply.ts';
import type { Deployment } from './platform.ts';

/** Firefly: Secret firefly (its admin password), Deployment, Service and Ingress. */
export function fireflyTask({ config }: Deployment, needs: { namespace: Task<Applied>; tls: Task<Applied>; nfsVolumes: Task<Applied>; fireflySecret: Task<SecretManifest> }) {
	const firefly = config.firefly;
	return applyTask({
		name: 'firefly',
		description: `Firefly at ${config.routes.firefly}`,
		group: 'firefly',
		// The Ingress needs Secret tls, and Firefly mounts the scratch claim.
		needs,
		templates: ['firefly/firefly.yaml'],
		values: () => ({
			NAMESPACE: config.namespace,
			HOSTNAME: config.hostname,
			FIREFLY_ROUTE: config.routes.firefly,
			FIREFLY_REPLICAS: firefly.replicas,
			FIREFLY_UID: firefly.uid,
			FIREFLY_MAX_JVM_SIZE: firefly.jvmSize,
			FIREFLY_CONTAINER_MEM_LIMIT: firefly.memory,
			FIREFLY_CONTAINER_CPU_LIMIT: String(firefly.cpu),
		}),
		objects: ({ fireflySecret }) => [fireflySecret],
		rollouts: [{ kind: 'Deployment', namespace: config.namespace, name: 'firefly' }],
		timeoutMs: timeoutOf(config, 'firefly'),
	});
}
