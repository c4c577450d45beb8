/**
 * The detection engine: requests in, detections out, synchronously and without I/O, so one
 * implementation serves the scorer's live stream, `ipwatch replay` and `ipwatch detect` over
 * ClickHouse history. It owns the per-client windows (clientTable.ts, windows.ts), one
 * evaluator per rule (evaluators.ts), the quiet period after a detection, the escalation
 * memory of repeat offenders, and a little evidence about clients that look suspicious.
 *
 * Most rules count per client (`observe`). Account rules count per username, across clients
 * (`observeLogin`, for failed logins): the live scorer feeds them from the logins topic, keyed
 * by username, so the instance that owns an account sees all of its failures.
 *
 * Everything runs on the events' time. The engine decides what a detection is and what it
 * would do; the scorer service verifies crawler claims, honours the allowlist and publishes.
 */
import { createHash } from 'node:crypto';
import { accountOf, blockDurationFor, formatDuration, ruleScope, type Rule } from '@ipwatch/core/rules';
import type { Detection } from '@ipwatch/core/schemas';
import { cachedScoringClient } from '@ipwatch/core/scoringClient';
import { ClientTable } from './clientTable.ts';
import { createEvaluator, shapeOf, type Evaluator } from './evaluators.ts';
import { RequestView, type ScoredRequest } from './request.ts';

export type { ScoredRequest } from './request.ts';

/** Where a request came from, when known (an EnrichedRequest's geo): for the evidence. */
export interface RequestOrigin {
  country?: string;
  asn?: number;
  org?: string;
}

export interface EngineOptions {
  rules: readonly Rule[];
  /** IPv6 clients are scored per network of this prefix length. Default 64. */
  v6Prefix?: number;
  /** Most clients tracked at once (and most accounts, apart). Default 1,000,000. */
  maxClients?: number;
  /** Clients with evidence kept (those some rule finds halfway suspicious). Default 20,000. */
  maxEvidence?: number;
  /** Says which crawler a user agent claims, if any (crawlers.ts `claimedCrawler`); the service verifies. */
  crawlerClaim?: (userAgent: string) => string | null;
}

/** A detection as the engine found it, before the service verifies crawler claims and publishes it. */
export interface Candidate {
  detection: Detection;
  rule: Rule;
  /** A crawler the client claims to be, for a rule that exempts verified crawlers: verify before publishing. */
  crawlerClaim: string | null;
}

export interface EngineStats {
  clients: number;
  /** Usernames tracked by account rules. */
  accounts: number;
  evictedIdle: number;
  evictedForCap: number;
  evidenceClients: number;
  rules: number;
}

interface Compiled {
  rule: Rule;
  scope: 'client' | 'account';
  shape: string;
  evaluator: Evaluator;
  /** The figure at which evidence starts being kept for a client. */
  suspicious: number;
  quietMs: number;
}

interface Evidence {
  samples: string[];
  userAgents: string[];
  usernames: string[];
  statuses: Map<number, number>;
  /** An account's evidence: the clients whose failed logins named it (null for a client's evidence). */
  clients: string[] | null;
  firstTs: number;
}

/** Evidence of accounts shares the map with clients' under keys no address can take. */
const ACCOUNT_KEY = '\u0001account:';

const SAMPLES = 10;
/** Clients an account's evidence names at most. */
const MAX_CLIENTS_KEPT = 20;
const NONE: readonly Candidate[] = Object.freeze([]);

export class DetectionEngine {
  readonly table: ClientTable;
  /** The accounts' windows (a slot per username), for account rules. */
  readonly accounts: ClientTable;
  private compiled: Compiled[] = [];
  private clientRules: Compiled[] = [];
  private accountRules: Compiled[] = [];
  /** The one definition the enricher keys the enriched topic by, so one instance owns each network. */
  private readonly scoringClientOf: ReturnType<typeof cachedScoringClient>;
  /** `${rule}\n${client}` -> event time until which the rule does not detect the client again. */
  private readonly quietUntil = new Map<string, number>();
  /** client -> times of its live blocks, most recent last (bounded). */
  private readonly offences = new Map<string, number[]>();
  private readonly evidence = new Map<string, Evidence>();
  private readonly maxEvidence: number;
  private readonly crawlerClaim: (ua: string) => string | null;
  private longestWindowMs = 0;
  private lastSweepTs = 0;
  private latestTs = 0;
  private warming = false;

  constructor(options: EngineOptions) {
    this.table = new ClientTable({ maxClients: options.maxClients ?? 1_000_000 });
    this.accounts = new ClientTable({ maxClients: options.maxClients ?? 1_000_000, initialCapacity: 64 });
    this.scoringClientOf = cachedScoringClient(options.v6Prefix ?? 64);
    this.maxEvidence = options.maxEvidence ?? 20_000;
    this.crawlerClaim = options.crawlerClaim ?? (() => null);
    this.setRules(options.rules);
  }

