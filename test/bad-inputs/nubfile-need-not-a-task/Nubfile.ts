import { task } from 'nub';

const ip = '10.96.0.12';
export const fileserver = task({ name: 'fileserver', needs: { ip } as never, run: () => 1 });
