/** Runs the real `ipwatch` command as a user would, in a directory of its own. */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { childEnv } from './components.ts';

export const IPWATCH_BIN = fileURLToPath(new URL('../../services/cli/bin/ipwatch.js', import.meta.url));

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Environment for the command: only the IPWATCH_* given here, none inherited from the developer's shell. */
function env(vars: Record<string, string>): NodeJS.ProcessEnv {
  const base = childEnv({});
  for (const k of Object.keys(base)) if (k.startsWith('IPWATCH_')) delete base[k];
  return { ...base, ...vars };
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `${prefix}-`));
}

export function startCli(args: string[], vars: Record<string, string> = {}, cwd = tempDir('ipwatch-cli')): ChildProcess & { output: () => CliResult } {
  const child = spawn(process.execPath, [IPWATCH_BIN, ...args], { cwd, env: env(vars), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  return Object.assign(child, { output: () => ({ code: child.exitCode, stdout, stderr }) });
}

export function runCli(args: string[], vars: Record<string, string> = {}, cwd?: string, timeoutMs = 120_000): Promise<CliResult> {
  const child = startCli(args, vars, cwd);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`ipwatch ${args.join(' ')} did not finish within ${timeoutMs} ms:\n${child.output().stderr}`));
    }, timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ ...child.output(), code });
    });
  });
}
