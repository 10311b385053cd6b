import { task } from 'nub';
import { steps } from './tasks/steps.ts';

export const all = task({ name: 'all', run: () => steps.length });
