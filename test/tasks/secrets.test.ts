import test from 'ava';
import { randomBytes, X509Certificate } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkDhParams, makeCa, makeServerCert } from '../../lib/crypto/index.ts';
import { contentHash } from '../../lib/engine/json.ts';
import { createSealer } from '../../lib/engine/sealer.ts';
import { StateStore } from '../../lib/engine/state-store.ts';
import { secretValue, type SecretManifest } from '../../lib/k8s/secret.ts';
import { finished, makeProject, nub, removeProject, repoRoot, startNub, summaryOf, waitFor } from '../helpers/project.ts';

/**
 * A project using tasks/secrets.ts as the nublado graph does: self-signed TLS, fresh 1024-bit DH
 * parameters (2048 is the default; 1024 keeps the suite fast), hub keys and tokens, and the
 * Secrets built from them. `slow` waits while SLOW is set, so a run can be killed half way.
 */
const nubfile = (tls = "{ source: 'self-signed' }") => `import { writeFileSync } from 'node:fs';
import { task } from 'nub';
import { secretTasks } from ${JSON.stringify(join(repoRoot, 'tasks/secrets.ts'))};

const s = secretTasks({ hostname: 'nub.test', namespace: 'nub', tls: ${tls}, dhparam: { bits: 1024 } });
const slow = task({
	name: 'slow',
	needs: { tls: s.tlsSecret },
	run: async (_, { signal }) => {
		if (process.env.SLOW) await new Promise(resolve => setTimeout(resolve, 60_000));
		return 1;
	},
});
const marker = task({ name: 'marker', run: () => { writeFileSync('ran', 'yes'); return 1; } });
export const all = task({
	name: 'all',
	needs: { tls: s.tlsSecret, firefly: s.fireflySecret, hubKey: s.hubCryptoKey, token: s.proxyToken, slow, marker },
});
export const leak = task({
	name: 'leak',
	needs: { token: s.proxyToken },
	run: ({ token }, { log }) => {
		log.info('trying ' + token);
		throw new Error('login refused for token ' + token + ' (base64 ' + Buffer.from(token).toString('base64') + ')');
	},
});
const hubSecret = task({ name: 'hub-secret', secret: 'inputs', needs: { key: s.hubCryptoKey }, run: ({ key }) => ({ key }) });
export const rotate = task({ name: 'rotate-hub-key', needs: { hubSecret }, forces: [s.hubCryptoKey] });
`;

/** The decrypted outputs of the project's secret tasks, read with its key as nub would. */
function secrets(dir: string, key?: string): Record<string, unknown> {
	const stateDir = join(dir, '.nub');
	const state = StateStore.load(stateDir);
	const sealer = createSealer({ stateDir, fromEnvironment: key });
	const out: Record<string, unknown> = {};
	for (const name of state.names()) {
		const ok = state.get(name)?.ok;
		if (ok?.sealed) out[name] = JSON.parse(sealer.open(ok.sealed, name, ok));
	}
	return out;
}

const caFingerprint = (dir: string) => (secrets(dir).ca as { fingerprint: string }).fingerprint;
const dhPrime = (dir: string) => checkDhParams(secrets(dir)['dh-params'] as string).prime;

