import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { makeCa, makeServerCert } from '../../lib/crypto/ca.ts';
import type { CertificateAuthority, ServerCertificate } from '../../lib/crypto/ca.ts';
import { readCertificateFiles, renewalReason, validateCertificateFiles } from '../../lib/crypto/cert-files.ts';
import { openssl, pemBodyLines, throwsCheck, throwsCheckAsync, withTempDir } from './helpers.ts';

const HOST = 'hub.example.org';
const DAY = 86_400_000;

// Two CAs with the *same* default name: the chain check must not be fooled by names alone.
const ca = makeCa();
const otherCa = makeCa();
const good = makeServerCert(ca, { hostname: HOST, altNames: ['10.0.0.5'] });
const otherLeaf = makeServerCert(ca, { hostname: HOST });

/** Certificates made with the openssl CLI: an intermediate CA, an ECDSA cert, CN-only certs. */
interface OpensslFixtures {
  intermediate: CertificateAuthority;
  viaIntermediate: ServerCertificate;
  ecCert: string;
  ecKey: string;
  cnOnlyCert: string;
  cnOnlyKey: string;
  cnAndSanCert: string;
  cnAndSanKey: string;
  encryptedKey: string;
  partialCert: string;
  partialKey: string;
}
let fx: OpensslFixtures;
let dir: string;

test.before(() => {
  dir = mkdtempSync(join(tmpdir(), 'nub-cert-files-test-'));
  const p = (name: string) => join(dir, name);
  writeFileSync(p('root.pem'), ca.certPem);
  writeFileSync(p('root.key'), ca.keyPem);
  writeFileSync(
    p('int.ext'),
    'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid:always\n',
  );
  openssl(['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', p('int.key'), '-subj', '/CN=nub test intermediate', '-out', p('int.csr')]);
  openssl(['x509', '-req', '-in', p('int.csr'), '-CA', p('root.pem'), '-CAkey', p('root.key'), '-set_serial', '0x1234abcd', '-days', '30', '-extfile', p('int.ext'), '-out', p('int.pem')]);
  const intermediate = { certPem: readFileSync(p('int.pem'), 'utf8'), keyPem: readFileSync(p('int.key'), 'utf8'), fingerprint: '' };
  const viaIntermediate = makeServerCert(intermediate, { hostname: HOST, days: 20 });

  const selfSigned = (name: string, subj: string, extra: string[]) => {
    openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', p(`${name}.key`), '-out', p(`${name}.pem`), '-subj', subj, '-days', '30', ...extra]);
    return { cert: readFileSync(p(`${name}.pem`), 'utf8'), key: readFileSync(p(`${name}.key`), 'utf8') };
  };
  const ec = selfSigned('ec', '/CN=ec.example.org', ['-addext', 'subjectAltName=DNS:ec.example.org']);
  const cnOnly = selfSigned('cn', '/CN=legacy.example.org', []);
  const cnAndSan = selfSigned('cnsan', '/CN=legacy.example.org', ['-addext', 'subjectAltName=DNS:other.example.org']);
  const partial = selfSigned('partial', '/CN=partial wildcard', ['-addext', 'subjectAltName=DNS:w*.example.org']);
  openssl(['pkey', '-in', p('ec.key'), '-aes-128-cbc', '-passout', 'pass:secret', '-out', p('enc.key')]);
  fx = {
    intermediate,
    viaIntermediate,
    ecCert: ec.cert,
    ecKey: ec.key,
    cnOnlyCert: cnOnly.cert,
    cnOnlyKey: cnOnly.key,
    cnAndSanCert: cnAndSan.cert,
    cnAndSanKey: cnAndSan.key,
    encryptedKey: readFileSync(p('enc.key'), 'utf8'),
    partialCert: partial.cert,
    partialKey: partial.key,
  };
});

