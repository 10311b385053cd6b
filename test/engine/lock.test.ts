import test from 'ava';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { NubError } from '../../lib/engine/errors.ts';
import { acquireLock, type LockEnvironment } from '../../lib/engine/lock.ts';
import { cleanup, tempDir } from '../helpers/engine.ts';

const environment = (pid: number, alive: number[] = [], host = 'here'): LockEnvironment => ({
	holder: { pid, host, started: '2026-11-25T10:00:00.000Z', command: 'nub run all' },
	isAlive: candidate => alive.includes(candidate),
});

test('a second taker is refused with the holder named', t => {
	const dir = tempDir();
	const lock = acquireLock(dir, environment(100, [100, 200]));
	const error = t.throws(() => acquireLock(dir, environment(200, [100, 200])), { instanceOf: NubError });
	t.is(error?.kind, 'lock');
	t.regex(error!.message, /pid 100 on here, started 2026-11-25T10:00:00\.000Z \(nub run all\)/);
	lock.release();
	t.notThrows(() => acquireLock(dir, environment(200, [200])).release());
	cleanup(dir);
});

test('a lock whose holder is dead is taken over', t => {
	const dir = tempDir();
	acquireLock(dir, environment(100, [100])); // never released: the holder "died"
	const lock = acquireLock(dir, environment(300, [300]));
	t.throws(() => acquireLock(dir, environment(400, [300, 400])), { message: /pid 300/ });
	lock.release();
	t.false(existsSync(join(dir, 'lock')));
	cleanup(dir);
});

test('a holder on another host is not presumed dead', t => {
	const dir = tempDir();
	acquireLock(dir, environment(100, [], 'elsewhere'));
	t.throws(() => acquireLock(dir, environment(100, [], 'here')), { message: /pid 100 on elsewhere/ });
	cleanup(dir);
});

test('an unreadable lock file is stale', t => {
	const dir = tempDir();
	writeFileSync(join(dir, 'lock'), 'garbage');
	t.notThrows(() => acquireLock(dir, environment(1, [1])).release());
	cleanup(dir);
});

test('release leaves a lock that another run took over alone', t => {
	const dir = tempDir();
	const first = acquireLock(dir, environment(100, []));
	const second = acquireLock(dir, environment(200, [200]));
	first.release();
	t.true(existsSync(join(dir, 'lock')));
	second.release();
	t.false(existsSync(join(dir, 'lock')));
	cleanup(dir);
});

test('a lock file\'s text reaches the message escaped: an ESC sequence in its command or host cannot drive the terminal', t => {
	const dir = tempDir();
	writeFileSync(join(dir, 'lock'), JSON.stringify({ pid: 100, host: 'else\u001b[2Jwhere', started: '2026-11-25T10:00:00.000Z', command: 'nub run all\u001b]0;pwned\u0007\nnub: done' }));
	const error = t.throws(() => acquireLock(dir, environment(200, [200], 'here')), { instanceOf: NubError });
	t.false(/[\u0000-\u001f]/.test(error!.message), error!.message);
	t.regex(error!.message, /pid 100 on else\\x1b\[2Jwhere, started 2026-11-25T10:00:00\.000Z \(nub run all\\x1b\]0;pwned\\x07\\nnub: done\)/);
	cleanup(dir);
});
