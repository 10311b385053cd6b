#!/usr/bin/env node
// Starts nub: bundles lib/ (TypeScript) with esbuild when it changed since the last start, then runs
// the CLI from that bundle with Node's own loader (no TypeScript loader hook on the hot path).
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { bundle, cacheDir, packageRoot } from '../lib/boot/bundle.js';

// With --verbose, stack traces point into the TypeScript sources. Only then: reading the source
// maps of every module costs a cached no-op several milliseconds.
if (process.argv.includes('--verbose') || process.argv.includes('-v')) process.setSourceMapsEnabled(true);
const { cli, index } = await bundle({
	entryPoints: { index: join(packageRoot, 'lib/index.ts'), cli: join(packageRoot, 'lib/cli/process.ts') },
	outdir: cacheDir(packageRoot, 'lib'),
	workingDir: packageRoot,
	splitting: true,
});
const { runFromProcess } = await import(pathToFileURL(cli).href);
await runFromProcess(index);
