/**
 * Prometheus's own linter for /metrics text (`promtool check metrics`), so a metric named
 * against its conventions fails a test. promtool comes from Debian's `prometheus` package;
 * on a fresh machine running the tests as root it is installed on first use.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { childEnv } from './components.ts';

let found: string | undefined;

function onPath(): string | undefined {
  const dirs = (childEnv({}).PATH ?? '').split(delimiter).filter(Boolean);
  return [...dirs, '/usr/bin', '/usr/local/bin'].map((d) => join(d, 'promtool')).find((p) => existsSync(p));
}

function aptGet(args: string[]): { ok: boolean; output: string } {
  const r = spawnSync('apt-get', args, { encoding: 'utf8', timeout: 600_000, env: childEnv({ DEBIAN_FRONTEND: 'noninteractive' }) });
  const output = `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? r.error.message : ''}`;
  return { ok: !r.error && r.status === 0, output };
}

/** The promtool binary, installed with `apt-get install -y prometheus` when missing. Throws with what to do when it cannot be had. */
export function promtool(): string {
  found ??= onPath();
  if (found) return found;
  const how = 'install it with `apt-get install -y prometheus` (Debian/Ubuntu; it brings /usr/bin/promtool) or put a promtool on PATH';
  if (process.getuid?.() !== 0) throw new Error(`promtool is not installed and the tests do not run as root, so they cannot install it: ${how}`);
  let install = aptGet(['install', '-y', '--no-install-recommends', 'prometheus']);
  // A fresh image has no package lists yet.
  if (!install.ok) install = aptGet(['update']).ok ? aptGet(['install', '-y', '--no-install-recommends', 'prometheus']) : install;
  found = onPath();
  if (!install.ok || !found) throw new Error(`promtool is not installed and \`apt-get install -y prometheus\` failed: ${how}.\n${install.output.trim().split('\n').slice(-5).join('\n')}`);
  return found;
}

/** Lints Prometheus text-format metrics; `problems` is promtool's output, empty when they pass. */
export function checkMetrics(text: string): { ok: boolean; problems: string } {
  const r = spawnSync(promtool(), ['check', 'metrics'], { input: text, encoding: 'utf8', timeout: 30_000 });
  if (r.error) throw new Error(`promtool check metrics could not run: ${r.error.message}`);
  return { ok: r.status === 0, problems: `${r.stdout}${r.stderr}`.trim() };
}
