/**
 * Diffie-Hellman parameters (`-----BEGIN DH PARAMETERS-----`, PKCS#3) for
 * TLS servers that want a `ssl_dhparam` file (nginx, haproxy, ...).
 *
 * Two ways to get them:
 * - `group: 'ffdhe2048'`: the RFC 7919 group, instantly. Recommended: a
 *   well-known, vetted safe prime is as good as a fresh one for DH.
 * - fresh generation of a random safe prime, which takes seconds to minutes.
 */
import { checkPrimeSync } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import forge from 'node-forge';
import { CryptoError } from './errors.ts';

/**
 * The RFC 7919 (appendix A.1) ffdhe2048 prime, hex. Why a constant: it is the
 * standard group, identical to what `openssl genpkey -genparam -algorithm DH
 * -pkeyopt group:ffdhe2048` produces; the generator is 2.
 */
export const FFDHE2048_PRIME_HEX =
  'FFFFFFFFFFFFFFFFADF85458A2BB4A9AAFDC5620273D3CF1D8B9C583CE2D3695A9E13641146433FBCC939DCE249B3EF97D2FE363630C75D8F681B202AEC4617AD3DF1ED5D5FD65612433F51F5F066ED0856365553DED1AF3B557135E7F57C935984F0C70E0E68B77E2A689DAF3EFE8721DF158A136ADE73530ACCA4F483A797ABC0AB182B324FB61D108A94BB2C8E3FBB96ADAB760D7F4681D4F42A3DE394DF4AE56EDE76372BB190B07A7C8EE0A6D709E02FCE1CDF7E2ECC03404CD28342F619172FE9CE98583FF8E4F1232EEF28183C3FE3B1B4C6FAD733BB5FCBC2EC22005C58EF1837D1683B2C6F34A26C1B2EFFA886B423861285C97FFFFFFFFFFFFFFFF';

/** Decoded DH parameters. */
export interface DhParams {
  /** The modulus p. */
  prime: bigint;
  /** The generator g. */
  generator: bigint;
}

/** Options of makeDhParams. */
export interface DhParamOptions {
  /** Size of a freshly generated prime, 512..8192; default 2048. Below 2048 is for tests only. */
  bits?: number;
  /** Return a standard group instead of generating (instant). */
  group?: 'ffdhe2048';
  /** Number of parallel generators; default os.availableParallelism(). */
  workers?: number;
  /** Aborts the generation (workers are terminated, the promise rejects with check `dh-generate`). */
  signal?: AbortSignal;
}

/**
 * Worker source (plain JS, CommonJS, `eval: true`) so it runs the same under
 * tsx and plain node.
 *
 * Why not a single `crypto.generatePrime(bits, { safe: true })` call per
 * worker: that native call cannot be interrupted. `worker.terminate()` only
 * takes effect when it returns, so the losing workers would keep a core busy
 * (and keep the process from exiting) for as long as their own search takes,
 * often longer than the winner's. Instead each worker runs the same kind of
 * search as OpenSSL in short native steps: a random window of candidates
 * q = 11 (mod 12) is sieved in JS against the primes below 2^16, for both q
 * and p = 2q + 1; survivors get one Miller-Rabin round each
 * (crypto.checkPrimeSync with checks: 1), and a pair that passes gets the full
 * OpenSSL primality test on both. Between steps termination is immediate.
 *
 * q = 11 (mod 12) makes p = 23 (mod 24), like `openssl dhparam -2`: 2 is then
 * a quadratic residue, so g = 2 generates the subgroup of prime order q.
 * Measured here (one core), the mean time matches native generatePrime.
 */
