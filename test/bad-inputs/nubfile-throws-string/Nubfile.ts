import { task } from 'nub';

const prepare = task({ name: 'prepare', run: () => 'ready' });
const deploy = task({
	name: 'deploy',
	needs: { prepare },
	run: () => {
		throw 'the cluster said no';
	},
});
export const all = task({ name: 'all', needs: { deploy } });
