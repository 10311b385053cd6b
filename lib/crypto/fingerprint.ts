import { X509Certificate } from 'node:crypto';
import { CryptoError } from './errors.ts';

/**
 * SHA-256 fingerprint of a certificate's DER encoding, as upper-case hex
 * pairs separated by colons (`AB:CD:...`, 95 characters).
 *
 * Why this format: it is exactly what `openssl x509 -noout -fingerprint
 * -sha256` prints after the `=` and what Node's `X509Certificate.fingerprint256`
 * returns, so an operator can compare it by eye with either tool.
 *
 * Only the first certificate of the PEM text is used.
 */
export function certificateFingerprint(certPem: string): string {
  try {
    return new X509Certificate(certPem).fingerprint256;
  } catch (cause) {
    throw new CryptoError('parse', 'cannot compute fingerprint: text is not a PEM X.509 certificate', { cause });
  }
}
