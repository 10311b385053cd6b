/**
 * nub's public API for Nubfiles and task modules: `import { task } from 'nub'`.
 * Kept small and free of heavy imports, so loading a Nubfile stays fast.
 */
export { task, isTask } from './engine/task.ts';
export type { Task, TaskSpec, TaskContext, TaskInputs, Logger, Needs, OutputsOf, RetryOptions } from './engine/task.ts';
export type { Json } from './engine/json.ts';
export { NubError } from './engine/errors.ts';
