import test from 'ava';
import { explainError, KubeError } from '../../lib/k8s/errors.ts';

const operation = {
	verb: 'apply',
	object: { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'hub', namespace: 'nublado' } },
	server: 'https://10.0.0.1',
	context: 'gke_nublado',
};
/** What @kubernetes/client-node 1.x throws for an HTTP error: ApiException with code, body, headers. */
const apiException = (code: number, status: object | string, headers: Record<string, string> = {}) =>
	Object.assign(new Error('Unsuccessful HTTP Request'), { code, body: typeof status === 'string' ? status : JSON.stringify(status), headers });

test('403 names the refusal and gives the cluster-admin binding of the manual', t => {
	const error = explainError(
		apiException(403, { kind: 'Status', status: 'Failure', reason: 'Forbidden', code: 403, message: 'secrets "hub" is forbidden: User "viewer" cannot patch resource "secrets" in API group "" in the namespace "nublado"' }),
		operation,
	);
	t.is(error.code, 403);
	t.false(error.retryable);
	t.is(
		error.message,
		'apply Secret nublado/hub: forbidden: secrets "hub" is forbidden: User "viewer" cannot patch resource "secrets" in API group "" in the namespace "nublado"; nub needs cluster-admin on the cluster, as the manual says: kubectl create clusterrolebinding admin-binding --clusterrole=cluster-admin --user=<your account>',
	);
});

test('401, 409 and 422 carry what the server said; 422 lists its field causes', t => {
	t.regex(explainError(apiException(401, { reason: 'Unauthorized', message: 'Unauthorized' }), operation).message, /refused the credentials of context "gke_nublado" \(401 Unauthorized\)/);
	const invalid = explainError(
		apiException(422, {
			reason: 'Invalid',
			message: 'Deployment.apps "hub" is invalid: ...',
			details: { causes: [{ reason: 'FieldValueInvalid', message: 'Invalid value: map[string]string{"app":"x"}: `selector` does not match template `labels`', field: 'spec.template.metadata.labels' }] },
		}),
		{ ...operation, object: { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'hub', namespace: 'nublado' } } },
	);
	t.is(invalid.message, 'Deployment nublado/hub is invalid: spec.template.metadata.labels: Invalid value: map[string]string{"app":"x"}: `selector` does not match template `labels`');
	const conflict = explainError(
		apiException(409, { reason: 'Conflict', message: 'Apply failed with 1 conflict: conflict with "kubectl": .spec.replicas', details: { causes: [{ reason: 'FieldManagerConflict', message: 'conflict with "kubectl"', field: '.spec.replicas' }] } }),
		operation,
	);
	t.is(conflict.message, 'apply Secret nublado/hub: conflict: Apply failed with 1 conflict: conflict with "kubectl": .spec.replicas (.spec.replicas)');
});

test('5xx, 429 (with its Retry-After) and reset connections are retryable; TLS errors are not, and say why', t => {
	const unavailable = explainError(apiException(503, { reason: 'ServiceUnavailable', message: 'etcd is busy' }), operation);
	t.true(unavailable.retryable);
	t.regex(unavailable.message, /the API server failed \(503 ServiceUnavailable\): etcd is busy/);
	const throttled = explainError(apiException(429, { reason: 'TooManyRequests' }, { 'Retry-After': '2' }), operation);
	t.true(throttled.retryable);
	t.is(throttled.retryAfterMs, 2000);
	const reset = explainError(Object.assign(new Error('request to https://10.0.0.1/api failed, reason: socket hang up'), { type: 'system', code: 'ECONNRESET' }), operation);
	t.true(reset.retryable);
	const tls = explainError(Object.assign(new Error('request failed, reason: self-signed certificate in certificate chain'), { code: 'SELF_SIGNED_CERT_IN_CHAIN' }), operation);
	t.false(tls.retryable);
	t.is(
		tls.message,
		'TLS error from the API server at https://10.0.0.1 (context "gke_nublado"): SELF_SIGNED_CERT_IN_CHAIN; nub never turns certificate verification off: give the cluster\'s CA in the kubeconfig (certificate-authority-data)',
	);
});