test('made once: the CA and DH prime survive a run killed with SIGKILL and resumed, and a second run', async t => {
	const dir = makeProject({ 'Nubfile.ts': nubfile() });
	// The first run makes the secrets, then waits in `slow`: kill it there.
	const child = startNub(dir, ['run', 'all', '--json'], { SLOW: '1' });
	const killed = finished(child);
	const recorded = (name: string) => existsSync(join(dir, '.nub/state.jsonl')) && readFileSync(join(dir, '.nub/state.jsonl'), 'utf8').includes(`"name":"${name}"`);
	await waitFor(() => recorded('dh-params') && recorded('tls-secret') && recorded('firefly-secret'), 'the secrets to be recorded');
	const ca = caFingerprint(dir);
	const prime = dhPrime(dir);
	child.kill('SIGKILL');
	t.is((await killed).signal, 'SIGKILL');

	const resumed = await nub(dir, ['run', 'all', '--json']);
	t.is(resumed.code, 0, resumed.stderr);
	const summary = summaryOf(resumed.stdout);
	t.deepEqual(summary.succeeded, ['slow', 'all']);
	t.true(['ca', 'tls-certificate', 'dh-params', 'hub-crypto-key', 'proxy-token', 'firefly-password'].every(name => summary.cached.includes(name)));
	t.is(caFingerprint(dir), ca);
	t.is(dhPrime(dir), prime);

	const second = await nub(dir, ['run', 'all', '--json']);
	t.deepEqual(summaryOf(second.stdout).succeeded, []);
	t.is(caFingerprint(dir), ca);
	t.is(dhPrime(dir), prime);

	// The tls Secret holds what the tasks made, base64, under the keys the facts page lists.
	const values = secrets(dir);
	t.is(checkDhParams(values['dh-params'] as string).bits, 1024);
	const tls = values['tls-secret'] as SecretManifest;
	t.is(tls.type, 'kubernetes.io/tls');
	t.deepEqual(Object.keys(tls.data), ['dhparam.pem', 'root_chain.pem', 'tls.crt', 'tls.key']);
	const cert = values['tls-certificate'] as { certPem: string; keyPem: string; chainPem: string };
	t.is(secretValue(tls, 'tls.key').toString(), cert.keyPem);
	t.is(secretValue(tls, 'tls.crt').toString(), cert.certPem + cert.chainPem);
	t.is(secretValue(tls, 'root_chain.pem').toString(), (values.ca as { certPem: string }).certPem);
	t.is(secretValue(tls, 'dhparam.pem').toString(), values['dh-params'] as string);
	removeProject(dir);
});

test('--force on the CA makes a new one and reruns what depends on it, and nothing else', async t => {
	const dir = makeProject({ 'Nubfile.ts': nubfile().replace('export const leak', 'export const ca = s.ca!;\nexport const leak') });
	t.is((await nub(dir, ['run', 'all'])).code, 0);
	const before = secrets(dir);
	const forced = await nub(dir, ['run', 'ca', '--force', '--json']);
	t.deepEqual(summaryOf(forced.stdout).succeeded, ['ca']);
	const after = await nub(dir, ['run', 'all', '--json']);
	const summary = summaryOf(after.stdout);
	t.deepEqual(summary.succeeded, ['tls-certificate', 'tls-secret', 'slow', 'all']);
	t.true(['dh-params', 'hub-crypto-key', 'proxy-token', 'firefly-secret'].every(name => summary.cached.includes(name)));
	const now = secrets(dir);
	t.not((now.ca as { fingerprint: string }).fingerprint, (before.ca as { fingerprint: string }).fingerprint);
	t.is((now['tls-certificate'] as { chainPem: string }).chainPem, (now.ca as { certPem: string }).certPem);
	t.is(now['dh-params'], before['dh-params']);
	removeProject(dir);
});

test('the state holds no secret in clear, in any form; .nub is 0700 and its files 0600', async t => {
	const dir = makeProject({ 'Nubfile.ts': nubfile() });
	t.is((await nub(dir, ['run', 'all'])).code, 0);
	const state = readFileSync(join(dir, '.nub/state.jsonl'), 'utf8');
	const values = secrets(dir);
	const strings: string[] = [];
	const collect = (value: unknown): void => {
		if (typeof value === 'string') strings.push(value);
		else if (value && typeof value === 'object') Object.values(value).forEach(collect);
	};
	collect(values);
	t.true(strings.length >= 10);
	for (const secret of strings.filter(value => value.length >= 16)) {
		for (const form of [secret, Buffer.from(secret).toString('base64'), Buffer.from(secret).toString('hex')]) {
			t.false(state.includes(form.slice(0, 40)), 'a secret value is in the state in clear');
		}
		for (const line of secret.split('\n').filter(line => line.length >= 32)) t.false(state.includes(line));
	}
	t.false(state.includes('BEGIN'));
	t.is(statSync(join(dir, '.nub')).mode & 0o777, 0o700);
	for (const file of readdirSync(join(dir, '.nub'))) t.is(statSync(join(dir, '.nub', file)).mode & 0o777, 0o600, file);
	removeProject(dir);
});

