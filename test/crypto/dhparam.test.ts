import { checkPrimeSync, generatePrimeSync } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import test from 'ava';
import forge from 'node-forge';
import { FFDHE2048_PRIME_HEX, checkDhParams, encodeDhParams, makeDhParams, parseDhParams } from '../../lib/crypto/dhparam.ts';
import { openssl, opensslStatus, throwsCheck, throwsCheckAsync, withTempDir } from './helpers.ts';

/** `openssl dhparam -check` on a PEM text: exit status and output. */
function opensslCheck(pem: string): Promise<{ status: number; output: string }> {
  return withTempDir((_dir, write) => opensslStatus(['dhparam', '-check', '-noout', '-in', write('dh.pem', pem)]));
}

/** CPU time (ms, all threads of this process) used while sleeping `ms`: shows whether worker threads are still running. */
async function cpuWhileIdle(ms: number): Promise<number> {
  const before = process.cpuUsage();
  await sleep(ms);
  const used = process.cpuUsage(before);
  return (used.user + used.system) / 1000;
}

/**
 * Whether this process goes quiet (under 60 ms of CPU in a 300 ms window) within 5 s: the workers
 * have stopped. A worker in the middle of one native primality test of a 4096-bit candidate only
 * stops when that test returns, and a loaded machine stretches that, so the test waits for quiet
 * rather than demanding it in a fixed window; a worker that kept searching never gets there.
 */
async function goesQuiet(): Promise<{ quiet: boolean; last: number }> {
  let last = Infinity;
  for (const deadline = Date.now() + 5000; Date.now() < deadline; ) {
    last = await cpuWhileIdle(300);
    if (last < 60) return { quiet: true, last };
  }
  return { quiet: false, last };
}

/** A prime p for which (p - 1) / 2 is composite. */
function unsafePrime(bits: number): bigint {
  for (;;) {
    const p = generatePrimeSync(bits, { bigint: true });
    if (!checkPrimeSync((p - 1n) / 2n)) return p;
  }
}

test('ffdhe2048 is byte for byte what OpenSSL emits for its built-in group, and passes openssl dhparam -check', async (t) => {
  const pem = await makeDhParams({ group: 'ffdhe2048' });
  await withTempDir((dir) => {
    const theirs = openssl(['genpkey', '-genparam', '-algorithm', 'DH', '-pkeyopt', 'group:ffdhe2048'], dir);
    t.is(pem, theirs);
  });
  t.is((await opensslCheck(pem)).status, 0);
  const { prime, generator, bits } = checkDhParams(pem);
  t.is(prime.toString(16).toUpperCase(), FFDHE2048_PRIME_HEX);
  t.is(generator, 2n);
  t.is(bits, 2048);
  t.is(prime % 24n, 23n, 'p = 23 mod 24 like generated params');
});

test('ffdhe2048 with a different bits value is refused', async (t) => {
  await throwsCheckAsync(t, () => makeDhParams({ group: 'ffdhe2048', bits: 3072 }), 'options');
  t.is(await makeDhParams({ group: 'ffdhe2048', bits: 2048 }), await makeDhParams({ group: 'ffdhe2048' }));
});

for (const bits of [512, 1024]) {
  test(`generated ${bits}-bit parameters pass openssl dhparam -check and our own check`, async (t) => {
    const pem = await makeDhParams({ bits });
    t.regex(pem, /^-----BEGIN DH PARAMETERS-----\n([A-Za-z0-9+/=]{64}\n)*[A-Za-z0-9+/=]{1,64}\n-----END DH PARAMETERS-----\n$/);
    const check = await opensslCheck(pem);
    t.is(check.status, 0, check.output);
    t.regex(check.output, /DH parameters appear to be ok/);
    await withTempDir((_dir, write) => {
      t.regex(openssl(['dhparam', '-in', write('dh.pem', pem), '-noout', '-text']), new RegExp(`DH Parameters: \\(${bits} bit\\)`));
    });
    const params = checkDhParams(pem);
    t.is(params.bits, bits);
    t.is(params.generator, 2n);
    t.is(params.prime % 24n, 23n);
  });
}

test('two generations give different primes; a single worker works too', async (t) => {
  const [a, b] = await Promise.all([makeDhParams({ bits: 512, workers: 1 }), makeDhParams({ bits: 512, workers: 1 })]);
  t.not(parseDhParams(a!).prime, parseDhParams(b!).prime);
});

test('checkDhParams rejects a prime that is not safe, as openssl does', async (t) => {
  const pem = encodeDhParams({ prime: unsafePrime(512), generator: 2n });
  const err = throwsCheck(t, () => checkDhParams(pem), 'dh-not-safe');
  t.regex(err.message, /\(p - 1\) \/ 2 is not prime/);
  const theirs = await opensslCheck(pem);
  t.not(theirs.status, 0);
  t.regex(theirs.output, /not safe prime/);
});

