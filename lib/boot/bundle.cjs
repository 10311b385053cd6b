// @ts-check
'use strict';
/**
 * Loads TypeScript without a loader hook: esbuild bundles an entry point and its local imports into
 * plain JavaScript once, and later starts only check that none of the inputs changed (one `stat`
 * per input file) before loading the cached output with Node's own loader. This is what lets a
 * cached no-op `nub run` start in tens of milliseconds instead of paying for a TypeScript loader on
 * every module.
 *
 * Outputs are CommonJS (`.cjs`, loaded with `require`) where they can be: a process that loads no
 * ES module never starts Node's ES module loader, which costs a start several milliseconds. An
 * entry with a top-level `await` cannot be CommonJS: it is bundled as ES modules (`.mjs`) instead.
 *
 * Plain CommonJS JavaScript, because `bin/nub.cjs` needs it before anything can load TypeScript.
 *
 * - Packages and Node built-ins stay external, but a package is resolved at build time to the
 *   absolute path Node itself would load, so the output works from any cache folder and a Nubfile
 *   shares the one copy of nub that the CLI runs (`aliases`). A CommonJS output cannot `require`
 *   a package that is only an ES module: such a package is bundled in, unless it is imported
 *   dynamically (`await import()` loads ES modules from CommonJS).
 * - `import.meta.url`, `.dirname` and `.filename` keep the values of the original source files.
 * - Outputs are named by their content and written by rename, and the manifest listing them last:
 *   processes building at the same time never see a half-written file.
 */
const { accessSync, constants, mkdirSync, readdirSync, readFileSync, realpathSync, renameSync, statSync, unlinkSync, writeFileSync } = require('node:fs');
const { isBuiltin } = require('node:module');
const { tmpdir } = require('node:os');
const { dirname, isAbsolute, join, relative, resolve } = require('node:path');
const { pathToFileURL } = require('node:url');

/** Bump when the build options below change, so every cached output is rebuilt. */
const FORMAT = 3;

/** Outputs that no manifest names any more are deleted once they are this old. */
const PRUNE_AFTER_MS = 60 * 60 * 1000;

/**
 * A failure to bundle: a syntax error, an import that cannot be found. `file` is relative to the
 * working folder given to `bundle`, `line` and `column` are 1-based.
 */
class BundleError extends Error {
	/**
	 * @param {string} text
	 * @param {{ file: string, line: number, column: number } | undefined} location
	 */
	constructor(text, location) {
		super(location ? `${location.file}:${location.line}:${location.column}: ${text}` : text);
		this.name = 'BundleError';
		this.text = text;
		this.location = location;
	}
}

/**
 * @typedef {object} BundleOptions
 * @property {Record<string, string>} entryPoints Output name to source file (absolute).
 * @property {string} outdir Where outputs and the manifest go (created as needed).
 * @property {string} workingDir Source paths in errors are relative to this folder.
 * @property {boolean} [splitting] Share code between entry points through chunks (ES modules only:
 *   a CommonJS output holds everything its entry imports, dynamically imported local modules too).
 * @property {Record<string, string>} [aliases] Bare import to an absolute file it must load instead.
 */

/**
 * Returns the absolute paths of the bundled entry points, building them first if any input
 * changed since the last build (or there was none). Load one with `loadBundled`.
 * @param {BundleOptions} options
 * @returns {Promise<Record<string, string>>}
 */
async function bundle(options) {
	const manifestPath = join(options.outdir, 'manifest.json');
	const settings = settingsHash(options);
	const cached = readManifest(manifestPath);
	if (cached && cached.settings === settings && inputsUnchanged(cached.inputs)) return absolute(options.outdir, cached.entries);
	const built = await build(options, settings);
	return absolute(options.outdir, built.entries);
}

/**
 * A cache folder for `name` inside a project: `node_modules/.cache/nub` beside the project's
 * packages when it has them, otherwise one in the system's temporary folder.
 * @param {string} root
 * @param {string} name
 */
