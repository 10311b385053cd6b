import { mkdirSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request } from 'node:https';
import { dirname, join } from 'node:path';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import test from 'ava';
import { stringify } from 'yaml';
import { makeCa } from '../../lib/crypto/index.ts';
import { adminToken, kubectl, rawRequest, withSandbox } from './helpers.ts';

test('a client that does not trust the sandbox CA fails the TLS handshake', async t => {
	const { sandbox, kc, dir } = await withSandbox(t);
	const other = makeCa({ commonName: 'someone else' });
	await t.throwsAsync(rawRequest(sandbox, '/api/v1/namespaces', { token: adminToken(kc), ca: other.certPem }), { code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' });
	// Node's default trust store does not include it either.
	const defaultTrust = new Promise((resolve, reject) => request(new URL('/version', sandbox.url), resolve).on('error', reject).end());
	await t.throwsAsync(defaultTrust);

	const untrusting = new KubeConfig();
	untrusting.loadFromOptions({
		clusters: [{ name: 'c', server: sandbox.url, caData: Buffer.from(other.certPem).toString('base64') }],
		users: [{ name: 'u', token: adminToken(kc) }],
		contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
		currentContext: 'x',
	});
	await t.throwsAsync(untrusting.makeApiClient(CoreV1Api).listNamespace(), { any: true, code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' });

	// kubectl without the CA refuses the server too.
	const home = join(dirname(dir), 'home');
	mkdirSync(home);
	const config = join(home, 'no-ca.yaml');
	writeFileSync(
		config,
		stringify({
			apiVersion: 'v1',
			kind: 'Config',
			clusters: [{ name: 'c', cluster: { server: sandbox.url } }],
			users: [{ name: 'u', user: { token: adminToken(kc) } }],
			contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
			'current-context': 'x',
		}),
	);
	const refused = await kubectl(config, home, ['get', 'namespaces']);
	t.is(refused.code, 1);
	t.regex(refused.stderr, /x509: certificate signed by unknown authority/);
	t.is(sandbox.requests.length, 0, 'no request got through');
});

test('plain HTTP is never answered', async t => {
	const { sandbox } = await withSandbox(t);
	const plain = new Promise((resolve, reject) => httpRequest(sandbox.url.replace('https:', 'http:') + '/version', resolve).on('error', reject).end());
	await t.throwsAsync(plain);
});

test('discovery documents are those of a cluster; unknown paths are the real 404 Status', async t => {
	const { sandbox, kc } = await withSandbox(t);
	const token = adminToken(kc);
	t.like((await rawRequest(sandbox, '/version')).body, { major: '1', minor: '32' });
	t.like((await rawRequest(sandbox, '/api', { token })).body, { kind: 'APIVersions', versions: ['v1'] });
	const groups = (await rawRequest(sandbox, '/apis', { token })).body;
	t.deepEqual(
		groups.groups.map((group: { name: string }) => group.name),
		['apps', 'batch', 'networking.k8s.io', 'rbac.authorization.k8s.io', 'coordination.k8s.io', 'storage.k8s.io'],
	);
	const apps = (await rawRequest(sandbox, '/apis/apps/v1', { token })).body;
	t.like(
		apps.resources.find((resource: { name: string }) => resource.name === 'deployments'),
		{ singularName: 'deployment', namespaced: true, kind: 'Deployment', shortNames: ['deploy'], categories: ['all'] },
	);
	t.truthy(apps.resources.find((resource: { name: string }) => resource.name === 'deployments/status'));
	const core = (await rawRequest(sandbox, '/api/v1', { token })).body;
	t.like(
		core.resources.find((resource: { name: string }) => resource.name === 'namespaces'),
		{ namespaced: false, kind: 'Namespace', shortNames: ['ns'], verbs: ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'] },
	);
	// As kube-apiserver answers: a path it does not serve (an unknown group version among them) with
	// a line of text, an unknown resource of a served group version with a Status.
	for (const path of ['/apis/example.com/v1', '/nothing']) {
		const missing = await rawRequest(sandbox, path, { token });
		t.is(missing.status, 404);
		t.is(missing.body, '404 page not found\n');
	}
	const widgets = await rawRequest(sandbox, '/api/v1/widgets', { token });
	t.is(widgets.status, 404);
	t.deepEqual(widgets.body, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'the server could not find the requested resource', reason: 'NotFound', details: {}, code: 404 });
	const unauthenticated = await rawRequest(sandbox, '/api/v1/namespaces');
	t.is(unauthenticated.status, 401);
	t.like(unauthenticated.body, { kind: 'Status', reason: 'Unauthorized', message: 'Unauthorized', code: 401 });
});

test('a Table answer for kubectl-style content negotiation honours includeObject', async t => {
	const { sandbox, kc } = await withSandbox(t);
	const token = adminToken(kc);
	const accept = 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json';
	const table = await rawRequest(sandbox, '/api/v1/namespaces', { token, headers: { Accept: accept } });
	t.is(table.headers['content-type'], 'application/json;as=Table;v=v1;g=meta.k8s.io');
	t.like(table.body, { kind: 'Table', apiVersion: 'meta.k8s.io/v1' });
	t.deepEqual(
		table.body.columnDefinitions.filter((column: { priority: number }) => column.priority === 0).map((column: { name: string }) => column.name),
		['Name', 'Status', 'Age'],
	);
	t.like(table.body.rows[0].object, { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1' });
	const full = await rawRequest(sandbox, '/api/v1/namespaces?includeObject=Object', { token, headers: { Accept: accept } });
	t.like(full.body.rows[0].object, { kind: 'Namespace', status: { phase: 'Active' } });
	const none = await rawRequest(sandbox, '/api/v1/namespaces?includeObject=None', { token, headers: { Accept: accept } });
	t.is(none.body.rows[0].object, undefined);
});
