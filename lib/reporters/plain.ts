import type { NubEvent, RunSummary } from '../engine/events.ts';
import { describeReason } from '../engine/plan.ts';
import { formatDuration, paint, type Output, type Reporter, type Style } from './reporter.ts';

/**
 * One line per thing that happens, for logs and CI. Cached tasks are counted, not listed (a
 * cached run of 10,000 tasks prints one line), unless `verbose`.
 */
export function plainReporter(out: Output, style: Style): Reporter {
	return {
		onEvent(event: NubEvent) {
			const line = render(event, style);
			if (line !== undefined) out.write(`${line}\n`);
		},
		async close() {},
	};
}

function render(event: NubEvent, style: Style): string | undefined {
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
	}
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
