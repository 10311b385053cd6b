import test, { type ExecutionContext } from 'ava';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { acquireTeamState, microTime } from '../../lib/cli/team-state.ts';
import { NubError } from '../../lib/engine/errors.ts';
import { Kube } from '../../lib/k8s/client.ts';
import { startSandbox } from '../../lib/sandbox/index.ts';
import { finished, makeProject, nub, removeProject, startNub, summaryOf, waitFor } from '../helpers/project.ts';

const key = { NUB_STATE_KEY: '0123456789abcdef'.repeat(4) };

/**
 * A project on the sandbox with team state: a secret token, a slow task (it says when it starts,
 * and ends after SLOW_MS, or once the file RELEASE exists: the test decides, however loaded the
 * machine), and a fingerprint of the token that is not secret, to compare across copies.
 */
const nubfile = (kubeconfig: string) => `import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { cluster, task } from 'nub';
export const target = cluster({ context: 'nub-sandbox', kubeconfig: ${JSON.stringify(kubeconfig)}, state: 'kubernetes' });
const token = task({ name: 'token', secret: true, run: async () => randomBytes(16).toString('hex') });
const slow = task({
	name: 'slow',
	run: async (_, { signal, log }) => {
		log.info('slow started');
		await new Promise((resolve, reject) => {
			const release = process.env.RELEASE;
			const timer = release
				? setInterval(() => existsSync(release) && (clearInterval(timer), resolve(undefined)), 20)
				: setTimeout(resolve, Number(process.env.SLOW_MS ?? 0));
			signal.addEventListener('abort', () => (clearTimeout(timer), clearInterval(timer), reject(signal.reason)), { once: true });
		});
		return 'slept';
	},
});
export const fingerprint = task({ name: 'fingerprint', needs: { token }, run: async ({ token }) => createHash('sha256').update(token).digest('hex') });
export const all = task({ name: 'all', needs: { fingerprint, slow } });
`;

async function sandboxFor(t: ExecutionContext) {
	const dir = mkdtempSync(join(tmpdir(), 'nub-team-'));
	const sandbox = await startSandbox({ dir });
	t.teardown(async () => {
		await sandbox.close();
		rmSync(dir, { recursive: true, force: true });
	});
	return sandbox;
}

function project(t: ExecutionContext, kubeconfig: string) {
	const dir = makeProject({ 'Nubfile.ts': nubfile(kubeconfig) });
	t.teardown(() => removeProject(dir));
	return dir;
}

function fingerprintOf(stdout: string): unknown {
	return stdout.split('\n').filter(Boolean).map(line => JSON.parse(line)).find(event => event.type === 'task-end' && event.name === 'fingerprint')?.output;
}

/** Starts a run of `all` and waits until its slow task has begun (it holds the lease by then). */
async function startHolder(dir: string, env: NodeJS.ProcessEnv, ...extra: string[]) {
	const child = startNub(dir, ['run', 'all', '--json', ...extra], { ...key, ...env });
	const done = finished(child);
	let out = '';
	child.stdout!.on('data', chunk => (out += chunk));
	await waitFor(() => out.includes('slow started'), 'the slow task to start');
	return { child, done };
}

test('two working copies on one cluster: the second refuses naming the holder, then finds everything the first did', async t => {
	const sandbox = await sandboxFor(t);
	const first = project(t, sandbox.kubeconfigPath);
	const second = project(t, sandbox.kubeconfigPath);
	const release = join(first, 'release');
	const holder = await startHolder(first, { RELEASE: release });
	const refused = await nub(second, ['run', 'all'], key);
	t.is(refused.code, 2, refused.stderr);
	t.regex(refused.stderr, /^nub: locked: \d+@\S+ started \S+ \(nub run all --json\) holds the state lock \(Lease nub-state\/nub-lock, renewed \d+ s ago\); nub unlock removes it if that run is gone\n$/);
	writeFileSync(release, '');
	const ran = await holder.done;
	t.is(ran.code, 0, ran.stderr + ran.stdout);
	const made = fingerprintOf(ran.stdout);
	t.regex(String(made), /^[0-9a-f]{64}$/);

	// The other copy plans from the cluster's state (its own .nub/ has none)...
	const planned = await nub(second, ['plan', 'all'], key);
	t.is(planned.code, 0, planned.stderr);
	t.regex(planned.stdout, /^0 to run, 0 to run if what they need changes, 4 cached\n$/);
	// ...and runs with it: all cached, and the secret opens with the
	// team's key (its fingerprint, recomputed from it, is the same).
	const cached = await nub(second, ['run', 'all', '--json'], key);
	t.is(cached.code, 0, cached.stderr);
	t.deepEqual([...summaryOf(cached.stdout).cached].sort(), ['all', 'fingerprint', 'slow', 'token']);
	const forced = await nub(second, ['run', 'fingerprint', '--force', '--json'], key);
	t.is(forced.code, 0, forced.stderr);
	t.is(fingerprintOf(forced.stdout), made);
	t.deepEqual(summaryOf(forced.stdout).cached, ['token']);

	// nub destroy takes the same lock and writes the same state: the first copy sees it forgotten.
	const destroyed = await nub(second, ['destroy', 'all'], key);
	t.is(destroyed.code, 0, destroyed.stderr);
	t.regex((await nub(first, ['plan', 'all'], key)).stdout, /^run +token +never ran\n[\s\S]*\n4 to run, 0 to run if what they need changes, 0 cached\n$/);

	// Without the team's key, team state refuses to start.
	const keyless = await nub(second, ['run', 'all']);
	t.is(keyless.code, 2);
	t.regex(keyless.stderr, /NUB_STATE_KEY/);
});

