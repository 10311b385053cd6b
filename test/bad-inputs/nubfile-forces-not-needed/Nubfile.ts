import { task } from 'nub';

const key = task({ name: 'hub-key', run: () => 'k' });
const hub = task({ name: 'hub', run: () => 'h' });
export const rotate = task({ name: 'rotate', needs: { hub }, forces: [key] });
export const all = task({ name: 'all', needs: { hub, key } });
