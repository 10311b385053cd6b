/**
 * Validation of production TLS certificates supplied by an operator as
 * files (certificate, private key, chain), before they are deployed.
 *
 * Why validate up front: a wrong key, a certificate for another host, an
 * expired certificate or a missing intermediate all make the deployment
 * "succeed" and then fail in every client; a named check with one clear line
 * is much cheaper to act on.
 *
 * Works on any key type Node/OpenSSL understands (RSA, ECDSA, Ed25519), so it
 * uses Node's X509Certificate rather than node-forge (which only knows RSA).
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { CryptoError } from './errors.ts';

/** Input of validateCertificateFiles: file *contents*, not paths. */
export interface CertificateFileContents {
  /** The server certificate; may be a "fullchain" file (leaf first, then intermediates). */
  certPem: string;
  /** The unencrypted private key of the certificate. */
  keyPem: string;
  /** Intermediate (and optionally root) certificates; may be empty if certPem already holds them. */
  chainPem?: string;
  /** The hostname (or IP literal) the server will be reached at. */
  hostname: string;
  /** Point in time to check validity at; default the current time. */
  now?: Date;
}

/** What validateCertificateFiles learnt about a good set; handy for logs and expiry warnings. */
export interface ValidatedCertificate {
  /** Subject of the leaf, `CN=..., O=...`. */
  subject: string;
  /** Issuer of the leaf. */
  issuer: string;
  /** The SAN (or CN) entry that matched the hostname. */
  matchedName: string;
  /** Start of the leaf's validity. */
  validFrom: Date;
  /** End of the leaf's validity. */
  validTo: Date;
  /** SHA-256 fingerprint of the leaf, `AB:CD:...`. */
  fingerprint: string;
  /** Subjects of the verified issuers, leaf's issuer first. */
  path: string[];
  /** True if the path ends in a self-signed certificate (a root, or a self-signed leaf). */
  endsInSelfSigned: boolean;
}

/** Paths for readCertificateFiles. */
export interface CertificateFilePaths {
  /** Certificate (or fullchain) PEM file. */
  cert: string;
  /** Private key PEM file. */
  key: string;
  /** Chain PEM file, optional. */
  chain?: string;
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;
const PEM_CERT_MARKER = /-----BEGIN CERTIFICATE-----/;
const PEM_KEY_MARKER = /-----BEGIN [A-Z ]*PRIVATE KEY-----/;

/**
 * Reads certificate, key and chain files. Why a separate step: errors name
 * the *file* (missing, unreadable, or not containing the expected PEM block,
 * e.g. key and certificate swapped), which validateCertificateFiles cannot
 * know about.
 */
export async function readCertificateFiles(
  paths: CertificateFilePaths,
): Promise<{ certPem: string; keyPem: string; chainPem?: string }> {
  const certPem = await readPem(paths.cert, 'certificate', PEM_CERT_MARKER, 'CERTIFICATE');
  const keyPem = await readPem(paths.key, 'private key', PEM_KEY_MARKER, 'PRIVATE KEY');
  if (paths.chain === undefined) return { certPem, keyPem };
  const chainPem = await readPem(paths.chain, 'chain', PEM_CERT_MARKER, 'CERTIFICATE');
  return { certPem, keyPem, chainPem };
}

async function readPem(path: string, what: string, marker: RegExp, label: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code ?? 'error';
    throw new CryptoError('read', `cannot read ${what} file ${path} (${code})`, { cause });
  }
  if (!marker.test(text)) {
    throw new CryptoError('parse', `${what} file ${path} contains no PEM ${label} block`);
  }
  return text;
}

/**
 * Checks, in this order, and throws a CryptoError whose `check` names the
 * first failure:
 * - `parse`: certificate, key or chain text is not valid PEM;
 * - `key-mismatch`: the key is not the certificate's private key;
 * - `hostname`: the certificate does not cover `hostname` (SANs with RFC 6125
 *   single-label wildcards: `*.a.b` matches `x.a.b` but not `a.b`, `x.y.a.b`
 *   or via a partial label like `x*.a.b`; the CN is used only when there is no
 *   DNS SAN; IP literals match IP SANs only);
 * - `not-yet-valid` / `expired`: `now` is outside the leaf's validity (or
 *   an issuer's on the verified path);
 * - `chain`: the leaf is not signed by a chain certificate, or an issuer on
 *   the way up is not a CA, or an intermediate is not signed by any remaining
 *   chain certificate although there are some. The walk ends successfully at a
 *   self-signed certificate or at the last usable chain certificate (whose
 *   issuer the clients are expected to trust).
 *
 * Certificates after the first one in certPem (a "fullchain" file) are treated
 * as chain certificates too; duplicates are ignored.
 */
