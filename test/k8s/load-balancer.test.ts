import test from 'ava';
import { loadBalancerAddress, LoadBalancerAddressError } from '../../lib/k8s/load-balancer.ts';
import type { KubeObject } from '../../lib/k8s/objects.ts';

const service = (ingress: unknown[] | undefined): KubeObject => ({
	apiVersion: 'v1',
	kind: 'Service',
	metadata: { name: 'ingress-nginx', namespace: 'ingress-nginx' },
	status: { loadBalancer: ingress ? { ingress } : {} },
} as KubeObject);

test('an IP address or a DNS name (AWS) is the address; none yet is undefined', t => {
	t.deepEqual(loadBalancerAddress(service([{ ip: '203.0.113.7' }])), { ip: '203.0.113.7' });
	t.deepEqual(loadBalancerAddress(service([{ ip: '2001:db8::7' }])), { ip: '2001:db8::7' });
	t.deepEqual(loadBalancerAddress(service([{ hostname: 'a1b2-123.us-east-1.elb.amazonaws.com' }])), { hostname: 'a1b2-123.us-east-1.elb.amazonaws.com' });
	t.is(loadBalancerAddress(service(undefined)), undefined);
	t.is(loadBalancerAddress(service([])), undefined);
});

const refused: Array<[string, unknown, RegExp]> = [
	[
		'a hostname carrying an nsupdate command after a newline',
		{ hostname: 'lb.example.test\nupdate add evil.example.test 60 A 6.6.6.6' },
		/^Service ingress-nginx\/ingress-nginx: status\.loadBalancer\.ingress\[0\]\.hostname is not a DNS name, got "lb\.example\.test\\nupdate add evil\.example\.test 60 A 6\.6\.6\.6": refused$/,
	],
	['an ip that is no IP address', { ip: '1.2.3.4 ; rm' }, /\.ip is not an IP address, got "1\.2\.3\.4 ; rm": refused$/],
	['an ip with an ESC sequence', { ip: '\u001b[2J1.2.3.4' }, /got "\\x1b\[2J1\.2\.3\.4": refused$/],
	['an ip that is not a string', { ip: 7 }, /\.ip is not an IP address, got a number: refused$/],
];

for (const [title, ingress, message] of refused) {
	test(`refused: ${title}`, t => {
		const error = t.throws(() => loadBalancerAddress(service([ingress])), { instanceOf: LoadBalancerAddressError });
		t.regex(error!.message, message);
		t.false(error!.message.includes('\n'));
	});
}
