import test from 'ava';
import { generateKeyPairSync } from 'node:crypto';
import { messageOf, NonErrorThrown } from '../../lib/engine/graph.ts';
import { Redactor } from '../../lib/engine/redact.ts';
import { task } from '../../lib/engine/task.ts';
import { cleanup, runTasks, tempDir } from '../helpers/engine.ts';

/** A real private key: PEM, newlines, base64 lines with + and /. */
const pem = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
/** A token with every character URL encoding and JSON escaping touch. */
const token = 'p@ss w/rd+"quoted"\\back=&x?';

/** Every 16-character run of the key's body: what must not be shown, in any form. */
function bodyPieces(value: string): string[] {
	const body = value.split('\n').filter(line => !line.startsWith('-----')).join('');
	return Array.from({ length: Math.floor(body.length / 16) }, (_, i) => body.slice(i * 16, i * 16 + 16));
}

/** How a secret is written inside other text: each is wrapped in other words before it is shown. */
const encodings: Array<[string, (value: string) => string]> = [
	['as it is', value => value],
	['JSON-escaped', value => JSON.stringify({ data: { 'tls.key': value } })],
	['JSON-escaped twice', value => JSON.stringify(JSON.stringify({ key: value }))],
	['URL-encoded', value => `https://example.test/?key=${encodeURIComponent(value)}`],
	['form-encoded', value => new URLSearchParams({ key: value, other: 'x' }).toString()],
	['hex', value => Buffer.from(value).toString('hex')],
	['HEX', value => Buffer.from(value).toString('hex').toUpperCase()],
	['base64', value => Buffer.from(value).toString('base64')],
	['base64 after other text', value => Buffer.from(`chain first\n${value}`).toString('base64')],
];

for (const [form, encode] of encodings) {
	test(`a secret is redacted ${form}: a PEM key and a token with characters that escape`, t => {
		const redactor = new Redactor();
		redactor.add({ key: pem, token });
		for (const value of [pem, token]) {
			const text = redactor.redact(`failed: ${encode(value)} (then more)`);
			t.true(text.includes('[secret]'), text);
			t.true(text.startsWith('failed: ') && text.endsWith(' (then more)'), text);
			t.false(text.includes(encode(value)), text);
		}
		// No piece of the key's body survives in the shown text, whatever its encoding.
		const text = redactor.redact(`failed: ${encode(pem)}`);
		const encoded = (piece: string) => [piece, encodeURIComponent(piece), Buffer.from(piece).toString('hex'), Buffer.from(piece).toString('hex').toUpperCase()];
		for (const piece of bodyPieces(pem)) for (const form of encoded(piece)) t.false(text.includes(form), `${form} in ${text}`);
	});
}

test('a thrown object holding a key is redacted whole before it is cut to 300 characters: no partial key line is left', async t => {
	const redactor = new Redactor();
	redactor.add(pem);
	const thrown = { response: { key: pem } };
	const message = messageOf(thrown, text => redactor.redact(text));
	t.is(message, 'non-Error value thrown: {"response":{"key":"[secret]"}}');
	t.is(messageOf(new NonErrorThrown(thrown), text => redactor.redact(text)), message);
	// Longer than 300 characters once redacted: cut after, and nothing of the key is in the cut.
	const long = messageOf({ note: 'x'.repeat(400), key: pem }, text => redactor.redact(text));
	t.is(long.length, 'non-Error value thrown: '.length + 300);
	t.true(long.endsWith('...'));
});

test('a task throwing an object with a secret it made fails with the secret redacted, nothing of it cut in half', async t => {
	const dir = tempDir();
	t.teardown(() => cleanup(dir));
	const key = task({ name: 'key', secret: true, run: () => pem });
	// The key's JSON-escaped text starts past the first 297 characters' worth of other text only in part.
	const user = task({ name: 'user', needs: { key }, run: ({ key }) => { throw { padding: 'y'.repeat(200), key }; } });
	const { summary, events } = await runTasks(dir, [user]);
	t.deepEqual(summary.failed, ['user']);
	t.is(summary.errors.user, `non-Error value thrown: {"padding":"${'y'.repeat(200)}","key":"[secret]"}`);
	const everything = JSON.stringify(events);
	for (const piece of bodyPieces(pem)) t.false(everything.includes(piece), piece);
});
