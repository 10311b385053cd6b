import type { ObjectDiff } from './changes.ts';
import type { Json } from './json.ts';

/** Where a task writes its log lines; the CLI decides how they are shown. */
export interface Logger {
	info(message: string): void;
	warn(message: string): void;
	debug(message: string): void;
}

/**
 * What a running task may touch besides its inputs. The engine builds the base; the CLI adds
 * services (a Kubernetes client, a shell) by extending this interface, so tasks never reach for
 * globals and tests can hand them fakes.
 */
export interface TaskContext {
	/** The task's own name. */
	readonly name: string;
	/** Aborted on Ctrl-C and on timeout: pass it to every long operation. */
	readonly signal: AbortSignal;
	/** Log lines, shown under the task (secrets redacted). */
	readonly log: Logger;
	/** The folder of the Nubfile: relative paths in a task are relative to it. */
	readonly root: string;
	/** 1 on the first attempt, 2 on the first retry, ... */
	readonly attempt: number;
	/**
	 * The output of this task's last success (decrypted, for a secret task), or undefined when it
	 * never succeeded: what a rotation builds on. Check its shape: the task's code may have changed.
	 */
	readonly previous: unknown;
	/**
	 * Tells the run that an operation inside the task failed transiently and is being tried again
	 * (a 503 from an API): shown as a warning and counted in the summary's retries.
	 */
	retried(message: string): void;
}

/** What a preflight check may touch: it reads, it never writes. */
export interface PreflightContext {
	readonly name: string;
	readonly root: string;
	readonly signal: AbortSignal;
	/**
	 * The task's declared inputs are those of its last success (and it has not failed since): what
	 * its preflight checks about them was checked then. A check of the passing time (a certificate's
	 * expiry) runs anyway.
	 */
	readonly unchanged: boolean;
}

/**
 * What a task's `diff` may touch: the task's context (the CLI adds the cluster), and a keyed digest
 * for values that must not be shown (a Secret's): an HMAC under the state key, so the hashes
 * reveal nothing; undefined when there is no state key yet.
 */
export interface DiffContext extends TaskContext {
	digest(text: string): string | undefined;
}

/** Retry settings, as in p-retry: `retries` further attempts with exponential backoff. */
export interface RetryOptions {
	retries: number;
	/** Milliseconds before the first retry (default 1000). */
	minTimeout?: number;
	/** Upper bound on the wait between attempts (default 30000). */
	maxTimeout?: number;
	/** Growth of the wait from one retry to the next (default 2). */
	factor?: number;
}

/** What else goes into a task's cache key besides the outputs it needs. */
export interface TaskInputs {
	/** Files or folders the task reads, relative to the Nubfile's folder, hashed by content. */
	files?: readonly string[];
	/**
	 * Those of `files` whose content is secret (a private key): the state keeps an HMAC of each
	 * under the state key instead of a plain hash, which could be checked against a guess or
	 * matched to the same key elsewhere.
	 */
	secretFiles?: readonly string[];
	/** Configuration values the task uses: a change reruns the task. */
	config?: Json;
	/** Bump it to rerun the task when its code changed in a way that matters. */
	version?: string | number;
	/**
	 * A secret value the task uses (a credential from the environment): a change reruns the task,
	 * and the state keeps only an HMAC of it under the state key, never even a plain hash. A
	 * function is called when a run or plan fingerprints the task, never when the Nubfile loads:
	 * the credential is read only by the commands that need it (`nub list` does not). If it throws,
	 * the run fails the task and a plan says the input cannot be read.
	 */
	secret?: Json | (() => Json);
	/**
	 * The shell command the task runs (set by `cmd()`): editing it reruns the task, and the plan
	 * says `command changed`.
	 */
	command?: string;
}

/**
 * The files a task writes: after each success nub records their content fingerprints, and a
 * cached task whose outputs are missing or differ from what it recorded runs again.
 */
export interface TaskOutputs {
	/**
	 * Files, folders or globs (`*` within a name, `**` across folders, `?` one character), relative
	 * to the Nubfile's folder and inside it. Each must exist after a success (a glob must match a
	 * file), or the task fails. Their contents are part of the task's output: a dependent reruns
	 * only when they change.
	 */
	files: readonly string[];
	/**
	 * `true`: the files are not the task's alone: `nub destroy` leaves them, and `--force` does not
	 * delete them before the task runs. By default both do.
	 */
	keep?: boolean;
}

/** An object of tasks: the keys name the inputs `run` receives. */
export type Needs = { readonly [key: string]: Task<unknown> };

