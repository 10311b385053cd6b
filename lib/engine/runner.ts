import pRetry from 'p-retry';
import { TaskTimeoutError } from './errors.ts';
import type { NubEvent } from './events.ts';
import { indexBound, messageOf, NonErrorThrown, type GraphNode } from './graph.ts';
import { canonicalJson, contentHash, findNonJson, type Json } from './json.ts';
import { hashedOutput, recordOutputs, removeOutputs } from './outputs.ts';
import type { Decision } from './plan.ts';
import type { Redactor } from './redact.ts';
import type { Sealer } from './sealer.ts';
import { depsText, recordedOutput, type StateStore, type SuccessRecord } from './state-store.ts';
import type { Logger, TaskContext } from './task.ts';

/** What running tasks takes: where to record them, how to report, and what tasks may touch. */
export interface RunnerOptions {
	state: StateStore;
	/** The Nubfile's folder: the root of declared input files and the tasks' `context.root`. */
	root: string;
	/** Aborting it stops scheduling and aborts the running tasks. */
	signal?: AbortSignal;
	emit: (event: NubEvent) => void;
	sealer: Sealer;
	redactor: Redactor;
	/** Adds the CLI's services to each task's context. */
	extendContext?: (context: TaskContext) => TaskContext;
	now?: () => number;
}

/**
 * Runs one task at a time as the scheduler hands it over, and keeps what the run knows of each
 * task's output. For a task decided to run it builds the inputs from what its needs gave, makes
 * its context, makes its attempts (timeout, retries, abort), then records the result in the state
 * (a secret output sealed, and learnt by the redactor) and reports it. For a cached task it takes
 * the recorded output. Whether a task runs is decided in plan.ts; when, by the scheduler.
 *
 * Outputs are kept by GraphNode.index, in arrays rather than an object per task: a cached no-op
 * of 10,000 tasks would allocate 10,000 of them. A secret cached output stays sealed until a task
 * that needs it runs.
 */
export class TaskRunner {
	/** Retries made, by task name. */
	readonly retries: Record<string, number> = {};
	/** The first line of each failure, by task name (secrets redacted). */
	readonly errors: Record<string, string> = {};
	/** The tasks that ran and gave another output than their last success. */
	readonly changed = new Set<string>();
	private readonly outHashes: Array<string | undefined>;
	private readonly outputs: Array<Json | undefined>;
	private readonly sealedOutputs: Array<SuccessRecord | undefined>;
	/** One per running task: aborted on Ctrl-C. */
	private readonly controllers = new Set<AbortController>();
	private readonly now: () => number;

	/**
	 * Checks the state key and teaches the redactor every secret the state holds for `nodes`, so
	 * call it before anything runs: a wrong key must stop the run before new secrets are sealed
	 * under it beside the old ones (a later run could read neither all of them), and a task may fail
	 * with a message holding a secret made three runs ago, cached or not.
	 */
	constructor(
		private readonly options: RunnerOptions,
		nodes: readonly GraphNode[],
	) {
		const { state, sealer, redactor } = options;
		// Date.now rather than performance.now, whose module costs a start almost 1 ms.
		this.now = options.now ?? Date.now;
		const size = indexBound(nodes);
		this.outHashes = new Array(size);
		this.outputs = new Array(size);
		this.sealedOutputs = new Array(size);
		const sealed = state.anySealed();
		if (sealed) sealer.open(sealed.sealed, `task "${sealed.name}"`, sealed);
		for (let i = 0; i < nodes.length; i++) {
			const node = nodes[i]!;
			const ok = node.task.redactsOutput ? state.lastSuccess(node.name) : undefined;
			if (ok?.sealed !== undefined) redactor.add(JSON.parse(sealer.open(ok.sealed, `task "${node.name}"`, ok)));
		}
	}

	/** The output hash of each task that succeeded or was cached in this run, by GraphNode.index. */
	get hashes(): ReadonlyArray<string | undefined> {
		return this.outHashes;
	}

	/** Reuses the task's last success: its recorded output is what its dependents receive. */
	reuse(node: GraphNode): void {
		const ok = this.options.state.lastSuccess(node.name)!;
		this.outHashes[node.index] = ok.outHash;
		if (ok.sealed !== undefined) this.sealedOutputs[node.index] = ok;
		else this.outputs[node.index] = ok.output ?? null;
		this.options.emit({ type: 'task-cached', name: node.name });
	}

