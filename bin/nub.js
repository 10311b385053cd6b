#!/usr/bin/env node
// Loads TypeScript (the CLI and the user's Nubfile.ts) without a build step, then hands over.
import { register } from 'tsx/esm/api';

register();
const { runFromProcess } = await import('../lib/cli/process.ts');
await runFromProcess();
