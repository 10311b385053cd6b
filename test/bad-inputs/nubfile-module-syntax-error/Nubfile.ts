import { task } from 'nub';
import { size } from './tasks/storage.ts';

export const all = task({ name: 'all', run: () => size });
