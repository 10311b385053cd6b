import type { ReportedEvent } from './events.ts';
import type { Output, Reporter } from './reporter.ts';

/**
 * One JSON object per line, for machines: every event as it happens, with its `type` and `time`.
 * A command's last line is its summary, without a type: `{"summary": {...}}` after a run (task
 * names by outcome) or a destroy, `{"plan": {...}}` after a plan, `{"dryRun": {...}}` after
 * `nub destroy --dry-run`.
 */
export function jsonReporter(out: Output): Reporter {
	const line = (value: unknown) => out.write(`${JSON.stringify(value)}\n`);
	return {
		onEvent(event: ReportedEvent) {
			switch (event.type) {
				case 'run-end':
					return line({ summary: event.summary });
				case 'plan-end':
					return line({ plan: event.counts, ...(event.diff ? { diff: event.diff } : {}) });
				case 'undo-preview-end':
					return line({ dryRun: { tasks: event.tasks, objects: event.objects, files: event.files } });
				case 'undo-run-end': {
					const { summary } = event;
					const done = event.command === 'destroy' ? 'destroyed' : 'pruned';
					return line({ summary: { [done]: summary.done, failed: summary.failed, blocked: summary.blocked.map(entry => entry.task), errors: summary.errors } });
				}
				default:
					return line({ ...event, time: new Date().toISOString() });
			}
		},
		async close() {},
	};
}
