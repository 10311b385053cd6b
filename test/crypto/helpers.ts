/**
 * Shared helpers for the crypto tests: a temp directory that is always
 * removed, the real openssl binary, and assertions on CryptoError.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';
import { CryptoError } from '../../lib/crypto/errors.ts';
import type { CryptoCheck } from '../../lib/crypto/errors.ts';
import { requireProgram } from '../helpers/tools.ts';


/** Runs `fn` with a fresh temp directory and a `write(name, text)` helper; the directory is removed afterwards. */
export async function withTempDir<T>(fn: (dir: string, write: (name: string, text: string) => string) => T | Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'nub-crypto-test-'));
  const write = (name: string, text: string) => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };
  try {
    return await fn(dir, write);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Runs openssl and returns its exit status and stdout+stderr, without throwing. */
export function opensslStatus(args: string[], cwd?: string): { status: number; output: string } {
  const run = spawnSync(requireProgram('openssl', 'openssl') /* the system OpenSSL: an independent implementation to check ours against */, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (run.error) throw run.error;
  return { status: run.status ?? -1, output: `${run.stdout}${run.stderr}` };
}

/** Runs openssl and returns stdout+stderr; throws (with openssl's output) on a non-zero exit. */
export function openssl(args: string[], cwd?: string): string {
  const { status, output } = opensslStatus(args, cwd);
  if (status !== 0) throw new Error(`openssl ${args.join(' ')} exited with ${status}: ${output}`);
  return output;
}

/** Asserts that `fn` throws a CryptoError with `check`, a one-line message, and returns it. */
export function throwsCheck(t: ExecutionContext, fn: () => unknown, check: CryptoCheck): CryptoError {
  const err = t.throws(fn, { instanceOf: CryptoError });
  t.is(err.check, check, `expected check ${check}, got ${err.check}: ${err.message}`);
  t.false(err.message.includes('\n'), 'message is one line');
  return err;
}

/** Async variant of throwsCheck. */
export async function throwsCheckAsync(t: ExecutionContext, fn: () => Promise<unknown>, check: CryptoCheck): Promise<CryptoError> {
  const err = await t.throwsAsync(fn, { instanceOf: CryptoError });
  t.is(err.check, check, `expected check ${check}, got ${err.check}: ${err.message}`);
  t.false(err.message.includes('\n'), 'message is one line');
  return err;
}

/** The base64 body lines of a PEM text: used to assert that messages never contain key material. */
export function pemBodyLines(pem: string): string[] {
  return pem.split('\n').filter((line) => line !== '' && !line.startsWith('-----'));
}