function cacheDir(root, name) {
	const local = join(root, 'node_modules');
	if (isDirectory(local) && isWritable(local)) return join(local, '.cache', 'nub', name);
	const user = typeof process.getuid === 'function' ? process.getuid() : 'user';
	return join(tmpdir(), `nub-cache-${user}`, shortHash(root), name);
}

/** @param {string} outdir @param {Record<string, string>} entries */
function absolute(outdir, entries) {
	return Object.fromEntries(Object.entries(entries).map(([name, file]) => [name, join(outdir, file)]));
}

/** @param {BundleOptions} options */
function settingsHash(options) {
	return shortHash(JSON.stringify([FORMAT, process.version, options.entryPoints, options.splitting ?? false, options.aliases ?? {}]));
}

/**
 * `import()`, for CommonJS outputs: in them, `import("file://...")` of a package becomes a call of
 * this (named `__nubI`, as long as `import`, so that columns stay; see `routeImports`). Node 20
 * cannot `import()` from code it compiled with a code cache (the callback is lost: "A dynamic
 * import callback was not specified"); it can from here, a module Node's own loader compiled.
 * @param {string} specifier
 * @returns {Promise<Record<string, unknown>>}
 */
function importModule(specifier) {
	return import(specifier);
}
const importName = '__nubI';

/**
 * Loads an output of `bundle`: `import()` for ES modules; for CommonJS what `require` does, with
 * V8's code cache when `codeCache` names one (and the output has no `import()` of its own left:
 * one with a computed specifier would fail under the cache).
 *
 * Compiling nub's bundle takes a start several milliseconds, and so does compiling each function
 * it runs. V8 can save both (the code cache) and take them back, which Node 20 does not do for
 * `require`. So the module is compiled here, like `require` would, with the cache kept beside the
 * bundle: one per `codeCache` name (the command: what `nub run` compiles is not what `nub list`
 * does), written at the exit of the first process that ran without it and succeeded, then with
 * everything that process compiled. A cache V8 rejects (another Node, damaged) is written anew. Source maps (set on
 * by `--verbose`) need Node's own loader: no cache then.
 * @param {string} file
 * @param {{ codeCache?: string }} [options]
 * @returns {Promise<Record<string, unknown>>}
 */
async function loadBundled(file, options = {}) {
	if (!file.endsWith('.cjs')) return import(pathToFileURL(file).href);
	if (options.codeCache === undefined || process.sourceMapsEnabled) return require(file);
	return requireWithCodeCache(realpathSync(file), options.codeCache);
}

/**
 * @param {string} filename
 * @param {string} name
 */
function requireWithCodeCache(filename, name) {
	const Module = /** @type {typeof import('node:module') & ModuleInternals} */ (require('node:module'));
	const cached = Module._cache[filename];
	if (cached) return cached.exports;
	const source = readFileSync(filename, 'utf8');
	if (source.includes('import(')) return require(filename);
	const vm = require('node:vm');
	const cacheFile = `${filename}.${name.replace(/[^A-Za-z0-9-]/g, '_')}.v8cache`;
	let cachedData;
	try {
		cachedData = readFileSync(cacheFile);
	} catch {
		cachedData = undefined;
	}
	const script = new vm.Script(Module.wrap(source), { filename, cachedData });
	if (cachedData === undefined || script.cachedDataRejected) {
		// After a success only: a process stopped early by an error compiled little of what runs.
		process.once('exit', code => {
			if (code !== 0) return;
			try {
				writeAtomically(cacheFile, script.createCachedData());
			} catch {
				// A read-only cache folder: the next start compiles again.
			}
		});
	}
	const module = new Module(filename);
	module.filename = filename;
	module.paths = Module._nodeModulePaths(dirname(filename));
	Module._cache[filename] = module;
	try {
		script.runInThisContext().call(module.exports, module.exports, Module.createRequire(filename), module, filename, dirname(filename));
	} catch (error) {
		delete Module._cache[filename];
		throw error;
	}
	module.loaded = true;
	return module.exports;
}

