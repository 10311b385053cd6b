// Two secret tasks (their outputs sealed in the state, each bound to its task and record) and a target.
import { task } from 'nub';

const token = task({ name: 'token', secret: true, run: () => 'token-value-7f3a9c' });
const password = task({ name: 'password', secret: true, run: () => 'password-value-7f3a9c' });
export const all = task({ name: 'all', description: 'Everything', needs: { token, password }, run: ({ token, password }) => token.length + password.length });
