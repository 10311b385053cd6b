import type { RunSummary } from '../engine/events.ts';
import { describeReason, type PlanEntry } from '../engine/plan.ts';
import { describeApplied, type AppliedObject } from '../k8s/applied.ts';
import type { PruneReason, ReportedEvent, UndoSummary } from './events.ts';
import { formatDuration, paint, type Output, type Reporter, type Style } from './reporter.ts';

/**
 * One line per thing that happens, for logs and CI. Cached tasks are counted, not listed (a
 * cached run of 10,000 tasks prints one line), unless `verbose`. Tables (`nub list`, `nub plan`)
 * are laid out once complete, their columns as wide as their longest entry.
 */
export function plainReporter(out: Output, style: Style): Reporter {
	const listed: Array<{ name: string; description: string | null }> = [];
	const planned: PlanEntry[] = [];
	const pruned: Array<{ name: string; object: AppliedObject; reason: PruneReason }> = [];
	const write = (line: string | undefined) => {
		if (line !== undefined) out.write(`${line}\n`);
	};
	return {
		onEvent(event: ReportedEvent) {
			switch (event.type) {
				case 'list-entry':
					listed.push(event);
					return;
				case 'plan-entry':
					planned.push(event);
					return;
				case 'prune-entry':
					pruned.push(event);
					return;
				case 'plan-end':
					return write(planText(planned, pruned, event.counts, style));
				default:
					return write(render(event, style));
			}
		},
		async close() {
			if (listed.length > 0) write(listText(listed));
			listed.length = 0;
		},
	};
}

function render(event: ReportedEvent, style: Style): string | undefined {
	switch (event.type) {
		case 'run-start':
			return undefined;
		case 'task-cached':
			return style.verbose ? `${paint(style, 'dim', 'cached ')} ${event.name}` : undefined;
		case 'task-start':
			return `${paint(style, 'blue', 'run    ')} ${event.name} ${paint(style, 'dim', `(${event.reasons.map(describeReason).join('; ')})`)}`;
		case 'task-log':
			if (event.level === 'debug' && !style.verbose) return undefined;
			return event.message
				.split('\n')
				.map(line => `${paint(style, 'dim', `  ${event.name} |`)} ${event.level === 'warn' ? paint(style, 'yellow', line) : line}`)
				.join('\n');
		case 'task-retry':
			return `${paint(style, 'yellow', 'retry  ')} ${event.name}: attempt ${event.attempt} failed (${event.retriesLeft} left): ${firstLine(event.error)}`;
		case 'task-end':
			if (event.outcome === 'succeeded') {
				const note = event.changed === false ? ', output unchanged' : '';
				return `${paint(style, 'green', 'ok     ')} ${event.name} ${paint(style, 'dim', `(${formatDuration(event.durationMs)}${note})`)}`;
			}
			return [
				`${paint(style, 'red', event.outcome === 'failed' ? 'FAILED ' : 'STOPPED')} ${event.name}: ${event.error ?? ''}`,
				...(style.verbose && event.stack ? [paint(style, 'dim', event.stack)] : []),
			].join('\n');
		case 'task-blocked':
			return `${paint(style, 'yellow', 'blocked')} ${event.name} ${paint(style, 'dim', `(${event.by} failed)`)}`;
		case 'run-end':
			return summaryLine(event.summary, style);
		case 'undo-preview':
			if (event.steps.length === 0) return undefined;
			return [`${event.name}:${event.stale ? ' (no longer in the graph)' : ''}`, ...event.steps.map(step => `  ${step}`)].join('\n');
		case 'undo-preview-end':
			return `would delete ${count(event.objects, 'object')} of ${count(event.undone, 'task')} (and forget ${count(event.tasks.length, 'task')}); dry run: nothing changed`;
		case 'undo-log':
			if (event.level === 'debug' && !style.verbose) return undefined;
			return event.message
				.split('\n')
				.map(line => `${event.command} ${event.name}: ${line}`)
				.join('\n');
		case 'undo-object': {
			const said = event.removal === 'absent' ? 'already gone' : event.removal === 'failed' ? `failed: ${event.error ?? ''}` : event.removal;
			return `${event.command} ${event.name}: ${event.object} ${said}`;
		}
		case 'undo-run-end':
			return event.command === 'destroy' && !event.summary.interrupted ? destroyedLine(event.summary) : undefined;
		// Failures of a destroy or a prune are told on stderr, with the exit code, once it is over.
		case 'undo-start':
		case 'undo-end':
		case 'undo-blocked':
		case 'list-entry':
		case 'plan-entry':
		case 'prune-entry':
		case 'plan-end':
			return undefined;
	}
}

