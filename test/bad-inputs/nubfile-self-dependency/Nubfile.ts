import { task, type Task } from 'nub';

const deploy: Task<number> = task({ name: 'deploy', needs: () => ({ deploy }), run: () => 1 });
export const all = task({ name: 'all', needs: { deploy } });
