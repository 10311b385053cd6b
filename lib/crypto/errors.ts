/**
 * The error type of the crypto library.
 *
 * Why one class with a `check` field instead of one class per failure: callers
 * (the CLI, deployment tasks) need to branch on *which* check failed, e.g. to
 * print a hint for an expired certificate, and a string union is easier to
 * switch over and to assert in tests than a class hierarchy.
 *
 * Messages are a single line and never contain key material, tokens or the
 * raw text of a secret the caller passed in: they end up in logs.
 */

/**
 * Names of the checks that can fail. Why a closed union: `switch` over it is
 * exhaustive in TypeScript, and a typo in a test is a compile error.
 */
export type CryptoCheck =
  /** An option passed to a generator is out of range (key size, hostname...). */
  | 'options'
  /** A file could not be read (readCertificateFiles). */
  | 'read'
  /** PEM/DER text could not be parsed. */
  | 'parse'
  /** The private key does not belong to the certificate. */
  | 'key-mismatch'
  /** The certificate does not cover the requested hostname. */
  | 'hostname'
  /** A certificate's validity ended before `now`. */
  | 'expired'
  /** A certificate's validity starts after `now`. */
  | 'not-yet-valid'
  /** The certificate chain does not verify. */
  | 'chain'
  /** A certificate given as a CA is not usable as one. */
  | 'ca'
  /** Diffie-Hellman prime is not a safe prime. */
  | 'dh-not-safe'
  /** Diffie-Hellman generator is out of range. */
  | 'dh-generator'
  /** Diffie-Hellman parameter generation failed or was aborted. */
  | 'dh-generate'
  /** A JupyterHub crypt key does not have the expected format. */
  | 'hub-key-format';

/**
 * Error thrown by everything under lib/crypto. Why it exists: see the module
 * comment; `check` tells callers which check failed without parsing messages.
 */
export class CryptoError extends Error {
  /** Which check failed; stable, meant for programs. */
  readonly check: CryptoCheck;

  /**
   * @param check which check failed
   * @param message one line, no secrets
   * @param options standard `cause`, kept for debugging (never key material)
   */
  constructor(check: CryptoCheck, message: string, options?: { cause?: unknown }) {
    // Force a single line: a multi-line message from a lower layer would break log parsing.
    super(message.replace(/\s*[\r\n]+\s*/g, ' '), options);
    this.name = 'CryptoError';
    this.check = check;
  }
}

/**
 * Type guard for CryptoError with an optional check. Why: `instanceof` alone
 * plus a field comparison is repeated in every caller and every test.
 */
export function isCryptoError(err: unknown, check?: CryptoCheck): err is CryptoError {
  return err instanceof CryptoError && (check === undefined || err.check === check);
}