test('checkDhParams rejects a composite modulus, as openssl does', async (t) => {
  const p = generatePrimeSync(256, { bigint: true, safe: true });
  const q = generatePrimeSync(256, { bigint: true, safe: true });
  const pem = encodeDhParams({ prime: p * q, generator: 2n });
  const err = throwsCheck(t, () => checkDhParams(pem), 'dh-not-safe');
  t.regex(err.message, /p is not prime/);
  t.regex((await opensslCheck(pem)).output, /not prime/);
  throwsCheck(t, () => checkDhParams(encodeDhParams({ prime: 2n ** 512n, generator: 2n })), 'dh-not-safe');
});

test('checkDhParams rejects generators outside 1 < g < p - 1', async (t) => {
  const { prime } = parseDhParams(await makeDhParams({ group: 'ffdhe2048' }));
  for (const generator of [1n, prime - 1n, prime + 5n]) {
    throwsCheck(t, () => checkDhParams(encodeDhParams({ prime, generator })), 'dh-generator');
  }
  t.notThrows(() => checkDhParams(encodeDhParams({ prime, generator: 5n })));
});

test('encode/parse round-trip, including values with the top bit set, and the optional privateValueLength', (t) => {
  for (const prime of [0xffn, 0x7fn, 0x80n, 2n ** 511n + 1n, 12345678901234567890n]) {
    t.deepEqual(parseDhParams(encodeDhParams({ prime, generator: 2n })), { prime, generator: 2n });
  }
  const { asn1 } = forge;
  const int = (hex: string) => asn1.create(asn1.Class.UNIVERSAL, asn1.Type.INTEGER, false, forge.util.hexToBytes(hex));
  const der = asn1.toDer(asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [int('00c5'), int('02'), int('0100')])).getBytes();
  const pem = `-----BEGIN DH PARAMETERS-----\n${Buffer.from(der, 'binary').toString('base64')}\n-----END DH PARAMETERS-----\n`;
  t.deepEqual(parseDhParams(pem), { prime: 0xc5n, generator: 2n });
});

test('parseDhParams reports unparseable input as check parse', (t) => {
  throwsCheck(t, () => parseDhParams('nothing here'), 'parse');
  throwsCheck(t, () => parseDhParams('-----BEGIN DH PARAMETERS-----\n!!!\n-----END DH PARAMETERS-----'), 'parse');
  throwsCheck(t, () => parseDhParams('-----BEGIN DH PARAMETERS-----\nAAAA\n-----END DH PARAMETERS-----'), 'parse');
  const { asn1 } = forge;
  const oneInt = asn1.toDer(asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [asn1.create(asn1.Class.UNIVERSAL, asn1.Type.INTEGER, false, '\x05')])).getBytes();
  throwsCheck(t, () => parseDhParams(`-----BEGIN DH PARAMETERS-----\n${Buffer.from(oneInt, 'binary').toString('base64')}\n-----END DH PARAMETERS-----`), 'parse');
  const negative = asn1.toDer(asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [asn1.create(asn1.Class.UNIVERSAL, asn1.Type.INTEGER, false, '\x85'), asn1.create(asn1.Class.UNIVERSAL, asn1.Type.INTEGER, false, '\x02')])).getBytes();
  throwsCheck(t, () => parseDhParams(`-----BEGIN DH PARAMETERS-----\n${Buffer.from(negative, 'binary').toString('base64')}\n-----END DH PARAMETERS-----`), 'parse');
});

test('bad options are refused before any work', async (t) => {
  await throwsCheckAsync(t, () => makeDhParams({ bits: 256 }), 'options');
  await throwsCheckAsync(t, () => makeDhParams({ bits: 1024.5 }), 'options');
  await throwsCheckAsync(t, () => makeDhParams({ bits: 1024, workers: 0 }), 'options');
  await throwsCheckAsync(t, () => makeDhParams({ group: 'modp14' as 'ffdhe2048' }), 'options');
});

// Serial (run alone in this file) because they measure this process's CPU time.
test.serial('the losing workers really stop once a winner is found', async (t) => {
  const pem = await makeDhParams({ bits: 1024, workers: 4 });
  t.is(checkDhParams(pem).bits, 1024);
  const { quiet, last } = await goesQuiet();
  t.true(quiet, `still ${last.toFixed(0)} ms of CPU per 300 ms, 5 s after the result`);
});

test.serial('an AbortSignal stops a 4096-bit generation promptly and the workers with it', async (t) => {
  const controller = new AbortController();
  const started = Date.now();
  const pending = makeDhParams({ bits: 4096, workers: 2, signal: controller.signal });
  setTimeout(() => controller.abort(new Error('test abort')), 300);
  const err = await throwsCheckAsync(t, () => pending, 'dh-generate');
  t.regex(err.message, /aborted/);
  // A 4096-bit generation that did not stop would take minutes; the bound leaves room for a busy machine.
  t.true(Date.now() - started < 10_000, `rejected after ${Date.now() - started} ms`);
  const { quiet, last } = await goesQuiet();
  t.true(quiet, `still ${last.toFixed(0)} ms of CPU per 300 ms, 5 s after the abort`);
  await throwsCheckAsync(t, () => makeDhParams({ bits: 2048, signal: AbortSignal.abort() }), 'dh-generate');
});
