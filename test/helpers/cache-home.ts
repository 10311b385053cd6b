import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Points XDG_CACHE_HOME (the user's cache, lib/files/user-cache.ts) at `dir`, or a fresh temporary
 * folder, for one test: restored, and a folder made here removed, when it ends. For serial tests:
 * the variable is the process's.
 */
export function useCacheHome(t: { teardown(fn: () => void): void }, dir?: string): string {
	const cache = dir ?? mkdtempSync(join(tmpdir(), 'nub-cache-'));
	const saved = process.env.XDG_CACHE_HOME;
	t.teardown(() => {
		if (saved === undefined) delete process.env.XDG_CACHE_HOME;
		else process.env.XDG_CACHE_HOME = saved;
		if (dir === undefined) rmSync(cache, { recursive: true, force: true });
	});
	process.env.XDG_CACHE_HOME = cache;
	return cache;
}