/**
 * What of `node:module` the code cache needs beyond its typed API (stable since Node 0.x).
 * @typedef {object} ModuleInternals
 * @property {Record<string, { exports: Record<string, unknown> }>} _cache
 * @property {(dir: string) => string[]} _nodeModulePaths
 * @property {(source: string) => string} wrap
 */

/**
 * @typedef {object} Manifest
 * @property {string} settings
 * @property {Record<string, string>} entries Entry name to output file, relative to the outdir.
 * @property {Record<string, string>} inputs Absolute input path to its stamp.
 */

/** @param {string} path @returns {Manifest | undefined} */
function readManifest(path) {
	try {
		return JSON.parse(readFileSync(path, 'utf8'));
	} catch {
		return undefined;
	}
}

/**
 * A file's stamp: size, modification and change times in nanoseconds, and inode. Any write
 * changes ctime, which no tool can set back, so equal stamps mean the same content.
 * @param {string} path
 */
function stamp(path) {
	try {
		const s = statSync(path, { bigint: true });
		return `${s.size}:${s.mtimeNs}:${s.ctimeNs}:${s.ino}`;
	} catch {
		return 'missing';
	}
}

/** @param {Record<string, string>} inputs */
function inputsUnchanged(inputs) {
	for (const [path, expected] of Object.entries(inputs)) if (stamp(path) !== expected) return false;
	return true;
}

/**
 * @param {BundleOptions} options
 * @param {string} settings
 * @returns {Promise<Manifest>}
 */
async function build(options, settings) {
	const esbuild = require('esbuild');
	/** What CommonJS outputs import dynamically: each `import("file://...")` becomes `__nubI(...)`. */
	/** @type {Set<string>} */
	const dynamic = new Set();
	/** @param {'cjs' | 'esm'} format */
	const run = format =>
		esbuild.build({
			entryPoints: options.entryPoints,
			outdir: options.outdir,
			absWorkingDir: options.workingDir,
			bundle: true,
			splitting: format === 'esm' && (options.splitting ?? false),
			format,
			platform: 'node',
			target: `node${process.versions.node.split('.')[0]}`,
			entryNames: '[name]-[hash]',
			chunkNames: 'chunk-[hash]',
			outExtension: { '.js': format === 'cjs' ? '.cjs' : '.mjs' },
			// Strict, as the ES modules it is made of: the directive must come first.
			banner: format === 'cjs' ? { js: `'use strict'; var ${importName} = require(${JSON.stringify(__filename)}).importModule;` } : {},
			sourcemap: 'linked',
			write: false,
			metafile: true,
			logLevel: 'silent',
			plugins: [externals(options.aliases ?? {}, format, dynamic), sourceMeta()],
		});
	/** @type {import('esbuild').BuildResult<{ write: false, metafile: true }>} */
	let result;
	try {
		result = await run('cjs').catch(error => {
			if (topLevelAwait(error)) return run('esm');
			throw error;
		});
	} catch (error) {
		throw bundleError(error);
	}
	mkdirSync(options.outdir, { recursive: true });
	const written = new Set(['manifest.json']);
	for (const file of result.outputFiles) {
		const name = relative(options.outdir, file.path);
		written.add(name);
		// Content-named: an existing file already holds these bytes (the name is esbuild's hash,
		// taken before the banner and the import() calls: those are compared).
		const contents = file.path.endsWith('.cjs') ? Buffer.from(routeImports(file.text, dynamic)) : file.contents;
		if (!sameContents(file.path, contents)) writeAtomically(file.path, contents);
	}
	/** @type {Record<string, string>} */
	const entries = {};
	for (const [path, output] of Object.entries(result.metafile.outputs)) {
		if (!output.entryPoint) continue;
		const name = Object.keys(options.entryPoints).find(key => resolve(options.workingDir, output.entryPoint ?? '') === resolve(options.entryPoints[key] ?? ''));
		if (name) entries[name] = relative(options.outdir, resolve(options.workingDir, path));
	}
	// This file too: how outputs are made is part of them.
	/** @type {Record<string, string>} */
	const inputs = { [__filename]: stamp(__filename) };
	for (const input of Object.keys(result.metafile.inputs)) {
		const path = resolve(options.workingDir, input);
		inputs[path] = stamp(path);
	}
	const manifest = { settings, entries, inputs };
	writeAtomically(join(options.outdir, 'manifest.json'), `${JSON.stringify(manifest)}\n`);
	prune(options.outdir, written);
	return manifest;
}

