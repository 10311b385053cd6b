/**
 * lib/k8s/diff.ts against the sandbox (which answers dry runs as the real server does:
 * docs/sandbox-differential.md): the fields nub owns compared, others' fields and server defaults
 * left out, a Secret's values by keyed hash, an absent namespace without a dry run; and no write.
 */
import test from 'ava';
import { createHmac } from 'node:crypto';
import { Kube } from '../../lib/k8s/client.ts';
import { diffObjects, liveHash } from '../../lib/k8s/diff.ts';
import type { KubeObject } from '../../lib/k8s/objects.ts';
import { secretManifest } from '../../lib/k8s/secret.ts';
import { withSandbox } from '../sandbox/helpers.ts';

const key = Buffer.from('a state key for the test');
const digest = (text: string) => createHmac('sha256', key).update(text).digest().subarray(0, 16).toString('base64url');
const configMap = (data: Record<string, string>): KubeObject => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'settings', namespace: 'demo' }, data });

async function cluster(t: import('ava').ExecutionContext) {
	const { sandbox } = await withSandbox(t);
	// A connection of its own for each look: a Kube keeps the LISTs it made (one per kind and namespace).
	const connect = () => Kube.connect({ kubeconfig: sandbox.kubeconfigPath, context: 'nub-sandbox' });
	const kube = await connect();
	await kube.apply([{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'demo' } }]);
	return { sandbox, kube, connect };
}

/** The mutating requests since `mark` that were not dry runs. */
const writes = (sandbox: { requests: Iterable<{ method: string; path: string; query: string }> }, mark: number) =>
	[...sandbox.requests].slice(mark).filter(request => !['GET', 'HEAD'].includes(request.method) && !/(^|&)dryRun=All/.test(request.query)).map(request => `${request.method} ${request.path}`);

test('a changed value, a new key, a removed key: each path of the fields nub owns; another manager\'s field never shows; nothing written', async t => {
	const { sandbox, kube, connect } = await cluster(t);
	await kube.apply([configMap({ a: '1', gone: 'x' })]);
	// Another manager's field, which nub does not own (a PUT: the client's own manager).
	await kube.replace({ ...(await kube.read(configMap({})))!, data: { a: '1', gone: 'x', theirs: 'y' } });
	const mark = [...sandbox.requests].length;
	const [record] = await diffObjects(await connect(), [configMap({ a: '2', added: 'z' })], digest);
	t.like(record, { kind: 'ConfigMap', namespace: 'demo', name: 'settings', action: 'update' });
	t.deepEqual(record!.changes, [
		{ path: 'data.a', before: '1', after: '2' },
		{ path: 'data.gone', before: 'x', after: null },
		{ path: 'data.added', before: null, after: 'z' },
	]);
	t.deepEqual(writes(sandbox, mark), []);
	t.true([...sandbox.requests].slice(mark).some(request => request.method === 'PATCH' && request.query.includes('dryRun=All')));
});

test('an object as applied: none, its live hash that of its fields nub owns, which moves when one of them is edited', async t => {
	const { kube, connect } = await cluster(t);
	await kube.apply([configMap({ a: '1' })]);
	const [record] = await diffObjects(await connect(), [configMap({ a: '1' })], digest);
	t.like(record, { action: 'none', changes: [] });
	t.is(record!.live, record!.planned);
	t.is(await liveHash(await connect(), configMap({}), digest), record!.live);
	await kube.replace({ ...(await kube.read(configMap({})))!, data: { a: 'edited' } });
	t.not(await liveHash(await connect(), configMap({}), digest), record!.live);
	t.is(await liveHash(await connect(), { ...configMap({}), metadata: { name: 'none', namespace: 'demo' } }, digest), null);
});

test('a Secret: a changed key by keyed hash, never its value; a value made from what a run has yet to make, known after apply', async t => {
	const { kube, connect } = await cluster(t);
	const secret = (value: string) => secretManifest({ name: 'hub', namespace: 'demo', data: { key: value, same: 'unchanged-value' } });
	await kube.apply([secret('old-secret-value')]);
	const [record] = await diffObjects(await connect(), [secret('new-secret-value')], digest);
	const hash = (value: string) => `sha256 ${Buffer.from(digest(Buffer.from(value).toString('base64')), 'base64url').toString('hex').slice(0, 8)}…`;
	t.deepEqual(record!.changes, [{ path: 'data.key', before: hash('old-secret-value'), after: hash('new-secret-value') }]);
	t.false(JSON.stringify(record).includes('secret-value') || JSON.stringify(record).includes(Buffer.from('new-secret-value').toString('base64')));
	const [later] = await diffObjects(await connect(), [secret('(known after apply: hub-crypto-key)')], digest);
	t.deepEqual(later!.changes, [{ path: 'data.key', before: hash('old-secret-value'), after: '(known after apply)' }]);
	// Without a state key, nothing is hashed in clear.
	const [hidden] = await diffObjects(await connect(), [secret('new-secret-value')], () => undefined);
	t.deepEqual(hidden!.changes, [{ path: 'data.key', before: '(hidden)', after: '(hidden)' }]);
});

test('a namespace that does not exist yet: created as rendered, without a dry run, and said so', async t => {
	const { sandbox, connect } = await cluster(t);
	const mark = [...sandbox.requests].length;
	const [record] = await diffObjects(await connect(), [{ ...configMap({ a: '1' }), metadata: { name: 'settings', namespace: 'absent' } }], digest);
	t.like(record, { action: 'create', namespace: 'absent', note: 'namespace absent does not exist yet: shown as rendered, without a dry run', live: null });
	t.deepEqual(record!.changes, [
		{ path: 'metadata.labels[app.kubernetes.io/managed-by]', before: null, after: 'nub' },
		{ path: 'data.a', before: null, after: '1' },
	]);
	t.false([...sandbox.requests].slice(mark).some(request => request.method === 'PATCH'));
});
