/** CPU of other processes on the machine, from /proc (Linux), for benches that count what shares the cores. */
import { readdirSync, readFileSync } from 'node:fs';

/**
 * The broker's process, when scripts/with-kafka.ts started it beside this one: a sibling
 * (same parent) running java. Its CPU counts because it runs on the same two cores.
 */
export function brokerPid(): number | null {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) === process.ppid && stat.includes('(java)')) return Number(entry);
    } catch {
      // gone, or not ours to read
    }
  }
  return null;
}

/** A process's CPU so far (user + system) in microseconds, from /proc (clock ticks of 10 ms). */
export function processCpuUs(pid: number | null): number | null {
  if (pid === null) return null;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1e6) / 100;
  } catch {
    return null;
  }
}