/** The outputs of `N`, under the same keys, with their types. */
export type OutputsOf<N extends Needs> = { readonly [K in keyof N]: N[K] extends Task<infer Out> ? Out : never };

/** What `task()` takes. */
export interface TaskSpec<N extends Needs, Out> {
	/** Unique in the graph; the CLI's name for the task. Letters, digits, `-`, `_`, `.`, `:`. */
	name: string;
	/** One line for `nub list`. */
	description?: string;
	/**
	 * The tasks this one needs, by the names its `run` receives their outputs under. A function
	 * returning the object allows a reference to a task defined further down the file.
	 */
	needs?: N | (() => N);
	/** Does the work. Omitted for a group task, which only gathers what it needs. */
	run?: (inputs: OutputsOf<N>, context: TaskContext) => Out | Promise<Out>;
	/** Files, configuration and a version that also go into the cache key. */
	inputs?: TaskInputs;
	/** The files it writes: checked before it is reused, and part of what its dependents receive. */
	outputs?: TaskOutputs;
	/**
	 * `true`: the task talks to a cluster (apply tasks are marked so): `nub watch` does not rerun
	 * it unless given `--include-cluster`.
	 */
	cluster?: boolean;
	/**
	 * `true`: the output is a secret: encrypted in the state, never shown, and every string in it
	 * replaced by a marker wherever it would appear (logs, errors, `--json`).
	 * `'inputs'`: the output embeds secrets that other tasks made (a Kubernetes Secret built from
	 * them): encrypted and never shown too, but what is redacted is those tasks' values (raw and
	 * base64), not the output's every string (its namespace and key names are no secret).
	 */
	secret?: boolean | 'inputs';
	/** Milliseconds one attempt may take before it is aborted and fails. */
	timeout?: number;
	/** Retries after a failure: a count, or p-retry options. */
	retry?: number | RetryOptions;
	/** The component the task belongs to (for `nub graph` clusters). */
	group?: string;
	/**
	 * A read-only check run before anything of the run starts, for every task of the run, cached
	 * or not (for example: the certificate files exist, match their key and cover the hostname).
	 * Throwing stops the run with the message, naming the task; nothing runs.
	 */
	preflight?: (context: PreflightContext) => void | Promise<void>;
	/**
	 * Tasks that naming this one as a target reruns, as if they were given with `--force`. They
	 * must be among what this task needs, directly or not: a `rotate-hub-key` target needs the hub
	 * and forces its key.
	 */
	forces?: ReadonlyArray<Task<unknown>> | (() => ReadonlyArray<Task<unknown>>);
	/**
	 * Whether the world still matches the task's last success, by reads only: given what its needs
	 * gave and (in `context.previous`) what it gave, it returns what drifted (`Deployment hub
	 * deleted`), or nothing when all is as it left it. Run for cached tasks before anything runs;
	 * a task that drifted reruns. Throwing means the check itself could not tell.
	 */
	check?: (inputs: OutputsOf<N>, context: TaskContext) => Promise<string | undefined> | string | undefined;
	/**
	 * What running the task would change, by reads and dry runs only (`nub plan --diff`): one record
	 * per object, given its needs' outputs. An output a run has yet to make (a need that will run
	 * and is not `pure`) is given as `unknownOutput(need)`: the fields made from it are known after apply.
	 */
	diff?: (inputs: OutputsOf<N>, context: DiffContext) => Promise<ObjectDiff[]>;
	/**
	 * Its output depends on its inputs only, and running it changes nothing outside it (a Secret
	 * manifest built from values, a ConfigMap from a folder): `nub plan --diff` runs it to see what
	 * the tasks that need it would apply.
	 */
	pure?: boolean;
	/**
	 * The shape of its output when it is an object (`{ certPem: '', keyPem: '' }`: the values do not
	 * matter). Before its first run, `nub plan --diff` gives the tasks that need it this shape with
	 * every value known after apply, so a pure task reading its fields still builds what it builds.
	 */
	shape?: Out;
}

declare const output: unique symbol;

/**
 * A step of the graph whose output has type `Out`. Made by `task()`; pass it in another task's
 * `needs` to depend on it and receive its output.
 */
