#!/usr/bin/env node
// The `ipwatch` command. The project runs its TypeScript through tsx, registered here so
// that `npx ipwatch ...` works straight after `npm install`, with no build step.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/main.ts');
process.exitCode = await main(process.argv.slice(2));
