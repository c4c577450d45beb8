/**
 * Tools the tests need from Debian packages (promtool from `prometheus`, `chromium`): found on
 * PATH, or, on a fresh machine running the tests as root, installed on first use with apt-get.
 * Never a download from anywhere else.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { childEnv } from './components.ts';

const found = new Map<string, string>();

function onPath(binary: string): string | undefined {
  const dirs = (childEnv({}).PATH ?? '').split(delimiter).filter(Boolean);
  return [...dirs, '/usr/bin', '/usr/local/bin'].map((d) => join(d, binary)).find((p) => existsSync(p));
}

function aptGet(args: string[]): { ok: boolean; output: string } {
  const r = spawnSync('apt-get', args, { encoding: 'utf8', timeout: 900_000, env: childEnv({ DEBIAN_FRONTEND: 'noninteractive' }) });
  const output = `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? r.error.message : ''}`;
  return { ok: !r.error && r.status === 0, output };
}

/**
 * The path of `binary`, installing Debian's `pkg` when it is missing. Throws with what to do
 * when it cannot be had.
 *
 * @example
 * const chromium = debianBinary('chromium', 'chromium');
 */
export function debianBinary(binary: string, pkg: string): string {
  const known = found.get(binary) ?? onPath(binary);
  if (known) {
    found.set(binary, known);
    return known;
  }
  const how = `install it with \`apt-get install -y ${pkg}\` (Debian/Ubuntu) or put a ${binary} on PATH`;
  if (process.getuid?.() !== 0) throw new Error(`${binary} is not installed and the tests do not run as root, so they cannot install it: ${how}`);
  const install = () => aptGet(['install', '-y', '--no-install-recommends', pkg]);
  let result = install();
  // A fresh image has no package lists yet.
  if (!result.ok) result = aptGet(['update']).ok ? install() : result;
  const path = onPath(binary);
  if (!result.ok || !path) throw new Error(`${binary} is not installed and \`apt-get install -y ${pkg}\` failed: ${how}.\n${result.output.trim().split('\n').slice(-5).join('\n')}`);
  found.set(binary, path);
  return path;
}
