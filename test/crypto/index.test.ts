import test from 'ava';
import * as api from '../../lib/crypto/index.ts';

test('the barrel exports the whole public API', (t) => {
  const expected = [
    'CryptoError', 'isCryptoError', 'certificateFingerprint', 'makeCa', 'makeServerCert',
    'readCertificateFiles', 'validateCertificateFiles', 'FFDHE2048_PRIME_HEX', 'checkDhParams',
    'encodeDhParams', 'makeDhParams', 'parseDhParams', 'isHubCryptoKey', 'makeHubCryptoKey',
    'makePassword', 'makeProxyToken', 'rotateHubCryptoKey',
  ];
  t.deepEqual(Object.keys(api).sort(), expected.sort());
});

test('certificateFingerprint: colon hex SHA-256; parse error for non-certificates', (t) => {
  const ca = api.makeCa({ days: 1 });
  t.is(api.certificateFingerprint(ca.certPem), ca.fingerprint);
  const err = t.throws(() => api.certificateFingerprint('nope'), { instanceOf: api.CryptoError });
  t.is(err.check, 'parse');
});
