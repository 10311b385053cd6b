import { NubError } from './errors.ts';
import { messageOf, type GraphNode } from './graph.ts';

/** A task whose preflight check failed, and why (the error's first line). */
export interface PreflightProblem {
	name: string;
	message: string;
	/** The message names what is wrong itself (a configuration field, a file): shown without the task's name. */
	located?: true;
}

/**
 * Runs the `preflight` checks of `nodes`, all at once, and returns every failure in the nodes'
 * order. They only read (files, configuration), so they run before the lock is taken and before
 * any task: a bad input stops the run with nothing applied.
 */
export async function runPreflights(
	nodes: readonly GraphNode[],
	root: string,
	signal: AbortSignal,
	/** Whether the task's inputs are those of its last success (see PreflightContext.unchanged). */
	unchanged: (node: GraphNode) => Promise<boolean> = async () => false,
): Promise<PreflightProblem[]> {
	const checked = nodes.filter(node => node.task.preflight !== undefined);
	const results = await Promise.allSettled(checked.map(async node => node.task.preflight!({ name: node.name, root, signal, unchanged: await unchanged(node) })));
	const problems: PreflightProblem[] = [];
	results.forEach((result, i) => {
		if (result.status !== 'rejected') return;
		const name = checked[i]!.name;
		// An error that says its lines name what is wrong themselves (a configuration field, a
		// credential's variable: `located`) is shown as it is, a line per problem; any other is
		// shown under the task's name.
		const reason = result.reason as { problems?: unknown; located?: unknown } | null;
		const lines = reason?.located === true && Array.isArray(reason.problems) ? reason.problems.filter((line): line is string => typeof line === 'string') : [];
		if (lines.length > 0) {
			for (const line of lines) problems.push({ name, message: line.split('\n')[0]!, located: true });
		} else {
			problems.push({ name, message: messageOf(result.reason).split('\n')[0]! });
		}
	});
	return problems;
}

/** One `config` NubError for the problems: a line each, naming the task (unless it names its own source). */
export function preflightError(problems: readonly PreflightProblem[]): NubError {
	const lines = problems.map(problem => (problem.located ? problem.message : `task "${problem.name}": ${problem.message}`));
	return new NubError('config', lines.join('\nnub: '));
}