test('a holder killed mid-run: the next run refuses until its lease expires, then takes over and completes', async t => {
	const sandbox = await sandboxFor(t);
	const dir = project(t, sandbox.kubeconfigPath);
	// Long enough for the refused run to start before the lease lapses, even on a loaded machine
	// (a busy 2-core machine has taken more than 5 s to start it).
	const env = { NUB_LEASE_SECONDS: '15' };
	const holder = await startHolder(dir, { ...env, SLOW_MS: '60000' });
	// The token's record reaches the cluster while the run goes on (uploaded after each record).
	const kube = await Kube.connect({ kubeconfig: sandbox.kubeconfigPath, context: 'nub-sandbox' });
	const uploaded = async () => {
		const secret = await kube.read({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'nub-state', namespace: 'nub-state' } });
		const data = (secret?.data as Record<string, string> | undefined)?.['state.jsonl'];
		return data !== undefined && Buffer.from(data, 'base64').toString().includes('"name":"token"');
	};
	const deadline = Date.now() + 30_000;
	while (!(await uploaded())) {
		if (Date.now() > deadline) throw new Error('timed out waiting for the state upload');
		await new Promise(resolve => setTimeout(resolve, 50));
	}
	holder.child.kill('SIGKILL');
	await holder.done;
	const refused = await nub(dir, ['run', 'all'], { ...key, ...env });
	t.is(refused.code, 2, refused.stderr);
	t.regex(refused.stderr, /locked: \d+@\S+ .* holds the state lock/);
	// Until the lease has lapsed: its last renewal plus its duration.
	const lease = await kube.read({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: 'nub-lock', namespace: 'nub-state' } });
	const lapses = Date.parse((lease!.spec as { renewTime: string }).renewTime) + 15_000;
	await new Promise(resolve => setTimeout(resolve, Math.max(0, lapses - Date.now()) + 500));
	const resumed = await nub(dir, ['run', 'all', '--json'], { ...key, ...env });
	t.is(resumed.code, 0, resumed.stderr);
	t.deepEqual(summaryOf(resumed.stdout).succeeded.includes('slow'), true);
	t.true(summaryOf(resumed.stdout).cached.includes('token'), 'the token recorded before the kill was uploaded');
});

test('nub unlock refuses while the holder renews the lease, and removes a stale one', async t => {
	const sandbox = await sandboxFor(t);
	const dir = project(t, sandbox.kubeconfigPath);
	const env = { ...key, NUB_LEASE_SECONDS: '2' };
	const release = join(dir, 'release');
	const holder = await startHolder(dir, { ...env, RELEASE: release });
	// Past one lease duration: only renewal keeps it held.
	await new Promise(resolve => setTimeout(resolve, 2500));
	const refused = await nub(dir, ['unlock'], env);
	t.is(refused.code, 2, refused.stderr);
	t.regex(refused.stderr, /^nub: not unlocked: \d+@\S+ .* holds the state lock \(Lease nub-state\/nub-lock, renewed \d+ s ago\) and it is being renewed/);
	writeFileSync(release, '');
	t.is((await holder.done).code, 0);
	t.regex((await nub(dir, ['unlock'], env)).stdout, /^no state lock held/);

	// A killed holder's lease, stale but still there: unlock removes it, and a run goes ahead.
	const killed = await startHolder(dir, { ...env, SLOW_MS: '60000' }, '--force');
	killed.child.kill('SIGKILL');
	await killed.done;
	await new Promise(resolve => setTimeout(resolve, 2500));
	const unlocked = await nub(dir, ['unlock'], env);
	t.is(unlocked.code, 0, unlocked.stderr);
	t.regex(unlocked.stdout, /^removed the stale state lock: \d+@\S+ .* held it/);
	const ran = await nub(dir, ['run', 'all', '--force', '--json'], env);
	t.is(ran.code, 0, ran.stderr + ran.stdout);
});