  /**
   * Applies a new rule set. A rule whose kind, window and parameters are unchanged keeps its
   * counters (a new threshold, severity or mode applies at once to what was counted); a rule
   * that is new or reshaped starts counting afresh; a rule gone frees its columns.
   */
  setRules(rules: readonly Rule[]): void {
    const old = new Map(this.compiled.map((c) => [c.rule.id, c]));
    const next: Compiled[] = [];
    for (const rule of rules) {
      if (!rule.enabled) continue;
      const shape = shapeOf(rule);
      const scope = ruleScope(rule);
      const before = old.get(rule.id);
      let evaluator: Evaluator;
      if (before && before.shape === shape) {
        evaluator = before.evaluator;
        old.delete(rule.id);
      } else {
        evaluator = createEvaluator(rule, scope === 'account' ? this.accounts : this.table);
      }
      next.push({ rule, scope, shape, evaluator, suspicious: rule.kind === 'error_ratio' ? rule.threshold / 2 : rule.threshold <= 10 ? 1 : rule.threshold / 2, quietMs: rule.quietMs || rule.windowMs });
    }
    for (const gone of old.values()) gone.evaluator.release();
    this.compiled = next;
    this.clientRules = next.filter((c) => c.scope === 'client');
    this.accountRules = next.filter((c) => c.scope === 'account');
    this.longestWindowMs = Math.max(60_000, ...next.map((c) => c.rule.windowMs));
  }

  rules(): Rule[] {
    return this.compiled.map((c) => c.rule);
  }

  /** Whether any enabled rule counts per account (the scorer re-keys failed logins only then). */
  hasAccountRules(): boolean {
    return this.accountRules.length > 0;
  }

  /** The client a request is scored as: its address, or for IPv6 its network (a /64 by default). */
  clientOf(r: Pick<ScoredRequest, 'ip' | 'ipAnonymisation'>): string {
    return this.scoringClientOf(r.ip, r.ipAnonymisation);
  }

  /**
   * Counts a request into the windows without judging it: for rebuilding state after a
   * restart from requests already scored before (their detections are remembered apart).
   */
  warm(r: ScoredRequest): void {
    this.withoutJudging(() => this.observe(r));
  }

  /** As `warm`, for a failed login read back from the logins topic. */
  warmLogin(r: ScoredRequest): void {
    this.withoutJudging(() => this.observeLogin(r));
  }

  private withoutJudging(count: () => unknown): void {
    this.warming = true;
    try {
      count();
    } finally {
      this.warming = false;
    }
  }

  /** Scores one request by the client rules; returns the detections it triggers (usually none). */
  observe(r: ScoredRequest, origin?: RequestOrigin): readonly Candidate[] {
    // A request the block mirror answered is already dealt with.
    if (r.blocked) return NONE;
    this.advance(r.ts);
    const client = this.clientOf(r);
    return this.judge(this.clientRules, this.table.slot(client, r.ts), new RequestView(r, client), client, null, origin);
  }

  /**
   * Scores a failed login by the account rules (per username, whichever client sent it).
   * Anything else, or a login naming no username, is ignored.
   */
  observeLogin(r: ScoredRequest, origin?: RequestOrigin): readonly Candidate[] {
    if (r.blocked || r.login !== 'failed' || !r.loginUser || this.accountRules.length === 0) return NONE;
    this.advance(r.ts);
    const client = this.clientOf(r);
    const account = accountOf(r.loginUser);
    return this.judge(this.accountRules, this.accounts.slot(account, r.ts), new RequestView(r, client), client, account, origin);
  }

  private advance(ts: number): void {
    if (ts > this.latestTs) this.latestTs = ts;
    if (ts - this.lastSweepTs > 10_000) this.sweep(ts);
  }

  /** The rules of one scope over one request counted in `slot` (a client's, or an account's). */
  private judge(rules: readonly Compiled[], slot: number, v: RequestView, client: string, account: string | null, origin: RequestOrigin | undefined): readonly Candidate[] {
    const r = v.r;
    const ts = r.ts;
    const evidenceKey = account === null ? client : ACCOUNT_KEY + account;
    let found: Candidate[] | null = null;
    let kept = this.evidence.get(evidenceKey);
    if (kept !== undefined) this.keep(kept, r, client);
    // An account's evidence starts at its first failure: the clients before the figure is judged matter.
    else if (account !== null) kept = this.startEvidence(evidenceKey, r, client, true);
    for (const c of rules) {
      const figure = c.evaluator.observe(slot, v);
      if (figure < 0) continue;
      if (kept === undefined && figure >= c.suspicious) {
        kept = this.startEvidence(evidenceKey, r, client, account !== null);
      }
      if (figure <= c.rule.threshold || this.warming) continue;
      const quietKey = quietKeyOf(c.rule, client, account);
      const quiet = this.quietUntil.get(quietKey);
      if (quiet !== undefined && ts < quiet) continue;
      this.quietUntil.set(quietKey, ts + c.quietMs);
      (found ??= []).push(this.candidate(c, client, account, r, figure, kept, origin));
    }
    return found ?? NONE;
  }

