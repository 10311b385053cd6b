import { existsSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { BundleError, bundleNubfile, shortHash } from '../boot/bundle.ts';
import { NubError } from '../engine/errors.ts';
import { buildGraph, messageOf, type Graph } from '../engine/graph.ts';
import { isTask, type Task } from '../engine/task.ts';
import { projectCacheDir } from '../files/user-cache.ts';
import { isCluster, type Cluster } from '../k8s/target.ts';

/** A loaded, validated Nubfile. */
export interface Nubfile {
	path: string;
	/** Its folder: the root of the project, where `.nub/` lives. */
	root: string;
	graph: Graph;
	/** The cluster it exports (`export const target = cluster({ context })`), if any. */
	cluster?: Cluster;
}

/**
 * Loads the Nubfile: esbuild bundles it with its local imports (`tasks/*.ts`) into an ES module in
 * a cache folder, made again only when one of them changed, in which `import ... from 'nub'` and
 * imports of nub's lib/ load the engine this CLI runs (`api`: see boot/bundle.ts). Its exported
 * tasks are the targets; the whole graph is built from them. Any failure is a `nubfile` or
 * `graph` NubError naming the file; nothing is run or written.
 */
export async function loadNubfile(cwd: string, file: string | undefined, api: string): Promise<Nubfile> {
	const path = resolve(cwd, file ?? 'Nubfile.ts');
	const shown = relative(cwd, path) || path;
	if (!existsSync(path)) {
		throw new NubError('nubfile', file ? `${shown}: no such file` : `no Nubfile.ts in ${cwd} (give one with --file PATH)`);
	}
	const root = dirname(path);
	let exports: Record<string, unknown>;
	try {
		const bundle = await bundleNubfile({ entry: path, outdir: projectCacheDir(root, `nubfile-${shortHash(path)}`), workingDir: cwd, api });
		exports = (await import(pathToFileURL(bundle).href)) as Record<string, unknown>;
	} catch (error) {
		// Configuration the Nubfile checks as it loads reports every problem, a line each.
		const problems = (error as { problems?: unknown }).problems;
		if (Array.isArray(problems) && problems.length > 0 && problems.every(p => typeof p === 'string')) {
			throw new NubError('config', problems.join('\nnub: '), { cause: error });
		}
		throw new NubError('nubfile', loadFailure(error, shown), { cause: error });
	}
	const roots: Array<Task<unknown>> = [];
	const clusters: Cluster[] = [];
	for (const value of Object.values(exports)) {
		if (isTask(value)) roots.push(value);
		else if (isCluster(value)) clusters.push(value);
	}
	if (clusters.length > 1) throw new NubError('nubfile', `${shown} exports ${clusters.length} clusters: export one (export const target = cluster({ context }))`);
	if (roots.length === 0) throw new NubError('nubfile', `${shown} exports no tasks: export the targets, e.g. export const all = task({ ... })`);
	try {
		return { path, root, graph: buildGraph(roots), ...(clusters[0] ? { cluster: clusters[0] } : {}) };
	} catch (error) {
		if (error instanceof NubError) throw new NubError(error.kind, `${shown}: ${error.message}`, { cause: error.cause });
		throw error;
	}
}

/**
 * One line for a Nubfile that failed to load, naming the file at fault: a syntax error or an
 * import that cannot be found (in the Nubfile or a module it imports), or what its top level threw.
 */
function loadFailure(error: unknown, shown: string): string {
	if (error instanceof BundleError) {
		const { location, text } = error;
		if (!location) return `${shown}: ${text}`;
		const what = /^Could not resolve/.test(text) ? text.replace('Could not resolve', 'cannot find') : `syntax error: ${text}`;
		return `${location.file}: line ${location.line}, column ${location.column}: ${what}`;
	}
	return `${shown}: ${messageOf(error).split('\n')[0]}`;
}
