import { X509Certificate, createPrivateKey } from 'node:crypto';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import test from 'ava';
import { makeCa, makeServerCert } from '../../lib/crypto/ca.ts';
import { openssl, opensslStatus, pemBodyLines, throwsCheck, withTempDir } from './helpers.ts';

const HOST = 'hub.example.org';
const ca = makeCa({ commonName: 'nub test CA' });
const server = makeServerCert(ca, { hostname: HOST, altNames: ['127.0.0.1', '::1', 'grafana.internal'] });

test('CA: openssl sees a critical CA:TRUE, keyCertSign+cRLSign, a key identifier and a positive 16-byte serial', async (t) => {
  await withTempDir((_dir, write) => {
    const caFile = write('ca.pem', ca.certPem);
    const ext = openssl(['x509', '-in', caFile, '-noout', '-ext', 'basicConstraints,keyUsage,subjectKeyIdentifier']);
    t.regex(ext, /X509v3 Basic Constraints: critical\s+CA:TRUE/);
    t.regex(ext, /X509v3 Key Usage: critical\s+Certificate Sign, CRL Sign\s/);
    t.regex(ext, /X509v3 Subject Key Identifier:\s+([0-9A-F]{2}:){19}[0-9A-F]{2}/);
    const serial = openssl(['x509', '-in', caFile, '-noout', '-serial']).trim().replace('serial=', '');
    t.regex(serial, /^[0-7][0-9A-F]{31}$/, 'exactly 16 bytes, top bit clear');
    t.is(openssl(['x509', '-in', caFile, '-noout', '-subject']).trim(), 'subject=CN = nub test CA');
    // self-signed: verifies against itself
    t.regex(openssl(['verify', '-CAfile', caFile, caFile]), /: OK/);
  });
});

