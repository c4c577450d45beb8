/**
 * What every SharedLists adapter checks before it writes, so both adapters refuse the same
 * entries with the same message. Only the shape is checked here (cheap enough for a
 * million-entry replace); whether a target is a valid IP or CIDR is the reader's concern,
 * which skips and reports an entry it cannot use.
 */
import type { ListEntry, ListName } from '../sharedLists.ts';
import { IpwatchError } from '../errors.ts';

export const LIST_NAMES: readonly ListName[] = ['blocks', 'allow'];

/** Longer than any IP or CIDR text (a full IPv6 with an IPv4 tail and a /128 is 49 characters). */
const MAX_TARGET_LENGTH = 64;

export class SharedListsEntryError extends IpwatchError {
  override readonly name = 'SharedListsEntryError';
  constructor(message: string) {
    super('IPWATCH_SHARED_LISTS_BAD_ENTRY', message);
  }
}

export function assertListName(list: string): asserts list is ListName {
  if (list !== 'blocks' && list !== 'allow') {
    throw new SharedListsEntryError(`unknown list ${JSON.stringify(list)}: expected "blocks" or "allow"`);
  }
}

/**
 * Throws SharedListsEntryError for a target that is empty, too long or holds '|' or a line
 * break (the Redis adapter uses '|' to separate fields on the wire), or an expiresAt that is
 * neither null nor a finite number.
 */
export function assertTarget(target: unknown): asserts target is string {
  if (typeof target !== 'string' || target.length === 0 || target.length > MAX_TARGET_LENGTH || /[|\r\n]/.test(target)) {
    throw new SharedListsEntryError(
      `${JSON.stringify(target)} is not a list target: expected canonical IP or CIDR text such as 203.0.113.7 or 10.0.0.0/8`,
    );
  }
}

export function assertEntry(entry: ListEntry): void {
  assertTarget(entry.target);
  if (entry.expiresAt !== null && !(typeof entry.expiresAt === 'number' && Number.isFinite(entry.expiresAt))) {
    throw new SharedListsEntryError(
      `entry ${entry.target}: expiresAt must be null (never) or ms since epoch, got ${JSON.stringify(entry.expiresAt)}`,
    );
  }
  if (typeof entry.record !== 'string') {
    throw new SharedListsEntryError(`entry ${entry.target}: record must be a JSON string`);
  }
}

/** The error an adapter's operations reject with once it is closed. */
export function closedError(kind: string): Error {
  return new Error(`the ${kind} shared lists are closed: create a new client to use them again`);
}
