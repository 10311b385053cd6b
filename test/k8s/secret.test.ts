import test from 'ava';
import { secretManifest, secretValue } from '../../lib/k8s/secret.ts';

test('values are base64 under data: text as UTF-8, bytes as they are, keys sorted', t => {
	const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0xff, 0xfe]);
	const text = 'pässwörd "quoted"\nsecond line: {{NOT_A_TEMPLATE}}';
	const secret = secretManifest({ name: 'hub', namespace: 'nublado', data: { 'logo.png': png, password: text } });
	t.deepEqual(secret, {
		apiVersion: 'v1',
		kind: 'Secret',
		metadata: { name: 'hub', namespace: 'nublado' },
		type: 'Opaque',
		data: { 'logo.png': png.toString('base64'), password: Buffer.from(text, 'utf8').toString('base64') },
	});
	t.deepEqual(secretValue(secret, 'logo.png'), png);
	t.is(secretValue(secret, 'password').toString('utf8'), text);
	// A view on a larger buffer encodes only its own bytes.
	const view = new Uint8Array(png.buffer, png.byteOffset + 1, 3);
	t.is(secretManifest({ name: 'x', data: { v: view } }).data.v, Buffer.from('PNG').toString('base64'));
});

test('type and labels are kept; what the API server would refuse is refused, naming secret and key', t => {
	const tls = secretManifest({ name: 'tls', namespace: 'nb', type: 'kubernetes.io/tls', labels: { app: 'nublado' }, data: { 'tls.crt': 'c', 'tls.key': 'k' } });
	t.is(tls.type, 'kubernetes.io/tls');
	t.deepEqual(tls.metadata.labels, { app: 'nublado' });
	t.throws(() => secretManifest({ name: 'Hub', data: {} }), { message: /^Secret Hub: the name must be a DNS subdomain/ });
	t.throws(() => secretManifest({ name: 'hub', namespace: 'nb', data: { 'a/b': 'x' } }), { message: /^Secret nb\/hub: key "a\/b" is invalid/ });
	t.throws(() => secretManifest({ name: 'big', data: { blob: Buffer.alloc(1024 * 1024 + 1) } }), { message: /^Secret big: 1048577 bytes of data, over the API server's limit of 1 MiB$/ });
	t.throws(() => secretValue(tls, 'ca.crt'), { message: 'Secret tls has no key "ca.crt"' });
});