test('an unknown kind names its API group and version: in a group version the server serves, or in one it does not (a text 404 to the client\'s discovery, as kube-apiserver answers)', t => {
	const widget = { ...operation, object: { apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w', namespace: 'nublado' } } };
	const expected = 'Widget nublado/w: the cluster has no kind Widget in example.com/v1 (API group "example.com", version v1): check apiVersion and kind, or install what defines it';
	const unknownKind = explainError(new Error('Unrecognized API version and kind: example.com/v1 Widget'), widget);
	t.true(unknownKind instanceof KubeError);
	t.is(unknownKind.reason, 'unknown-kind');
	t.is(unknownKind.message, expected);
	// What @kubernetes/client-node throws when its discovery of the group version gets a 404.
	const discovery = apiException(404, '404 page not found\n');
	discovery.message = `Failed to fetch resource metadata for example.com/v1/Widget: ${discovery.message}`;
	const unknownGroup = explainError(discovery, widget);
	t.is(unknownGroup.reason, 'unknown-kind');
	t.is(unknownGroup.message, expected);
});

test('every KubeError has a reason to tell it apart; an immutable field (as a real API server words it) says to make the object anew', t => {
	const pv = { ...operation, object: { apiVersion: 'v1', kind: 'PersistentVolume', metadata: { name: 'home-nublado' } } };
	const immutable = explainError(
		apiException(422, {
			reason: 'Invalid',
			message: 'PersistentVolume "home-nublado" is invalid: spec.persistentvolumesource: Forbidden: spec.persistentvolumesource is immutable after creation',
			details: { causes: [{ reason: 'FieldValueForbidden', message: 'Forbidden: spec.persistentvolumesource is immutable after creation', field: 'spec.persistentvolumesource' }] },
		}),
		pv,
	);
	t.is(immutable.reason, 'immutable');
	t.is(
		immutable.message,
		'PersistentVolume home-nublado is invalid: spec.persistentvolumesource: Forbidden: spec.persistentvolumesource is immutable after creation; it cannot be changed in place: delete PersistentVolume home-nublado (kubectl delete), then run again to make it anew',
	);
	const reasons = [
		[401, 'unauthorized'],
		[403, 'forbidden'],
		[404, 'not-found'],
		[409, 'conflict'],
		[422, 'invalid'],
		[429, 'throttled'],
		[503, 'server-error'],
	] as const;
	for (const [code, reason] of reasons) t.is(explainError(apiException(code, { reason: 'X', message: 'm' }), operation).reason, reason, `${code}`);
	t.is(new KubeError('refused', undefined, true, undefined, { reason: 'unreachable' }).reason, 'unreachable');
});

test('what the API server says reaches the message escaped: an admission webhook\'s ESC sequence cannot drive the terminal', t => {
	const webhook = 'admission webhook "x" denied the request: \u001b]0;pwned\u0007\u001b[2J\nnub: applied';
	const denied = explainError(apiException(403, { reason: 'Forbidden', message: webhook }), operation);
	t.true(denied.message.startsWith('apply Secret nublado/hub: forbidden: admission webhook "x" denied the request: \\x1b]0;pwned\\x07\\x1b[2J\\nnub: applied; '), denied.message);
	const invalid = explainError(apiException(422, { reason: 'Invalid', details: { causes: [{ field: 'spec\u001b[31m', message: 'bad\u009b2J' }] } }), operation);
	t.is(invalid.message, 'Secret nublado/hub is invalid: spec\\x1b[31m: bad\\x9b2J');
	const text = explainError(apiException(500, 'upstream \u001b[2J failed\nmore'), operation);
	t.is(text.message, 'apply Secret nublado/hub: the API server failed (500): upstream \\x1b[2J failed');
	const thrown = explainError(new Error('unexpected reply \u001b[2J'), operation);
	t.is(thrown.message, 'apply Secret nublado/hub: unexpected reply \\x1b[2J');
});
