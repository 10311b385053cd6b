import { closeSync, fchmodSync, fsyncSync, openSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

/** How `writeAside` writes. */
export interface WriteAsideOptions {
	/**
	 * The new file's permission bits, exactly: set on the file after it is created, so the umask
	 * cannot narrow them. Without it the file gets 0666 less the umask, as `writeFileSync` gives.
	 */
	mode?: number;
	/**
	 * Flush the file to disk before the rename and the folder after it, so that after a crash or a
	 * power loss `path` holds the old contents or the whole new ones, and the new name survives.
	 * Without it the rename is still atomic for running processes, but not durable.
	 */
	fsync?: boolean;
}

/**
 * Replaces `path` with `contents` so that no reader ever sees it half written: the contents go to
 * a temporary file in the same folder (the same file system, where a rename is atomic), which is
 * then renamed over `path`. If the write or the rename fails, the temporary file is removed and
 * the error thrown: `path` is then as it was. The folder must exist.
 *
 * The temporary name holds the pid and a random part, and is created exclusively, so two writers
 * of the same path never share a temporary file: the last rename wins, whole.
 */
export function writeAside(path: string, contents: string | Uint8Array, options: WriteAsideOptions = {}): void {
	const folder = dirname(path);
	const temporary = `${path}.${process.pid}.${Math.random().toString(36).slice(2, 10)}.tmp`;
	// Created exclusively: a failure to create it (a folder not writable, a name taken) leaves
	// nothing of ours to remove.
	const fd = openSync(temporary, 'wx', options.mode ?? 0o666);
	try {
		try {
			writeFileSync(fd, contents);
			if (options.mode !== undefined) fchmodSync(fd, options.mode);
			if (options.fsync) fsyncSync(fd);
		} finally {
			closeSync(fd);
		}
		renameSync(temporary, path);
	} catch (error) {
		rmSync(temporary, { force: true });
		throw error;
	}
	if (options.fsync) syncFolder(folder);
}

/** Flushes a folder's entries (a rename into it) to disk. */
function syncFolder(folder: string): void {
	const fd = openSync(folder, 'r');
	try {
		fsyncSync(fd);
	} finally {
		closeSync(fd);
	}
}

/**
 * Removes the temporary files that writers of `path` killed before their rename left behind
 * (`<path>.<pid>.<random>.tmp` of a process that no longer runs): a writer that is still running
 * keeps its own. For files whose folder nub owns (the state, its key).
 */
export function removeLeftovers(path: string): void {
	const folder = dirname(path);
	const pattern = new RegExp(`^${basename(path).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\.(\\d+)\\.[0-9a-z]+\\.tmp$`);
	let names: string[];
	try {
		names = readdirSync(folder);
	} catch {
		return;
	}
	for (const name of names) {
		const pid = pattern.exec(name)?.[1];
		if (pid !== undefined && !isRunning(Number(pid))) rmSync(join(folder, name), { force: true });
	}
}

function isRunning(pid: number): boolean {
	if (pid === process.pid) return true;
	try {
		process.kill(pid, 0);
		return true;
	} catch (error) {
		return (error as NodeJS.ErrnoException).code === 'EPERM';
	}
}
