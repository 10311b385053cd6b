import { task } from 'nub';

export const all = task({ name: 'all', run: () => 1 ;
