/**
 * GET /api/clients/:ip/analysis?hours=24: everything known about one client. The store's
 * client analysis (traffic, paths, logins, limits, detections, block history), and from the
 * api's own lists view whether a block in force covers the address now, with, for a rule's
 * block, the detection that caused it.
 */
import type { RequestHandler } from 'express';
import { MAX_ANALYSIS_HOURS, FilterError, type AnalyticsStore, type ClientAnalysis, type DetectionRow } from '@ipwatch/store';
import { InvalidAddressError, refusePort } from '@ipwatch/core/blockTarget';
import { cidrContains, formatIp, parseCidr, parseIp } from '@ipwatch/core/ip';
import type { ListRecord } from '@ipwatch/core/decisions';
import type { ListsView } from './listsView.ts';
import { readQuery } from './queryParameters.ts';

export const DEFAULT_ANALYSIS_HOURS = 24;

/** Sources anyone may block under; any other source is a detection rule's id (listChanges.ts). */
const PERSON_SOURCES: ReadonlySet<string> = new Set(['manual', 'import']);

/** A block or allowlist entry in force that covers the address. */
export interface CoveringEntry {
  target: string;
  /** For a block: the rule id, or manual / import (a person: createdBy). */
  source: string | null;
  /** 'rule': the scorer blocked in a rule's name; 'person': an operator (createdBy) did. */
  by: 'rule' | 'person';
  reason: string;
  severity: string | null;
  /** Epoch ms; until null: it never expires. */
  since: number;
  until: number | null;
  createdBy: string;
  /** For a rule's block: the latest detection of that rule with action block for the target; null when none is stored. */
  evidence: DetectionRow | null;
}

export interface BlockedNow {
  /** A block in force covers the address and no allowlist entry does (the allowlist wins). */
  blocked: boolean;
  /** The blocks in force covering the address, the one lasting longest first. */
  blocks: CoveringEntry[];
  /** Allowlist entries in force covering it: while there is one, its blocks do not apply. */
  allowlisted: CoveringEntry[];
}

export interface AnalysisAnswer extends ClientAnalysis {
  generatedAt: number;
  /** null when this api runs without the lists (no event log): whether it is blocked is then unknown. */
  blockedNow: BlockedNow | null;
}

export interface AnalysisOptions {
  analytics: Pick<AnalyticsStore, 'clientAnalysis' | 'latestBlockingDetection'>;
  view?: ListsView;
  now: () => number;
}

/** Longest first: never expiring, then the latest expiry. */
const byUntil = (a: CoveringEntry, b: CoveringEntry) => (b.until ?? Infinity) - (a.until ?? Infinity) || b.since - a.since;

function entryOf(r: ListRecord): Omit<CoveringEntry, 'evidence'> {
  const source = 'source' in r ? r.source : null;
  return {
    target: r.target,
    source,
    by: source !== null && !PERSON_SOURCES.has(source) ? 'rule' : 'person',
    reason: r.reason,
    severity: 'severity' in r ? r.severity : null,
    since: r.createdAt,
    until: r.expiresAt,
    createdBy: r.createdBy,
  };
}

async function blockedNow(view: ListsView, analytics: AnalysisOptions['analytics'], ip: string, t: number): Promise<BlockedNow> {
  const address = parseIp(ip)!;
  const covering = (list: 'blocks' | 'allow') =>
    view.all(list).filter((r) => (r.expiresAt === null || r.expiresAt > t) && cidrContains(parseCidr(r.target), address)).map(entryOf);
  const blocks: CoveringEntry[] = [];
  for (const b of covering('blocks')) {
    const evidence = b.by === 'rule' ? await analytics.latestBlockingDetection({ client: b.target, rule: b.source! }) : null;
    blocks.push({ ...b, evidence });
  }
  const allowlisted = covering('allow').map((a) => ({ ...a, evidence: null }));
  return { blocked: blocks.length > 0 && allowlisted.length === 0, blocks: blocks.sort(byUntil), allowlisted: allowlisted.sort(byUntil) };
}

/** The address of the path, canonical; InvalidAddressError for anything else (a range, a port, a name). */
export function analysisAddress(text: string): string {
  refusePort(text);
  const ip = /[[\]%/]/.test(text) ? null : parseIp(text);
  if (ip === null) {
    throw new InvalidAddressError(
      `${JSON.stringify(text.slice(0, 64))} is not an IP address: analyse one address, e.g. /api/clients/203.0.113.7/analysis (an IPv6 address is analysed with its /64)`,
    );
  }
  return formatIp(ip);
}

/** `hours` as given: a whole number from 1 to 720, default 24. */
export function analysisHours(text: string | undefined): number {
  if (text === undefined) return DEFAULT_ANALYSIS_HOURS;
  const hours = /^\d{1,4}$/.test(text) ? Number(text) : NaN;
  if (!(hours >= 1 && hours <= MAX_ANALYSIS_HOURS)) throw new FilterError(`hours ${JSON.stringify(text.slice(0, 20))} must be a whole number from 1 to ${MAX_ANALYSIS_HOURS} (the last N hours, the current one included)`);
  return hours;
}

/**
 * What GET /api/clients/:ip/analysis answers for one canonical address (the dashboard's
 * client page shows the same).
 *
 * @example
 * const a = await analyseClient({ analytics, view, now: Date.now }, '203.0.113.7', 24);
 */
export async function analyseClient(options: AnalysisOptions, ip: string, hours: number): Promise<AnalysisAnswer> {
  const t = options.now();
  const analysis = await options.analytics.clientAnalysis({ ip, hours, now: t });
  return { ...analysis, generatedAt: t, blockedNow: options.view ? await blockedNow(options.view, options.analytics, ip, t) : null };
}

/**
 * @example
 * app.get('/api/clients/:ip/analysis', analysisHandler({ analytics, view, now: Date.now }));
 */
export function analysisHandler(options: AnalysisOptions): RequestHandler<{ ip: string }> {
  return async (req, res, next) => {
    try {
      const q = readQuery(req.query, ['hours'], 'GET /api/clients/:ip/analysis');
      res.json(await analyseClient(options, analysisAddress(req.params.ip), analysisHours(q.hours)));
    } catch (err) {
      next(err);
    }
  };
}