export function validateCertificateFiles(input: CertificateFileContents): ValidatedCertificate {
  const now = input.now ?? new Date();
  const [leaf, ...extra] = parseCertificates(input.certPem, 'certificate');
  if (leaf === undefined) throw new CryptoError('parse', 'certificate text contains no PEM CERTIFICATE block');
  const chain = input.chainPem === undefined || input.chainPem.trim() === '' ? [] : parseCertificates(input.chainPem, 'chain');
  const key = parsePrivateKey(input.keyPem);

  let keyMatches = false;
  try {
    keyMatches = leaf.checkPrivateKey(key);
  } catch {
    keyMatches = false; // e.g. an EC key against an RSA certificate
  }
  if (!keyMatches) {
    throw new CryptoError('key-mismatch', `private key does not match the certificate's public key (${describe(leaf)})`);
  }

  const matchedName = checkHostname(leaf, input.hostname);
  checkValidity(leaf, now, 'certificate');
  const { path, endsInSelfSigned } = checkChain(leaf, [...extra, ...chain], now);

  return {
    subject: oneLine(leaf.subject),
    issuer: oneLine(leaf.issuer),
    matchedName,
    validFrom: parseDate(leaf.validFrom),
    validTo: parseDate(leaf.validTo),
    fingerprint: leaf.fingerprint256,
    path,
    endsInSelfSigned,
  };
}

/** All CERTIFICATE blocks of a PEM text, parsed. */
function parseCertificates(pem: string, what: string): X509Certificate[] {
  const blocks = pem.match(PEM_CERT) ?? [];
  if (blocks.length === 0) throw new CryptoError('parse', `${what} text contains no PEM CERTIFICATE block`);
  return blocks.map((block, i) => {
    try {
      return new X509Certificate(block);
    } catch (cause) {
      throw new CryptoError('parse', `${what} block ${i + 1} of ${blocks.length} is not a valid X.509 certificate`, { cause });
    }
  });
}

function parsePrivateKey(pem: string): KeyObject {
  if (!PEM_KEY_MARKER.test(pem)) {
    const hint = PEM_CERT_MARKER.test(pem) ? ' (it holds a certificate: files swapped?)' : '';
    throw new CryptoError('parse', `private key text contains no PEM PRIVATE KEY block${hint}`);
  }
  // Detected from the PEM itself: Node/OpenSSL 3 only report "interrupted or cancelled" for a missing passphrase.
  if (/-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type:\s*4,\s*ENCRYPTED/.test(pem)) {
    throw new CryptoError('parse', 'private key is encrypted; provide it without a passphrase');
  }
  try {
    return createPrivateKey(pem);
  } catch (cause) {
    throw new CryptoError('parse', 'private key cannot be parsed', { cause });
  }
}

/** Returns the matching name or throws `hostname`. */
function checkHostname(leaf: X509Certificate, rawHost: string): string {
  let host = rawHost.trim().toLowerCase();
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  if (host.endsWith('.') && isIP(host) === 0) host = host.slice(0, -1);
  if (host === '') throw new CryptoError('options', 'hostname must not be empty');
  const matched =
    isIP(host) !== 0
      ? leaf.checkIP(host)
      : leaf.checkHost(host, {
          subject: 'default', // CN only when there is no DNS SAN (RFC 6125 6.4.4)
          wildcards: true,
          partialWildcards: false,
          multiLabelWildcards: false,
          singleLabelSubdomains: false,
        });
  if (matched === undefined) {
    const names = leaf.subjectAltName ?? `no SAN, ${oneLine(leaf.subject)}`;
    throw new CryptoError('hostname', `certificate does not cover hostname ${host} (it has ${truncate(names, 200)})`);
  }
  return matched;
}