const WORKER_SOURCE = `
'use strict';
const { parentPort, workerData } = require('node:worker_threads');
const { randomBytes, checkPrimeSync } = require('node:crypto');
const bits = workerData.bits;
const LIMIT = 1 << 16, WINDOW = 1 << 16;
const composite = new Uint8Array(LIMIT);
const primes = [], primesBig = [], inv12 = [];
for (let i = 2; i < LIMIT; i++) {
  if (composite[i]) continue;
  for (let j = i * i; j < LIMIT; j += i) composite[j] = 1;
  if (i < 5) continue; // 2 and 3 are handled by q = 11 (mod 12)
  let t = 0, newT = 1, r = i, newR = 12; // inverse of 12 mod i, extended Euclid
  while (newR !== 0) {
    const k = Math.floor(r / newR);
    [t, newT] = [newT, t - k * newT];
    [r, newR] = [newR, r - k * newR];
  }
  primes.push(i); primesBig.push(BigInt(i)); inv12.push(t < 0 ? t + i : t);
}
const top = 1n << BigInt(bits - 2), limit = 1n << BigInt(bits - 1);
parentPort.postMessage(search().toString(16));

function search() {
  for (;;) {
    let q0 = (BigInt('0x' + randomBytes(Math.ceil(bits / 8)).toString('hex')) % limit) | top;
    q0 = q0 - (q0 % 12n) + 11n;
    const sieve = new Uint8Array(WINDOW);
    for (let i = 0; i < primes.length; i++) {
      const r = primes[i], inv = inv12[i], m = Number(q0 % primesBig[i]);
      for (let k = ((r - m) * inv) % r; k < WINDOW; k += r) sieve[k] = 1; // r divides q
      for (let k = ((((r - 1) / 2 - m + r) % r) * inv) % r; k < WINDOW; k += r) sieve[k] = 1; // r divides 2q+1
    }
    for (let k = 0; k < WINDOW; k++) {
      if (sieve[k]) continue;
      const q = q0 + 12n * BigInt(k);
      if (q >= limit) break;
      if (!checkPrimeSync(q, { checks: 1 })) continue;
      const p = 2n * q + 1n;
      if (!checkPrimeSync(p, { checks: 1 })) continue;
      if (checkPrimeSync(q) && checkPrimeSync(p)) return p;
    }
  }
}
`;

/**
 * Returns DH parameters as PEM. With `group: 'ffdhe2048'` the RFC 7919 group,
 * else a fresh safe prime of `bits` bits (p = 23 mod 24) with generator 2,
 * found by racing one worker thread per core; the first result wins and the
 * other workers are terminated.
 */
export async function makeDhParams(opts: DhParamOptions = {}): Promise<string> {
  if (opts.group !== undefined) {
    if (opts.group !== 'ffdhe2048') throw new CryptoError('options', `unknown DH group ${JSON.stringify(opts.group)}`);
    if (opts.bits !== undefined && opts.bits !== 2048) {
      throw new CryptoError('options', `DH group ffdhe2048 has 2048 bits, not ${String(opts.bits)}`);
    }
    return encodeDhParams({ prime: BigInt(`0x${FFDHE2048_PRIME_HEX}`), generator: 2n });
  }
  const bits = opts.bits ?? 2048;
  if (!Number.isInteger(bits) || bits < 512 || bits > 8192) {
    throw new CryptoError('options', `DH prime size must be an integer between 512 and 8192 bits, got ${String(bits)}`);
  }
  const count = opts.workers ?? availableParallelism();
  if (!Number.isInteger(count) || count < 1) {
    throw new CryptoError('options', `workers must be a positive integer, got ${String(count)}`);
  }
  const prime = await raceWorkers(bits, count, opts.signal);
  return encodeDhParams({ prime, generator: 2n });
}

function raceWorkers(bits: number, count: number, signal: AbortSignal | undefined): Promise<bigint> {
  return new Promise<bigint>((resolve, reject) => {
    const abortError = () => new CryptoError('dh-generate', 'DH parameter generation was aborted', { cause: signal?.reason });
    if (signal?.aborted) {
      reject(abortError());
      return;
    }
    const workers: Worker[] = [];
    let settled = false;
    let exited = 0;
    let lastError: unknown;
    const finish = (settle: () => void) => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener('abort', onAbort);
      for (const worker of workers) void worker.terminate();
      settle();
    };
    const onAbort = () => finish(() => reject(abortError()));
    signal?.addEventListener('abort', onAbort, { once: true });

    for (let i = 0; i < count; i++) {
      // execArgv: [] keeps loaders such as tsx out of the workers: the source is plain JS.
      const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { bits }, execArgv: [] });
      workers.push(worker);
      worker.once('message', (hex: unknown) => {
        const prime = typeof hex === 'string' && /^[0-9a-f]+$/.test(hex) ? BigInt(`0x${hex}`) : -1n;
        if (prime.toString(2).length !== bits || prime % 24n !== 23n) {
          finish(() => reject(new CryptoError('dh-generate', 'DH worker returned an invalid prime')));
        } else {
          finish(() => resolve(prime));
        }
      });
      worker.once('error', (err) => {
        lastError = err;
      });
      worker.once('exit', () => {
        exited++;
        if (exited === count) {
          finish(() => reject(new CryptoError('dh-generate', 'all DH generator workers failed', { cause: lastError })));
        }
      });
    }
  });
}

/**
 * Encodes `DHParameter ::= SEQUENCE { prime INTEGER, base INTEGER }` as
 * DER and wraps it as `DH PARAMETERS` PEM with 64-character lines (the layout
 * OpenSSL writes). Why exported: to write parameters obtained elsewhere, and
 * for tests to build deliberately bad parameters.
 */
