/**
 * What blocking or allowing a target that is listed already changes: the entry is replaced
 * whole, so the answer says what its expiry, reason, severity and source were and what they
 * become. A block that never ended quietly becoming a one-hour one is what this prevents.
 */
import type { ListRecord } from '@ipwatch/core/decisions';

/** The fields of an entry a replacement can change that matter to the person making it. */
export type ChangedField = 'expiresAt' | 'reason' | 'severity' | 'source';

export interface FieldChange {
  field: ChangedField;
  /** expiresAt: ms since epoch, null for never; the others: text. */
  was: string | number | null;
  becomes: string | number | null;
}

const FIELDS: readonly ChangedField[] = ['expiresAt', 'reason', 'severity', 'source'];

/**
 * The fields that differ between the entry being replaced and its replacement, in a fixed
 * order; empty when nothing was listed (a new entry) or nothing differs.
 *
 * @example
 * entryChanges({ ...block, expiresAt: null }, { ...block, expiresAt: 1_800_000_000_000 });
 * // [{ field: 'expiresAt', was: null, becomes: 1800000000000 }]
 */
export function entryChanges(previous: ListRecord | undefined, next: ListRecord): FieldChange[] {
  if (previous === undefined) return [];
  const was = previous as unknown as Record<string, unknown>;
  const becomes = next as unknown as Record<string, unknown>;
  const changes: FieldChange[] = [];
  for (const field of FIELDS) {
    if (!(field in becomes) && !(field in was)) continue;
    const a = (was[field] ?? null) as FieldChange['was'];
    const b = (becomes[field] ?? null) as FieldChange['becomes'];
    if (a !== b) changes.push({ field, was: a, becomes: b });
  }
  return changes;
}
