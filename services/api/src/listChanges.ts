/**
 * Blocking, unblocking, allowing: what `ipwatch block` and friends ask the api to do. Each
 * change is checked (target, expiry, reason), written to its compacted topic (from where
 * blocksync brings it to every app instance), confirmed once the topic shows it, and
 * recorded in ClickHouse `block_events`, the audit trail.
 */
import type { EventLog } from '@ipwatch/core/eventLog';
import { allowMessage, blockMessage, LIST_TOPICS, removalMessage, type ListRecord } from '@ipwatch/core/decisions';
import { parseBlockTarget, parseExpiry, cleanText, DecisionInputError } from '@ipwatch/core/blockTarget';
import type { AllowEntry, BlockDecision, Severity } from '@ipwatch/core/schemas';
import type { ListName } from '@ipwatch/core/sharedLists';
import { insertBlockEvent, type Analytics, type BlockEventAction } from '@ipwatch/store';
import type { ListsView } from './listsView.ts';

const SEVERITIES: readonly Severity[] = ['low', 'medium', 'high', 'critical'];
/** manual, import, or a detection rule's name. */
const SOURCE = /^[a-z][a-z0-9_.:-]{0,63}$/;

/** A change that cannot be made as asked (nothing to remove): 404, with what to do. */
export class NotListedError extends Error {
  override readonly name = 'NotListedError';
}

export interface ChangeInput {
  target?: unknown;
  reason?: unknown;
  /** +7d, +12h, ISO-8601, never. */
  expires?: unknown;
  severity?: unknown;
  source?: unknown;
  /** Who asks: the CLI sends user@host. */
  actor?: unknown;
}

export interface ChangeResult<R extends ListRecord> {
  record: R;
  /** The target was listed already and its entry was replaced. */
  replaced: boolean;
  /** Whether the audit row was written (a ClickHouse outage does not stop a block). */
  audited: boolean;
}

export interface ListChanges {
  block(input: ChangeInput): Promise<ChangeResult<BlockDecision>>;
  unblock(input: ChangeInput): Promise<ChangeResult<BlockDecision>>;
  allow(input: ChangeInput): Promise<ChangeResult<AllowEntry>>;
  unallow(input: ChangeInput): Promise<ChangeResult<AllowEntry>>;
}

export interface ListChangesOptions {
  log: EventLog;
  view: ListsView;
  analytics: Analytics;
  warn(message: string, err?: unknown): void;
  now?: () => number;
  /** How long to wait for the topic to show a change before answering anyway. Default 5 s. */
  confirmTimeoutMs?: number;
}

function text(field: string, v: unknown, max: number): string {
  return cleanText(field, v, max);
}

export function createListChanges(options: ListChangesOptions): ListChanges {
  const { log, view, analytics, warn } = options;
  const now = options.now ?? Date.now;
  const confirmMs = options.confirmTimeoutMs ?? 5000;

  async function audit(action: BlockEventAction, r: { target: string; reason: string; expiresAt: number | null }, actor: string, source: string, severity: string): Promise<boolean> {
    try {
      await insertBlockEvent(analytics, { ts: now(), action, target: r.target, reason: r.reason, source, severity, expires_at: r.expiresAt, actor });
      return true;
    } catch (err) {
      warn(`api: the ${action} of ${r.target} was made but not recorded in block_events`, err);
      return false;
    }
  }

  function common(input: ChangeInput) {
    if (input.target === undefined || input.target === null || input.target === '') throw new DecisionInputError('say which IP or CIDR: target is missing');
    if (typeof input.target !== 'string') throw new DecisionInputError('target must be text, e.g. "203.0.113.7" or "203.0.113.0/24"');
    return {
      target: parseBlockTarget(input.target),
      reason: text('reason', input.reason, 500),
      actor: text('actor', input.actor, 200) || 'api',
    };
  }

  async function put<R extends ListRecord>(list: ListName, record: R, message: ReturnType<typeof blockMessage>): Promise<boolean> {
    const replaced = view.get(list, record.target) !== undefined;
    await log.produce(LIST_TOPICS[list], [message]);
    const seen = await view.waitFor(list, record.target, (r) => r !== undefined && r.createdAt === record.createdAt && r.createdBy === record.createdBy, confirmMs);
    if (!seen) warn(`api: ${record.target} was written to ${LIST_TOPICS[list]} but not seen back within ${confirmMs} ms`);
    return replaced;
  }

  async function remove<R extends ListRecord>(list: ListName, input: ChangeInput, verb: string, listCommand: string): Promise<{ existing: R; actor: string; reason: string }> {
    const { target, actor, reason } = common(input);
    const existing = view.get(list, target) as R | undefined;
    if (existing === undefined) throw new NotListedError(`${target} is not ${verb}: \`${listCommand}\` shows what is`);
    await log.produce(LIST_TOPICS[list], [removalMessage(target, actor, reason)]);
    if (!(await view.waitFor(list, target, (r) => r === undefined, confirmMs))) warn(`api: removal of ${target} not seen back within ${confirmMs} ms`);
    return { existing, actor, reason };
  }

  return {
    async block(input) {
      const { target, reason, actor } = common(input);
      const severity = input.severity ?? 'medium';
      if (typeof severity !== 'string' || !SEVERITIES.includes(severity as Severity)) throw new DecisionInputError(`severity must be one of ${SEVERITIES.join(', ')}`);
      const source = input.source ?? 'manual';
      if (typeof source !== 'string' || !SOURCE.test(source)) throw new DecisionInputError('source must be manual, import or a rule name (lowercase letters, digits, _ . : -)');
      if (input.expires !== undefined && input.expires !== null && typeof input.expires !== 'string') throw new DecisionInputError('expires must be text: +12h, +7d or an ISO-8601 time');
      const createdAt = now();
      const decision: BlockDecision = { target, reason, source, severity: severity as Severity, createdAt, expiresAt: parseExpiry(input.expires as string | undefined, createdAt), createdBy: actor };
      const replaced = await put('blocks', decision, blockMessage(decision));
      return { record: decision, replaced, audited: await audit('block', decision, actor, source, decision.severity) };
    },
    async unblock(input) {
      const { existing, actor, reason } = await remove<BlockDecision>('blocks', input, 'blocked', 'ipwatch blocks');
      const audited = await audit('unblock', { ...existing, reason: reason || existing.reason }, actor, existing.source, existing.severity);
      return { record: existing, replaced: false, audited };
    },
    async allow(input) {
      const { target, reason, actor } = common(input);
      if (input.expires !== undefined && input.expires !== null && typeof input.expires !== 'string') throw new DecisionInputError('expires must be text: +12h, +7d or an ISO-8601 time');
      const createdAt = now();
      const entry: AllowEntry = { target, reason, createdAt, expiresAt: parseExpiry(input.expires as string | undefined, createdAt), createdBy: actor };
      const replaced = await put('allow', entry, allowMessage(entry));
      return { record: entry, replaced, audited: await audit('allow', entry, actor, 'manual', '') };
    },
    async unallow(input) {
      const { existing, actor, reason } = await remove<AllowEntry>('allow', input, 'on the allowlist', 'ipwatch allow --list');
      const audited = await audit('unallow', { ...existing, reason: reason || existing.reason }, actor, 'manual', '');
      return { record: existing, replaced: false, audited };
    },
  };
}