test('a wrong or missing state key is a clear error; nothing runs and nothing is made again', async t => {
	const dir = makeProject({ 'Nubfile.ts': nubfile() });
	t.is((await nub(dir, ['run', 'all'])).code, 0);
	const state = readFileSync(join(dir, '.nub/state.jsonl'), 'utf8');
	unlinkSync(join(dir, 'ran'));

	const wrong = await nub(dir, ['run', 'all', '--force'], { NUB_STATE_KEY: randomBytes(32).toString('hex') });
	t.is(wrong.code, 2);
	// The log itself is authenticated under the key: a wrong one fails at its first line.
	t.regex(wrong.stderr.trim(), /^nub: .*\.nub\/state\.jsonl line 1 fails authentication under the state key: the state key is wrong \(NUB_STATE_KEY\), or the line was changed by hand; use the key the state was written with$/);
	t.false(existsSync(join(dir, 'ran')), 'a task ran under the wrong key');
	t.is(readFileSync(join(dir, '.nub/state.jsonl'), 'utf8'), state);

	const key = readFileSync(join(dir, '.nub/key'), 'utf8');
	unlinkSync(join(dir, '.nub/key'));
	const missing = await nub(dir, ['run', 'all']);
	t.is(missing.code, 2);
	t.regex(missing.stderr.trim(), /^nub: .*\.nub\/state\.jsonl is authenticated under the state key, which is missing: set NUB_STATE_KEY or restore .*\.nub\/key$/);
	t.false(existsSync(join(dir, '.nub/key')), 'a new key was made beside the old secrets');
	t.is(readFileSync(join(dir, '.nub/state.jsonl'), 'utf8'), state);

	// The right key, given in the environment, reads the state.
	const right = await nub(dir, ['run', 'all', '--json'], { NUB_STATE_KEY: key.trim() });
	t.is(right.code, 0, right.stderr);
	t.is(summaryOf(right.stdout).succeeded.length, 0);
	removeProject(dir);
});

test('a task failing with a secret in its message and log shows the marker in every output', async t => {
	const dir = makeProject({ 'Nubfile.ts': nubfile() });
	t.is((await nub(dir, ['run', 'all'])).code, 0);
	const token = secrets(dir)['proxy-token'] as string;
	t.regex(token, /^[0-9a-f]{64}$/);
	const forms = [token, Buffer.from(token).toString('base64'), token.slice(0, 32)];
	for (const args of [['run', 'leak'], ['run', 'leak', '--json'], ['run', 'leak', '--verbose']]) {
		const result = await nub(dir, args);
		t.is(result.code, 1);
		const shown = result.stdout + result.stderr;
		t.true(shown.includes('[secret]'), `${args.join(' ')}: no marker in ${shown}`);
		for (const form of forms) t.false(shown.includes(form), `${args.join(' ')} shows the token`);
	}
	const plan = await nub(dir, ['plan', 'leak']);
	t.regex(plan.stdout, /failed last time: login refused for token \[secret\]/);
	const state = readFileSync(join(dir, '.nub/state.jsonl'), 'utf8');
	t.true(state.includes('login refused for token [secret]'));
	for (const form of forms) t.false(state.includes(form));
	removeProject(dir);
});

