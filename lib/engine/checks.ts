import { messageOf, type GraphNode } from './graph.ts';
import type { Json } from './json.ts';
import { eachAtMost } from './pool.ts';
import { printable } from './printable.ts';
import type { Redactor } from './redact.ts';
import type { Sealer } from './sealer.ts';
import { recordedOutput, type StateStore } from './state-store.ts';
import type { Logger, TaskContext } from './task.ts';

/** What the checks found: drifted tasks (with what drifted) and checks that could not tell. */
export interface CheckResults {
	drifted: Map<string, string>;
	failed: Map<string, string>;
	/** Tasks whose check ran (and found them as they were, or not). */
	checked: number;
}

export interface CheckOptions {
	nodes: readonly GraphNode[];
	state: StateStore;
	root: string;
	sealer: Sealer;
	redactor: Redactor;
	/** Checks at once (they wait on the network). */
	jobs: number;
	/** Tasks that run anyway: no need to check them. */
	force?: ReadonlySet<string>;
	signal?: AbortSignal;
	/** Adds the CLI's services (the cluster) to each check's context. */
	extendContext?: (context: TaskContext) => TaskContext;
	log?: (name: string, level: 'info' | 'warn', message: string) => void;
}

/**
 * Runs the `check` of every task that would otherwise be reused from the cache: one that has a
 * success recorded and no failure since, and is not forced. Checks only read; they run all at
 * once (up to `jobs`), before anything of the run starts, with what the task's needs gave last
 * time as inputs and its own last output as `context.previous`.
 */
export async function runChecks(options: CheckOptions): Promise<CheckResults> {
	const { state, sealer, redactor } = options;
	const results: CheckResults = { drifted: new Map(), failed: new Map(), checked: 0 };
	const recorded = (node: GraphNode): { output: Json } | undefined => {
		const ok = state.lastSuccess(node.name);
		if (!ok || state.get(node.name)?.fail) return undefined;
		const output = recordedOutput(node.name, ok, sealer);
		if (ok.sealed !== undefined && node.task.redactsOutput) redactor.add(output);
		return { output };
	};
	const candidates = options.nodes.filter(node => node.task.check && !options.force?.has(node.name));
	await eachAtMost(options.jobs, candidates, async node => {
		const own = recorded(node);
		if (!own) return;
		const inputs: Record<string, unknown> = {};
		let complete = true;
		node.needs.forEach((need, i) => {
			const value = recorded(need);
			if (value === undefined) complete = false;
			else inputs[node.needKeys[i]!] = value.output;
		});
		// A need that will run anyway decides for this task: nothing to check.
		if (!complete) return;
		const line = (level: 'info' | 'warn') => (message: string) => options.log?.(node.name, level, redactor.redact(String(message)));
		const log: Logger = { info: line('info'), warn: line('warn'), debug: () => {} };
		let context: TaskContext = {
			name: node.name,
			signal: options.signal ?? new AbortController().signal,
			log,
			root: options.root,
			attempt: 1,
			previous: own.output,
			retried: message => log.warn(message),
		};
		if (options.extendContext) context = options.extendContext(context);
		results.checked++;
		try {
			const drifted = await node.task.check!(inputs, context);
			// A check's message may quote what it read from outside: shown escaped.
			if (drifted !== undefined) results.drifted.set(node.name, printable(redactor.redact(drifted)));
		} catch (error) {
			results.failed.set(node.name, printable(messageOf(error, text => redactor.redact(text)).split('\n')[0]!));
		}
	});
	return results;
}