  /**
   * Learns of a detection made before (by this scorer before a restart, or by another
   * instance): its quiet period and, for a live block, the offence. Makes a restart never
   * detect the same thing twice.
   */
  remember(d: Detection): void {
    const rule = this.compiled.find((c) => c.rule.id === d.rule);
    const client = d.client || d.ip;
    const quietMs = rule ? rule.quietMs : d.windowEnd - d.windowStart;
    // An account rule's detection names its account in the evidence.
    const account = d.evidence?.account ?? null;
    const key = quietKeyOf({ id: d.rule, autoBlock: rule ? rule.rule.autoBlock : d.action === 'block' }, client, account);
    const until = d.ts + quietMs;
    if ((this.quietUntil.get(key) ?? 0) < until) this.quietUntil.set(key, until);
    if (d.action === 'block' && d.mode === 'live') {
      const list = this.offences.get(client) ?? [];
      if (!list.includes(d.ts)) {
        list.push(d.ts);
        list.sort((a, b) => a - b);
        if (list.length > 16) list.shift();
        this.offences.set(client, list);
      }
    }
  }

  stats(): EngineStats {
    return { clients: this.table.size, accounts: this.accounts.size, evictedIdle: this.table.evictedIdle, evictedForCap: this.table.evictedForCap, evidenceClients: this.evidence.size, rules: this.compiled.length };
  }

  private candidate(c: Compiled, client: string, account: string | null, r: ScoredRequest, figure: number, kept: Evidence | undefined, origin: RequestOrigin | undefined): Candidate {
    const rule = c.rule;
    const live = rule.mode === 'live';
    const blocking = rule.autoBlock;
    let offence = 0;
    let blockExpiresAt: number | null = null;
    if (blocking) {
      const memoryFrom = r.ts - rule.escalationMemoryMs;
      const before = (this.offences.get(client) ?? []).filter((t) => t >= memoryFrom && t < r.ts).length;
      offence = before + 1;
      const duration = blockDurationFor(rule, offence);
      blockExpiresAt = duration === null ? null : r.ts + duration;
      if (live) this.remember({ rule: rule.id, client, ip: r.ip, ts: r.ts, action: 'block', mode: 'live', windowStart: r.ts - rule.windowMs, windowEnd: r.ts, evidence: account === null ? {} : { account } } as Detection);
    }
    // A sliding estimate of 50.4 over a threshold of 50 is shown as 51: the count it stands for.
    const shown = rule.kind === 'error_ratio' ? `${Math.round(figure * 100)}%` : String(Math.ceil(figure));
    const limit = rule.kind === 'error_ratio' ? `${Math.round(rule.threshold * 100)}%` : String(rule.threshold);
    const evidence: Record<string, string> = {
      summary: `${c.evaluator.unit}${fromClients(kept)}: ${shown} in ${formatDuration(rule.windowMs)} (more than ${limit})`,
      figure: String(rule.kind === 'error_ratio' ? Math.round(figure * 1000) / 1000 : Math.round(figure * 10) / 10),
      trigger: `${r.method} ${r.path.slice(0, 300)} -> ${r.status}`,
    };
    if (kept) {
      evidence.samples = kept.samples.join('\n');
      evidence.userAgents = kept.userAgents.join('\n');
      evidence.statuses = [...kept.statuses].sort((a, b) => b[1] - a[1]).map(([s, n]) => `${s}x${n}`).join(', ');
      if (kept.usernames.length) evidence.usernames = kept.usernames.join('\n');
      evidence.since = new Date(kept.firstTs).toISOString();
    } else {
      evidence.userAgents = r.userAgent.slice(0, 200);
    }
    if (account !== null) evidence.account = account;
    if (kept?.clients) evidence.clients = kept.clients.join('\n');
    if (origin?.country) evidence.country = origin.country;
    if (origin?.asn) evidence.asn = String(origin.asn);
    if (origin?.org) evidence.org = origin.org.slice(0, 100);
    if (client !== r.ip) evidence.scoredAs = `network ${client}`;
    if (blocking) evidence.offence = String(offence);
    const crawlerClaim = rule.params.exemptCrawlers === 'true' ? this.crawlerClaim(r.userAgent) : null;
    const detection: Detection = {
      id: detectionId(rule.id, client, r.ts),
      ts: r.ts,
      ip: r.ip,
      rule: rule.id,
      severity: rule.severity,
      score: figure,
      windowStart: r.ts - rule.windowMs,
      windowEnd: r.ts,
      evidence,
      action: !live ? 'none' : blocking ? 'block' : 'alert',
      client,
      mode: rule.mode,
      count: rule.kind === 'error_ratio' ? Math.round(figure * 100) : Math.ceil(figure),
      threshold: rule.threshold,
      blockExpiresAt: blocking ? blockExpiresAt : null,
      offence,
    };
    return { detection, rule, crawlerClaim };
  }

