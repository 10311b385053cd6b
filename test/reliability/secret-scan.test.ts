/**
 * No secret anywhere it should not be. After a full deployment (GitHub OAuth, its client secret
 * from the environment), a run that really fails (the sandbox's read-only `viewer`: every apply
 * is refused with 403), a run whose task puts every secret of the deployment in its log lines and
 * its error (a second Nubfile in the project, `scan.Nubfile.ts`, built from the same tasks), and
 * `nub plan`: every generated secret (read from the state with its key) and the OAuth secret are
 * searched, raw, by PEM line, hex and base64 (whole and inside a longer base64 text, at the three
 * byte alignments), in everything nub printed (plain, --json, --verbose), in every file of the
 * project outside `.nub/` (the bundle cache in node_modules/.cache included), in the state log,
 * and in the project's git history: zero hits. And `.nub/` is 0700 with every file in it 0600.
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { nub, summaryOf, type NubResult } from '../helpers/project.ts';
import { filesUnder, nubladoDeployment, secretForms, stateSecrets } from './helpers.ts';

const yaml = `hostname: nublado.example.test
oauth:
  provider: github
  clientId: client-123
  clientSecret: { env: SCAN_OAUTH_SECRET }
  allowedGroups: [lsst-sqre]
tls:
  source: self-signed
dhparam:
  bits: 1024
`;

/** The deployment of Nubfile.ts, plus a task that needs every secret and shows them all. */
const scanNubfile = `import { task } from 'nub';
import { loadConfig } from './lib/config/nublado.ts';
import { nubladoTasks } from './tasks/platform.ts';

const root = import.meta.dirname;
const { config } = loadConfig(root, process.env);
const nublado = nubladoTasks({ config, root });
export const { all } = nublado;
const { secrets, hub } = nublado.tasks;

export const leak = task({
	name: 'leak',
	description: 'shows every secret, in its log and in its error',
	needs: { ca: secrets.ca!, cert: secrets.tlsCertificate, dh: secrets.dhParams, key: secrets.hubCryptoKey, token: secrets.proxyToken, password: secrets.fireflyPassword, oauth: hub.oauthSecret! },
	run: ({ ca, cert, dh, key, token, password, oauth }, { log }) => {
		const values = [ca.keyPem, ca.certPem, cert.keyPem, cert.certPem, dh, key, token, password, oauth];
		for (const value of values) {
			log.info('value: ' + value);
			log.warn('base64: ' + Buffer.from(value).toString('base64') + ' embedded: ' + Buffer.from('x' + value + 'y').toString('base64'));
		}
		throw new Error('login refused with ' + values.join(' and ') + ' (base64 ' + Buffer.from(values.join('|')).toString('base64') + ')');
	},
});
`;

