// A secret task (its output is sealed in the state under the state key) and a target using it.
import { task } from 'nub';

const token = task({ name: 'token', secret: true, run: () => 'token-value-7f3a9c' });
export const all = task({ name: 'all', description: 'Everything', needs: { token }, run: ({ token }) => token.length });
