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
	const settings = config.prepuller;
	const configured = settings.minute;
	const minute = task({
		name: 'prepuller-minute',
		description: 'the minute of the hour the prepuller runs',
		group: 'prepuller',
		...(configured !== undefined ? { inputs: { config: configured }, pure: true } : {}),
		run: () => configured ?? (new Date().getMinutes() + 15) % 60,
	});
	const prepuller = applyTask({
		name: 'prepuller',
		description: 'the image prepuller: CronJob, ServiceAccount and permissions',
		group: 'prepuller',
		needs: { namespace, minute },
		templates: ['prepuller/prepuller.yaml'],
		values: ({ minute }) => ({
			NAMESPACE: config.namespace,
			PREPULLER_MINUTE: minute,
			DEBUG: settings.debug ? 'true' : '',
			PREPULLER_IMAGE_LIST: settings.images.join(','),
			PREPULLER_NO_SCAN: settings.noScan ? 'true' : '',
			PREPULLER_OWNER: settings.owner,
			PREPULLER_IMAGE_NAME: settings.name,
			PREPULLER_EXPERIMENTALS: String(settings.experimentals),
			PREPULLER_DAILIES: String(settings.dailies),
			PREPULLER_WEEKLIES: String(settings.weeklies),
			PREPULLER_RELEASES: String(settings.releases),
			PREPULLER_SORT_FIELD: settings.sortField,
			PREPULLER_COMMAND: settings.command ?? '',
			ALLOW_DASK_SPAWN: config.lab.allowDask ? 'true' : '',
		}),
		preview: { minute: 0 },
	});
	return { minute, prepuller };
}
