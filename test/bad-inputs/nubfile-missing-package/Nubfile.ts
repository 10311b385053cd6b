import { task } from 'nub';
import { deploy } from 'nub-plugin-that-does-not-exist';

export const all = task({ name: 'all', run: () => deploy() });
