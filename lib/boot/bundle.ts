import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, unlinkSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import { dirname, extname, join, relative, resolve, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Loader, Message, Metafile, OutputFile, Plugin } from 'esbuild';
import { checkOwnFile } from '../files/user-cache.ts';
import { writeAside } from '../files/write-aside.ts';

/**
 * Bundles a Nubfile with the modules it imports from its project (`tasks/*.ts`) into one ES module
 * (plus a chunk for each module it imports dynamically), kept in a cache folder and built again
 * only when one of its inputs changed: one `stat` per input file tells.
 *
 * Nothing of nub is copied into the bundle, so one engine runs in a process: `import ... from
 * 'nub'` loads the module the CLI loaded (its `api`, dist/index.js), and an import of a file of
 * nub's lib/ (`../lib/config/nublado.ts`) loads that file compiled beside it (dist/config/nublado.js).
 * Packages stay external too, resolved when bundling to the file Node would load from the
 * Nubfile's folder, so the bundle works from any cache folder. `import.meta.url`, `.dirname` and
 * `.filename` keep the values of the source files.
 *
 * Outputs are named by their content and the manifest naming them is written last, each by
 * rename: processes bundling at the same time never see a half-written file.
 */

/** Outputs that no manifest names any more are deleted once they are this old. */
const pruneAfterMs = 60 * 60 * 1000;

/**
 * A failure to bundle: a syntax error, an import that cannot be found. `file` is relative to the
 * working folder given to `bundleNubfile`; `line` and `column` are 1-based.
 */
export class BundleError extends Error {
	constructor(
		readonly text: string,
		readonly location: { file: string; line: number; column: number } | undefined,
	) {
		super(location ? `${location.file}:${location.line}:${location.column}: ${text}` : text);
		this.name = 'BundleError';
	}
}

export interface BundleOptions {
	/** The Nubfile (absolute). */
	entry: string;
	/** Where the outputs and their manifest go (made as needed). */
	outdir: string;
	/** Source paths in errors are relative to this folder. */
	workingDir: string;
	/**
	 * The module `import ... from 'nub'` loads: dist/index.js, beside the rest of lib/ compiled
	 * (lib/<path>.ts as dist/<path>.js). From the sources (tests under tsx), lib/index.ts itself.
	 */
	api: string;
}

interface Manifest {
	settings: string;
	/** The bundle's file, relative to the outdir. */
	entry: string;
	/** Absolute input path to its stamp. */
	inputs: Record<string, string>;
}

/**
 * Returns the absolute path of the Nubfile's bundle, bundling it first when an input changed.
 * `outdir` must be a folder nobody else can write (files/user-cache.ts): what is found there is
 * trusted only when its files are this user's too, and bundled again otherwise.
 */
export async function bundleNubfile(options: BundleOptions): Promise<string> {
	const settings = shortHash(JSON.stringify([process.version, options.entry, options.api]));
	const cached = readManifest(options.outdir);
	if (cached && cached.settings === settings && inputsUnchanged(cached.inputs)) return join(options.outdir, cached.entry);
	const built = await build(options, settings);
	return join(options.outdir, built.entry);
}

/** 64 bits of FNV-1a, hex: a short name for a path, to tell cache folders apart. */
export function shortHash(text: string): string {
	let hash = 0xcbf29ce484222325n;
	for (let i = 0; i < text.length; i++) hash = ((hash ^ BigInt(text.charCodeAt(i))) * 0x100000001b3n) & 0xffffffffffffffffn;
	return hash.toString(16).padStart(16, '0');
}

/**
 * The manifest of `outdir`, when every file there (the bundle, its chunks, the manifest) is a file
 * of this user's that nobody else can write, the bundle it names is a file of `outdir` itself (a
 * manifest naming `../elsewhere.mjs` is not one nub wrote), and it lists inputs (an empty list
 * would never change). A file planted while the folder was open to others stays there when the
 * folder is closed again: such a folder is bundled into again, and the planted files removed.
 */
function readManifest(outdir: string): Manifest | undefined {
	try {
		if (foreignFiles(outdir).length > 0) return undefined;
		const manifest = JSON.parse(readFileSync(join(outdir, 'manifest.json'), 'utf8')) as Manifest;
		if (typeof manifest.entry !== 'string' || !/^[\w.-]+\.mjs$/.test(manifest.entry)) return undefined;
		if (typeof manifest.inputs !== 'object' || manifest.inputs === null || Object.keys(manifest.inputs).length === 0) return undefined;
		return manifest;
	} catch {
		return undefined;
	}
}

/** The names in `outdir` that are not files of this user's that nobody else can write. */
function foreignFiles(outdir: string): string[] {
	return readdirSync(outdir).filter(name => {
		try {
			checkOwnFile(join(outdir, name));
			return false;
		} catch {
			return true;
		}
	});
}

/**
 * A file's stamp: size, modification and change times in nanoseconds, and inode. Any write
 * changes ctime, which no tool can set back, so equal stamps mean the same content.
 */
function stamp(path: string): string {
	try {
		const s = statSync(path, { bigint: true });
		return `${s.size}:${s.mtimeNs}:${s.ctimeNs}:${s.ino}`;
	} catch {
		return 'missing';
	}
}

function inputsUnchanged(inputs: Record<string, string>): boolean {
	for (const [path, expected] of Object.entries(inputs)) if (stamp(path) !== expected) return false;
	return true;
}