test('rotate-hub-key puts a new key first and keeps the previous first key second; the hub Secret follows', async t => {
	const dir = makeProject({ 'Nubfile.ts': nubfile() });
	t.is((await nub(dir, ['run', 'rotate-hub-key'])).code, 0);
	const [first, second] = (secrets(dir)['hub-crypto-key'] as string).split(';');
	t.regex(`${first};${second}`, /^[0-9a-f]{64};[0-9a-f]{64}$/);
	const rotated = await nub(dir, ['run', 'rotate-hub-key', '--json']);
	t.is(rotated.code, 0, rotated.stderr);
	t.deepEqual(summaryOf(rotated.stdout).succeeded, ['hub-crypto-key', 'hub-secret', 'rotate-hub-key']);
	const [newFirst, newSecond] = (secrets(dir)['hub-crypto-key'] as string).split(';');
	t.not(newFirst, first);
	t.not(newFirst, second);
	t.is(newSecond, first);
	t.deepEqual(secrets(dir)['hub-secret'], { key: `${newFirst};${newSecond}` });
	// Naming the hub key's dependents without the rotation target rotates nothing.
	const plain = await nub(dir, ['run', 'all', '--json']);
	t.true(summaryOf(plain.stdout).cached.includes('hub-crypto-key'));
	removeProject(dir);
});

test('two fresh deployments get different secrets', async t => {
	const a = makeProject({ 'Nubfile.ts': nubfile() });
	const b = makeProject({ 'Nubfile.ts': nubfile() });
	await Promise.all([nub(a, ['run', 'all']), nub(b, ['run', 'all'])]);
	const [sa, sb] = [secrets(a), secrets(b)];
	for (const name of ['ca', 'dh-params', 'hub-crypto-key', 'proxy-token', 'firefly-password']) {
		t.truthy(sa[name], name);
		t.notDeepEqual(sa[name], sb[name], name);
	}
	t.regex(sa['firefly-password'] as string, /^[A-Za-z0-9_-]{32}$/);
	removeProject(a);
	removeProject(b);
});

test('TLS from files: each failed check stops the run before anything runs, naming the task and the check', async t => {
	const ca = makeCa({ commonName: 'test CA' });
	const otherCa = makeCa({ commonName: 'other CA' });
	const good = makeServerCert(ca, { hostname: 'nub.test' });
	const cases = {
		'key-mismatch': { cert: good.certPem, key: makeServerCert(ca, { hostname: 'nub.test' }).keyPem, chain: ca.certPem, error: /key/i },
		hostname: { cert: makeServerCert(ca, { hostname: 'other.test' }).certPem, key: '', chain: ca.certPem, error: /nub\.test/ },
		expired: { cert: '', key: '', chain: ca.certPem, error: /expired/i },
		chain: { cert: good.certPem, key: good.keyPem, chain: otherCa.certPem, error: /chain|signed|issuer/i },
	};
	const old = makeServerCert(ca, { hostname: 'nub.test', notBefore: new Date(Date.now() - 3 * 86_400_000), days: 1 });
	cases.expired.cert = old.certPem;
	cases.expired.key = old.keyPem;
	const hostnameCert = makeServerCert(ca, { hostname: 'other.test' });
	cases.hostname.cert = hostnameCert.certPem;
	cases.hostname.key = hostnameCert.keyPem;
	const files = "{ source: 'files', cert: 'tls/cert.pem', key: 'tls/key.pem', chain: 'tls/chain.pem' }";
	for (const [check, { cert, key, chain, error }] of Object.entries(cases)) {
		const dir = makeProject({ 'Nubfile.ts': nubfile(files), 'tls/cert.pem': cert, 'tls/key.pem': key, 'tls/chain.pem': chain });
		const result = await nub(dir, ['run', 'all']);
		t.is(result.code, 2, `${check}: ${result.stderr}`);
		t.regex(result.stderr.trim(), /^nub: task "tls-certificate": /, check);
		t.regex(result.stderr, error, check);
		t.is(result.stderr.trim().split('\n').length, 1, check);
		t.false(existsSync(join(dir, 'ran')), `${check}: a task ran`);
		t.false(existsSync(join(dir, '.nub')), `${check}: the state was written`);
		removeProject(dir);
	}
	// Good files pass, and the Secret carries them.
	const dir = makeProject({ 'Nubfile.ts': nubfile(files), 'tls/cert.pem': good.certPem, 'tls/key.pem': good.keyPem, 'tls/chain.pem': ca.certPem });
	const result = await nub(dir, ['run', 'all']);
	t.is(result.code, 0, result.stderr);
	t.is(secretValue(secrets(dir)['tls-secret'] as SecretManifest, 'tls.key').toString(), good.keyPem);
	// The key file's fingerprint is an HMAC under the state key: no plain hash to check a guess against.
	const state = readFileSync(join(dir, '.nub/state.jsonl'), 'utf8');
	t.false(state.includes(contentHash(Buffer.from(good.keyPem))), 'a plain hash of the private key file is in the state');
	t.true(state.includes(contentHash(Buffer.from(good.certPem))), 'the certificate file keeps its content hash');
	writeFileSync(join(dir, 'tls/key.pem'), makeServerCert(ca, { hostname: 'nub.test' }).keyPem);
	t.is((await nub(dir, ['run', 'all'])).code, 2, 'a cached certificate is checked again');
	removeProject(dir);
});