	/**
	 * Runs a task that `decision` says must run (`startedAt` is when the run took it up), records
	 * and reports how it ended. A decision whose inputs could not be fingerprinted fails the task
	 * before it starts. The task's own failure is an outcome; only a failure to record it (the
	 * state cannot be written) rejects.
	 */
	async run(node: GraphNode, decision: Decision, startedAt: number): Promise<'succeeded' | 'failed' | 'interrupted'> {
		try {
			if (decision.error !== undefined) throw decision.error;
			this.options.emit({ type: 'task-start', name: node.name, reasons: decision.reasons });
			const outputs = node.task.outputs;
			// Forced, a task that owns its output files starts without them: what it no longer writes goes.
			if (outputs && !outputs.keep && decision.reasons.some(reason => reason.kind === 'forced')) removeOutputs(outputs.files, this.options.root);
			const output = await this.execute(node);
			const records = outputs ? recordOutputs(outputs.files, this.options.root) : undefined;
			this.complete(node, decision, output, records, this.now() - startedAt);
			return 'succeeded';
		} catch (error) {
			return this.fail(node, error, this.now() - startedAt);
		}
	}

	/** Aborts every running task through its signal. */
	abort(): void {
		for (const controller of this.controllers) controller.abort(new Error('interrupted'));
	}

	private complete(node: GraphNode, decision: Decision, value: unknown, records: string[] | undefined, ms: number) {
		const { state, sealer, redactor, emit } = this.options;
		const output = (value === undefined ? null : value) as Json;
		const problem = findNonJson(output);
		if (problem) throw new Error(`task returned a value that is not JSON: ${problem}`);
		const text = canonicalJson(output);
		const secret = node.task.secret;
		if (node.task.redactsOutput) redactor.add(output);
		const hashed = hashedOutput(text, records);
		const outHash = secret ? sealer.digest(hashed) : contentHash(hashed);
		const previous = state.lastSuccess(node.name)?.outHash;
		state.recordSuccess({
			name: node.name,
			...(isEmpty(decision.inputs) ? {} : { inputs: decision.inputs }),
			deps: depsText(this.depsOf(node)),
			outHash,
			...(records ? { outputs: records } : {}),
			...(secret ? { sealed: sealer.seal(text, { name: node.name, seq: state.nextSeq() }) } : { output }),
			at: Date.now(),
			ms: Math.round(ms),
		});
		this.outHashes[node.index] = outHash;
		this.outputs[node.index] = output;
		const didChange = previous !== outHash;
		if (didChange) this.changed.add(node.name);
		emit({
			type: 'task-end',
			name: node.name,
			outcome: 'succeeded',
			durationMs: ms,
			changed: didChange,
			...(secret ? { secret: true } : { output }),
		});
	}

	private fail(node: GraphNode, error: unknown, ms: number): 'failed' | 'interrupted' {
		const { state, redactor, emit } = this.options;
		const interrupted = this.options.signal?.aborted === true;
		const message = messageOf(error, text => redactor.redact(text));
		const firstLine = message.split('\n')[0]!;
		this.errors[node.name] = firstLine;
		try {
			state.recordFailure({ name: node.name, error: firstLine, ...(interrupted ? { interrupted } : {}), at: Date.now(), ms: Math.round(ms) });
		} finally {
			const stack = error instanceof Error && error.stack ? redactor.redact(error.stack) : undefined;
			const detail = detailOf(error, redactor);
			emit({
				type: 'task-end',
				name: node.name,
				outcome: interrupted ? 'interrupted' : 'failed',
				durationMs: ms,
				error: message,
				...(stack ? { stack } : {}),
				...(detail !== undefined ? { detail } : {}),
			});
		}
		return interrupted ? 'interrupted' : 'failed';
	}

	/** The output hashes of what the task needs, by task name: what its success is recorded with. */
	private depsOf(node: GraphNode): Record<string, string> {
		const deps: Record<string, string> = {};
		for (const need of node.needs) deps[need.name] = this.outHashes[need.index]!;
		return deps;
	}

	/** A need's output, opened when it is sealed. */
	private outputOf(node: GraphNode): Json {
		const sealed = this.sealedOutputs[node.index];
		if (this.outputs[node.index] === undefined && sealed !== undefined) {
			this.outputs[node.index] = JSON.parse(this.options.sealer.open(sealed.sealed!, `task "${node.name}"`, sealed)) as Json;
		}
		return this.outputs[node.index] ?? null;
	}

