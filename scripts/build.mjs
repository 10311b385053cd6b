// @ts-check
/**
 * Compiles lib/ into dist/: `npm run build`, run by npm on `npm ci` and `npm install` of this
 * project (`prepare`), and by bin/nub.js when dist/ is missing or older than lib/.
 *
 * Every lib/<path>.ts is an entry point, compiled to dist/<path>.js, so a Nubfile that imports
 * lib/<path>.ts can be given dist/<path>.js instead (lib/boot/bundle.ts). Code that several of
 * them share sits in chunks (dist/chunk-<hash>.js) that all of them import: each module of lib/ is
 * one instance in a process, whichever entry loaded it. npm packages stay external (Node loads
 * them from node_modules), except @kubernetes/client-node, which is bundled with what it imports:
 * as lib/ imports it only with `await import()`, it lands in a chunk of its own, loaded when a
 * task first connects to a cluster, one file instead of its several hundred modules.
 *
 * The entry files are written last, each by rename, and the stamp (dist/.built) after them, so a
 * process that finds the stamp finds complete outputs; chunks are named by their content, and
 * those of an earlier build are deleted once they are an hour old (a process still running may
 * yet import them).
 */
import { mkdirSync, readdirSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package's root: lib/ is compiled from here, into dist/ here. */
export const packageRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** Bundled into dist/, with every module they import; all other packages stay external. */
const bundled = ['@kubernetes/client-node'];

/** Chunks of an earlier build that no entry imports any more are deleted once this old. */
const pruneAfterMs = 60 * 60 * 1000;

/**
 * Compiles `root`/lib into `root`/dist. Throws esbuild's error (with every message) when a file
 * does not compile.
 * @param {string} [root]
 */
export async function build(root = packageRoot) {
	const { build: esbuild } = await import('esbuild');
	// The stamp bears the time the build started: a file of lib/ changed while it ran is newer.
	const started = new Date();
	const lib = join(root, 'lib');
	const dist = join(root, 'dist');
	const result = await esbuild({
		entryPoints: typeScriptFiles(lib),
		outbase: lib,
		outdir: dist,
		absWorkingDir: root,
		bundle: true,
		splitting: true,
		format: 'esm',
		platform: 'node',
		target: `node${process.versions.node.split('.')[0]}`,
		chunkNames: 'chunk-[hash]',
		// CommonJS code bundled from client-node's dependencies calls `require` for Node's modules.
		banner: { js: "import { createRequire as __nubCreateRequire } from 'node:module';\nconst require = __nubCreateRequire(import.meta.url);" },
		sourcemap: 'linked',
		write: false,
		logLevel: 'silent',
		plugins: [externalPackages()],
	});
	mkdirSync(dist, { recursive: true });
	const written = new Set();
	const entries = [];
	for (const file of result.outputFiles) {
		written.add(relative(dist, file.path));
		if (/[\\/]chunk-[^\\/]+$/.test(file.path)) writeAtomically(file.path, file.contents);
		else entries.push(file);
	}
	for (const file of entries) writeAtomically(file.path, file.contents);
	const stamp = join(dist, '.built');
	writeAtomically(stamp, `${started.toISOString()}\n`);
	utimesSync(stamp, started, started);
	prune(dist, written);
}

/**
 * Packages stay external but those of `bundled`. What a bundled package imports is bundled too:
 * an importer in node_modules can only be part of a bundled package, as no other is read.
 * @returns {import('esbuild').Plugin}
 */
function externalPackages() {
	return {
		name: 'nub-external-packages',
		setup(build) {
			build.onResolve({ filter: /^[^./]/ }, args => {
				if (args.path.startsWith('node:')) return { external: true };
				if (bundled.some(name => args.path === name || args.path.startsWith(`${name}/`))) return undefined;
				if (args.importer.split(/[\\/]/).includes('node_modules')) return undefined;
				return { external: true };
			});
		},
	};
}

/**
 * Every .ts file under `dir`, tests and declarations aside.
 * @param {string} dir
 * @returns {string[]}
 */
function typeScriptFiles(dir) {
	return readdirSync(dir, { recursive: true, withFileTypes: true })
		.filter(entry => entry.isFile() && entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts'))
		.map(entry => join(entry.parentPath, entry.name));
}

/**
 * Deletes what this build did not write, once it is old enough that no process still running can
 * be about to import it.
 * @param {string} dist
 * @param {Set<string>} keep
 */
function prune(dist, keep) {
	const now = Date.now();
	for (const entry of readdirSync(dist, { recursive: true, withFileTypes: true })) {
		if (!entry.isFile()) continue;
		const path = join(entry.parentPath, entry.name);
		const name = relative(dist, path);
		if (keep.has(name) || name === '.built' || name.endsWith('.tmp')) continue;
		try {
			if (now - statSync(path).mtimeMs > pruneAfterMs) rmSync(path);
		} catch {
			// Gone already.
		}
	}
}

/**
 * @param {string} path
 * @param {Uint8Array | string} contents
 */
function writeAtomically(path, contents) {
	mkdirSync(dirname(path), { recursive: true });
	const temporary = `${path}.${process.pid}.tmp`;
	writeFileSync(temporary, contents);
	renameSync(temporary, path);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
	await build().catch(error => {
		process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
		process.exitCode = 1;
	});
}
