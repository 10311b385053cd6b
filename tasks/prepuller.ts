import { task } from 'nub';
import type { Task } from 'nub';
import { applyTask, type Applied } from './apply.ts';
import type { Deployment } from './platform.ts';

/**
 * The prepuller's CronJob and permissions. Its minute is the configured one, or else chosen once
 * (15 minutes after the first deployment, so the first pull comes after it) and kept: the cache
 * keeps the chosen value, and `nub run prepuller --force` re-applies without choosing again.
 */
export function prepullerTasks({ config }: Deployment, namespace: Task<Applied>) {
	const configured = config.prepuller.minute;
	const minute = task({
		name: 'prepuller-minute',
		description: 'the minute of the hour the prepuller runs',
		group: 'prepuller',
		...(configured !== undefined ? { inputs: { config: configured } } : {}),
		run: () => configured ?? (new Date().getMinutes() + 15) % 60,
	});
	const prepuller = applyTask({
		name: 'prepuller',
		description: 'the image prepuller: CronJob, ServiceAccount and permissions',
		group: 'prepuller',
		needs: { namespace, minute },
		templates: ['prepuller/prepuller.yaml'],
		values: ({ minute }) => ({ NAMESPACE: config.namespace, PREPULLER_MINUTE: minute, IMAGE_LIST: config.prepuller.images.join(',') }),
		preview: { minute: 0 },
	});
	return { minute, prepuller };
}
