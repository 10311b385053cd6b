// @ts-check
/**
 * Loads TypeScript without a loader hook: esbuild bundles an entry point and its local imports into
 * plain ES modules once, and later starts only check that none of the inputs changed (one `stat`
 * per input file) before importing the cached output with Node's own loader. This is what lets a
 * cached no-op `nub run` start in tens of milliseconds instead of paying for a TypeScript loader on
 * every module.
 *
 * Plain JavaScript, because `bin/nub.js` needs it before anything can load TypeScript.
 *
 * - Packages and Node built-ins stay external, but a package is resolved at build time to the
 *   absolute path Node itself would load, so the output works from any cache folder and a Nubfile
 *   shares the one copy of nub that the CLI runs (`aliases`).
 * - `import.meta.url`, `.dirname` and `.filename` keep the values of the original source files.
 * - Outputs are named by their content and written by rename, and the manifest listing them last:
 *   processes building at the same time never see a half-written file.
 */
import { accessSync, constants, mkdirSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** Bump when the build options below change, so every cached output is rebuilt. */
const FORMAT = 1;

/** Outputs that no manifest names any more are deleted once they are this old. */
const PRUNE_AFTER_MS = 60 * 60 * 1000;

/**
 * A failure to bundle: a syntax error, an import that cannot be found. `file` is relative to the
 * working folder given to `bundle`, `line` and `column` are 1-based.
 */
export class BundleError extends Error {
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
 * @property {boolean} [splitting] Share code between entry points through chunks.
 * @property {Record<string, string>} [aliases] Bare import to an absolute file it must load instead.
 */

/**
 * Returns the absolute paths of the bundled entry points, building them first if any input
 * changed since the last build (or there was none).
 * @param {BundleOptions} options
 * @returns {Promise<Record<string, string>>}
 */
export async function bundle(options) {
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
export function cacheDir(root, name) {
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
	const esbuild = await import('esbuild');
	/** @type {import('esbuild').BuildResult<{ write: false, metafile: true }>} */
	let result;
	try {
		result = await esbuild.build({
			entryPoints: options.entryPoints,
			outdir: options.outdir,
			absWorkingDir: options.workingDir,
			bundle: true,
			splitting: options.splitting ?? false,
			format: 'esm',
			platform: 'node',
			target: `node${process.versions.node.split('.')[0]}`,
			entryNames: '[name]-[hash]',
			chunkNames: 'chunk-[hash]',
			outExtension: { '.js': '.mjs' },
			sourcemap: 'linked',
			write: false,
			metafile: true,
			logLevel: 'silent',
			plugins: [externals(options.aliases ?? {}), sourceMeta()],
		});
	} catch (error) {
		throw bundleError(error);
	}
	mkdirSync(options.outdir, { recursive: true });
	const written = new Set(['manifest.json']);
	for (const file of result.outputFiles) {
		const name = relative(options.outdir, file.path);
		written.add(name);
		// Content-named: an existing file already holds these bytes.
		if (!exists(file.path)) writeAtomically(file.path, file.contents);
	}
	/** @type {Record<string, string>} */
	const entries = {};
	for (const [path, output] of Object.entries(result.metafile.outputs)) {
		if (!output.entryPoint) continue;
		const name = Object.keys(options.entryPoints).find(key => resolve(options.workingDir, output.entryPoint ?? '') === resolve(options.entryPoints[key] ?? ''));
		if (name) entries[name] = relative(options.outdir, resolve(options.workingDir, path));
	}
	/** @type {Record<string, string>} */
	const inputs = {};
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
 * Keeps packages external, resolved to the absolute file Node would load; `aliases` redirect a
 * bare import (the Nubfile's `nub`) to a given file.
 * @param {Record<string, string>} aliases
 * @returns {import('esbuild').Plugin}
 */
function externals(aliases) {
	return {
		name: 'nub-externals',
		setup(build) {
			build.onResolve({ filter: /^[^./]/ }, async args => {
				if (args.pluginData === 'nub-resolving') return undefined;
				const alias = aliases[args.path];
				if (alias) return { path: pathToFileURL(alias).href, external: true };
				if (args.path.startsWith('node:') || isBuiltin(args.path)) return { path: args.path, external: true };
				if (isAbsolute(args.path)) return undefined;
				const found = await build.resolve(args.path, { kind: args.kind, resolveDir: args.resolveDir, importer: args.importer, pluginData: 'nub-resolving' });
				if (found.errors.length > 0) return { errors: found.errors };
				return { path: pathToFileURL(found.path).href, external: true };
			});
		},
	};
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
		if (keep.has(name)) continue;
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

/** @param {string} path */
function exists(path) {
	try {
		statSync(path);
		return true;
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
export function shortHash(text) {
	let hash = 0xcbf29ce484222325n;
	for (let i = 0; i < text.length; i++) hash = ((hash ^ BigInt(text.charCodeAt(i))) * 0x100000001b3n) & 0xffffffffffffffffn;
	return hash.toString(16).padStart(16, '0');
}

/** The package's own folder (where `lib/` is). */
export const packageRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
