/**
 * Child script: generates fresh DH parameters once with makeDhParams, writes the PEM to a file
 * (as `openssl dhparam -out FILE` does) and prints one JSON object on stdout. Run as
 * `node --import=./scripts/safe-tsx.mjs bench/lib/dh-child.ts BITS OUT_FILE`.
 *
 *   bootMs      Node + tsx boot, this script loaded (performance.now() at its first line)
 *   importMs    importing lib/crypto/dhparam.ts (node-forge included)
 *   generateMs  makeDhParams({ bits }) plus writing the PEM: the figure bench/secrets.ts compares
 *
 * The parent checks the file (bench/secrets.ts), so a broken result is never counted.
 */
import { writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

// performance.now() counts from the process's start: this is Node's boot plus the tsx loader.
const bootMs = performance.now();

const [bitsText, out] = process.argv.slice(2);
const bits = Number(bitsText);
if (!Number.isInteger(bits) || out === undefined) {
	process.stderr.write('usage: node --import=./scripts/safe-tsx.mjs bench/lib/dh-child.ts BITS OUT_FILE\n');
	process.exit(2);
}

const importStarted = performance.now();
const { makeDhParams } = await import('../../lib/crypto/dhparam.ts');
const importMs = performance.now() - importStarted;

// The timed span: what a running nub pays for a PEM of fresh parameters, from the call (which
// starts one worker thread per core) to the PEM on disk.
const started = performance.now();
const pem = await makeDhParams({ bits });
writeFileSync(out, pem);
const generateMs = performance.now() - started;

process.stdout.write(`${JSON.stringify({ bootMs, importMs, generateMs })}\n`);
