import type { NubEvent } from '../engine/events.ts';
import type { Output, Reporter } from './reporter.ts';

/**
 * One JSON object per line, for machines: every event as it happens, the last line
 * `{"summary": {...}}` with task names by outcome.
 */
export function jsonReporter(out: Output): Reporter {
	return {
		onEvent(event: NubEvent) {
			if (event.type === 'run-end') out.write(`${JSON.stringify({ summary: event.summary })}\n`);
			else out.write(`${JSON.stringify({ ...event, time: new Date().toISOString() })}\n`);
		},
		async close() {},
	};
}