function checkValidity(cert: X509Certificate, now: Date, what: string): void {
  const from = parseDate(cert.validFrom);
  const to = parseDate(cert.validTo);
  if (now.getTime() < from.getTime()) {
    throw new CryptoError('not-yet-valid', `${what} (${describe(cert)}) is not valid before ${from.toISOString()}`);
  }
  if (now.getTime() > to.getTime()) {
    throw new CryptoError('expired', `${what} (${describe(cert)}) expired on ${to.toISOString()}`);
  }
}

function checkChain(
  leaf: X509Certificate,
  candidates: X509Certificate[],
  now: Date,
): { path: string[]; endsInSelfSigned: boolean } {
  // Drop duplicates and copies of the leaf (fullchain given as both cert and chain).
  const seen = new Set([leaf.fingerprint256]);
  const pool: X509Certificate[] = [];
  for (const candidate of candidates) {
    if (seen.has(candidate.fingerprint256)) continue;
    seen.add(candidate.fingerprint256);
    pool.push(candidate);
  }
  const path: string[] = [];
  let current = leaf;
  for (;;) {
    if (isSelfSigned(current)) return { path, endsInSelfSigned: true };
    const index = pool.findIndex((c) => isIssuedBy(current, c));
    if (index < 0) {
      if (current === leaf) {
        const why = pool.length === 0 ? 'no chain certificates were given and it is not self-signed' : 'it is not signed by any chain certificate';
        throw new CryptoError('chain', `certificate chain does not verify: ${why} (issuer ${oneLine(leaf.issuer)})`);
      }
      if (pool.length > 0) {
        throw new CryptoError(
          'chain',
          `certificate chain does not verify: ${describe(current)} is not signed by the remaining chain certificate(s) ${pool.map(describe).join('; ')}`,
        );
      }
      return { path, endsInSelfSigned: false };
    }
    const issuer = pool.splice(index, 1)[0]!;
    if (!issuer.ca) throw new CryptoError('chain', `certificate chain does not verify: ${describe(issuer)} is not a CA`);
    checkValidity(issuer, now, 'chain certificate');
    path.push(oneLine(issuer.subject));
    current = issuer;
  }
}

/** Name match (and key identifiers) plus a cryptographic signature check. */
function isIssuedBy(child: X509Certificate, issuer: X509Certificate): boolean {
  try {
    return child.checkIssued(issuer) && child.verify(issuer.publicKey);
  } catch {
    return false;
  }
}

function isSelfSigned(cert: X509Certificate): boolean {
  return isIssuedBy(cert, cert);
}

/**
 * Why a certificate must be renewed now (`expires in 12 days`, `expired 2 days ago`), or nothing
 * while more than `renewDays` of it are left (or there is none to look at).
 */
export function renewalReason(certPem: string | undefined, renewDays: number, now: number = Date.now()): string | undefined {
  if (typeof certPem !== 'string') return undefined;
  let end: number;
  try {
    end = parseDate(new X509Certificate(certPem).validTo).getTime();
  } catch {
    return 'the recorded certificate cannot be read: renewing it';
  }
  const days = (end - now) / 86_400_000;
  if (days > renewDays) return undefined;
  const whole = Math.floor(Math.abs(days));
  const count = `${whole} day${whole === 1 ? '' : 's'}`;
  return days >= 0 ? `the certificate expires in ${count} (renewed ${formatDays(renewDays)} before its end)` : `the certificate expired ${count} ago`;
}

function formatDays(days: number): string {
  const rounded = Math.round(days * 10) / 10;
  return `${rounded} day${rounded === 1 ? '' : 's'}`;
}

function parseDate(text: string): Date {
  const date = new Date(text); // Node 20 format: "Nov 25 21:43:00 2025 GMT"
  if (Number.isNaN(date.getTime())) throw new CryptoError('parse', `cannot parse certificate date ${JSON.stringify(text)}`);
  return date;
}

function describe(cert: X509Certificate): string {
  return `'${oneLine(cert.subject)}'`;
}

function oneLine(dn: string): string {
  return dn.split('\n').filter(Boolean).join(', ');
}

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 3)}...`;
}
