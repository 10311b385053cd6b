import { task } from 'nub';

export const all = task({
	name: 'migrate',
	run: () => {
		throw { code: 42, reason: 'schema locked' };
	},
});
