/**
 * Random secrets for the deployment: JupyterHub's crypt key, the
 * configurable-http-proxy auth token, and generated passwords.
 *
 * All come from `crypto.randomBytes` (the OS CSPRNG). Errors never echo the
 * value they complain about: it is a secret.
 */
import { randomBytes } from 'node:crypto';
import { CryptoError } from './errors.ts';

const KEY_HEX = /^[0-9a-f]{64}$/;
const HUB_KEY = /^[0-9a-f]{64};[0-9a-f]{64}$/;

/**
 * A new `JUPYTERHUB_CRYPT_KEY`: two independent 32-byte keys, each as 64
 * lowercase hex characters, joined with `;`.
 *
 * Why two keys from the start: JupyterHub encrypts with the first key and
 * decrypts with any, so the value already has the shape rotation produces and
 * tools never have to special-case a single key.
 */
export function makeHubCryptoKey(): string {
  return `${randomKeyHex()};${randomKeyHex()}`;
}

/**
 * True if `value` has exactly the shape makeHubCryptoKey produces
 * (`^[0-9a-f]{64};[0-9a-f]{64}$`). Why strict: a value of that shape is known
 * to be ours and safe to rotate without guessing about encodings.
 */
export function isHubCryptoKey(value: unknown): value is string {
  return typeof value === 'string' && HUB_KEY.test(value);
}

/**
 * Rotates a JupyterHub crypt key: returns `<new key>;<current first key>`.
 *
 * Why this order: JupyterHub encrypts new data with the first key and
 * decrypts with any of them. The current *first* key is the one all recently
 * written data (auth_state) is encrypted with, so it must stay; the current
 * second key is dropped, so data last written two rotations ago becomes
 * unreadable (JupyterHub re-encrypts auth_state when users log in again).
 *
 * Accepts one or more `;`-separated keys of 64 hex characters (either case,
 * surrounding whitespace ignored), which covers values made by hand per the
 * JupyterHub docs (`openssl rand -hex 32`). Throws CryptoError
 * `hub-key-format` otherwise; the message never contains the value.
 */
export function rotateHubCryptoKey(current: string): string {
  if (typeof current !== 'string') {
    throw new CryptoError('hub-key-format', 'current hub crypt key must be a string');
  }
  const keys = current
    .split(';')
    .map((k) => k.trim())
    .filter((k) => k !== '');
  if (keys.length === 0) throw new CryptoError('hub-key-format', 'current hub crypt key is empty');
  keys.forEach((key, i) => {
    if (!KEY_HEX.test(key.toLowerCase())) {
      throw new CryptoError(
        'hub-key-format',
        `current hub crypt key is malformed: key ${i + 1} of ${keys.length} is not 64 hex characters (32 bytes)`,
      );
    }
  });
  let fresh = randomKeyHex();
  const keep = keys[0]!.toLowerCase();
  while (fresh === keep) fresh = randomKeyHex(); // astronomically unlikely, but "new" must mean new
  return `${fresh};${keep}`;
}

/**
 * A `CONFIGPROXY_AUTH_TOKEN`: 32 random bytes as 64 lowercase hex characters.
 * Why hex: it goes into environment variables and HTTP headers unescaped.
 */
export function makeProxyToken(): string {
  return randomBytes(32).toString('hex');
}

/**
 * A random password of `bytes` random bytes (default 24, at least 16), as
 * base64url without padding (`[A-Za-z0-9_-]`, 32 characters for 24 bytes).
 * Why base64url: safe in URLs, shell words, YAML and `.env` files without quoting.
 */
export function makePassword(bytes = 24): string {
  if (!Number.isInteger(bytes) || bytes < 16 || bytes > 1024) {
    throw new CryptoError('options', `password size must be an integer between 16 and 1024 bytes, got ${String(bytes)}`);
  }
  return randomBytes(bytes).toString('base64url');
}

function randomKeyHex(): string {
  return randomBytes(32).toString('hex');
}
