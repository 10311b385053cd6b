/**
 * nub's public API for Nubfiles and task modules: `import { task } from 'nub'`.
 * Kept small and free of heavy imports, so loading a Nubfile stays fast.
 */
export { task, isTask } from './engine/task.ts';
export type { Task, TaskSpec, TaskContext, TaskInputs, TaskOutputs, Logger, Needs, OutputsOf, RetryOptions } from './engine/task.ts';
export type { Json } from './engine/json.ts';
export { NubError } from './engine/errors.ts';
// How `nub destroy` undoes a task: `withUndo(task, { run: (previous, context) => ... })`.
export { withUndo } from './engine/undo.ts';
export type { Undo, UndoContext, UndoPreview, Removal } from './engine/undo.ts';

// Kubernetes, for tasks: `const cluster = await kube(context); await cluster.apply(objects)`. The
// client itself is loaded when a task first connects.
export { kube } from './k8s/task-helpers.ts';
export type { TaskKube, KubeAccess } from './k8s/task-helpers.ts';
export { cluster } from './k8s/target.ts';
export type { Cluster, ClusterSpec } from './k8s/target.ts';
export type { KubeObject } from './k8s/objects.ts';
export type { ApplyResult, ObjectRef } from './k8s/client.ts';
export { secretManifest } from './k8s/secret.ts';
export type { SecretManifest, SecretSpec } from './k8s/secret.ts';

// Shell steps: `await sh(context)\`tsc -p .\`` in a task, or `cmd('tsc -p .', { name, inputs, outputs })`
// for a task that is one command (its text part of the key). zx itself is loaded by the CLI when
// a task first runs a command.
export { sh, cmd } from './shell/task-helpers.ts';
export type { Shell, ShellAccess, ShellOutput } from './shell/task-helpers.ts';