/** `nub list`: the names in a column, sorted, each with its description. */
function listText(entries: ReadonlyArray<{ name: string; description: string | null }>): string {
	const width = Math.max(...entries.map(entry => entry.name.length));
	return [...entries]
		.sort((a, b) => a.name.localeCompare(b.name))
		.map(entry => `${entry.name.padEnd(width)}  ${entry.description ?? ''}`.trimEnd())
		.join('\n');
}

/** `nub plan`: a line per task that would run (every task when verbose), the counts, then what a prune would delete. */
function planText(entries: readonly PlanEntry[], pruned: ReadonlyArray<{ name: string; object: AppliedObject; reason: PruneReason }>, counts: { run: number; maybe: number; cached: number }, style: Style): string {
	const lines: string[] = [];
	const width = Math.max(...entries.map(entry => entry.name.length));
	for (const entry of entries) {
		if (entry.action === 'cached' && !style.verbose) continue;
		const label = { run: 'run   ', maybe: 'maybe ', cached: 'cached' }[entry.action];
		const why = entry.reasons.map(describeReason).join('; ');
		lines.push(`${label} ${entry.name.padEnd(width)}  ${why}`.trimEnd() + (entry.secret && style.verbose ? ' [secret]' : ''));
	}
	lines.push(`${counts.run} to run, ${counts.maybe} to run if what they need changes, ${counts.cached} cached`);
	if (pruned.length > 0) {
		lines.push('prune (nub run --prune deletes them):');
		const described = pruned.map(entry => describeApplied(entry.object));
		const objectWidth = Math.max(...described.map(text => text.length));
		pruned.forEach((entry, i) => lines.push(`prune  ${described[i]!.padEnd(objectWidth)}  from ${entry.name} (${entry.reason})`));
	}
	return lines.join('\n');
}

/** `destroyed 12 tasks (40 objects)`, and the failures and tasks kept when there were any. */
function destroyedLine(summary: UndoSummary): string {
	const failed = summary.errors.length > 0 ? `; ${count(summary.errors.length, 'failure')}, ${count(summary.blocked.length, 'task')} kept` : '';
	return `destroyed ${count(summary.done.length, 'task')} (${count(summary.objects, 'object')})${failed}`;
}

function count(n: number, noun: string): string {
	return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

/** `3 succeeded, 5 cached, 1 failed, 2 blocked in 1.2 s`: only the counts that are not zero. */
export function summaryLine(summary: RunSummary, style: Style): string {
	const retries = Object.values(summary.retries).reduce((a, b) => a + b, 0);
	const parts = [
		[summary.succeeded.length, 'succeeded', 'green'],
		[summary.cached.length, 'cached', 'dim'],
		[summary.failed.length, 'failed', 'red'],
		[summary.interrupted.length, 'interrupted', 'red'],
		[summary.blocked.length, 'blocked', 'yellow'],
		[summary.skipped.length, 'not started', 'yellow'],
		[retries, retries === 1 ? 'retry' : 'retries', 'yellow'],
	] as const;
	const text = parts
		.filter(([count]) => count > 0)
		.map(([count, label, color]) => paint(style, color, `${count} ${label}`))
		.join(', ');
	return `${text || 'nothing to do'} in ${formatDuration(summary.durationMs)}`;
}

function firstLine(text: string) {
	return text.split('\n')[0];
}