	/** The task's last recorded output, decrypted for a secret one (already known to the redactor). */
	private previousOutput(node: GraphNode): Json | undefined {
		const ok = this.options.state.lastSuccess(node.name);
		return ok === undefined ? undefined : recordedOutput(node.name, ok, this.options.sealer);
	}

	/**
	 * Makes the task's attempts. Each has its own signal, aborted by the run's abort or by the
	 * task's timeout; a task that ignores its signal is left behind and fails all the same.
	 */
	private async execute(node: GraphNode): Promise<unknown> {
		const { task } = node;
		const { emit, redactor, root, extendContext } = this.options;
		const inputs: Record<string, unknown> = {};
		node.needs.forEach((need, i) => (inputs[node.needKeys[i]!] = this.outputOf(need)));
		const controller = new AbortController();
		this.controllers.add(controller);
		const log = makeLogger(node.name, emit, redactor);
		const previous = this.previousOutput(node);
		const retried = (message: string) => {
			this.retries[node.name] = (this.retries[node.name] ?? 0) + 1;
			emit({ type: 'task-log', name: node.name, level: 'warn', message: redactor.redact(String(message)) });
		};
		const attempt = async (attemptNumber: number) => {
			const attemptController = new AbortController();
			const abort = () => attemptController.abort(controller.signal.reason);
			controller.signal.addEventListener('abort', abort, { once: true });
			let timer: NodeJS.Timeout | undefined;
			try {
				const aborted = new Promise<never>((_, reject) => {
					const onAbort = () => reject(attemptController.signal.reason ?? new Error('aborted'));
					if (attemptController.signal.aborted) onAbort();
					attemptController.signal.addEventListener('abort', onAbort, { once: true });
				});
				aborted.catch(() => {});
				if (task.timeout !== undefined) {
					timer = setTimeout(
						() => attemptController.abort(new TaskTimeoutError(`timed out after ${formatMs(task.timeout!)}`)),
						task.timeout,
					);
				}
				let context: TaskContext = { name: node.name, signal: attemptController.signal, log, root, attempt: attemptNumber, previous, retried };
				if (extendContext) context = extendContext(context);
				return await Promise.race([task.execute(inputs, context).catch(wrapNonError), aborted]);
			} finally {
				clearTimeout(timer);
				controller.signal.removeEventListener('abort', abort);
			}
		};
		try {
			if (!task.retry || task.retry.retries <= 0) return await attempt(1);
			return await pRetry(attempt, {
				...task.retry,
				signal: controller.signal,
				shouldRetry: () => !controller.signal.aborted,
				onFailedAttempt: ({ error, attemptNumber, retriesLeft }) => {
					if (retriesLeft <= 0 || controller.signal.aborted) return;
					this.retries[node.name] = (this.retries[node.name] ?? 0) + 1;
					emit({ type: 'task-retry', name: node.name, attempt: attemptNumber, retriesLeft, error: messageOf(error, text => redactor.redact(text)) });
				},
			});
		} finally {
			this.controllers.delete(controller);
		}
	}
}

function makeLogger(name: string, emit: (event: NubEvent) => void, redactor: Redactor): Logger {
	const line = (level: 'info' | 'warn' | 'debug') => (message: string) =>
		emit({ type: 'task-log', name, level, message: redactor.redact(String(message)) });
	return { info: line('info'), warn: line('warn'), debug: line('debug') };
}

/**
 * The failure as fields, for machines: an error's `detail` property when it is a JSON object (a
 * RolloutFailedError's case, object, pod, container), with the secrets redacted; else undefined.
 */
function detailOf(error: unknown, redactor: Redactor): Json | undefined {
	const detail = typeof error === 'object' && error !== null ? (error as { detail?: unknown }).detail : undefined;
	if (typeof detail !== 'object' || detail === null || Array.isArray(detail)) return undefined;
	try {
		return JSON.parse(redactor.redact(JSON.stringify(detail))) as Json;
	} catch {
		return undefined;
	}
}

/** Tasks may throw anything; the engine and p-retry want Errors. */
function wrapNonError(error: unknown): never {
	if (error instanceof Error) throw error;
	throw new NonErrorThrown(error);
}

function formatMs(ms: number): string {
	return ms >= 1000 ? `${ms / 1000} s` : `${ms} ms`;
}

function isEmpty(object: object): boolean {
	for (const _ in object) return false;
	return true;
}
