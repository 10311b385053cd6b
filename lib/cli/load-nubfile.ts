import { existsSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { NubError } from '../engine/errors.ts';
import { buildGraph, messageOf, type Graph } from '../engine/graph.ts';
import { isTask, type Task } from '../engine/task.ts';

/** A loaded, validated Nubfile. */
export interface Nubfile {
	path: string;
	/** Its folder: the root of the project, where `.nub/` lives. */
	root: string;
	graph: Graph;
}

/**
 * Imports the Nubfile (TypeScript, through the loader the CLI registered), collects its exported
 * tasks as targets and builds the whole graph from them. Any failure is a `nubfile` or `graph`
 * NubError naming the file; nothing is run or written.
 */
export async function loadNubfile(cwd: string, file?: string): Promise<Nubfile> {
	const path = resolve(cwd, file ?? 'Nubfile.ts');
	const shown = relative(cwd, path) || path;
	if (!existsSync(path)) {
		throw new NubError('nubfile', file ? `${shown}: no such file` : `no Nubfile.ts in ${cwd} (give one with --file PATH)`);
	}
	let exports: Record<string, unknown>;
	try {
		exports = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
	} catch (error) {
		throw new NubError('nubfile', `${shown}: ${loadFailure(messageOf(error), path, shown)}`, { cause: error });
	}
	const roots: Array<Task<unknown>> = [];
	for (const value of Object.values(exports)) if (isTask(value)) roots.push(value);
	if (roots.length === 0) throw new NubError('nubfile', `${shown} exports no tasks: export the targets, e.g. export const all = task({ ... })`);
	try {
		return { path, root: dirname(path), graph: buildGraph(roots) };
	} catch (error) {
		if (error instanceof NubError) throw new NubError(error.kind, `${shown}: ${error.message}`, { cause: error.cause });
		throw error;
	}
}

/**
 * One line for a Nubfile that failed to load. A syntax error comes from esbuild as "Transform
 * failed with 1 error:" followed by `path:line:column: ERROR: message`: keep the position and the
 * message.
 */
function loadFailure(message: string, path: string, shown: string): string {
	const lines = message.split('\n').map(line => line.trim()).filter(Boolean);
	const syntax = lines.find(line => line.includes(': ERROR: '));
	if (syntax) {
		const [where, what] = syntax.split(': ERROR: ') as [string, string];
		const position = where.startsWith(path) ? where.slice(path.length + 1) : where.replace(`${shown}:`, '');
		return `syntax error at line ${position.replace(':', ', column ')}: ${what}`;
	}
	return lines[0] ?? message;
}