test('a run whose lease is taken from it stops, saying it lost the lock, and leaves the lease to who took it', async t => {
	const sandbox = await sandboxFor(t);
	const dir = project(t, sandbox.kubeconfigPath);
	const holder = await startHolder(dir, { NUB_LEASE_SECONDS: '2', SLOW_MS: '60000' });
	// Someone else takes the lease (as a run would after wrongly judging it expired).
	const kube = await Kube.connect({ kubeconfig: sandbox.kubeconfigPath, context: 'nub-sandbox' });
	const ref = { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: 'nub-lock', namespace: 'nub-state' } };
	// A compare-and-swap as nub does it; the holder renews every 0.5 s, so it may win a round.
	for (let attempt = 1; ; attempt++) {
		const lease = (await kube.read(ref))!;
		try {
			await kube.replace({ ...lease, spec: { ...(lease.spec as object), holderIdentity: 'someone else', renewTime: microTime(new Date()) } } as never);
			break;
		} catch (error) {
			if ((error as { code?: number }).code !== 409 || attempt >= 10) throw error;
		}
	}
	const stopped = await holder.done;
	t.is(stopped.code, 2, stopped.stderr);
	t.regex(stopped.stderr, /nub: lost the state lock: someone else holds the state lock \(Lease nub-state\/nub-lock, renewed \d+ s ago\); this run stopped\n$/);
	t.is(specOf(await kube.read(ref)).holderIdentity, 'someone else', 'the lease stays with who took it');
});

function specOf(object: unknown) {
	return ((object as { spec?: unknown } | undefined)?.spec ?? {}) as { holderIdentity?: string };
}

test('team state with a context the kubeconfig lacks: one clear line naming it and the contexts there are, exit 2, for every command that reads the state', async t => {
	const sandbox = await sandboxFor(t);
	const dir = makeProject({ 'Nubfile.ts': nubfile(sandbox.kubeconfigPath).replace("context: 'nub-sandbox'", "context: 'nowhere'") });
	t.teardown(() => removeProject(dir));
	for (const command of [['run', 'all'], ['plan', 'all'], ['destroy', '--dry-run']]) {
		const result = await nub(dir, command, key);
		t.is(result.code, 2, `${command.join(' ')}: ${result.stderr}`);
		t.regex(result.stderr, /^nub: \S+ has no context "nowhere" \(it has "nub-sandbox", "nub-sandbox-viewer"\)\n$/, command.join(' '));
	}
});

test('a Lease holder written by someone else reaches the message escaped: an ESC sequence in it cannot drive the terminal', async t => {
	const sandbox = await sandboxFor(t);
	const kube = await Kube.connect({ kubeconfig: sandbox.kubeconfigPath, context: 'nub-sandbox' }, { minRetryMs: 20 });
	await kube.apply([{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'nub-state' } }]);
	const now = microTime(new Date());
	await kube.create({
		apiVersion: 'coordination.k8s.io/v1',
		kind: 'Lease',
		metadata: { name: 'nub-lock', namespace: 'nub-state' },
		spec: { holderIdentity: 'mallory\u001b]0;pwned\u0007\u001b[2J\nnub: unlocked', leaseDurationSeconds: 600, acquireTime: now, renewTime: now },
	});
	const stateDir = mkdtempSync(join(tmpdir(), 'nub-team-state-'));
	t.teardown(() => rmSync(stateDir, { recursive: true, force: true }));
	const holder = { pid: 1, host: 'here', started: new Date().toISOString(), command: 'nub run all' };
	const error = await t.throwsAsync(acquireTeamState({ kube, namespace: 'nub-state', holder, seconds: 20, stateDir, warn: () => {} }), { instanceOf: NubError });
	t.false(/[\u0000-\u001f]/.test(error!.message), error!.message);
	t.regex(error!.message, /^locked: mallory\\x1b\]0;pwned\\x07\\x1b\[2J\\nnub: unlocked holds the state lock \(Lease nub-state\/nub-lock, renewed \d+ s ago\)/);
});

test('an older team-state Secret put back (valid, but behind what this machine wrote) is refused by run and plan, exit 2', async t => {
	const sandbox = await sandboxFor(t);
	const dir = project(t, sandbox.kubeconfigPath);
	const first = await nub(dir, ['run', 'all'], key);
	t.is(first.code, 0, first.stderr);
	const kube = await Kube.connect({ kubeconfig: sandbox.kubeconfigPath, context: 'nub-sandbox' });
	const ref = { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'nub-state', namespace: 'nub-state' } };
	const older = (await kube.read(ref))!.data as Record<string, string>;
	// A later run adds records (a rotated token); then someone with write access to the Secret
	// puts the older, genuine log back.
	const later = await nub(dir, ['run', 'token', '--force'], key);
	t.is(later.code, 0, later.stderr);
	await kube.apply([{ ...ref, type: 'Opaque', data: older }]);
	for (const command of [['plan', 'all'], ['run', 'all']]) {
		const refused = await nub(dir, command, key);
		t.is(refused.code, 2, `${command.join(' ')}: ${refused.stderr}`);
		t.regex(refused.stderr, /^nub: .*state\.jsonl ends at record \d+, but this machine wrote records up to \d+ \(.*\.nub\/state\.seq\): the log was cut short, or an older copy put back/m, command.join(' '));
	}
});
