import { task } from 'nub';

const region = process.env.NUB_TEST_REGION_NOT_SET;
if (!region) throw new Error('NUB_TEST_REGION_NOT_SET is not set: export it first');
export const all = task({ name: 'all', run: () => region });
