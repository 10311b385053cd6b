import { readdirSync, readFileSync, realpathSync } from 'node:fs';
import { isAbsolute, join, relative } from 'node:path';
import type { KubeObject } from '../k8s/objects.ts';

/** A folder that cannot become a ConfigMap: names the folder and the file. */
export class FolderError extends Error {
	override readonly name = 'FolderError';
}

const validKey = /^[-._a-zA-Z0-9]+$/;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * A ConfigMap holding every file of `folder` (not its subfolders, nor its dotfiles unless
 * `dotfiles` is true), in lexical order: text files (valid UTF-8, no NUL byte) under `data`,
 * anything else byte for byte, base64, under `binaryData` (a PNG in `data` would be mangled). File
 * names must be valid ConfigMap keys. Dotfiles are left out by default: `.env`, `.htpasswd` or an
 * editor's swap file sit beside a page's files without being meant for a cluster.
 */
export function configMapFromFolder(options: { name: string; namespace: string; folder: string; shown?: string; labels?: Record<string, string>; dotfiles?: boolean; within?: string }): KubeObject {
	const shown = options.shown ?? options.folder;
	if (options.within !== undefined) checkWithin(options.folder, options.within, shown);
	let entries;
	try {
		entries = readdirSync(options.folder, { withFileTypes: true, encoding: 'buffer' });
	} catch (error) {
		throw new FolderError(`${shown}: cannot read the folder (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
	}
	const data: Record<string, string> = {};
	const binaryData: Record<string, string> = {};
	const files = entries.filter(entry => entry.isFile() && (options.dotfiles === true || entry.name[0] !== 0x2e /* . */)).sort((a, b) => Buffer.compare(a.name, b.name));
	let bytes = 0;
	for (const entry of files) {
		let name: string;
		try {
			name = utf8.decode(entry.name);
		} catch {
			throw new FolderError(`${shown}: the file name ${JSON.stringify(entry.name.toString('latin1'))} is not UTF-8; a ConfigMap key must be letters, digits, "-", "_" or "."`);
		}
		if (!validKey.test(name)) throw new FolderError(`${shown}/${name}: not a valid ConfigMap key (letters, digits, "-", "_" and "." only)`);
		const content = readFileSync(join(options.folder, name));
		bytes += content.length;
		const text = content.includes(0) ? undefined : decode(content);
		if (text === undefined) binaryData[name] = content.toString('base64');
		else data[name] = text;
	}
	if (bytes > 1024 * 1024) throw new FolderError(`${shown}: ${bytes} bytes of files, over a ConfigMap's limit of 1 MiB`);
	return {
		apiVersion: 'v1',
		kind: 'ConfigMap',
		metadata: { name: options.name, namespace: options.namespace, ...(options.labels ? { labels: options.labels } : {}) },
		...(Object.keys(data).length > 0 ? { data } : {}),
		...(Object.keys(binaryData).length > 0 ? { binaryData } : {}),
	};
}

/**
 * A folder given inside the project must be inside it once links are followed: a link to
 * elsewhere (`landing -> ~/.ssh`) would ship what it points at. Symbolic links among the files
 * are left out already (only regular files go in).
 */
function checkWithin(folder: string, root: string, shown: string): void {
	let real: string;
	try {
		real = realpathSync(folder);
	} catch {
		return; // missing: reading it says so
	}
	const inside = relative(realpathSync(root), real);
	if (inside === '..' || inside.startsWith('../') || isAbsolute(inside)) {
		throw new FolderError(`${shown}: a link to ${real}, outside the project: nothing of it is shipped; give that folder's absolute path in nublado.yaml if it is meant`);
	}
}

function decode(content: Buffer): string | undefined {
	try {
		return utf8.decode(content);
	} catch {
		return undefined;
	}
}
