#!/usr/bin/env node
// @ts-check
/**
 * Starts nub: the CLI that scripts/build.mjs compiled from lib/ into dist/. When dist/ is missing
 * or older than a file of lib/ (a fresh clone that skipped `npm ci`, an edit, a checkout), lib/ is
 * compiled first.
 */
import { accessSync, constants, existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

try {
	if (isStale()) await compile();
	const cli = /** @type {typeof import('../lib/nub.ts')} */ (await import(new URL('../dist/nub.js', import.meta.url).href));
	await cli.runFromProcess(join(root, 'dist', 'index.js'));
} catch (error) {
	process.stderr.write(`nub: internal error (a bug in nub; please report it):\n${error instanceof Error ? error.stack : String(error)}\n`);
	process.exitCode = 70;
}

/**
 * Whether dist/ is missing or older than lib/ or the build script: one stat for each of the 105
 * files and folders of lib/ (a folder's time changes when a file is added or removed), about 2 ms
 * here. Worth paying at every start: an edit to lib/ always runs, with no build to remember.
 */
function isStale() {
	let built;
	try {
		built = statSync(join(root, 'dist', '.built')).mtimeMs;
	} catch {
		return true;
	}
	const lib = join(root, 'lib');
	if (statSync(lib).mtimeMs > built || statSync(join(root, 'scripts', 'build.mjs')).mtimeMs > built) return true;
	for (const name of readdirSync(lib, { recursive: true, encoding: 'utf8' })) {
		if (statSync(join(lib, name)).mtimeMs > built) return true;
	}
	return false;
}

/** Compiles lib/ into dist/, or says in one line who can when this user cannot write there. */
async function compile() {
	const dist = join(root, 'dist');
	try {
		accessSync(existsSync(dist) ? dist : root, constants.W_OK);
	} catch {
		process.stderr.write(`nub: ${dist} is missing or older than lib/ and you cannot write there: run \`npm run build\` in ${root}\n`);
		process.exit(2);
	}
	const { build } = await import('../scripts/build.mjs');
	await build(root);
}
