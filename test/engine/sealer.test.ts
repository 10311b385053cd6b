import test from 'ava';
import { chmodSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { NubError } from '../../lib/engine/errors.ts';
import { createSealer } from '../../lib/engine/sealer.ts';
import { cleanup, tempDir } from '../helpers/engine.ts';

test('the key is made once, whole, 0600, with nothing left beside it; sealed values open with it', t => {
	const dir = tempDir();
	t.teardown(() => cleanup(dir));
	const stateDir = join(dir, '.nub');
	const sealed = createSealer({ stateDir }).seal('hunter2-value', { name: 'x', seq: 1 });
	t.regex(readFileSync(join(stateDir, 'key'), 'utf8'), /^[0-9a-f]{64}\n$/);
	t.is(statSync(join(stateDir, 'key')).mode & 0o777, 0o600);
	t.deepEqual(readdirSync(stateDir), ['key']);
	t.is(createSealer({ stateDir }).open(sealed, 'x', { name: 'x', seq: 1 }), 'hunter2-value');
});

test('an empty key file (a crash while an older nub created it) is replaced: nothing was sealed under it', t => {
	const dir = tempDir();
	t.teardown(() => cleanup(dir));
	const stateDir = join(dir, '.nub');
	mkdirSync(stateDir, { mode: 0o700 });
	writeFileSync(join(stateDir, 'key'), '', { mode: 0o600 });
	const sealed = createSealer({ stateDir }).seal('value-after-crash', { name: 'x', seq: 1 });
	t.regex(readFileSync(join(stateDir, 'key'), 'utf8'), /^[0-9a-f]{64}\n$/);
	t.is(createSealer({ stateDir }).open(sealed, 'x', { name: 'x', seq: 1 }), 'value-after-crash');
	// Reading alone never makes a key.
	const readOnly = join(dir, 'other');
	t.throws(() => createSealer({ stateDir: readOnly, readOnly: true }).digest('x'), { message: /state key is missing/ });
});

test('a key file other users can read or write is refused, as ssh refuses such a private key: the message names the file and chmod 600', t => {
	const dir = tempDir();
	t.teardown(() => cleanup(dir));
	const stateDir = join(dir, '.nub');
	const binding = { name: 'x', seq: 1 };
	const sealed = createSealer({ stateDir }).seal('kept-private', binding);
	const file = join(stateDir, 'key');
	for (const mode of [0o644, 0o640, 0o602]) {
		chmodSync(file, mode);
		const error = t.throws(() => createSealer({ stateDir }), { instanceOf: NubError });
		t.is(error!.kind, 'state');
		t.is(error!.message, `${file} is open to other users (mode 0${mode.toString(8)}): the state key must be private; run chmod 600 ${file}`);
	}
	chmodSync(file, 0o600);
	t.is(createSealer({ stateDir }).open(sealed, 'x', binding), 'kept-private');
	chmodSync(file, 0o400);
	t.is(createSealer({ stateDir }).open(sealed, 'x', binding), 'kept-private');
});