test.after.always(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('a good CA -> leaf set passes and reports what it checked', (t) => {
  const result = validateCertificateFiles({ certPem: good.certPem, keyPem: good.keyPem, chainPem: good.chainPem, hostname: HOST });
  t.is(result.subject, `CN=${HOST}`);
  t.is(result.issuer, 'CN=nub private CA');
  t.is(result.matchedName, HOST);
  t.deepEqual(result.path, ['CN=nub private CA']);
  t.true(result.endsInSelfSigned);
  t.is(result.fingerprint, good.fingerprint);
  t.true(result.validTo.getTime() > Date.now() + 300 * DAY);
  // wildcard, case, trailing dot and the IP SAN
  t.is(validateCertificateFiles({ ...good, hostname: 'Grafana.HUB.example.org.' }).matchedName, `*.${HOST}`);
  t.is(validateCertificateFiles({ ...good, hostname: '10.0.0.5' }).matchedName, '10.0.0.5');
});

test('key-mismatch: the key of another certificate; an EC key for an RSA certificate', (t) => {
  const err = throwsCheck(t, () => validateCertificateFiles({ ...good, keyPem: otherLeaf.keyPem, hostname: HOST }), 'key-mismatch');
  t.regex(err.message, /private key does not match/);
  for (const line of pemBodyLines(otherLeaf.keyPem)) t.false(err.message.includes(line), 'no key material in the message');
  throwsCheck(t, () => validateCertificateFiles({ ...good, keyPem: fx.ecKey, hostname: HOST }), 'key-mismatch');
});

test('hostname: another host, two labels under the wildcard, the bare parent domain, another IP', (t) => {
  for (const hostname of ['other.example.org', `a.b.${HOST}`, 'example.org', '10.0.0.6', 'xhub.example.org']) {
    const err = throwsCheck(t, () => validateCertificateFiles({ ...good, hostname }), 'hostname');
    t.true(err.message.includes(hostname.toLowerCase()), err.message);
  }
});

test('hostname: the CN is used only when the certificate has no DNS SAN', (t) => {
  t.is(new X509Certificate(fx.cnOnlyCert).subjectAltName, undefined, 'fixture really has no SAN');
  const cnOnly = { certPem: fx.cnOnlyCert, keyPem: fx.cnOnlyKey };
  t.is(validateCertificateFiles({ ...cnOnly, hostname: 'legacy.example.org' }).matchedName, 'legacy.example.org');
  const cnAndSan = { certPem: fx.cnAndSanCert, keyPem: fx.cnAndSanKey };
  t.is(validateCertificateFiles({ ...cnAndSan, hostname: 'other.example.org' }).matchedName, 'other.example.org');
  throwsCheck(t, () => validateCertificateFiles({ ...cnAndSan, hostname: 'legacy.example.org' }), 'hostname');
});

test('hostname: partial-label wildcards (w*.example.org) are not honoured', (t) => {
  throwsCheck(t, () => validateCertificateFiles({ certPem: fx.partialCert, keyPem: fx.partialKey, hostname: 'www.example.org' }), 'hostname');
});

test('expired and not-yet-valid: a certificate whose validity is in the past, and `now` outside the window', (t) => {
  const oldCa = makeCa({ notBefore: new Date(Date.now() - 500 * DAY) });
  const old = makeServerCert(oldCa, { hostname: HOST, notBefore: new Date(Date.now() - 400 * DAY), days: 30 });
  const err = throwsCheck(t, () => validateCertificateFiles({ ...old, hostname: HOST }), 'expired');
  t.regex(err.message, /expired on \d{4}-\d\d-\d\dT/);
  throwsCheck(t, () => validateCertificateFiles({ ...good, hostname: HOST, now: new Date(Date.now() + 400 * DAY) }), 'expired');
  throwsCheck(t, () => validateCertificateFiles({ ...good, hostname: HOST, now: new Date(Date.now() - DAY) }), 'not-yet-valid');
  // an issuer on the path outside its validity counts too: the leaf is valid 385 days ago, its CA is not
  const backdated = makeServerCert(ca, { hostname: HOST, notBefore: new Date(Date.now() - 400 * DAY), days: 30 });
  const caErr = throwsCheck(t, () => validateCertificateFiles({ ...backdated, hostname: HOST, now: new Date(Date.now() - 385 * DAY) }), 'not-yet-valid');
  t.regex(caErr.message, /^chain certificate \('CN=nub private CA'\)/);
  // the same old certificate is fine at a time inside its window
  t.notThrows(() => validateCertificateFiles({ ...old, hostname: HOST, now: new Date(Date.now() - 385 * DAY) }));
});

test('chain: a chain from a different CA (same name), and no chain at all', (t) => {
  const err = throwsCheck(t, () => validateCertificateFiles({ ...good, chainPem: otherCa.certPem, hostname: HOST }), 'chain');
  t.regex(err.message, /not signed by any chain certificate/);
  throwsCheck(t, () => validateCertificateFiles({ certPem: good.certPem, keyPem: good.keyPem, hostname: HOST }), 'chain');
  throwsCheck(t, () => validateCertificateFiles({ ...good, chainPem: '', hostname: HOST }), 'chain');
  // a leaf is not a CA: it cannot serve as the chain
  throwsCheck(t, () => validateCertificateFiles({ ...fx.viaIntermediate, chainPem: otherLeaf.certPem, hostname: HOST }), 'chain');
});

test('chain: root -> intermediate -> leaf, with openssl agreeing', async (t) => {
  const leaf = fx.viaIntermediate;
  t.is(leaf.chainPem, fx.intermediate.certPem);
  const full = validateCertificateFiles({ ...leaf, chainPem: fx.intermediate.certPem + ca.certPem, hostname: HOST });
  t.deepEqual(full.path, ['CN=nub test intermediate', 'CN=nub private CA']);
  t.true(full.endsInSelfSigned);
  // root omitted (clients have it): fine, ends at the last chain certificate
  const partial = validateCertificateFiles({ ...leaf, hostname: HOST });
  t.deepEqual(partial.path, ['CN=nub test intermediate']);
  t.false(partial.endsInSelfSigned);
  // fullchain file (leaf + intermediate) as the certificate, no chain file, order in the chain file irrelevant
  t.deepEqual(validateCertificateFiles({ certPem: leaf.certPem + leaf.chainPem, keyPem: leaf.keyPem, hostname: HOST }).path, ['CN=nub test intermediate']);
  t.is(validateCertificateFiles({ ...leaf, chainPem: ca.certPem + leaf.chainPem + leaf.certPem, hostname: HOST }).path.length, 2);
  // root only: the intermediate is missing
  throwsCheck(t, () => validateCertificateFiles({ ...leaf, chainPem: ca.certPem, hostname: HOST }), 'chain');
  // intermediate plus a root that did not sign it
  const err = throwsCheck(t, () => validateCertificateFiles({ ...leaf, chainPem: leaf.chainPem + otherCa.certPem, hostname: HOST }), 'chain');
  t.regex(err.message, /nub test intermediate.*not signed by the remaining/);
  await withTempDir((_d, write) => {
    const out = openssl(['verify', '-CAfile', write('root.pem', ca.certPem), '-untrusted', write('int.pem', leaf.chainPem), write('leaf.pem', leaf.certPem)]);
    t.regex(out, /leaf\.pem: OK/);
  });
});

test('an ECDSA self-signed certificate from openssl passes without a chain', (t) => {
  const result = validateCertificateFiles({ certPem: fx.ecCert, keyPem: fx.ecKey, hostname: 'ec.example.org' });
  t.true(result.endsInSelfSigned);
  t.deepEqual(result.path, []);
});

test('parse: garbage, a broken certificate block, swapped files, an encrypted key', (t) => {
  throwsCheck(t, () => validateCertificateFiles({ certPem: 'hello', keyPem: good.keyPem, hostname: HOST }), 'parse');
  const broken = good.certPem.replace(/\n[A-Za-z0-9+/]{10}/, '\n!!!!!!!!!!');
  throwsCheck(t, () => validateCertificateFiles({ ...good, certPem: broken, hostname: HOST }), 'parse');
  throwsCheck(t, () => validateCertificateFiles({ ...good, chainPem: 'not a chain', hostname: HOST }), 'parse');
  const swapped = throwsCheck(t, () => validateCertificateFiles({ ...good, keyPem: good.certPem, hostname: HOST }), 'parse');
  t.regex(swapped.message, /files swapped/);
  const enc = throwsCheck(t, () => validateCertificateFiles({ certPem: fx.ecCert, keyPem: fx.encryptedKey, hostname: 'ec.example.org' }), 'parse');
  t.regex(enc.message, /encrypted/);
});

test('readCertificateFiles reads the files and names the file in its errors', async (t) => {
  await withTempDir(async (d, write) => {
    const cert = write('cert.pem', good.certPem);
    const key = write('key.pem', good.keyPem);
    const chain = write('chain.pem', good.chainPem);
    const files = await readCertificateFiles({ cert, key, chain });
    t.deepEqual(files, { certPem: good.certPem, keyPem: good.keyPem, chainPem: good.chainPem });
    t.is(validateCertificateFiles({ ...files, hostname: HOST }).matchedName, HOST);
    t.false('chainPem' in (await readCertificateFiles({ cert, key })));

    const missing = join(d, 'missing.pem');
    const err = await throwsCheckAsync(t, () => readCertificateFiles({ cert: missing, key }), 'read');
    t.true(err.message.includes(missing) && err.message.includes('ENOENT'), err.message);
    const swapped = await throwsCheckAsync(t, () => readCertificateFiles({ cert, key: cert }), 'parse');
    t.true(swapped.message.includes(cert), swapped.message);
    t.regex(swapped.message, /private key file .* contains no PEM PRIVATE KEY block/);
  });
});

test('renewalReason: nothing while more than the window is left; the days left within it; expired; unreadable', t => {
  const ca = makeCa({ commonName: 'renewal test CA' });
  const day = 86_400_000;
  const fresh = makeServerCert(ca, { hostname: 'nub.test', days: 397 });
  t.is(renewalReason(fresh.certPem, 30), undefined);
  const old = makeServerCert(ca, { hostname: 'nub.test', notBefore: new Date(Date.now() - 390 * day), days: 397 });
  t.regex(renewalReason(old.certPem, 30)!, /^the certificate expires in [67] days \(renewed 30 days before its end\)$/);
  t.is(renewalReason(old.certPem, 5), undefined, 'outside a shorter window');
  const ends = new X509Certificate(old.certPem).validTo;
  t.regex(renewalReason(old.certPem, 30, Date.parse(ends) + 2.5 * day)!, /^the certificate expired 2 days ago$/);
  t.is(renewalReason('-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n', 30), 'the recorded certificate cannot be read: renewing it');
  t.is(renewalReason(undefined, 30), undefined, 'nothing recorded yet: nothing to renew');
});
