import { Listr } from 'listr2';
import type { NubEvent } from '../engine/events.ts';
import { describeReason } from '../engine/plan.ts';
import { plainReporter, summaryLine } from './plain.ts';
import { formatDuration, type Output, type Reporter, type Style } from './reporter.ts';

interface Pending {
	resolve(): void;
	reject(error: Error): void;
	skip(message: string): void;
	setTitle(title: string): void;
	log(line: string): void;
}

/**
 * Live progress in a terminal with listr2: one line per task, spinning while it runs. listr2
 * only draws; the engine schedules. Each listr task is a promise that the engine's events settle.
 */
export function listrReporter(out: Output, style: Style): Reporter {
	let list: Promise<unknown> | undefined;
	const pending = new Map<string, Pending>();
	const early = new Map<string, NubEvent[]>();
	let summary = '';
	// What is not a run's progress (a prune after the run) is shown as plain lines.
	const plain = plainReporter(out, style);

	const deliver = (name: string, event: NubEvent) => {
		const task = pending.get(name);
		if (!task) {
			early.set(name, [...(early.get(name) ?? []), event]);
			return;
		}
		switch (event.type) {
			case 'task-cached':
				return task.skip(`${name} (cached)`);
			case 'task-start':
				return task.setTitle(`${name} (${event.reasons.map(describeReason).join('; ')})`);
			case 'task-log':
				if (event.level !== 'debug' || style.verbose) task.log(event.message);
				return;
			case 'task-retry':
				return task.log(`attempt ${event.attempt} failed, retrying: ${event.error.split('\n')[0]}`);
			case 'task-end':
				if (event.outcome === 'succeeded') {
					task.setTitle(`${name} (${formatDuration(event.durationMs)}${event.changed === false ? ', output unchanged' : ''})`);
					return task.resolve();
				}
				return task.reject(new Error(`${name}: ${event.outcome === 'interrupted' ? 'interrupted' : event.error}`));
			case 'task-blocked':
				return task.skip(`${name} (blocked: ${event.by} failed)`);
			default:
				return;
		}
	};

	return {
		onEvent(event) {
			if (event.type === 'run-start') {
				const listr = new Listr(
					event.tasks.map(name => ({
						title: name,
						task: (_: unknown, t: { title: string; output: string; skip(m: string): void }) =>
							new Promise<void>((resolve, reject) => {
								pending.set(name, {
									resolve,
									reject,
									skip: message => {
										t.skip(message);
										resolve();
									},
									setTitle: title => (t.title = title),
									log: line => (t.output = line),
								});
								for (const queued of early.get(name) ?? []) deliver(name, queued);
								early.delete(name);
							}),
					})),
					{
						concurrent: true,
						exitOnError: false,
						rendererOptions: { collapseSkips: true, suffixSkips: false, showErrorMessage: true },
					},
				);
				list = listr.run().catch(() => {});
				return;
			}
			if (event.type === 'run-end') {
				// Tasks never started (the run stopped) still hold a promise: release them.
				for (const name of event.summary.skipped) deliver(name, { type: 'task-blocked', name, by: 'an earlier task' });
				summary = summaryLine(event.summary, style);
				return;
			}
			if (event.type.startsWith('task-')) deliver((event as NubEvent & { name: string }).name, event as NubEvent);
			else plain.onEvent(event);
		},
		async close() {
			await list;
			if (summary) out.write(`${summary}\n`);
			await plain.close();
		},
	};
}