export interface Task<Out> {
	/** Unique within the process, in order of declaration: the engine's tables are indexed by it. */
	readonly id: number;
	readonly name: string;
	readonly description: string | undefined;
	readonly inputs: TaskInputs;
	/** The files it writes, if it declares any. */
	readonly outputs: TaskOutputs | undefined;
	/** It talks to a cluster: `nub watch` leaves it alone unless told otherwise. */
	readonly cluster: boolean;
	/** The output is encrypted in the state and never shown. */
	readonly secret: boolean;
	/** Every string of the output is redacted (`secret: true`). */
	readonly redactsOutput: boolean;
	readonly timeout: number | undefined;
	readonly retry: RetryOptions | undefined;
	readonly group: string | undefined;
	/** True when the task has no `run` of its own. */
	readonly isGroup: boolean;
	/** The needs object, resolving the function form. */
	needs(): Needs;
	/** The tasks that naming this one reruns (see `TaskSpec.forces`). */
	forces(): ReadonlyArray<unknown>;
	readonly preflight: TaskSpec<Needs, unknown>['preflight'];
	readonly check: TaskSpec<Needs, unknown>['check'];
	readonly diff: TaskSpec<Needs, unknown>['diff'];
	readonly pure: boolean;
	readonly shape: unknown;
	/** Runs the task's own function (null for a group). */
	execute(inputs: Record<string, unknown>, context: TaskContext): Promise<unknown>;
	/** Carries the output type; it has no value at run time. */
	readonly [output]?: Out;
}

let nextId = 0;
const noInputs: TaskInputs = Object.freeze({});
const noNeeds: Needs = Object.freeze({});
const noForces: ReadonlyArray<Task<unknown>> = Object.freeze([]);

/** What `task()` makes: a class, so that 10,000 tasks share their methods. */
class NubTask {
	readonly id = nextId++;
	readonly name: string;
	readonly description: string | undefined;
	readonly inputs: TaskInputs;
	readonly outputs: TaskOutputs | undefined;
	readonly cluster: boolean;
	readonly secret: boolean;
	readonly redactsOutput: boolean;
	readonly timeout: number | undefined;
	readonly retry: RetryOptions | undefined;
	readonly group: string | undefined;
	readonly isGroup: boolean;
	readonly preflight: TaskSpec<Needs, unknown>['preflight'];
	readonly check: TaskSpec<Needs, unknown>['check'];
	readonly diff: TaskSpec<Needs, unknown>['diff'];
	readonly pure: boolean;
	readonly shape: unknown;
	readonly #needs: TaskSpec<Needs, unknown>['needs'];
	readonly #forces: TaskSpec<Needs, unknown>['forces'];
	readonly #run: TaskSpec<Needs, unknown>['run'];

	constructor(spec: TaskSpec<Needs, unknown>) {
		this.name = spec.name;
		this.description = spec.description;
		this.inputs = spec.inputs ?? noInputs;
		this.outputs = spec.outputs?.files.length ? spec.outputs : undefined;
		this.cluster = spec.cluster === true;
		this.secret = spec.secret === true || spec.secret === 'inputs';
		this.redactsOutput = spec.secret === true;
		this.timeout = spec.timeout;
		this.retry = typeof spec.retry === 'number' ? { retries: spec.retry } : spec.retry;
		this.group = spec.group;
		this.isGroup = spec.run === undefined;
		this.preflight = spec.preflight;
		this.check = spec.check;
		this.diff = spec.diff;
		this.pure = spec.pure ?? false;
		this.shape = spec.shape;
		this.#needs = spec.needs;
		this.#forces = spec.forces;
		this.#run = spec.run;
	}

	forces(): ReadonlyArray<unknown> {
		const forces = this.#forces;
		return typeof forces === 'function' ? forces() : (forces ?? noForces);
	}

	needs(): Needs {
		const needs = this.#needs;
		return typeof needs === 'function' ? needs() : (needs ?? noNeeds);
	}

	async execute(inputs: Record<string, unknown>, context: TaskContext): Promise<unknown> {
		return this.#run ? this.#run(inputs as OutputsOf<Needs>, context) : null;
	}
}

/** How many tasks this process has declared: every task's id is below it. */
export function declaredTasks(): number {
	return nextId;
}

/** True when `value` was made by `task()`. */
export function isTask(value: unknown): value is Task<unknown> {
	return value instanceof NubTask;
}

/**
 * Declares a task. Its output type comes from `run`, and `run` receives the outputs of `needs`
 * under the same keys, typed:
 *
 *     const ip = task({ name: 'ip', run: () => '10.0.0.1' });          // Task<string>
 *     const dns = task({ name: 'dns', needs: { ip }, run: ({ ip }) => ip.length });
 */
export function task<N extends Needs = {}, Out = null>(spec: TaskSpec<N, Out>): Task<Awaited<Out>> {
	return new NubTask(spec as unknown as TaskSpec<Needs, unknown>) as unknown as Task<Awaited<Out>>;
}