test('CA: validity defaults to ten years starting a minute ago; fingerprint is SHA-256 of the DER as openssl prints it', async (t) => {
  const x509 = new X509Certificate(ca.certPem);
  t.true(x509.ca);
  const from = new Date(x509.validFrom).getTime();
  const to = new Date(x509.validTo).getTime();
  t.true(Date.now() - from >= 59_000 && Date.now() - from < 120_000, 'notBefore about a minute ago');
  t.is(Math.round((to - from) / 86_400_000), 3650);
  await withTempDir((_dir, write) => {
    const out = openssl(['x509', '-in', write('ca.pem', ca.certPem), '-noout', '-fingerprint', '-sha256']);
    t.is(out.trim().split('=')[1], ca.fingerprint);
  });
  t.regex(ca.fingerprint, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
});

test('CA: two CAs get different keys and serials', (t) => {
  const other = makeCa();
  t.not(other.keyPem, ca.keyPem);
  t.not(new X509Certificate(other.certPem).serialNumber, new X509Certificate(ca.certPem).serialNumber);
  t.is(new X509Certificate(other.certPem).subject, 'CN=nub private CA');
});

test('CA: keyBits 3072 gives a 3072-bit key; other sizes are refused', async (t) => {
  const big = makeCa({ keyBits: 3072, days: 30 });
  await withTempDir((_dir, write) => {
    t.regex(openssl(['x509', '-in', write('ca.pem', big.certPem), '-noout', '-text']), /Public-Key: \(3072 bit\)/);
  });
  throwsCheck(t, () => makeCa({ keyBits: 1024 as 2048 }), 'options');
  throwsCheck(t, () => makeCa({ days: 0 }), 'options');
  throwsCheck(t, () => makeCa({ commonName: '' }), 'options');
});

test('server: openssl verifies it against the CA, as an SSL server certificate', async (t) => {
  await withTempDir((_dir, write) => {
    const caFile = write('ca.pem', ca.certPem);
    const leaf = write('server.pem', server.certPem);
    t.regex(openssl(['verify', '-CAfile', caFile, '-purpose', 'sslserver', leaf]), /server\.pem: OK/);
    // and not against another CA
    const other = write('other.pem', makeCa().certPem);
    t.not(opensslStatus(['verify', '-CAfile', other, leaf]).status, 0);
  });
});

test('server: SANs are hostname, *.hostname and the altNames (IP literals as IP SANs); CA:FALSE; serverAuth', async (t) => {
  await withTempDir((_dir, write) => {
    const leaf = write('server.pem', server.certPem);
    const san = openssl(['x509', '-in', leaf, '-noout', '-ext', 'subjectAltName']);
    t.regex(
      san,
      /DNS:hub\.example\.org, DNS:\*\.hub\.example\.org, IP Address:127\.0\.0\.1, IP Address:0:0:0:0:0:0:0:1, DNS:grafana\.internal\s*$/,
    );
    const ext = openssl(['x509', '-in', leaf, '-noout', '-ext', 'basicConstraints,keyUsage,extendedKeyUsage']);
    t.regex(ext, /Basic Constraints: critical\s+CA:FALSE/);
    t.regex(ext, /Key Usage: critical\s+Digital Signature, Key Encipherment\s/);
    t.regex(ext, /Extended Key Usage:\s+TLS Web Server Authentication\s/);
    t.is(openssl(['x509', '-in', leaf, '-noout', '-subject']).trim(), `subject=CN = ${HOST}`);
    t.is(openssl(['x509', '-in', leaf, '-noout', '-issuer']).trim(), 'issuer=CN = nub test CA');
  });
});

test('server: authorityKeyIdentifier is the CA subjectKeyIdentifier (not its own)', async (t) => {
  await withTempDir((_dir, write) => {
    const caSki = openssl(['x509', '-in', write('ca.pem', ca.certPem), '-noout', '-ext', 'subjectKeyIdentifier']);
    const leafExt = openssl(['x509', '-in', write('s.pem', server.certPem), '-noout', '-ext', 'authorityKeyIdentifier,subjectKeyIdentifier']);
    const caId = /(([0-9A-F]{2}:){19}[0-9A-F]{2})/.exec(caSki)![1]!;
    t.regex(leafExt, new RegExp(`Authority Key Identifier:\\s+(keyid:)?${caId}`));
    t.regex(leafExt, /Subject Key Identifier:\s+([0-9A-F:]+)/);
    t.false(/Subject Key Identifier:\s+([0-9A-F:]+)/.exec(leafExt)![1] === caId);
  });
});

test('server: key matches the certificate, chainPem is the CA, fingerprint is the leaf one', (t) => {
  t.true(new X509Certificate(server.certPem).checkPrivateKey(createPrivateKey(server.keyPem)));
  t.is(server.chainPem, ca.certPem);
  t.is(server.fingerprint, new X509Certificate(server.certPem).fingerprint256);
  t.not(server.keyPem, ca.keyPem);
  t.regex(server.keyPem, /^-----BEGIN PRIVATE KEY-----\n/);
});

test('server: default lifetime 397 days, capped at the CA expiry', (t) => {
  const leaf = new X509Certificate(server.certPem);
  t.is(Math.round((new Date(leaf.validTo).getTime() - new Date(leaf.validFrom).getTime()) / 86_400_000), 397);
  const shortCa = makeCa({ days: 10 });
  const capped = new X509Certificate(makeServerCert(shortCa, { hostname: HOST, days: 100 }).certPem);
  t.is(capped.validTo, new X509Certificate(shortCa.certPem).validTo);
});

test('server: an IP hostname gets an IP SAN and no wildcard; names are normalized', async (t) => {
  const ipCert = makeServerCert(ca, { hostname: '10.1.2.3', altNames: ['Hub.Example.ORG.', '[::1]', 'hub.example.org'] });
  await withTempDir((_dir, write) => {
    const san = openssl(['x509', '-in', write('ip.pem', ipCert.certPem), '-noout', '-ext', 'subjectAltName']);
    t.regex(san, /IP Address:10\.1\.2\.3, DNS:hub\.example\.org, IP Address:0:0:0:0:0:0:0:1\s*$/);
  });
});

test('server: refuses bad names, a CA key that does not match, and a non-CA issuer', (t) => {
  throwsCheck(t, () => makeServerCert(ca, { hostname: 'not a host' }), 'options');
  throwsCheck(t, () => makeServerCert(ca, { hostname: HOST, altNames: ['bad..name'] }), 'options');
  const mismatch = throwsCheck(t, () => makeServerCert({ certPem: ca.certPem, keyPem: server.keyPem }, { hostname: HOST }), 'key-mismatch');
  for (const line of pemBodyLines(server.keyPem)) t.false(mismatch.message.includes(line));
  throwsCheck(t, () => makeServerCert({ certPem: server.certPem, keyPem: server.keyPem }, { hostname: HOST }), 'ca');
  throwsCheck(t, () => makeServerCert({ certPem: 'nope', keyPem: ca.keyPem }, { hostname: HOST }), 'parse');
});

/** Starts an HTTPS server with the test certificate and runs `fn` with its port. */
async function withHttpsServer(fn: (port: number) => Promise<void>): Promise<void> {
  const srv = https.createServer({ key: server.keyPem, cert: server.certPem }, (_req, res) => {
    res.end('hello over tls');
  });
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  try {
    await fn((srv.address() as AddressInfo).port);
  } finally {
    srv.closeAllConnections();
    await new Promise<void>((resolve) => srv.close(() => resolve()));
  }
}

/** GET / with the given TLS client options; resolves with the body or rejects with the TLS error. */
function get(port: number, options: https.RequestOptions): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = https.get({ host: '127.0.0.1', port, path: '/', agent: false, ...options }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve(body));
    });
    req.on('error', reject);
  });
}

test('TLS: a real Node HTTPS server with the certificate is trusted via the CA, for the hostname and the IP SAN only', async (t) => {
  await withHttpsServer(async (port) => {
    t.is(await get(port, { ca: ca.certPem, servername: HOST }), 'hello over tls');
    t.is(await get(port, { ca: ca.certPem, servername: 'grafana.hub.example.org' }), 'hello over tls', 'wildcard SAN');
    t.is(await get(port, { ca: ca.certPem }), 'hello over tls', 'IP SAN 127.0.0.1 without servername');

    const wrongHost = await t.throwsAsync(get(port, { ca: ca.certPem, servername: 'other.example.org' }));
    t.is((wrongHost as NodeJS.ErrnoException).code, 'ERR_TLS_CERT_ALTNAME_INVALID');
    const twoLabels = await t.throwsAsync(get(port, { ca: ca.certPem, servername: 'a.b.hub.example.org' }));
    t.is((twoLabels as NodeJS.ErrnoException).code, 'ERR_TLS_CERT_ALTNAME_INVALID');

    const untrusted = await t.throwsAsync(get(port, { servername: HOST }));
    t.is((untrusted as NodeJS.ErrnoException).code, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE');
    const otherCa = await t.throwsAsync(get(port, { ca: makeCa().certPem, servername: HOST }));
    t.is((otherCa as NodeJS.ErrnoException).code, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE');
  });
});
