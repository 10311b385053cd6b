import { task } from 'nub';

export const a = task({ name: 'deploy', run: () => 1 });
export const b = task({ name: 'deploy', run: () => 2 });
