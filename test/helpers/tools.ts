import { accessSync, constants } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';

/**
 * The path of `program` (on the PATH, or absolute), or an Error of one line naming it and the
 * Debian package that has it: what a test that needs a real tool throws instead of a spawn error.
 * `npm test` installs them all (scripts/setup).
 */
export function requireProgram(program: string, debianPackage: string): string {
	const candidates = isAbsolute(program) ? [program] : (process.env.PATH ?? '').split(delimiter).filter(Boolean).map(dir => join(dir, program));
	for (const candidate of candidates) {
		try {
			accessSync(candidate, constants.X_OK);
			return candidate;
		} catch {
			// not there: the next
		}
	}
	throw new Error(`${program} is not installed: apt-get install ${debianPackage} (npm test installs it when run as root)`);
}
