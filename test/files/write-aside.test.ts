import test from 'ava';
import { spawnSync } from 'node:child_process';
import { chmodSync, linkSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { removeLeftovers, writeAside } from '../../lib/files/write-aside.ts';

function folder(t: { teardown(fn: () => void): void }): string {
	const dir = mkdtempSync(join(tmpdir(), 'nub-write-aside-'));
	t.teardown(() => rmSync(dir, { recursive: true, force: true }));
	return dir;
}

const isRoot = process.getuid?.() === 0;
const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '../..');

test('writes a new file with its contents, and nothing beside it', t => {
	const dir = folder(t);
	writeAside(join(dir, 'a.json'), '{"a":1}\n');
	writeAside(join(dir, 'b.bin'), Uint8Array.from([0, 1, 255]));
	t.is(readFileSync(join(dir, 'a.json'), 'utf8'), '{"a":1}\n');
	t.deepEqual([...readFileSync(join(dir, 'b.bin'))], [0, 1, 255]);
	t.deepEqual(readdirSync(dir).sort(), ['a.json', 'b.bin']);
});

test('the mode is exactly the one asked for, whatever the umask; without one, 0666 less the umask', t => {
	const dir = folder(t);
	const before = process.umask(0o027);
	try {
		writeAside(join(dir, 'secret'), 'x', { mode: 0o600 });
		writeAside(join(dir, 'shared'), 'x', { mode: 0o664 });
		writeAside(join(dir, 'plain'), 'x');
		writeAside(join(dir, 'durable'), 'x', { mode: 0o600, fsync: true });
	} finally {
		process.umask(before);
	}
	t.is(statSync(join(dir, 'secret')).mode & 0o777, 0o600);
	t.is(statSync(join(dir, 'shared')).mode & 0o777, 0o664);
	t.is(statSync(join(dir, 'plain')).mode & 0o777, 0o640);
	t.is(statSync(join(dir, 'durable')).mode & 0o777, 0o600);
});

test('replaces an existing file by a rename, not by writing into it', t => {
	const dir = folder(t);
	const path = join(dir, 'state');
	writeFileSync(path, 'old contents, longer than the new ones');
	// A second name for the old file: written in place, it would show the new contents too.
	linkSync(path, join(dir, 'old'));
	const oldInode = statSync(path).ino;
	writeAside(path, 'new', { fsync: true });
	t.is(readFileSync(path, 'utf8'), 'new');
	t.is(readFileSync(join(dir, 'old'), 'utf8'), 'old contents, longer than the new ones');
	t.not(statSync(path).ino, oldInode);
	t.deepEqual(readdirSync(dir).sort(), ['old', 'state']);
});

test('when the rename fails (the target is a folder), the temporary file is removed and the error thrown', t => {
	const dir = folder(t);
	const target = join(dir, 'taken');
	mkdirSync(target);
	writeFileSync(join(target, 'inside'), 'kept');
	t.throws(() => writeAside(target, 'contents', { mode: 0o600, fsync: true }), { code: 'EISDIR' });
	t.deepEqual(readdirSync(dir), ['taken']);
	t.is(readFileSync(join(target, 'inside'), 'utf8'), 'kept');
});

test('a missing folder is an error, and nothing is made', t => {
	const dir = folder(t);
	t.throws(() => writeAside(join(dir, 'missing', 'file'), 'contents'), { code: 'ENOENT' });
	t.deepEqual(readdirSync(dir), []);
});

// Root writes into any folder, so the refusal can only be seen as another user.
// Root writes into any folder: as root, the writer runs as `nobody` (a child given its uid).
test('in a folder it may not write, it throws, and the old file stays whole', t => {
	const dir = folder(t);
	const path = join(dir, 'state');
	writeFileSync(path, 'old');
	chmodSync(dir, 0o755);
	if (isRoot) {
		const script = `import { writeAside } from ${JSON.stringify(pathToFileURL(join(repoRoot, 'lib/files/write-aside.ts')).href)};
try { writeAside(${JSON.stringify(path)}, 'new'); console.log('written'); } catch (error) { console.log(error.code); }`;
		const child = spawnSync(process.execPath, ['--import', pathToFileURL(join(repoRoot, 'scripts/safe-tsx.mjs')).href, '--input-type=module', '-e', script], { uid: 65534, gid: 65534, encoding: 'utf8', cwd: tmpdir() });
		t.is(child.stdout.trim(), 'EACCES', child.stderr);
	} else {
		chmodSync(dir, 0o500);
		t.teardown(() => chmodSync(dir, 0o700));
		t.throws(() => writeAside(path, 'new'), { code: 'EACCES' });
	}
	t.is(readFileSync(path, 'utf8'), 'old');
	t.deepEqual(readdirSync(dir), ['state']);
});

test('removeLeftovers removes what a killed writer left, and keeps a running writer\'s file and other files', t => {
	const dir = folder(t);
	const gone = spawnSync(process.execPath, ['-e', '0']).pid!;
	const path = join(dir, 'key');
	for (const name of [`key.${gone}.abc123.tmp`, `key.${process.pid}.def456.tmp`, 'key', `other.${gone}.abc123.tmp`]) writeFileSync(join(dir, name), 'x');
	removeLeftovers(path);
	t.deepEqual(readdirSync(dir).sort(), ['key', `key.${process.pid}.def456.tmp`, `other.${gone}.abc123.tmp`].sort());
});
