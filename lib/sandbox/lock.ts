/**
 * One sandbox per state folder: the running server holds `<dir>/server.pid` (created exclusively)
 * and advertises itself in `<dir>/server.json`. A pid file whose process is gone is stale and
 * taken over, so a killed sandbox never blocks the next one.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeSecretFile } from './credentials.ts';

/** What server.json says about a running sandbox. */
export interface RunningSandbox {
	url: string;
	kubeconfigPath: string;
	pid: number;
}

/** A held folder lock. */
export interface SandboxLock {
	/** Records the listening server in server.json. */
	advertise(url: string, kubeconfigPath: string): void;
	/** Removes server.json and the pid file. */
	release(): void;
}

/** Takes the lock of `dir`, or throws naming the live sandbox that holds it. */
export function lockSandboxDir(dir: string): SandboxLock {
	const pidPath = join(dir, 'server.pid');
	const infoPath = join(dir, 'server.json');
	for (let attempt = 0; attempt < 3; attempt++) {
		try {
			writeFileSync(pidPath, String(process.pid), { mode: 0o600, flag: 'wx' });
			return {
				advertise: (url, kubeconfigPath) => writeSecretFile(infoPath, `${JSON.stringify({ pid: process.pid, url, kubeconfigPath } satisfies RunningSandbox)}\n`),
				release: () => {
					rmSync(infoPath, { force: true });
					rmSync(pidPath, { force: true });
				},
			};
		} catch (error) {
			if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
		}
		const holder = Number(readText(pidPath));
		if (Number.isInteger(holder) && holder > 0 && isAlive(holder)) {
			throw new Error(`a sandbox (pid ${holder}) already runs on ${dir}; use it (its kubeconfig is ${join(dir, 'kubeconfig')}) or stop it first`);
		}
		// Stale: its process is gone. Remove it and try again (another starter may win the race).
		rmSync(pidPath, { force: true });
		rmSync(infoPath, { force: true });
	}
	throw new Error(`could not take the sandbox lock ${pidPath}`);
}

/** The live sandbox serving `dir`, if any. */
export function findRunningSandbox(dir: string): RunningSandbox | undefined {
	const text = readText(join(dir, 'server.json'));
	if (text === undefined) return undefined;
	let info: RunningSandbox;
	try {
		info = JSON.parse(text) as RunningSandbox;
	} catch {
		return undefined; // being written or damaged: not a server anyone can use
	}
	return isAlive(info.pid) ? { url: info.url, kubeconfigPath: info.kubeconfigPath, pid: info.pid } : undefined;
}

/** Whether a process with this pid exists (EPERM: it does, owned by someone else). */
function isAlive(pid: number): boolean {
	try {
		process.kill(pid, 0);
		return true;
	} catch (error) {
		return (error as NodeJS.ErrnoException).code === 'EPERM';
	}
}

function readText(path: string): string | undefined {
	try {
		return readFileSync(path, 'utf8');
	} catch {
		return undefined;
	}
}
