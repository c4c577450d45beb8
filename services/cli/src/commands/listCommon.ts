/** What block, unblock, blocks and allow share: who is asking, how an entry is printed, how the api is reached. */
import { userInfo, hostname } from 'node:os';
import { loadConfig } from '@ipwatch/core/config';
import { formatTimeLeft, parseBlockTarget, parseExpiry } from '@ipwatch/core/blockTarget';
import { apiRequest, ApiUnreachable } from '../apiClient.ts';
import { out, printable, UsageError } from '../output.ts';

/** Who made a change, for the audit trail: user@host of the shell. */
export function actor(): string {
  let user = 'unknown';
  try {
    user = userInfo().username;
  } catch {
    // no passwd entry (containers): keep "unknown"
  }
  return `${user}@${hostname()}`;
}

export interface ListRow {
  target: string;
  reason: string;
  source?: string;
  severity?: string;
  createdAt: number;
  expiresAt: number | null;
  createdBy: string;
  expired?: boolean;
}

/** Refuses a bad target or expiry here already, with the same message the api would give. */
export function checkInput(target: string | undefined, expires: string | undefined, usage: string): void {
  if (target === undefined) throw new UsageError(`say which IP or CIDR: ${usage}`);
  parseBlockTarget(target);
  if (expires !== undefined) parseExpiry(expires);
}

/** Calls the api; when it is not running, says how to start it. */
export async function callApi<T>(method: 'GET' | 'POST' | 'DELETE', path: string, options: { query?: Record<string, string | undefined>; body?: unknown } = {}): Promise<T> {
  const config = loadConfig();
  try {
    return await apiRequest<T>(config, method, path, options);
  } catch (err) {
    if (err instanceof ApiUnreachable) {
      throw new ApiUnreachable(
        `${err.message}. Blocks and the allowlist are kept by the api: start ipwatch (\`npm start\`) or the api service (\`ipwatch run api\`), or point IPWATCH_API_HOST/IPWATCH_API_PORT at it.`,
      );
    }
    throw err;
  }
}

export function describe(row: ListRow, now = Date.now()): string {
  const left = row.expiresAt === null ? 'never expires' : row.expiresAt <= now ? 'expired' : `expires in ${formatTimeLeft(row.expiresAt, now)}`;
  return `${printable(row.target)} (${left}${row.reason ? `; ${printable(row.reason)}` : ''})`;
}

/** The list as a table: target, time left, severity/source, who, reason. */
export function printTable(rows: ListRow[], withSeverity: boolean, now = Date.now()): void {
  if (rows.length === 0) return;
  const lines = rows.map((r) => [
    printable(r.target),
    formatTimeLeft(r.expiresAt, now),
    ...(withSeverity ? [printable(r.severity ?? ''), printable(r.source ?? '')] : []),
    new Date(r.createdAt).toISOString().slice(0, 19).replace('T', ' '),
    printable(r.createdBy).slice(0, 40),
    printable(r.reason).slice(0, 80),
  ]);
  const header = ['TARGET', 'TIME LEFT', ...(withSeverity ? ['SEVERITY', 'SOURCE'] : []), 'CREATED (UTC)', 'BY', 'REASON'];
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => (l[i] ?? '').length)));
  const fmt = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ');
  out(fmt(header));
  for (const l of lines) out(fmt(l));
}
