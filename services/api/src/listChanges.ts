/**
 * Blocking, unblocking, allowing: what `ipwatch block` and friends ask the api to do. Each
 * change is checked (target, expiry, reason), written to its compacted topic (from where
 * blocksync brings it to every app instance), confirmed once the topic shows it, and
 * recorded in ClickHouse `block_events`, the audit trail.
 */
import type { EventLog } from '@ipwatch/core/eventLog';
import { IpwatchError } from '@ipwatch/core/errors';
import { allowMessage, blockMessage, LIST_TOPICS, removalMessage, type ListRecord } from '@ipwatch/core/decisions';
import { parseBlockTarget, parseExpiry, cleanText, DecisionInputError, checkBlockSweep, checkAllowSweep, blockSweep, BlockTooWideError, DEFAULT_BLOCK_SCOPE, type BlockScope } from '@ipwatch/core/blockTarget';
import type { AllowEntry, BlockDecision, Severity } from '@ipwatch/core/schemas';
import type { ListName } from '@ipwatch/core/sharedLists';
import type { AnalyticsStore, BlockEventAction } from '@ipwatch/store';
import type { ListsView } from './listsView.ts';
import type { Caller } from './authentication.ts';
import { entryChanges, type FieldChange } from './entryChanges.ts';
import { refuseUnknownNames } from './queryParameters.ts';

const SEVERITIES: readonly Severity[] = ['low', 'medium', 'high', 'critical'];
/** manual, import, or a detection rule's name. */
const SOURCE = /^[a-z][a-z0-9_.:-]{0,63}$/;
/** The sources anyone who may change the lists may give; any other names a rule, the scorer's alone. */
const OPEN_SOURCES: ReadonlySet<string> = new Set(['manual', 'import']);
/** The fields each change takes: any other is refused, so a typo (expiry for expires) never makes a block that does not end. */
const BLOCK_FIELDS = ['target', 'reason', 'expires', 'severity', 'source', 'actor', 'force'];
const IMPORT_FIELDS = ['targets', 'reason', 'expires', 'severity', 'actor', 'force'];
const ALLOW_FIELDS = ['target', 'reason', 'expires', 'actor', 'force'];

/** A change that cannot be made as asked (nothing to remove): 404, with what to do. */
export class NotListedError extends IpwatchError {
  override readonly name = 'NotListedError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('IPWATCH_NOT_LISTED', message, options);
  }
}

export interface ChangeInput {
  target?: unknown;
  reason?: unknown;
  /** +7d, +12h, ISO-8601, never. */
  expires?: unknown;
  severity?: unknown;
  source?: unknown;
  /**
   * Who the caller says it is (the CLI sends user@host): kept in the audit row's note as
   * "stated by caller: ...", never as its actor, which is the authenticated caller.
   */
  actor?: unknown;
  /** Blocks: true lets a block sweep (a wide range, or one holding loopback or private addresses; see blockSweep). Allowlist: true lets an entry wider than ALLOW_MAX_PREFIX in. */
  force?: unknown;
}

export interface ChangeResult<R extends ListRecord> {
  record: R;
  /** The target was listed already and its entry was replaced. */
  replaced: boolean;
  /** The entry replaced, or null for a new one. */
  previous: R | null;
  /** What the replacement changed (expiry, reason, ...): was and becomes; empty for a new entry. */
  changes: FieldChange[];
  /** Whether the audit row was written (a ClickHouse outage does not stop a block). */
  audited: boolean;
}

export interface ImportInput extends Omit<ChangeInput, 'target'> {
  /** The addresses and ranges, as text. */
  targets?: unknown;
}

export interface ImportResult {
  /** Targets blocked by this import (duplicates in the list counted once). */
  imported: number;
  /** Of those, targets that were blocked already and whose entry was replaced. */
  replaced: number;
  audited: boolean;
}

/** Most targets one import takes; a larger list goes in several. */
export const MAX_IMPORT = 100_000;

/** Each change is made by `caller`, the authenticated identity: the actor its audit row and list entry record. */
export interface ListChanges {
  block(input: ChangeInput, caller: Caller): Promise<ChangeResult<BlockDecision>>;
  /** Blocks many targets at once, with source "import"; refuses the whole list if any target is invalid, naming them. */
  importBlocks(input: ImportInput, caller: Caller): Promise<ImportResult>;
  unblock(input: ChangeInput, caller: Caller): Promise<ChangeResult<BlockDecision>>;
  allow(input: ChangeInput, caller: Caller): Promise<ChangeResult<AllowEntry>>;
  unallow(input: ChangeInput, caller: Caller): Promise<ChangeResult<AllowEntry>>;
}

export interface ListChangesOptions {
  log: EventLog;
  view: ListsView;
  analytics: AnalyticsStore;
  warn(message: string, err?: unknown): void;
  now?: () => number;
  /** How long to wait for the topic to show a change before answering anyway. Default 5 s. */
  confirmTimeoutMs?: number;
  /** The widest range a block may cover without force (config.blocks); default /16 and /32. */
  blockScope?: BlockScope;
}

