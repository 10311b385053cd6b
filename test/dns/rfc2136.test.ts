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
});
