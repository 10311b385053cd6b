import test from 'ava';
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configMapFromFolder, FolderError } from '../../lib/render/folder.ts';

const png = Buffer.from('89504e470d0a1a0a0000000d4948445200000001000000010806000000ff', 'hex');

test('text files go to data, binary files byte for byte to binaryData, in lexical order; subfolders are left out', t => {
	const folder = mkdtempSync(join(tmpdir(), 'nub-folder-'));
	t.teardown(() => rmSync(folder, { recursive: true, force: true }));
	writeFileSync(join(folder, 'b_config.py'), 'c.Spawner.x = "é"\n');
	writeFileSync(join(folder, 'a_config.py'), 'c.JupyterHub.y = 1\n');
	writeFileSync(join(folder, 'logo.png'), png);
	mkdirSync(join(folder, 'sub'));
	writeFileSync(join(folder, 'sub', 'ignored.txt'), 'x');
	const map = configMapFromFolder({ name: 'landing-page-www', namespace: 'nublado', folder });
	t.deepEqual(Object.keys(map.data as object), ['a_config.py', 'b_config.py']);
	t.is((map.data as Record<string, string>)['b_config.py'], 'c.Spawner.x = "é"\n');
	t.deepEqual(Buffer.from((map.binaryData as Record<string, string>)['logo.png']!, 'base64'), png);
});

test('a file name that is not UTF-8 or not a valid key is refused, naming the folder', t => {
	const folder = mkdtempSync(join(tmpdir(), 'nub-folder-'));
	t.teardown(() => rmSync(folder, { recursive: true, force: true }));
	writeFileSync(Buffer.from(join(folder, 'bad-\xff.png'), 'latin1'), png);
	t.throws(() => configMapFromFolder({ name: 'x', namespace: 'n', folder, shown: 'landing' }), { instanceOf: FolderError, message: /^landing: the file name "bad-ÿ\.png" is not UTF-8/ });
	rmSync(folder, { recursive: true });
	mkdirSync(folder);
	writeFileSync(join(folder, 'has space.txt'), 'x');
	t.throws(() => configMapFromFolder({ name: 'x', namespace: 'n', folder, shown: 'landing' }), { message: 'landing/has space.txt: not a valid ConfigMap key (letters, digits, "-", "_" and "." only)' });
	t.throws(() => configMapFromFolder({ name: 'x', namespace: 'n', folder: join(folder, 'nope'), shown: 'nope' }), { message: 'nope: cannot read the folder (ENOENT)' });
});

test('dotfiles are left out unless asked for: a .env beside the page does not ship', t => {
	const folder = mkdtempSync(join(tmpdir(), 'nub-folder-'));
	t.teardown(() => rmSync(folder, { recursive: true, force: true }));
	writeFileSync(join(folder, 'index.html'), '<h1>hi</h1>\n');
	writeFileSync(join(folder, '.env'), 'AWS_SECRET_ACCESS_KEY=abc\n');
	writeFileSync(join(folder, '.index.html.swp'), Buffer.from([0, 1, 2]));
	const map = configMapFromFolder({ name: 'landing-page-www', namespace: 'nublado', folder });
	t.deepEqual(map.data, { 'index.html': '<h1>hi</h1>\n' });
	t.is(map.binaryData, undefined);
	const all = configMapFromFolder({ name: 'landing-page-www', namespace: 'nublado', folder, dotfiles: true });
	t.deepEqual(Object.keys(all.data as object), ['.env', 'index.html']);
});

test('a folder inside the project that links out of it is refused, naming where it leads; links among its files are left out', t => {
	const base = mkdtempSync(join(tmpdir(), 'nub-folder-'));
	t.teardown(() => rmSync(base, { recursive: true, force: true }));
	const project = join(base, 'project');
	const secrets = join(base, 'secrets');
	mkdirSync(join(project, 'www'), { recursive: true });
	mkdirSync(secrets);
	writeFileSync(join(secrets, 'id_rsa'), 'PRIVATE KEY');
	writeFileSync(join(project, 'www', 'index.html'), '<h1>hi</h1>');
	symlinkSync(join(secrets, 'id_rsa'), join(project, 'www', 'key.txt'));
	symlinkSync(secrets, join(project, 'landing'));
	// A file that is a link is not shipped.
	const page = configMapFromFolder({ name: 'www', namespace: 'n', folder: join(project, 'www'), shown: 'www', within: project });
	t.deepEqual(Object.keys(page.data as object), ['index.html']);
	// A folder that is a link out of the project is refused.
	const error = t.throws(() => configMapFromFolder({ name: 'landing', namespace: 'n', folder: join(project, 'landing'), shown: 'landing', within: project }), { instanceOf: FolderError });
	t.is(error!.message, `landing: a link to ${realpathSync(secrets)}, outside the project: nothing of it is shipped; give that folder's absolute path in nublado.yaml if it is meant`);
	// Given as such (an absolute path, no `within`), it is the operator's choice.
	t.deepEqual(Object.keys(configMapFromFolder({ name: 'landing', namespace: 'n', folder: join(project, 'landing') }).data as object), ['id_rsa']);
});