/** `force`, when given, must be a boolean: "yes" or 1 would be a guess either way. */
function forceOf(input: ChangeInput): boolean {
  if (input.force === undefined || input.force === null) return false;
  if (typeof input.force !== 'boolean') throw new DecisionInputError('force must be true or false');
  return input.force;
}

/**
 * Why and by whom: the actor is the authenticated caller; a name the caller states is only a
 * labelled note beside it (bounded, printable), so nobody can sign a change as someone else.
 */
function describedBy(input: ChangeInput, caller: Caller): { reason: string; actor: string; note: string } {
  const stated = cleanText('actor', input.actor, 200);
  return { reason: cleanText('reason', input.reason, 500), actor: caller.name, note: stated ? `stated by caller: ${stated}` : '' };
}

/** The expiry of a change made at `at`: +12h, +7d, ISO-8601, never. */
function expiryOf(input: ChangeInput, at: number): number | null {
  if (input.expires !== undefined && input.expires !== null && typeof input.expires !== 'string') throw new DecisionInputError('expires must be text: +12h, +7d or an ISO-8601 time');
  return parseExpiry(input.expires as string | undefined | null, at);
}

export function createListChanges(options: ListChangesOptions): ListChanges {
  const { log, view, analytics, warn } = options;
  const now = options.now ?? Date.now;
  const confirmMs = options.confirmTimeoutMs ?? 5000;
  const scope = options.blockScope ?? DEFAULT_BLOCK_SCOPE;

  async function audit(action: BlockEventAction, r: { target: string; reason: string; expiresAt: number | null }, by: { actor: string; note: string }, source: string, severity: string): Promise<boolean> {
    try {
      await analytics.insertBlockEvents({ ts: now(), action, target: r.target, reason: r.reason, source, severity, expires_at: r.expiresAt, actor: by.actor, note: by.note });
      return true;
    } catch (err) {
      warn(`api: the ${action} of ${r.target} was made but not recorded in block_events`, err);
      return false;
    }
  }

  function common(input: ChangeInput, caller: Caller) {
    if (input.target === undefined || input.target === null || input.target === '') throw new DecisionInputError('say which IP or CIDR: target is missing');
    if (typeof input.target !== 'string') throw new DecisionInputError('target must be text, e.g. "203.0.113.7" or "203.0.113.0/24"');
    return { target: parseBlockTarget(input.target), ...describedBy(input, caller) };
  }

  /** Writes the entry; resolves to the one it replaced, if any. */
  async function put<R extends ListRecord>(list: ListName, record: R, message: ReturnType<typeof blockMessage>): Promise<Pick<ChangeResult<R>, 'replaced' | 'previous' | 'changes'>> {
    const previous = view.get(list, record.target) as R | undefined;
    await log.produce(LIST_TOPICS[list], [message]);
    const seen = await view.waitFor(list, record.target, (r) => r !== undefined && r.createdAt === record.createdAt && r.createdBy === record.createdBy, confirmMs);
    if (!seen) warn(`api: ${record.target} was written to ${LIST_TOPICS[list]} but not seen back within ${confirmMs} ms`);
    return { replaced: previous !== undefined, previous: previous ?? null, changes: entryChanges(previous, record) };
  }

  async function remove<R extends ListRecord>(list: ListName, input: ChangeInput, caller: Caller, verb: string, hint: (target: string) => string): Promise<{ existing: R; actor: string; note: string; reason: string }> {
    const { target, actor, note, reason } = common(input, caller);
    const existing = view.get(list, target) as R | undefined;
    if (existing === undefined) throw new NotListedError(`${target} is not ${verb}: ${hint(target)}`);
    await log.produce(LIST_TOPICS[list], [removalMessage(target, actor, reason)]);
    if (!(await view.waitFor(list, target, (r) => r === undefined, confirmMs))) warn(`api: removal of ${target} not seen back within ${confirmMs} ms`);
    return { existing, actor, note, reason };
  }

  function severityOf(input: ChangeInput): Severity {
    const severity = input.severity ?? 'medium';
    if (typeof severity !== 'string' || !SEVERITIES.includes(severity as Severity)) throw new DecisionInputError(`severity must be one of ${SEVERITIES.join(', ')}`);
    return severity as Severity;
  }

  return {
    async importBlocks(input, caller) {
      if (!Array.isArray(input.targets) || input.targets.length === 0) throw new DecisionInputError('targets must be a non-empty list of IPs and CIDRs');
      if (input.targets.length > MAX_IMPORT) throw new DecisionInputError(`at most ${MAX_IMPORT} targets per import; split the list`);
      refuseUnknownNames(Object.keys(input), IMPORT_FIELDS, 'an import', 'field');
      const { reason, actor, note } = describedBy(input, caller);
      const severity = severityOf(input);
      const createdAt = now();
      const expiresAt = expiryOf(input, createdAt);
      const targets = new Set<string>();
      const problems: string[] = [];
      input.targets.forEach((t, i) => {
        try {
          if (typeof t !== 'string') throw new DecisionInputError(`${JSON.stringify(t)} is not text: write each target as a string, e.g. "203.0.113.7"`);
          targets.add(parseBlockTarget(t));
        } catch (err) {
          if (problems.length < 20) problems.push(`#${i + 1}: ${(err as Error).message}`);
          else if (problems.length === 20) problems.push('...');
        }
      });
      if (problems.length) throw new DecisionInputError(`nothing was imported: ${problems.length > 20 ? 'more than 20' : problems.length} target(s) are not IPs or CIDRs:\n  ${problems.join('\n  ')}`);
      const sweeping = forceOf(input) ? [] : [...targets].flatMap((t) => blockSweep(t, scope) ?? []);
      if (sweeping.length) {
        // One line: the CLI shows an api message as one (line breaks become U+FFFD).
        throw new BlockTooWideError(`nothing was imported: ${sweeping.length} target(s) would sweep: ${sweeping.slice(0, 20).join(' | ')}${sweeping.length > 20 ? ' | ...' : ''}. Remove them, or repeat with --force (api: "force": true) if you mean them`);
      }
      const decisions = [...targets].map((target): BlockDecision => ({ target, reason, source: 'import', severity, createdAt, expiresAt, createdBy: actor }));
      const replaced = decisions.filter((d) => view.get('blocks', d.target) !== undefined).length;
      for (let i = 0; i < decisions.length; i += 1000) await log.produce(LIST_TOPICS.blocks, decisions.slice(i, i + 1000).map(blockMessage));
      const last = decisions[decisions.length - 1] as BlockDecision;
      if (!(await view.waitFor('blocks', last.target, (r) => r !== undefined && r.createdAt === createdAt, confirmMs))) warn(`api: an import was written but not seen back within ${confirmMs} ms`);
      let audited = true;
      try {
        await analytics.insertBlockEvents(decisions.map((d) => ({ ts: createdAt, action: 'block' as const, target: d.target, reason, source: 'import', severity, expires_at: expiresAt, actor, note })));
      } catch (err) {
        audited = false;
        warn(`api: an import of ${decisions.length} blocks was made but not recorded in block_events`, err);
      }
      return { imported: decisions.length, replaced, audited };
    },
    async block(input, caller) {
      refuseUnknownNames(Object.keys(input), BLOCK_FIELDS, 'a block', 'field');
      const { target, reason, actor, note: stated } = common(input, caller);
      checkBlockSweep(target, scope, forceOf(input));
      // A forced sweep is said so in the audit row, with what the guard would have refused.
      const sweep = forceOf(input) ? blockSweep(target, scope) : null;
      const note = [stated, sweep && `forced past the sweep guard: ${sweep}`].filter(Boolean).join('; ');
      const severity = severityOf(input);
      const source = input.source ?? 'manual';
      if (typeof source !== 'string' || !SOURCE.test(source)) throw new DecisionInputError('source must be manual, import or a rule name (lowercase letters, digits, _ . : -)');
      if (!OPEN_SOURCES.has(source) && !caller.mayUseRuleSources) {
        throw new IpwatchError('IPWATCH_RESERVED_SOURCE', `source ${JSON.stringify(source)} names a detection rule, and only the scorer's own token (IPWATCH_SCORER_TOKEN) may block in a rule's name: leave source out (manual) or use import`);
      }
      const createdAt = now();
      const decision: BlockDecision = { target, reason, source, severity, createdAt, expiresAt: expiryOf(input, createdAt), createdBy: actor };
      const replacing = await put('blocks', decision, blockMessage(decision));
      return { record: decision, ...replacing, audited: await audit('block', decision, { actor, note }, source, decision.severity) };
    },
    async unblock(input, caller) {
      const { existing, actor, note, reason } = await remove<BlockDecision>('blocks', input, caller, 'blocked', (t) =>
        // An address may be blocked by a range holding it, which only unblocking the range lifts.
        t.includes('/') ? '`ipwatch blocks` shows what is' : `\`ipwatch blocks --covers ${t}\` shows the ranges that block it, if any`,
      );
      const audited = await audit('unblock', { ...existing, reason: reason || existing.reason }, { actor, note }, existing.source, existing.severity);
      return { record: existing, replaced: false, previous: null, changes: [], audited };
    },
    async allow(input, caller) {
      refuseUnknownNames(Object.keys(input), ALLOW_FIELDS, 'an allowlist entry', 'field');
      const { target, reason, actor, note } = common(input, caller);
      checkAllowSweep(target, forceOf(input));
      const createdAt = now();
      const entry: AllowEntry = { target, reason, createdAt, expiresAt: expiryOf(input, createdAt), createdBy: actor };
      const replacing = await put('allow', entry, allowMessage(entry));
      return { record: entry, ...replacing, audited: await audit('allow', entry, { actor, note }, 'manual', '') };
    },
    async unallow(input, caller) {
      const { existing, actor, note, reason } = await remove<AllowEntry>('allow', input, caller, 'on the allowlist', () => '`ipwatch allow --list` shows what is');
      const audited = await audit('unallow', { ...existing, reason: reason || existing.reason }, { actor, note }, 'manual', '');
      return { record: existing, replaced: false, previous: null, changes: [], audited };
    },
  };
}
