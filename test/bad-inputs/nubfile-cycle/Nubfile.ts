import { task, type Task } from 'nub';

const ping: Task<number> = task({ name: 'ping', needs: () => ({ pong }), run: () => 1 });
const pong: Task<number> = task({ name: 'pong', needs: () => ({ ping }), run: () => 2 });
export const all = task({ name: 'all', needs: { ping } });
