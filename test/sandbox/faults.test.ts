import { CoreV1Api } from '@kubernetes/client-node';
import test from 'ava';
import { adminToken, rawRequest, withSandbox } from './helpers.ts';

test('a seeded 10% error rate answers some requests 500 or 503 with a Status, and records them', async t => {
	const { sandbox, kc } = await withSandbox(t, { faults: { errorRate: 0.1, seed: 42 } });
	const token = adminToken(kc);
	const answers = [];
	for (let i = 0; i < 100; i++) answers.push(await rawRequest(sandbox, '/api/v1/namespaces', { token }));
	const failed = answers.filter(answer => answer.status !== 200);
	t.true(failed.length > 2 && failed.length < 25, `about 10 of 100 failed, got ${failed.length}`);
	for (const answer of failed) {
		t.true(answer.status === 500 || answer.status === 503);
		t.like(answer.body, { kind: 'Status', apiVersion: 'v1', status: 'Failure', code: answer.status });
	}
	const recorded = sandbox.requests.filter(request => request.fault === 'error');
	t.is(recorded.length, failed.length);
	t.deepEqual(
		recorded.map(request => request.status),
		failed.map(answer => answer.status),
	);

	// The same seed gives the same faults on the same requests.
	sandbox.setFaults({ errorRate: 0.1, seed: 42 });
	const replay = [];
	for (let i = 0; i < 100; i++) replay.push((await rawRequest(sandbox, '/api/v1/namespaces', { token })).status !== 200);
	t.deepEqual(
		replay,
		answers.map(answer => answer.status !== 200),
	);
});

test('throttling answers 429 with Retry-After; resets drop the connection; latency delays', async t => {
	const { sandbox, kc } = await withSandbox(t, { faults: { throttleRate: 1, retryAfterSeconds: 3 } });
	const token = adminToken(kc);
	const throttled = await rawRequest(sandbox, '/api/v1/namespaces', { token });
	t.is(throttled.status, 429);
	t.is(throttled.headers['retry-after'], '3');
	t.like(throttled.body, { kind: 'Status', reason: 'TooManyRequests', code: 429, details: { retryAfterSeconds: 3 } });
	t.like(sandbox.requests.at(-1), { method: 'GET', path: '/api/v1/namespaces', status: 429, user: 'admin', fault: 'throttle' });

	sandbox.setFaults({ resetRate: 1 });
	await t.throwsAsync(rawRequest(sandbox, '/api/v1/namespaces', { token }), { code: 'ECONNRESET' });
	t.is(sandbox.requests.at(-1)!.fault, 'reset');

	sandbox.setFaults({ latencyMs: 300 });
	const started = Date.now();
	t.is((await rawRequest(sandbox, '/api/v1/namespaces', { token })).status, 200);
	t.true(Date.now() - started >= 290);

	sandbox.setFaults({});
	const core = kc.makeApiClient(CoreV1Api);
	t.true((await core.listNamespace()).items.length >= 4);
	t.is(sandbox.requests.at(-1)!.fault, undefined);
});
