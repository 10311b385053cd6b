// A small graph: a namespace, a configuration that needs it, and the target.
import { task } from 'nub';

const namespace = task({ name: 'namespace', run: () => 'demo' });
const settings = task({ name: 'settings', needs: { namespace }, inputs: { config: { size: '1Gi' } }, run: ({ namespace }) => ({ namespace, size: '1Gi' }) });
export const all = task({ name: 'all', description: 'Everything', needs: { settings }, run: ({ settings }) => `${settings.namespace}: ${settings.size}` });
