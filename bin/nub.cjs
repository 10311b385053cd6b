#!/usr/bin/env node
'use strict';
// Starts nub: bundles lib/ (TypeScript) with esbuild when it changed since the last start, then runs
// the CLI from that bundle with Node's own loader: CommonJS, so that a run that loads no ES module
// never starts Node's ES module loader (no TypeScript loader hook on the hot path either).
const { join } = require('node:path');
const { bundle, cacheDir, loadBundled, packageRoot } = require('../lib/boot/bundle.cjs');

// With --verbose, stack traces point into the TypeScript sources. Only then: reading the source
// maps of every module costs a cached no-op several milliseconds.
if (process.argv.includes('--verbose') || process.argv.includes('-v')) process.setSourceMapsEnabled(true);
// The command names the code cache: each compiles different parts of nub (see loadBundled).
const command = process.argv.slice(2).find(arg => /^[a-z]+$/.test(arg)) ?? 'other';
bundle({ entryPoints: { nub: join(packageRoot, 'lib/nub.ts') }, outdir: cacheDir(packageRoot, 'lib'), workingDir: packageRoot })
	.then(async ({ nub }) => {
		const loaded = await loadBundled(/** @type {string} */ (nub), { codeCache: command });
		const cli = /** @type {typeof import('../lib/nub.ts')} */ (/** @type {unknown} */ (loaded));
		await cli.runFromProcess(/** @type {string} */ (nub));
	})
	.catch(error => {
		process.stderr.write(`nub: internal error (a bug in nub; please report it):\n${error instanceof Error ? error.stack : String(error)}\n`);
		process.exitCode = 70;
	});
