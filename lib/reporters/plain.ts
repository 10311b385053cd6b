import { describeChange, knownAfterApply, type ObjectChange } from '../engine/changes.ts';
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
	const diffs: ObjectChange[] = [];
	const anew: Array<{ task: string; maybe: boolean }> = [];
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
				case 'diff-object': {
					const { type: _type, ...record } = event;
					diffs.push(record);
					return;
				}
				case 'diff-secret':
					anew.push(event);
					return;
				case 'plan-end':
					write(planText(planned, pruned, event.counts, style));
					return event.diff ? write(diffText(diffs, anew, event.diff, style)) : undefined;
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
			return `would delete ${count(event.objects, 'object')}${event.files > 0 ? ` and ${count(event.files, 'declared output')}` : ''} of ${count(event.undone, 'task')} (and forget ${count(event.tasks.length, 'task')}); dry run: nothing changed`;
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
		case 'diff-object':
		case 'diff-secret':
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

/**
 * `nub plan --diff`: each object that would change, as a unified diff of the fields nub owns
 * (`+` set, `-` removed, `~` changed; green, red, yellow in a terminal), unchanged objects only
 * when verbose, the secrets to be made anew, and the counts.
 *
 *     ~ Deployment nublado/firefly  (firefly: update)
 *         ~ spec.replicas: 1 → 2
 */
function diffText(records: readonly ObjectChange[], anew: ReadonlyArray<{ task: string; maybe: boolean }>, counts: Record<string, number>, style: Style): string {
	const lines: string[] = [''];
	const sign = { create: ['+', 'green'], update: ['~', 'yellow'], delete: ['-', 'red'], none: [' ', 'dim'] } as const;
	for (const record of records) {
		if (record.action === 'none' && !style.verbose) continue;
		const [mark, color] = sign[record.action];
		lines.push(paint(style, color, `${mark} ${describeChange(record)}`) + paint(style, 'dim', `  (${record.task}: ${record.action}${record.note ? `; ${record.note}` : ''})`));
		for (const change of record.changes) {
			const secret = record.kind === 'Secret' && /^(data|stringData)[.[]/.test(change.path);
			if (change.before === null && change.after !== null) lines.push(paint(style, 'green', `    + ${change.path}: ${change.after}`));
			else if (change.after === null) lines.push(paint(style, 'red', `    - ${change.path}: ${change.before ?? ''}`));
			else if (secret) lines.push(paint(style, 'yellow', `    ~ ${change.path}: changed (${change.before} → ${change.after === knownAfterApply ? change.after : change.after.replace(/^sha256 /, '')})`));
			else lines.push(paint(style, 'yellow', `    ~ ${change.path}: ${change.before} → ${change.after}`));
		}
	}
	for (const secret of anew) lines.push(paint(style, 'yellow', `* secret ${secret.task}: ${secret.maybe ? 'may be made anew (if what it needs changes)' : 'made anew'}, its value known after apply`));
	lines.push(`objects: ${counts.create ?? 0} to create, ${counts.update ?? 0} to update, ${counts.delete ?? 0} to delete, ${counts.none ?? 0} unchanged`);
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
