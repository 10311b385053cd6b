/**
 * The hub's Python environment: a virtual environment with hub/requirements.txt installed, kept in
 * ~/.cache/nub/hubenv-<hash of that file> (made 0700 and checked to be yours before anything in it
 * runs) and made when missing. Prints its folder. The hub test uses it (test/helpers/hub.ts).
 */
import { hubEnvironment } from '../test/helpers/hub-env.ts';

hubEnvironment(line => process.stderr.write(`${line}\n`)).then(
	dir => process.stdout.write(`${dir}\n`),
	(error: unknown) => {
		process.stderr.write(`setup: ${error instanceof Error ? error.message : String(error)}\n`);
		process.exitCode = 1;
	},
);
