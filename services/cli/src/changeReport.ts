/** How the CLI reports a block or allowlist entry it replaced: each field that changed, as it was and as it becomes. */
import { formatTimeLeft } from '@ipwatch/core/blockTarget';
import { printable } from './output.ts';

/** A field the api says a replacement changed (services/api/src/entryChanges.ts). */
export interface EntryChange {
  field: string;
  was: string | number | null;
  becomes: string | number | null;
}

const LABELS: Record<string, string> = { expiresAt: 'expiry', reason: 'reason', severity: 'severity', source: 'source' };

function shown(field: string, value: string | number | null, now: number): string {
  if (field === 'expiresAt') {
    if (value === null) return 'never';
    const at = Number(value);
    const when = `${new Date(at).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
    return at <= now ? `${when} (expired)` : `${when} (in ${formatTimeLeft(at, now)})`;
  }
  return value === null || value === '' ? '(none)' : JSON.stringify(printable(String(value)));
}

/**
 * One line per changed field, e.g. `expiry: was never, becomes 2026-12-01 10:00 UTC (in 1h 0m)`;
 * a single line saying nothing changed when the list is empty.
 *
 * @example
 * describeChanges([{ field: 'reason', was: 'scanner', becomes: '' }]); // ['reason: was "scanner", becomes (none)']
 */
export function describeChanges(changes: readonly EntryChange[], now = Date.now()): string[] {
  if (changes.length === 0) return ['nothing changed but who made it and when'];
  return changes.map((c) => `${LABELS[c.field] ?? printable(c.field)}: was ${shown(c.field, c.was, now)}, becomes ${shown(c.field, c.becomes, now)}`);
}