test('no secret in any output, file or commit; .nub is 0700 and its files 0600', async t => {
	const { dir, close } = await nubladoDeployment({ yaml, files: { 'scan.Nubfile.ts': scanNubfile } });
	t.teardown(close);
	const oauthSecret = `gh-oauth-${randomBytes(20).toString('hex')}`;
	const env = { SCAN_OAUTH_SECRET: oauthSecret };
	const outputs: Array<[string, NubResult]> = [];
	const run = async (args: string[], expect: number) => {
		const result = await nub(dir, args, env);
		t.is(result.code, expect, `nub ${args.join(' ')}: ${result.stderr}${result.stdout.slice(-1500)}`);
		outputs.push([`nub ${args.join(' ')}`, result]);
		return result;
	};

	// A full deployment, then runs that fail, then plans.
	const first = await run(['run', 'all', '--json'], 0);
	t.true(summaryOf(first.stdout).succeeded.includes('oauth-client-secret'));
	const viewer = ['--context', 'nub-sandbox-viewer', '--kubeconfig', '.nub/sandbox/kubeconfig'];
	for (const format of [[], ['--json'], ['--verbose']]) {
		const refused = await run(['run', 'hub', 'tls', '--force', ...viewer, ...format], 1);
		// Refused by the checks (the proxy's lists Secrets) or by the writes: either way, said.
		t.regex(refused.stdout + refused.stderr, /forbidden/);
	}
	for (const format of [[], ['--json'], ['--verbose']]) {
		const leaked = await run(['run', 'leak', '--file', 'scan.Nubfile.ts', ...format], 1);
		t.true(leaked.stdout.includes('[secret]'), `nub run leak ${format.join(' ')}: no secret was redacted, so none reached the output`);
	}
	await run(['plan', 'all'], 0);
	await run(['plan', 'all', '--json', '--verbose'], 0);
	// What a run would change, field by field (a Secret's keys by keyed hash), and a saved plan's file.
	await run(['plan', 'all', 'rotate-hub-key', '--diff', '--all', '--verbose'], 0);
	await run(['plan', 'all', 'rotate-hub-key', '--diff', '--all', '--json'], 0);
	await run(['plan', 'all', 'rotate-hub-key', '--out', 'plan.json'], 0);
	const plan = await run(['plan', 'leak', '--file', 'scan.Nubfile.ts'], 0);
	t.regex(plan.stdout, /failed last time: login refused with \[secret\]/);

	// Every secret: generated (from the state, decrypted) and given (the OAuth secret).
	const state = stateSecrets(dir);
	const ca = state.ca as { certPem: string; keyPem: string };
	const cert = state['tls-certificate'] as { certPem: string; keyPem: string };
	const hubKey = state['hub-crypto-key'] as string;
	const secrets: Record<string, string> = {
		'CA key': ca.keyPem,
		'CA certificate': ca.certPem,
		'server key': cert.keyPem,
		'server certificate': cert.certPem,
		'DH parameters': state['dh-params'] as string,
		'hub crypto key': hubKey,
		'hub crypto key, first half': hubKey.split(';')[0]!,
		'hub crypto key, second half': hubKey.split(';')[1]!,
		'proxy token': state['proxy-token'] as string,
		'Firefly password': state['firefly-password'] as string,
		'OAuth client secret': oauthSecret,
	};
	t.is(state['oauth-client-secret'], oauthSecret);
	for (const [name, value] of Object.entries(secrets)) t.true(typeof value === 'string' && value.length >= 16, `${name}: ${typeof value}`);

	// Commit the project as an operator would, .nub/ and node_modules/ ignored.
	writeFileSync(join(dir, '.gitignore'), '.nub/\nnode_modules/\n');
	const git = (...args: string[]) => execFileSync('git', ['-c', 'user.name=Operator', '-c', 'user.email=operator@example.test', '-c', 'init.defaultBranch=main', ...args], { cwd: dir, encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
	git('init', '-q');
	git('add', '-A');
	git('commit', '-q', '-m', 'the deployment');
	const committed = git('ls-files').split('\n').filter(Boolean);
	t.true(committed.includes('nublado.yaml') && committed.includes('scan.Nubfile.ts'));
	t.false(committed.some(file => file.startsWith('.nub/') || file.startsWith('node_modules/')));

	// Where to look.
	const places: Array<[string, string]> = outputs.flatMap(([command, result]): Array<[string, string]> => [
		[`${command}: stdout`, result.stdout],
		[`${command}: stderr`, result.stderr],
	]);
	const files = filesUnder(dir, ['.nub', '.git']);
	const cached = files.filter(file => relative(dir, file).startsWith('node_modules/.cache/'));
	t.true(cached.length > 0, 'no bundle cache in the project: nothing of it was searched');
	for (const file of files) places.push([relative(dir, file), readFileSync(file, 'latin1')]);
	places.push(['.nub/state.jsonl', readFileSync(join(dir, '.nub/state.jsonl'), 'latin1')]);
	places.push(['git log -p --all', git('log', '-p', '--all', '--binary')]);
	t.log(`searched ${outputs.length} commands' output, ${files.length} files (${cached.length} in node_modules/.cache), the state log and ${committed.length} committed files' history for ${Object.keys(secrets).length} secrets`);

	const hits: string[] = [];
	for (const [name, value] of Object.entries(secrets)) {
		for (const { form, as } of secretForms(value)) {
			for (const [place, text] of places) if (text.includes(form)) hits.push(`${name} in ${place} (${as})`);
		}
	}
	t.deepEqual([...new Set(hits)], []);

	// .nub is 0700, and so is every folder in it; every file in it is 0600.
	const modes: string[] = [];
	const visit = (path: string) => {
		const stat = lstatSync(path);
		const mode = stat.mode & 0o777;
		if (stat.isDirectory()) {
			if (mode !== 0o700) modes.push(`${relative(dir, path)}/ is ${mode.toString(8)}`);
			for (const entry of readdirSync(path)) visit(join(path, entry));
		} else if (mode !== 0o600) modes.push(`${relative(dir, path)} is ${mode.toString(8)}`);
	};
	visit(join(dir, '.nub'));
	t.deepEqual(modes, []);
	t.true(readdirSync(join(dir, '.nub/sandbox')).length > 0);
});
