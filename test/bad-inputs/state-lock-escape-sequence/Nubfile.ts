// A plain target: the run stops at the lock, which another host's run holds (its file written by
// whoever could write .nub/, with escape sequences in its command).
import { task } from 'nub';

export const all = task({ name: 'all', run: () => 1 });
