import test from 'ava';
import { task } from '../../lib/engine/task.ts';
import { parseConfig } from '../../lib/config/nublado.ts';
import { dnsTask } from '../../tasks/dns.ts';
import { cleanup, runTasks, tempDir } from '../helpers/engine.ts';

const base = 'hostname: nublado.example.test\noauth: { provider: jwt, jwtCertificate: hub/example-signing-certificate.crt }\n';

test('a LoadBalancer hostname (AWS) is a clear one-line error for a provider that sets A records, never an A record', async t => {
	const dir = tempDir();
	t.teardown(() => cleanup(dir));
	const config = parseConfig(`${base}dns: { provider: manual }\n`, 'nublado.yaml');
	const ingressIp = task({ name: 'ingress-ip', run: () => 'a1b2-123.us-east-1.elb.amazonaws.com' });
	const { summary, events } = await runTasks(dir, [dnsTask({ config, root: dir }, ingressIp)]);
	t.deepEqual(summary.failed, ['dns']);
	t.is(summary.errors.dns, 'the ingress address is the DNS name a1b2-123.us-east-1.elb.amazonaws.com, not an IP address: dns.provider manual sets only A records; make nublado.example.test a CNAME to it yourself and set dns.provider: none');
	// Nothing was printed as an A record to create.
	t.false(JSON.stringify(events).includes('IN A'));
});

test('with no provider, a hostname address is told as a CNAME to set', async t => {
	const dir = tempDir();
	t.teardown(() => cleanup(dir));
	const config = parseConfig(base, 'nublado.yaml');
	const ingressIp = task({ name: 'ingress-ip', run: () => 'a1b2-123.us-east-1.elb.amazonaws.com' });
	const { summary, events } = await runTasks(dir, [dnsTask({ config, root: dir }, ingressIp)]);
	t.deepEqual(summary.failed, []);
	const lines = events.flatMap(event => (event.type === 'task-log' ? [event.message] : []));
	t.deepEqual(lines, ['no DNS provider configured: point nublado.example.test at a1b2-123.us-east-1.elb.amazonaws.com yourself (a CNAME record)']);
});