async function build(options: BundleOptions, settings: string): Promise<Manifest> {
	const esbuild = await import('esbuild');
	let result: { outputFiles: OutputFile[]; metafile: Metafile };
	try {
		result = await esbuild.build({
			entryPoints: { nubfile: options.entry },
			outdir: options.outdir,
			absWorkingDir: options.workingDir,
			bundle: true,
			splitting: true,
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
			plugins: [externals(options.api), sourceMeta()],
		});
	} catch (error) {
		throw bundleError(error);
	}
	mkdirSync(options.outdir, { recursive: true });
	for (const name of foreignFiles(options.outdir)) rmSync(join(options.outdir, name), { recursive: true, force: true });
	const written = new Set(['manifest.json']);
	for (const file of result.outputFiles) {
		written.add(relative(options.outdir, file.path));
		// Named by content: a file already there holds these bytes.
		if (!sameContents(file.path, file.contents)) writeAtomically(file.path, file.contents);
	}
	const [entry] = Object.entries(result.metafile.outputs).filter(([, output]) => output.entryPoint !== undefined);
	// This file's source too: how bundles are made is part of them.
	const self = join(libOf(options.api), 'boot', 'bundle.ts');
	const inputs: Record<string, string> = { [self]: stamp(self) };
	for (const input of Object.keys(result.metafile.inputs)) {
		const path = resolve(options.workingDir, input);
		inputs[path] = stamp(path);
	}
	const manifest: Manifest = { settings, entry: relative(options.outdir, resolve(options.workingDir, entry![0])), inputs };
	writeAtomically(join(options.outdir, 'manifest.json'), `${JSON.stringify(manifest)}\n`);
	prune(options.outdir, written);
	return manifest;
}

/**
 * Keeps nub and packages out of the bundle. `nub` is `api`; a file of lib/ (the folder beside
 * `api`'s, with `api`'s extension for its compiled files) is its compiled file; a package or a
 * built-in stays an import, of the absolute file Node would load for a package. The rest (the
 * project's own modules) is bundled.
 */
function externals(api: string): Plugin {
	const compiled = dirname(api);
	const lib = libOf(api);
	const extension = extname(api);
	const external = (path: string) => ({ path: pathToFileURL(path).href, external: true });
	return {
		name: 'nub-externals',
		setup(build) {
			build.onResolve({ filter: /.*/ }, async args => {
				if (args.pluginData === 'nub-resolving' || args.kind === 'entry-point') return undefined;
				if (args.path === 'nub') return external(api);
				if (args.path.startsWith('node:') || isBuiltin(args.path)) return { path: args.path, external: true };
				const found = await build.resolve(args.path, { kind: args.kind, resolveDir: args.resolveDir, importer: args.importer, pluginData: 'nub-resolving' });
				// esbuild says what cannot be found, where, as it would have.
				if (found.errors.length > 0) return /^[./]/.test(args.path) ? undefined : { errors: found.errors };
				if (found.path.startsWith(lib + sep) && found.path.endsWith('.ts')) return external(join(compiled, relative(lib, found.path)).replace(/\.ts$/, extension));
				if (!/^[./]/.test(args.path)) return external(found.path);
				return { path: found.path };
			});
		},
	};
}

/** nub's lib/: the sources of `api`'s folder, beside it. */
function libOf(api: string): string {
	return join(dirname(dirname(api)), 'lib');
}

/** Gives `import.meta.url`, `.dirname` and `.filename` the values of the source file, not of the bundle. */
function sourceMeta(): Plugin {
	return {
		name: 'nub-import-meta',
		setup(build) {
			build.onLoad({ filter: /\.[cm]?[jt]sx?$/ }, args => {
				const source = readFileSync(args.path, 'utf8');
				if (!source.includes('import.meta')) return undefined;
				const values = { url: pathToFileURL(args.path).href, dirname: dirname(args.path), filename: args.path };
				const contents = source.replace(/\bimport\.meta\.(url|dirname|filename)\b/g, (_, key: keyof typeof values) => JSON.stringify(values[key]));
				const loader: Loader = /\.[cm]?tsx?$/.test(args.path) ? 'ts' : 'js';
				return { contents, loader };
			});
		},
	};
}

function bundleError(error: unknown): unknown {
	const first = (error as { errors?: Message[] }).errors?.[0];
	if (!first) return error;
	const location = first.location ? { file: first.location.file, line: first.location.line, column: first.location.column + 1 } : undefined;
	return new BundleError(first.text, location);
}

/**
 * Deletes outputs that the new manifest does not name and that are old enough that no process
 * still running can be about to import them.
 */
function prune(outdir: string, keep: Set<string>): void {
	const now = Date.now();
	for (const name of readdirSync(outdir)) {
		if (keep.has(name)) continue;
		const path = join(outdir, name);
		try {
			if (now - statSync(path).mtimeMs > pruneAfterMs) unlinkSync(path);
		} catch {
			// Already gone, or a folder: not ours to remove.
		}
	}
}

/** Writes one output whole (a process importing it meanwhile sees the old file or the new one). */
function writeAtomically(path: string, contents: string | Uint8Array): void {
	mkdirSync(dirname(path), { recursive: true });
	// 0600 whatever the umask: a file others could write is not trusted (readManifest).
	writeAside(path, contents, { mode: 0o600 });
}

function sameContents(path: string, contents: Uint8Array): boolean {
	try {
		return Buffer.compare(readFileSync(path), contents) === 0;
	} catch {
		return false;
	}
}