export function encodeDhParams(params: DhParams): string {
  if (params.prime <= 0n || params.generator <= 0n) throw new CryptoError('options', 'DH prime and generator must be positive');
  const { asn1 } = forge;
  const seq = asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [
    asn1.create(asn1.Class.UNIVERSAL, asn1.Type.INTEGER, false, integerBytes(params.prime)),
    asn1.create(asn1.Class.UNIVERSAL, asn1.Type.INTEGER, false, integerBytes(params.generator)),
  ]);
  const base64 = Buffer.from(asn1.toDer(seq).getBytes(), 'binary').toString('base64');
  const lines = base64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN DH PARAMETERS-----\n${lines.join('\n')}\n-----END DH PARAMETERS-----\n`;
}

/**
 * Decodes a `DH PARAMETERS` PEM (PKCS#3; an optional privateValueLength is
 * ignored). Throws CryptoError `parse` for anything else, including the X9.42
 * `X9.42 DH PARAMETERS` form.
 */
export function parseDhParams(pem: string): DhParams {
  const match = /-----BEGIN DH PARAMETERS-----([\s\S]*?)-----END DH PARAMETERS-----/.exec(pem);
  if (!match) throw new CryptoError('parse', 'text contains no PEM DH PARAMETERS block');
  const body = match[1]!.replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(body)) throw new CryptoError('parse', 'DH PARAMETERS block is not valid base64');
  let seq: forge.asn1.Asn1;
  try {
    seq = forge.asn1.fromDer(Buffer.from(body, 'base64').toString('binary'), true);
  } catch (cause) {
    throw new CryptoError('parse', 'DH PARAMETERS block is not valid DER', { cause });
  }
  const { Class, Type } = forge.asn1;
  const items = Array.isArray(seq.value) ? seq.value : [];
  const isInt = (node: forge.asn1.Asn1 | undefined): node is forge.asn1.Asn1 =>
    node !== undefined && node.tagClass === Class.UNIVERSAL && node.type === Type.INTEGER && typeof node.value === 'string';
  if (seq.tagClass !== Class.UNIVERSAL || seq.type !== Type.SEQUENCE || items.length < 2 || items.length > 3 || !items.every(isInt)) {
    throw new CryptoError('parse', 'DH PARAMETERS is not a SEQUENCE of prime, base [, privateValueLength] INTEGERs');
  }
  return { prime: integerValue(items[0]!), generator: integerValue(items[1]!) };
}

/**
 * Checks DH parameters: throws `dh-generator` unless 1 < g < p - 1, and
 * `dh-not-safe` unless p is prime and (p - 1) / 2 is prime (OpenSSL's
 * primality test, with its default number of rounds). Why safe primes: with
 * p = 2q + 1 the only small subgroups have order 1 and 2, so a peer cannot
 * force the shared secret into a small set. Returns the parameters and bit size.
 */
export function checkDhParams(pem: string): DhParams & { bits: number } {
  const { prime, generator } = parseDhParams(pem);
  if (prime < 5n || prime % 2n === 0n) throw new CryptoError('dh-not-safe', 'DH prime is not an odd number greater than 3');
  if (generator <= 1n || generator >= prime - 1n) {
    throw new CryptoError('dh-generator', 'DH generator must be greater than 1 and less than p - 1');
  }
  if (!checkPrimeSync(prime)) throw new CryptoError('dh-not-safe', 'DH prime p is not prime');
  if (!checkPrimeSync((prime - 1n) / 2n)) throw new CryptoError('dh-not-safe', 'DH prime is not a safe prime: (p - 1) / 2 is not prime');
  return { prime, generator, bits: prime.toString(2).length };
}

/** Minimal two's-complement big-endian bytes of a non-negative integer (forge binary string). */
function integerBytes(value: bigint): string {
  let hex = value.toString(16);
  if (hex.length % 2 === 1) hex = `0${hex}`;
  if (Number.parseInt(hex[0]!, 16) >= 8) hex = `00${hex}`;
  return forge.util.hexToBytes(hex);
}

/** Non-negative INTEGER content to bigint; negative values are a parse error. */
function integerValue(node: forge.asn1.Asn1): bigint {
  const bytes = node.value as string;
  if (bytes.length === 0 || bytes.charCodeAt(0) >= 0x80) throw new CryptoError('parse', 'DH PARAMETERS contains an empty or negative INTEGER');
  return BigInt(`0x${forge.util.bytesToHex(bytes)}`);
}
