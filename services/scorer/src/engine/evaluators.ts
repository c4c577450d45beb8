/**
 * One evaluator per kind of rule (shared/core/src/rules.ts, RULE_KINDS). An evaluator keeps its
 * counters in the client table's columns and, for each request, returns the rule's figure
 * after counting it, or -1 when the request does not concern the rule. The engine compares
 * the figure with the threshold. The same evaluators serve the live stream, a replayed log and
 * `ipwatch detect` over ClickHouse history: there is no second copy of a rule anywhere.
 */
import { parsePatterns, parseStatuses, type Rule, type RuleKind } from '@ipwatch/core/rules';
import type { ClientTable } from './clientTable.ts';
import type { RequestView } from './request.ts';
import { SlidingCounter, SlidingDistinct } from './windows.ts';

export interface Evaluator {
  /** Updates the counters with the request; the figure after it, or -1 when the rule ignores the request. */
  observe(slot: number, v: RequestView): number;
  /** What the figure counts, for the evidence: "page requests", "error share", ... */
  readonly unit: string;
  release(): void;
}

/** What decides whether a change of a rule keeps its counters: the kind, the window and the parameters. */
export function shapeOf(rule: Rule): string {
  return JSON.stringify([rule.kind, rule.windowMs, Object.entries(rule.params).sort()]);
}

function ignored(rule: Rule): (v: RequestView) => boolean {
  const prefixes = (rule.params.ignorePaths ?? '').split(',').map((p) => p.trim()).filter(Boolean);
  if (prefixes.length === 0) return () => false;
  return (v) => {
    const p = v.path();
    return prefixes.some((x) => p.startsWith(x));
  };
}

function requestRate(rule: Rule, table: ClientTable): Evaluator {
  const counter = new SlidingCounter(table, rule.windowMs);
  const count = rule.params.count ?? 'pages';
  const skip = ignored(rule);
  return {
    unit: count === 'all' ? 'requests' : count === 'static' ? 'static-asset requests' : 'page requests',
    observe(slot, v) {
      if (count !== 'all' && v.isStatic() !== (count === 'static')) return -1;
      if (skip(v)) return -1;
      return counter.add(slot, v.r.ts, 1);
    },
    release: () => counter.release(),
  };
}

function errorRatio(rule: Rule, table: ClientTable): Evaluator {
  const all = new SlidingCounter(table, rule.windowMs);
  const errors = new SlidingCounter(table, rule.windowMs);
  const isError = parseStatuses(rule.params.statuses ?? '4xx,5xx');
  const minRequests = Number(rule.params.minRequests ?? 20);
  const skip = ignored(rule);
  return {
    unit: 'share of requests answered with an error',
    observe(slot, v) {
      if (skip(v)) return -1;
      const total = all.add(slot, v.r.ts, 1);
      const failed = errors.add(slot, v.r.ts, isError(v.r.status) ? 1 : 0);
      return total >= minRequests ? failed / total : -1;
    },
    release() {
      all.release();
      errors.release();
    },
  };
}

/** All of a rule's patterns as one alternation: one pass over the text instead of one per pattern. */
function combined(patternsText: string): RegExp {
  return new RegExp(parsePatterns(patternsText).map((p) => `(?:${p.source})`).join('|'), 'i');
}

function pathMatch(rule: Rule, table: ClientTable): Evaluator {
  const counter = new SlidingCounter(table, rule.windowMs);
  const re = combined(rule.params.patterns ?? '');
  const statusOk = rule.params.statuses ? parseStatuses(rule.params.statuses) : null;
  const field = rule.params.field ?? 'target';
  const skip = ignored(rule);
  const text: (v: RequestView) => string[] =
    field === 'userAgent' ? (v) => [v.r.userAgent.slice(0, 1024)]
    : field === 'query' ? (v) => [v.query()]
    : field === 'path' ? (v) => [v.path(), v.decodedPathOnly()]
    : (v) => [v.r.path.slice(0, 2048), v.target()];
  return {
    unit: field === 'userAgent' ? 'requests with a matching user agent' : 'matching requests',
    observe(slot, v) {
      if (statusOk !== null && !statusOk(v.r.status)) return -1;
      const [raw, decoded] = text(v);
      if (!re.test(raw as string) && (decoded === undefined || decoded === raw || !re.test(decoded))) return -1;
      if (skip(v)) return -1;
      return counter.add(slot, v.r.ts, 1);
    },
    release: () => counter.release(),
  };
}

function distinctPaths(rule: Rule, table: ClientTable): Evaluator {
  const distinct = new SlidingDistinct(table, rule.windowMs);
  const statusOk = parseStatuses(rule.params.statuses ?? '404,403');
  const skip = ignored(rule);
  return {
    unit: 'distinct paths answered 404/403',
    observe(slot, v) {
      if (!statusOk(v.r.status) || skip(v)) return -1;
      return Math.floor(distinct.add(slot, v.r.ts, v.path()));
    },
    release: () => distinct.release(),
  };
}

function loginFailures(rule: Rule, table: ClientTable): Evaluator {
  const counter = new SlidingCounter(table, rule.windowMs);
  return {
    unit: 'failed logins',
    observe: (slot, v) => (v.r.login === 'failed' ? counter.add(slot, v.r.ts, 1) : -1),
    release: () => counter.release(),
  };
}

function distinctUsernames(rule: Rule, table: ClientTable): Evaluator {
  const distinct = new SlidingDistinct(table, rule.windowMs);
  return {
    unit: 'distinct usernames in failed logins',
    observe: (slot, v) => (v.r.login === 'failed' && v.r.loginUser ? Math.floor(distinct.add(slot, v.r.ts, v.r.loginUser)) : -1),
    release: () => distinct.release(),
  };
}

/**
 * Counts in the accounts' table (slot: a username), not the clients': every failed login naming
 * the account, and the distinct clients they came from. Judged once enough clients took part.
 */
function accountFailures(rule: Rule, table: ClientTable): Evaluator {
  const failures = new SlidingCounter(table, rule.windowMs);
  const clients = new SlidingDistinct(table, rule.windowMs);
  const minClients = Number(rule.params.minClients ?? 3);
  return {
    unit: 'failed logins for one username',
    observe(slot, v) {
      if (v.r.login !== 'failed' || !v.r.loginUser) return -1;
      const n = failures.add(slot, v.r.ts, 1);
      return Math.floor(clients.add(slot, v.r.ts, v.client)) >= minClients ? n : -1;
    },
    release() {
      failures.release();
      clients.release();
    },
  };
}

const FACTORIES: Record<RuleKind, (rule: Rule, table: ClientTable) => Evaluator> = {
  request_rate: requestRate,
  error_ratio: errorRatio,
  path_match: pathMatch,
  distinct_paths: distinctPaths,
  login_failures: loginFailures,
  distinct_usernames: distinctUsernames,
  account_failures: accountFailures,
};

export function createEvaluator(rule: Rule, table: ClientTable): Evaluator {
  return FACTORIES[rule.kind as RuleKind](rule, table);
}
