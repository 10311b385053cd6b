import { task } from 'nub';

export const all = task({ name: 'deploy everything', run: () => 1 });
