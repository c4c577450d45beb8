/**
 * Which of one client's paths the sensitive-path rules match. The patterns are the default
 * path_match rules on the path (sensitive-paths, sensitive-files, cms-probe), compiled by
 * parsePatterns, the scorer's own parser: one implementation of them, none copied into SQL.
 * ClickHouse gives the client's most frequent paths with their statuses; TypeScript matches.
 * The same rows give the client's top paths (clientAnalysisPaths): one pass over its requests
 * serves both.
 */
import { DEFAULT_RULES, parsePatterns, parseStatuses } from '@ipwatch/core/rules';
import type { StoreConnection } from '../analytics.ts';
import { scopeWhere, NUMBER_SETTINGS, type ClientScope } from './clientAnalysisScope.ts';

/** How many distinct paths of a client are matched (its most frequent). */
export const SENSITIVE_PATHS_EXAMINED = 1000;
/** How many matching paths an analysis lists. */
export const SENSITIVE_PATHS_LISTED = 50;

interface PathRule {
  id: string;
  patterns: RegExp[];
  /** Only requests answered with these statuses count (cms-probe: 4xx); null: any. */
  statuses: ((status: number) => boolean) | null;
}

/** The default path_match rules whose field is the path, compiled once. */
export const SENSITIVE_PATH_RULES: readonly PathRule[] = DEFAULT_RULES.filter((r) => r.kind === 'path_match' && r.params.field === 'path' && r.params.patterns !== undefined).map((r) => ({
  id: r.id,
  patterns: parsePatterns(r.params.patterns!),
  statuses: r.params.statuses ? parseStatuses(r.params.statuses) : null,
}));

export interface SensitivePathHit {
  path: string;
  /** Requests for this path that a rule counts (for cms-probe, only those answered 4xx). */
  requests: number;
  rules: string[];
}

export interface ClientSensitivePaths {
  /** The rules matched, by id. */
  rules: string[];
  /** Distinct paths examined, and whether the client had more than were examined. */
  pathsExamined: number;
  truncated: boolean;
  /** Matching requests per rule (a request matching two rules counts for each). */
  byRule: Array<{ rule: string; requests: number; paths: number }>;
  /** Matching requests in all (each once). */
  requests: number;
  /** The matching paths, most requested first (at most 50). */
  paths: SensitivePathHit[];
}

/** The path as the rules see it: without the query; also percent-decoded, as the rules' doc says. */
function forms(path: string): string[] {
  const q = path.indexOf('?');
  const bare = q === -1 ? path : path.slice(0, q);
  let decoded = bare;
  try {
    decoded = decodeURIComponent(bare);
  } catch {
    // a malformed escape (%zz) is matched as written
  }
  return decoded === bare ? [bare] : [bare, decoded];
}

/**
 * The rules a path's requests count for, and how many requests: `statuses` is the path's
 * [status, requests] pairs.
 *
 * @example
 * matchSensitivePath('/.env', [[404, 3]]); // { requests: 3, rules: ['sensitive-paths', 'sensitive-files'] }
 */
export function matchSensitivePath(path: string, statuses: ReadonlyArray<readonly [number, number]>): { requests: number; rules: Array<{ rule: string; requests: number }> } {
  const texts = forms(path);
  const rules: Array<{ rule: string; requests: number }> = [];
  const counted = new Set<number>();
  for (const rule of SENSITIVE_PATH_RULES) {
    if (!rule.patterns.some((re) => texts.some((t) => re.test(t)))) continue;
    let n = 0;
    for (const [status, count] of statuses) {
      if (rule.statuses !== null && !rule.statuses(status)) continue;
      n += count;
      counted.add(status);
    }
    if (n > 0) rules.push({ rule: rule.id, requests: n });
  }
  const requests = statuses.filter(([s]) => counted.has(s)).reduce((sum, [, c]) => sum + c, 0);
  return { requests, rules };
}

/** How many of a client's most requested paths an analysis lists. */
export const TOP_PATHS = 20;

/** One path of a client with its [status, requests] pairs; `total` sums them. */
export interface ClientPathStatuses {
  path: string;
  statuses: Array<[number, number]>;
  total: number;
}

/** A client's most requested paths, most first (ties by path), at most SENSITIVE_PATHS_EXAMINED + 1 (one more says there were more). */
export async function clientAnalysisPaths(conn: Pick<StoreConnection, 'client'>, scope: ClientScope): Promise<ClientPathStatuses[]> {
  const where = scopeWhere(scope);
  const rs = await conn.client.query({
    query: `SELECT path, groupArray((status, n)) AS statuses, sum(n) AS total
            FROM (SELECT path, status, count() AS n FROM requests WHERE ${where.sql} GROUP BY path, status)
            GROUP BY path ORDER BY total DESC, path LIMIT {limit:UInt32}`,
    query_params: { ...where.params, limit: SENSITIVE_PATHS_EXAMINED + 1 },
    format: 'JSONEachRow',
    clickhouse_settings: NUMBER_SETTINGS,
  });
  return (await rs.json<ClientPathStatuses>()).map((r) => ({ path: r.path, statuses: r.statuses.map(([st, n]) => [Number(st), Number(n)]), total: Number(r.total) }));
}

/**
 * The top paths of clientAnalysisPaths's rows, with their 4xx and 5xx answers.
 *
 * @example
 * topPaths([{ path: '/.env', statuses: [[404, 3]], total: 3 }]); // [{ path: '/.env', requests: 3, errors: 3 }]
 */
export function topPaths(paths: readonly ClientPathStatuses[], n = TOP_PATHS): Array<{ path: string; requests: number; errors: number }> {
  return paths.slice(0, n).map((p) => ({ path: p.path, requests: p.total, errors: p.statuses.reduce((sum, [st, c]) => sum + (st >= 400 && st <= 599 ? c : 0), 0) }));
}

/**
 * The sensitive-path rules matched over clientAnalysisPaths's rows.
 *
 * @example
 * sensitivePaths([{ path: '/.env', statuses: [[404, 3]], total: 3 }]).requests; // 3
 */
export function sensitivePaths(paths: readonly ClientPathStatuses[]): ClientSensitivePaths {
  const truncated = paths.length > SENSITIVE_PATHS_EXAMINED;
  const examined = paths.slice(0, SENSITIVE_PATHS_EXAMINED);
  const byRule = new Map(SENSITIVE_PATH_RULES.map((r) => [r.id, { rule: r.id, requests: 0, paths: 0 }]));
  const hits: SensitivePathHit[] = [];
  for (const row of examined) {
    const m = matchSensitivePath(row.path, row.statuses);
    if (m.rules.length === 0) continue;
    hits.push({ path: row.path, requests: m.requests, rules: m.rules.map((r) => r.rule) });
    for (const r of m.rules) {
      const total = byRule.get(r.rule)!;
      total.requests += r.requests;
      total.paths += 1;
    }
  }
  hits.sort((a, b) => b.requests - a.requests || (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return {
    rules: SENSITIVE_PATH_RULES.map((r) => r.id),
    pathsExamined: examined.length,
    truncated,
    byRule: [...byRule.values()],
    requests: hits.reduce((sum, h) => sum + h.requests, 0),
    paths: hits.slice(0, SENSITIVE_PATHS_LISTED),
  };
}

/** A client's sensitive-path hits on their own (clientAnalysis runs clientAnalysisPaths once for these and the top paths). */
export async function clientAnalysisSensitive(conn: Pick<StoreConnection, 'client'>, scope: ClientScope): Promise<ClientSensitivePaths> {
  return sensitivePaths(await clientAnalysisPaths(conn, scope));
}
