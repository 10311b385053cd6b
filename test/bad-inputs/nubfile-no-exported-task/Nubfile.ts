import { task } from 'nub';

const all = task({ name: 'all', run: () => 1 });
export const name = all.name;
