/**
 * Prometheus's own linter for /metrics text (`promtool check metrics`), so a metric named
 * against its conventions fails a test. promtool comes from Debian's `prometheus` package;
 * on a fresh machine running the tests as root it is installed on first use.
 */
import { spawnSync } from 'node:child_process';
import { debianBinary } from './debian.ts';

/** The promtool binary, installed with `apt-get install -y prometheus` when missing. */
export function promtool(): string {
  return debianBinary('promtool', 'prometheus');
}

/** Lints Prometheus text-format metrics; `problems` is promtool's output, empty when they pass. */
export function checkMetrics(text: string): { ok: boolean; problems: string } {
  const r = spawnSync(promtool(), ['check', 'metrics'], { input: text, encoding: 'utf8', timeout: 30_000 });
  if (r.error) throw new Error(`promtool check metrics could not run: ${r.error.message}`);
  return { ok: r.status === 0, problems: `${r.stdout}${r.stderr}`.trim() };
}
