import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { checkOwnFile, userCacheDir } from '../../lib/files/user-cache.ts';
import { repoRoot } from './project.ts';

const requirements = join(repoRoot, 'hub/requirements.txt');
/** Written last: an environment without it was interrupted while being made. */
const complete = '.nub-complete';

/**
 * The folder of the hub's virtual environment for the current hub/requirements.txt, made 0700 and
 * checked to be a folder of this user's that nobody else can write (files/user-cache.ts) before
 * anything in it is trusted: the hub test runs its Python.
 */
function environmentDir(): string {
	const hash = createHash('sha256').update(readFileSync(requirements)).digest('hex').slice(0, 12);
	return userCacheDir(`hubenv-${hash}`);
}

/** The environment when it is made, else undefined. */
export function builtHubEnvironment(): string | undefined {
	const dir = environmentDir();
	try {
		// Written by nub as the last step: one that is not the user's was not.
		checkOwnFile(join(dir, complete));
		return dir;
	} catch {
		return undefined;
	}
}

/**
 * The hub's environment, made now when missing (about a minute): `python3 -m venv`, then
 * `pip install --no-deps -r hub/requirements.txt` (every dependency is pinned there) and
 * `pip check`. Older environments (another requirements.txt) are removed.
 */
export async function hubEnvironment(report: (line: string) => void): Promise<string> {
	const ready = builtHubEnvironment();
	if (ready) return ready;
	let dir = environmentDir();
	// What an interrupted attempt left: made again empty, and checked again.
	rmSync(dir, { recursive: true, force: true });
	dir = environmentDir();
	const run = (command: string, args: string[]) => {
		const result = spawnSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 1 << 26 });
		if (result.error || result.status !== 0) {
			rmSync(dir, { recursive: true, force: true });
			throw new Error(`${[command, ...args].join(' ')} failed: ${(result.error?.message ?? `${result.stdout}\n${result.stderr}`).trim().split('\n').slice(-15).join('\n')}`);
		}
	};
	report(`making the hub's Python environment (hub/requirements.txt, about a minute) in ${dir}`);
	run('python3', ['-m', 'venv', dir]);
	run(join(dir, 'bin', 'pip'), ['install', '--quiet', '--disable-pip-version-check', '--no-deps', '-r', requirements]);
	run(join(dir, 'bin', 'pip'), ['check', '--disable-pip-version-check']);
	writeFileSync(join(dir, complete), '');
	for (const entry of readdirSync(dirname(dir))) {
		if (entry.startsWith('hubenv-') && join(dirname(dir), entry) !== dir) rmSync(join(dirname(dir), entry), { recursive: true, force: true });
	}
	report(`made the hub's Python environment: ${dir}`);
	return dir;
}