test('a self-signed certificate near its end is renewed by the next checked run, signed by the same CA', async t => {
	const dir = makeProject({ 'Nubfile.ts': nubfile() });
	t.is((await nub(dir, ['run', 'all'])).code, 0);
	const before = secrets(dir);
	const ca = before.ca as { certPem: string; keyPem: string; fingerprint: string };
	// Time passes: the recorded certificate is replaced by one the CA made 390 days ago (397-day
	// validity), under the same record otherwise, so that only its age differs.
	const old = makeServerCert(ca, { hostname: 'nub.test', altNames: ['*.nub.test'], notBefore: new Date(Date.now() - 390 * 86_400_000), days: 397 });
	const stateDir = join(dir, '.nub');
	const state = StateStore.load(stateDir);
	const recorded = state.lastSuccess('tls-certificate')!;
	const sealer = createSealer({ stateDir });
	state.recordSuccess({ ...recorded, sealed: sealer.seal(JSON.stringify({ certPem: old.certPem, keyPem: old.keyPem, chainPem: ca.certPem }), { name: 'tls-certificate', seq: state.nextSeq() }) });
	await state.close();

	const renewed = await nub(dir, ['run', 'all', '--json']);
	t.is(renewed.code, 0, renewed.stderr);
	const start = renewed.stdout.split('\n').filter(line => line.includes('"task-start"')).map(line => JSON.parse(line) as { name: string; reasons: Array<{ kind: string; detail?: string }> });
	const reasons = start.find(event => event.name === 'tls-certificate')?.reasons ?? [];
	t.regex(reasons.find(reason => reason.kind === 'drifted')?.detail ?? '', /^the certificate expires in [67] days/);
	const summary = summaryOf(renewed.stdout);
	t.true(summary.succeeded.includes('tls-certificate') && summary.succeeded.includes('tls-secret'));
	t.true(summary.cached.includes('ca') && summary.cached.includes('dh-params'));
	const after = secrets(dir);
	const cert = after['tls-certificate'] as { certPem: string; chainPem: string };
	t.true(Date.parse(new X509Certificate(cert.certPem).validTo) > Date.now() + 390 * 86_400_000, 'a new 397-day certificate');
	t.is(cert.chainPem, ca.certPem, 'signed by the same CA');
	t.is((after.ca as { fingerprint: string }).fingerprint, ca.fingerprint);

	// Renewed, it is left alone.
	const again = await nub(dir, ['run', 'all', '--json']);
	t.deepEqual(summaryOf(again.stdout).succeeded, []);
	removeProject(dir);
});