  private startEvidence(key: string, r: ScoredRequest, client: string, isAccount: boolean): Evidence {
    if (this.evidence.size >= this.maxEvidence) {
      // The oldest entry goes (a Map iterates in insertion order).
      const oldest = this.evidence.keys().next().value as string;
      this.evidence.delete(oldest);
    }
    const e: Evidence = { samples: [], userAgents: [], usernames: [], statuses: new Map(), clients: isAccount ? [] : null, firstTs: r.ts };
    this.evidence.set(key, e);
    this.keep(e, r, client);
    return e;
  }

  /** Adds a request to the evidence; an account's samples name the client of each. */
  private keep(e: Evidence, r: ScoredRequest, client: string): void {
    if (e.clients !== null && e.clients.length < MAX_CLIENTS_KEPT && !e.clients.includes(client)) e.clients.push(client);
    e.samples.push(`${new Date(r.ts).toISOString().slice(11, 19)}${e.clients !== null ? ` ${client}` : ''} ${r.method.slice(0, 10)} ${r.path.slice(0, 200)} -> ${r.status}`);
    if (e.samples.length > SAMPLES) e.samples.shift();
    const ua = r.userAgent.slice(0, 200);
    if (e.userAgents.length < 3 && !e.userAgents.includes(ua)) e.userAgents.push(ua);
    if (r.login === 'failed' && r.loginUser && e.usernames.length < 20 && !e.usernames.includes(r.loginUser.slice(0, 64))) e.usernames.push(r.loginUser.slice(0, 64));
    e.statuses.set(r.status, (e.statuses.get(r.status) ?? 0) + 1);
  }

  /** Frees what can no longer matter: idle clients, their evidence, expired quiet periods and offences. */
  private sweep(ts: number): void {
    this.lastSweepTs = ts;
    this.table.evictIdle(ts - this.longestWindowMs * 2);
    this.accounts.evictIdle(ts - this.longestWindowMs * 2);
    for (const [key] of this.evidence) {
      const kept = key.startsWith(ACCOUNT_KEY) ? this.accounts.has(key.slice(ACCOUNT_KEY.length)) : this.table.has(key);
      if (!kept) this.evidence.delete(key);
    }
    for (const [k, until] of this.quietUntil) if (until < ts) this.quietUntil.delete(k);
    const memory = Math.max(0, ...this.compiled.map((c) => c.rule.escalationMemoryMs));
    for (const [client, list] of this.offences) if ((list[list.length - 1] as number) < ts - memory) this.offences.delete(client);
  }
}

/** For an account's summary: " (from 3 clients)"; nothing for a client's. */
function fromClients(kept: Evidence | undefined): string {
  if (!kept?.clients) return '';
  const n = kept.clients.length;
  return ` (from ${n}${n >= MAX_CLIENTS_KEPT ? '+' : ''} clients)`;
}

/**
 * What a quiet period is kept under: the rule and the client; for an account rule, the rule
 * and the account (one detection per attacked account), or the account and each client when
 * the rule blocks (every client taking part is blocked once).
 */
function quietKeyOf(rule: Pick<Rule, 'id' | 'autoBlock'>, client: string, account: string | null): string {
  if (account === null) return `${rule.id}\n${client}`;
  return rule.autoBlock ? `${rule.id}\n${ACCOUNT_KEY}${account}\n${client}` : `${rule.id}\n${ACCOUNT_KEY}${account}`;
}

/** The same rule, client and moment give the same id, so a replay or a backfill repeats ids rather than inventing new ones. */
export function detectionId(rule: string, client: string, ts: number): string {
  return createHash('sha256').update(`${rule}\n${client}\n${ts}`).digest('hex').slice(0, 32);
}

export function createDetectionEngine(options: EngineOptions): DetectionEngine {
  return new DetectionEngine(options);
}
