/**
 * What `bin/nub.cjs` runs: the CLI, and the API that Nubfiles import as `nub`, in one bundle. One
 * module, so the tasks a Nubfile declares are made by the very engine that runs them.
 */
export * from './index.ts';
export { runFromProcess } from './cli/process.ts';
