import test from 'ava';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
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
