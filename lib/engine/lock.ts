import { linkSync, mkdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { NubError } from './errors.ts';
import { printable } from './printable.ts';

/** Who holds a lock: enough for the user to find the other run. */
export interface LockHolder {
	pid: number;
	host: string;
	/** ISO time the holder started. */
	started: string;
	command: string;
}

/** The facts about this process the lock needs; the CLI supplies the real ones. */
export interface LockEnvironment {
	holder: LockHolder;
	/** Whether a process with this pid runs on this host. */
	isAlive(pid: number): boolean;
}

/** A held lock; `release` is safe to call twice. */
export interface Lock {
	release(): void;
}

/**
 * Takes the run lock of a state folder, or throws a `locked` NubError naming the holder.
 *
 * The lock file appears atomically with its content (written under a private name, then
 * hard-linked into place, which fails if the lock exists), so a reader never sees it half
 * written. A lock whose holder ran on this host and is gone is stale and taken over; a holder on
 * another host cannot be checked from here and is reported.
 */
export function acquireLock(stateDir: string, environment: LockEnvironment): Lock {
	mkdirSync(stateDir, { recursive: true, mode: 0o700 });
	const path = join(stateDir, 'lock');
	const mine = JSON.stringify(environment.holder);
	const temporary = join(stateDir, `lock.${environment.holder.pid}.${Date.now()}`);
	writeFileSync(temporary, mine, { mode: 0o600 });
	try {
		for (let attempt = 0; attempt < 5; attempt++) {
			try {
				linkSync(temporary, path);
				return { release: () => releaseIfMine(path, mine) };
			} catch (error) {
				if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
			}
			const seen = readLockText(path);
			if (seen === undefined) continue; // released meanwhile: try again
			const holder = parseHolder(seen);
			const stale = holder === 'unreadable' || (holder.host === environment.holder.host && !environment.isAlive(holder.pid));
			if (!stale) {
				// The lock file is anyone's who can write the folder: its text is shown escaped.
				const { host, started, command } = holder;
				throw new NubError(
					'lock',
					`another nub run holds the lock: pid ${holder.pid} on ${printable(host)}, started ${printable(String(started))} (${printable(String(command))}); wait for it to finish, or if that process is gone from another host, delete ${path}`,
				);
			}
			// Move the stale lock aside under a private name. If another taker was faster and what
			// moved is its fresh lock, put that back: the next pass then sees a live holder.
			const aside = `${path}.stale.${environment.holder.pid}`;
			try {
				renameSync(path, aside);
			} catch (error) {
				if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
				continue;
			}
			if (readLockText(aside) !== seen) {
				try {
					linkSync(aside, path);
				} catch (error) {
					if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
				}
			}
			unlinkSync(aside);
		}
		throw new NubError('lock', `could not take the lock ${path}: other runs keep taking it`);
	} finally {
		unlinkSync(temporary);
	}
}

function readLockText(path: string): string | undefined {
	try {
		return readFileSync(path, 'utf8');
	} catch (error) {
		if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
		throw error;
	}
}

function parseHolder(text: string): LockHolder | 'unreadable' {
	try {
		const holder = JSON.parse(text) as LockHolder;
		return typeof holder.pid === 'number' && typeof holder.host === 'string' ? holder : 'unreadable';
	} catch {
		return 'unreadable';
	}
}

function releaseIfMine(path: string, mine: string) {
	try {
		if (readFileSync(path, 'utf8') === mine) unlinkSync(path);
	} catch (error) {
		if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
	}
}