/**
 * Each `import("<url>")` of the URLs the externals plugin gave dynamic imports, as a call of
 * `importModule` (see there). Only those exact calls: the same text in a string stays as it is,
 * short of naming the very file by its URL.
 * @param {string} text
 * @param {Set<string>} urls
 */
function routeImports(text, urls) {
	for (const url of urls) text = text.replaceAll(`import(${JSON.stringify(url)})`, `${importName}(${JSON.stringify(url)})`);
	return text;
}

/** @param {unknown} error */
function topLevelAwait(error) {
	const errors = /** @type {{ errors?: import('esbuild').Message[] }} */ (error).errors ?? [];
	return errors.length > 0 && errors.every(message => /^Top-level await is currently not supported with the "cjs" output format/.test(message.text));
}

/**
 * Keeps packages external, resolved to the absolute file Node would load (as `require` would for
 * a CommonJS output, except for dynamic imports); `aliases` redirect a bare import (the Nubfile's
 * `nub`) to a given file. In a CommonJS output, a package that is only an ES module is bundled.
 * @param {Record<string, string>} aliases
 * @param {'cjs' | 'esm'} format
 * @param {Set<string>} dynamic Collects the URLs of dynamic imports in a CommonJS output.
 * @returns {import('esbuild').Plugin}
 */
function externals(aliases, format, dynamic) {
	/** @param {string} path @param {boolean} url */
	const reference = (path, url) => {
		if (!url) return path;
		const href = pathToFileURL(path).href;
		if (format === 'cjs') dynamic.add(href);
		return href;
	};
	return {
		name: 'nub-externals',
		setup(build) {
			// nub's boot module is one module, the one bin/nub.cjs loaded.
			build.onResolve({ filter: /[\\/]boot[\\/]bundle\.cjs$/ }, args => {
				const path = resolve(args.resolveDir, args.path);
				return path === __filename ? { path: reference(path, format === 'esm' || args.kind === 'dynamic-import'), external: true } : undefined;
			});
			build.onResolve({ filter: /^[^./]/ }, async args => {
				if (args.pluginData === 'nub-resolving') return undefined;
				const byImport = format === 'esm' || args.kind === 'dynamic-import';
				const alias = aliases[args.path];
				if (alias) return { path: reference(alias, byImport), external: true };
				if (args.path.startsWith('node:') || isBuiltin(args.path)) return { path: args.path, external: true };
				if (isAbsolute(args.path)) return undefined;
				const kind = byImport ? args.kind : 'require-call';
				const where = { resolveDir: args.resolveDir, importer: args.importer, pluginData: 'nub-resolving' };
				let found = await build.resolve(args.path, { kind, ...where });
				// A package that offers only `import` has no file for require: it is an ES module.
				if (found.errors.length > 0 && kind !== args.kind) found = await build.resolve(args.path, { kind: args.kind, ...where });
				if (found.errors.length > 0) return { errors: found.errors };
				if (!byImport && isModuleFile(found.path)) return { path: found.path, external: false };
				return { path: reference(found.path, byImport), external: true };
			});
		},
	};
}

/**
 * Whether Node loads the file as an ES module: `.mjs`, or `.js` in a package of `"type": "module"`.
 * @param {string} path
 */
