import test from 'ava';
import { cutText, maxTextLength, RequestLog, type RequestRecord } from '../../lib/sandbox/request-log.ts';
import { rawRequest, withSandbox } from './helpers.ts';

const record = (n: number, method = 'GET'): RequestRecord => ({ method, path: `/api/v1/namespaces/n${n}`, query: '', status: 200, user: 'admin' });

test('the log keeps the last N requests; length counts them all, so a mark taken before still slices what came after', t => {
	const log = new RequestLog(4);
	for (let n = 0; n < 3; n++) log.add(record(n));
	const mark = log.length;
	for (let n = 3; n < 10; n++) log.add(record(n, n % 2 ? 'PATCH' : 'GET'));
	t.is(log.length, 10);
	t.is(log.first, 6);
	t.deepEqual(log.slice(7).map(r => r.path), ['/api/v1/namespaces/n7', '/api/v1/namespaces/n8', '/api/v1/namespaces/n9']);
	t.deepEqual(log.slice(-2).map(r => r.path), ['/api/v1/namespaces/n8', '/api/v1/namespaces/n9']);
	t.is(log.at(-1)!.path, '/api/v1/namespaces/n9');
	t.is(log.at(10), undefined);
	t.deepEqual([...log.slice(6)].length, 4);
	// What needs a dropped record throws rather than answers with part of what was asked.
	t.throws(() => log.slice(mark), { instanceOf: RangeError, message: 'the sandbox keeps the last 4 requests: request #3 was asked for, the oldest kept is #6' });
	t.throws(() => log.filter(r => r.method !== 'GET'), { instanceOf: RangeError });
	t.throws(() => log.at(2), { instanceOf: RangeError });
	t.throws(() => new RequestLog(0), { message: "Expected the request log's capacity to be a positive integer, got 0" });
});

test('before it is full the log reads as the array it replaced: filter, some, slice from a mark, at', t => {
	const log = new RequestLog(100);
	for (let n = 0; n < 10; n++) log.add(record(n, n === 4 ? 'DELETE' : 'GET'));
	t.deepEqual(log.filter(r => r.method !== 'GET').map(r => r.path), ['/api/v1/namespaces/n4']);
	t.true(log.some(r => r.method === 'DELETE'));
	t.is(log.slice(10).length, 0);
	t.is(log.slice(0).length, 10);
	t.is(log.at(0)!.path, '/api/v1/namespaces/n0');
});

test('a long path or query is kept cut', t => {
	t.is(cutText('x'.repeat(maxTextLength)), 'x'.repeat(maxTextLength));
	const cut = cutText('x'.repeat(20_000));
	t.is(cut.length, maxTextLength);
	t.true(cut.endsWith('…'));
});

test('a flood of unauthenticated requests with long paths keeps the last N, each cut: bounded memory', async t => {
	const { sandbox } = await withSandbox(t, { keptRequests: 50 });
	const long = `/api/v1/namespaces/${'a'.repeat(8000)}`;
	for (let round = 0; round < 4; round++) {
		const answers = await Promise.all(Array.from({ length: 50 }, () => rawRequest(sandbox, `${long}?q=${'b'.repeat(4000)}`)));
		t.true(answers.every(answer => answer.status === 401));
	}
	t.is(sandbox.requests.length, 200);
	t.is(sandbox.requests.first, 150);
	const kept = sandbox.requests.slice(150);
	t.is(kept.length, 50);
	t.true(kept.every(r => r.user === 'system:anonymous' && r.status === 401 && r.path.length <= maxTextLength && r.query.length <= maxTextLength));
	t.throws(() => sandbox.requests.slice(0), { instanceOf: RangeError });
});
