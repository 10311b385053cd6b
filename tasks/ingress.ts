import { kube, task, type Task } from 'nub';
import { printable } from '../lib/engine/printable.ts';
import { loadBalancerAddress } from '../lib/k8s/load-balancer.ts';
import { timeoutOf } from '../lib/config/nublado.ts';
import { applyTask, type Applied } from './apply.ts';
import type { Deployment } from './platform.ts';

/** nginx-ingress in its own namespace, and its LoadBalancer address (the DNS record's value). */
export function ingressTasks({ config }: Deployment, namespace: Task<Applied>) {
	const controller = applyTask({
		name: 'ingress-controller',
		description: 'nginx-ingress: default backend, configuration, permissions, controller, LoadBalancer Service',
		group: 'ingress',
		// The controller reads the DH parameters from Secret tls in the platform's namespace.
		needs: { namespace },
		templates: ['ingress/ingress-nginx.yaml'],
		values: () => ({ NAMESPACE: config.namespace }),
		rollouts: [{ kind: 'Deployment', namespace: 'ingress-nginx', name: 'nginx-ingress-controller' }],
		timeoutMs: timeoutOf(config, 'ingress-controller'),
	});
	const ingressIp = task({
		name: 'ingress-ip',
		description: 'the ingress LoadBalancer\'s external address',
		group: 'ingress',
		cluster: true,
		needs: { controller },
		run: async (_, context) => (await kube(context)).waitForLoadBalancer('ingress-nginx', 'ingress-nginx', { timeoutMs: timeoutOf(config, 'ingress-ip') }),
		check: async (_, context) => {
			const services = await (await kube(context)).snapshot('v1', 'Service', 'ingress-nginx');
			const service = services.find(service => service.metadata.name === 'ingress-nginx');
			// Checked as the run checks it: an address that is no IP nor DNS name fails the check.
			const found = service ? loadBalancerAddress(service) : undefined;
			const address = found?.ip ?? found?.hostname;
			return address === context.previous ? undefined : `the ingress address is ${address ?? 'gone'}, not ${printable(String(context.previous))}`;
		},
	});
	return { controller, ingressIp };
}
