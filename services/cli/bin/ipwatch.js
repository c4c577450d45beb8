#!/usr/bin/env node
// The `ipwatch` command. The project runs its TypeScript through tsx, registered here so
// that `npx ipwatch ...` works straight after `npm install`, with no build step; the
// `ipwatch-source` export condition makes @ipwatch/* packages resolve to their sources
// (their built dist/ is for apps outside this repository).
import { register as registerHooks } from 'node:module';
import { register } from 'tsx/esm/api';

const CONDITION = 'ipwatch-source';
register();
if (!process.execArgv.some((a) => a.includes(CONDITION)) && !(process.env.NODE_OPTIONS ?? '').includes(CONDITION)) {
  // Registered after tsx, so it runs first and hands the condition on to tsx and node.
  registerHooks(
    `data:text/javascript,export async function resolve(s, c, next) { return next(s, { ...c, conditions: [...c.conditions, ${JSON.stringify(CONDITION)}] }); }`,
  );
  // Processes the CLI starts (services, demo apps) resolve the sources too.
  process.env.NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ''} --conditions=${CONDITION}`.trim();
}
const { main } = await import('../src/main.ts');
process.exitCode = await main(process.argv.slice(2));
