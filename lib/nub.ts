/**
 * What `bin/nub.js` runs: the CLI. Nubfiles import the API (`nub`, lib/index.ts) from the same
 * compiled lib/, so the tasks a Nubfile declares are made by the very engine that runs them.
 */
export { runFromProcess } from './cli/process.ts';