function isModuleFile(path) {
	if (path.endsWith('.mjs')) return true;
	if (!path.endsWith('.js')) return false;
	for (let dir = dirname(path); ; dir = dirname(dir)) {
		try {
			return JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).type === 'module';
		} catch {
			// No package.json here (or not JSON): look further up.
		}
		if (dirname(dir) === dir) return false;
	}
}

/**
 * Gives `import.meta.url`, `.dirname` and `.filename` the values of the source file rather than
 * of the bundle.
 * @returns {import('esbuild').Plugin}
 */
function sourceMeta() {
	return {
		name: 'nub-import-meta',
		setup(build) {
			build.onLoad({ filter: /\.[cm]?[jt]sx?$/ }, args => {
				const source = readFileSync(args.path, 'utf8');
				if (!source.includes('import.meta')) return undefined;
				const values = { url: pathToFileURL(args.path).href, dirname: dirname(args.path), filename: args.path };
				const contents = source.replace(/\bimport\.meta\.(url|dirname|filename)\b/g, (_, key) => JSON.stringify(values[/** @type {'url'} */ (key)]));
				const extension = args.path.slice(args.path.lastIndexOf('.') + 1);
				const loader = /** @type {import('esbuild').Loader} */ (extension.startsWith('t') || extension.startsWith('mt') || extension.startsWith('ct') ? 'ts' : 'js');
				return { contents, loader };
			});
		},
	};
}

/** @param {unknown} error */
function bundleError(error) {
	const first = /** @type {{ errors?: import('esbuild').Message[] }} */ (error).errors?.[0];
	if (!first) return error;
	const location = first.location ? { file: first.location.file, line: first.location.line, column: first.location.column + 1 } : undefined;
	return new BundleError(first.text, location);
}

/**
 * Deletes outputs that the new manifest does not name and that are old enough that no process
 * still running can be about to import them.
 * @param {string} outdir
 * @param {Set<string>} keep
 */
function prune(outdir, keep) {
	const now = Date.now();
	for (const name of readdirSync(outdir)) {
		// An output's code caches (`nub-X.cjs.run.v8cache`) go with it.
		if (keep.has(name) || keep.has(name.replace(/\.[^.]+\.v8cache$/, ''))) continue;
		const path = join(outdir, name);
		try {
			if (now - statSync(path).mtimeMs > PRUNE_AFTER_MS) unlinkSync(path);
		} catch {
			// Already gone, or a folder: not ours to remove.
		}
	}
}

/** @param {string} path @param {string | Uint8Array} contents */
function writeAtomically(path, contents) {
	mkdirSync(dirname(path), { recursive: true });
	const temporary = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
	writeFileSync(temporary, contents);
	renameSync(temporary, path);
}

/** @param {string} path @param {Uint8Array} contents */
function sameContents(path, contents) {
	try {
		return Buffer.compare(readFileSync(path), contents) === 0;
	} catch {
		return false;
	}
}

/** @param {string} path */
function isDirectory(path) {
	try {
		return statSync(path).isDirectory();
	} catch {
		return false;
	}
}

/** @param {string} path */
function isWritable(path) {
	try {
		accessSync(path, constants.W_OK);
		return true;
	} catch {
		return false;
	}
}

/**
 * 64 bits of FNV-1a, hex: enough to tell cache folders and build settings apart, and it spares
 * every start loading node:crypto.
 * @param {string} text
 */
function shortHash(text) {
	let hash = 0xcbf29ce484222325n;
	for (let i = 0; i < text.length; i++) hash = ((hash ^ BigInt(text.charCodeAt(i))) * 0x100000001b3n) & 0xffffffffffffffffn;
	return hash.toString(16).padStart(16, '0');
}

/** The package's own folder (where `lib/` is). */
const packageRoot = resolve(__dirname, '../..');

module.exports = { bundle, loadBundled, importModule, BundleError, cacheDir, shortHash, packageRoot };
