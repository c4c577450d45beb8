/**
 * Block decisions and allowlist entries as they travel: one compacted topic per list, keyed
 * by the canonical target, a tombstone to remove. This module turns a record of either
 * topic into the entry the shared lists hold, for blocksync (which mirrors them) and the api
 * (which lists them) alike.
 */
import type { LogMessage } from './eventLog.ts';
import { codecs, DecodeError, SCHEMA_HEADER, type AllowEntry, type BlockDecision } from './schemas.ts';
import type { ListEntry, ListName } from './sharedLists.ts';
import { TOPICS } from './topics.ts';
import { parseBlockTarget } from './blockTarget.ts';

export const LIST_TOPICS: Readonly<Record<ListName, string>> = Object.freeze({ blocks: TOPICS.blocks, allow: TOPICS.allowlist });

/** Headers a tombstone carries, so the audit trail knows who removed what and why. */
export const REMOVAL_HEADERS = { actor: 'ipwatch-actor', reason: 'ipwatch-reason' } as const;

export type ListRecord = BlockDecision | AllowEntry;

/** A decoded record: the target it is keyed by, and the entry, or null for a removal (tombstone). */
export interface ListUpdate {
  target: string;
  entry: ListEntry | null;
  /** The decoded decision (`entry.record` is its JSON); null for a removal. */
  record: ListRecord | null;
}

/**
 * Decodes one record of a list topic. Throws DecodeError for one that can never be applied
 * (no key, a key that is not a canonical target, bytes that are not the schema, a value whose
 * target differs from its key): those belong on the DLQ.
 */
export function decodeListRecord(list: ListName, m: LogMessage): ListUpdate {
  if (m.key === null) throw new DecodeError(`${m.topic}: a record without a key`);
  let target: string;
  try {
    target = parseBlockTarget(m.key);
  } catch (err) {
    throw new DecodeError(`${m.topic}: key ${JSON.stringify(m.key.slice(0, 80))}: ${(err as Error).message}`);
  }
  if (target !== m.key) throw new DecodeError(`${m.topic}: key ${JSON.stringify(m.key)} is not canonical (should be ${target})`);
  if (m.value === null) return { target, entry: null, record: null };
  const record: ListRecord = list === 'blocks' ? codecs.BlockDecision.decode(m.value) : codecs.AllowEntry.decode(m.value);
  if (record.target !== target) throw new DecodeError(`${m.topic}: value for ${JSON.stringify(record.target)} under key ${JSON.stringify(target)}`);
  return { target, entry: { target, expiresAt: record.expiresAt, record: JSON.stringify(record) }, record };
}

/** The message that sets a block. */
export function blockMessage(decision: BlockDecision) {
  return { key: decision.target, value: codecs.BlockDecision.encode(decision), headers: { [SCHEMA_HEADER]: 'BlockDecision' } };
}

/** The message that allows a target. */
export function allowMessage(entry: AllowEntry) {
  return { key: entry.target, value: codecs.AllowEntry.encode(entry), headers: { [SCHEMA_HEADER]: 'AllowEntry' } };
}

/** The tombstone that removes a target from a list, saying who and why. */
export function removalMessage(target: string, actor: string, reason: string) {
  return { key: target, value: null, headers: { [REMOVAL_HEADERS.actor]: actor, [REMOVAL_HEADERS.reason]: reason } };
}
