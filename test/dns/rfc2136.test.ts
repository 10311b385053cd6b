import test from 'ava';
import { lookupA } from '../../lib/dns/dns.ts';
import { manualDns, rfc2136 } from '../../lib/dns/rfc2136.ts';
import { startBind } from '../helpers/bind.ts';

test('rfc2136 sets the A record through a real BIND9, and does nothing when it already matches', async t => {
	const bind = await startBind('example.test', { nublado: '127.0.0.1' });
	t.teardown(() => bind.stop());
	const server = { host: bind.host, port: bind.port };
	const provider = rfc2136({ server, zone: bind.zone, key: bind.key });
	const lines: string[] = [];
	const record = { name: 'nublado.example.test', address: '203.0.113.7', ttl: 60 };
	t.is(await provider.ensure(record, { log: line => lines.push(line) }), 'updated', bind.log());
	t.deepEqual(await lookupA('nublado.example.test', server), ['203.0.113.7']);
	t.is(await provider.ensure(record, { log: line => lines.push(line) }), 'unchanged');
	t.deepEqual(lines, ['nublado.example.test A 203.0.113.7 (was 127.0.0.1)', 'nublado.example.test A 203.0.113.7 already']);
	t.false(lines.join('\n').includes(bind.key.secret));
});

test('a wrong TSIG key is refused by BIND, and the error says so without showing the key', async t => {
	const bind = await startBind();
	t.teardown(() => bind.stop());
	const wrong = { ...bind.key, secret: Buffer.alloc(32, 7).toString('base64') };
	const provider = rfc2136({ server: { host: bind.host, port: bind.port }, zone: bind.zone, key: wrong });
	const error = await t.throwsAsync(provider.ensure({ name: 'nublado.example.test', address: '203.0.113.7', ttl: 60 }, { log: () => {} }));
	t.regex(error!.message, /^nsupdate could not set nublado\.example\.test A 203\.0\.113\.7 at 127\.0\.0\.1:\d+ \(zone example\.test\): /);
	t.false(error!.message.includes(wrong.secret));
	t.deepEqual(await lookupA('nublado.example.test', { host: bind.host, port: bind.port }), []);
});

test('manual prints the record to create until a query finds it', async t => {
	const bind = await startBind('example.test', { ready: '203.0.113.9' });
	t.teardown(() => bind.stop());
	const provider = manualDns({ check: { host: bind.host, port: bind.port } });
	const lines: string[] = [];
	t.is(await provider.ensure({ name: 'nublado.example.test', address: '203.0.113.7', ttl: 60 }, { log: line => lines.push(line) }), 'printed');
	t.deepEqual(lines, ['create this record at your DNS provider: nublado.example.test. 60 IN A 203.0.113.7']);
	t.is(await provider.ensure({ name: 'ready.example.test', address: '203.0.113.9', ttl: 60 }, { log: () => {} }), 'unchanged');
	// An IPv6 address is an AAAA record; a load balancer's DNS name, a CNAME.
	const printed: string[] = [];
	const unchecked = manualDns({});
	await unchecked.ensure({ name: 'nublado.example.test', address: '2001:db8::7', ttl: 60 }, { log: line => printed.push(line) });
	await unchecked.ensure({ name: 'nublado.example.test', address: 'lb-1.elb.amazonaws.com', ttl: 60 }, { log: line => printed.push(line) });
	t.deepEqual(printed, [
		'create this record at your DNS provider: nublado.example.test. 60 IN AAAA 2001:db8::7',
		'create this record at your DNS provider: nublado.example.test. 60 IN CNAME lb-1.elb.amazonaws.com.',
	]);
});

test('a record value that would add an nsupdate command is refused before nsupdate runs: BIND keeps what it had', async t => {
	const bind = await startBind('example.test', { nublado: '127.0.0.1' });
	t.teardown(() => bind.stop());
	const server = { host: bind.host, port: bind.port };
	const provider = rfc2136({ server, zone: bind.zone, key: bind.key });
	const injected = '203.0.113.7\nupdate add evil.example.test 60 A 6.6.6.6';
	const error = await t.throwsAsync(provider.ensure({ name: 'nublado.example.test', address: injected, ttl: 60 }, { log: () => {} }));
	t.is(error!.message, 'the address of nublado.example.test is not an IPv4 address (an A record), got "203.0.113.7\\nupdate add evil.example.test 60 A 6.6.6.6": refused');
	await t.throwsAsync(provider.ensure({ name: 'nublado.example.test\nupdate add evil.example.test 60 A 6.6.6.6', address: '203.0.113.7', ttl: 60 }, { log: () => {} }), { message: /^the record name is not a DNS name, got ".*\\n.*": refused$/ });
	await t.throwsAsync(provider.ensure({ name: 'lb.example.test', address: 'lb.elb.amazonaws.com', ttl: 60 }, { log: () => {} }), { message: /is not an IPv4 address \(an A record\)/ });
	t.deepEqual(await lookupA('evil.example.test', server), []);
	t.deepEqual(await lookupA('nublado.example.test', server), ['127.0.0.1']);
});

test('a zone, key name or secret from configuration that would end a script line is refused', t => {
	const server = { host: '127.0.0.1', port: 53 };
	const key = { name: 'nub-key', algorithm: 'hmac-sha256', secret: Buffer.alloc(32, 1).toString('base64') };
	t.throws(() => rfc2136({ server, zone: 'example.test\nupdate add evil.example.test 60 A 6.6.6.6', key }), { message: /^the zone is not a DNS name, got "example\.test\\nupdate add/ });
	t.throws(() => rfc2136({ server, zone: 'example.test', key: { ...key, name: 'nub-key x' } }), { message: 'the TSIG key name is not a DNS name, got "nub-key x": refused' });
	t.throws(() => rfc2136({ server, zone: 'example.test', key: { ...key, secret: `${key.secret}\nupdate add evil.example.test 60 A 6.6.6.6` } }), { message: 'the TSIG secret is not base64 (letters, digits, +, / and = padding): refused' });
	t.throws(() => rfc2136({ server: { host: '127.0.0.1\nupdate add', port: 53 }, zone: 'example.test', key }), { message: /^the DNS server is not an IP address or a DNS name/ });
});
