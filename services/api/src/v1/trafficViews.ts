/**
 * What the dashboard shows, as API v1 JSON: the overview of a range against the one before it
 * (GET /api/v1/overview), the request log with the dashboard's filter (GET /api/v1/request-log),
 * the detections (GET /api/v1/detections), both paged by a keyset cursor, and the rate-limit
 * refusals (GET /api/v1/rate-limits). Every parameter is read strictly
 * (readQuery) and parsed into typed values before it reaches the store's named queries.
 * Every query is bounded by time: without `since`, the 24 hours before `until` (or now).
 */
import express, { type RequestHandler, type Router } from 'express';
import { RULE_MODES, SEVERITIES } from '@ipwatch/core/rules';
import { FilterError, ipColumnRange, LOG_FILTER_FIELDS, parseLogCursor, parseLogFilter, parseTimeBound, type AnalyticsStore, type LogFilterInput, type RequestFilter, type ListDetectionsQuery, type ListRateLimitEventsQuery, type OverviewQuery } from '@ipwatch/store';
import { readQuery } from '../queryParameters.ts';

const MINUTE = 60_000;
const DAY = 86_400_000;

/** The widest overview: it reads every request of the range and of the range before it. */
export const MAX_OVERVIEW_DAYS = 31;
/** Rows a page of detections holds at most; of rate-limit events. */
export const MAX_DETECTIONS_PAGE = 500;
export const MAX_RATE_LIMIT_ROWS = 1000;
/** What a rule may be called in a filter: detection rules' ids, and older names with _ . : (rate-limit rules also /). */
export const DETECTION_RULE = /^[A-Za-z0-9_.:-]{1,64}$/;
export const LIMIT_RULE = /^[A-Za-z0-9_.:/-]{1,64}$/;
/** The overview's bucket as written: 1m, 15m, 1h, 1d. */
export const BUCKET = /^(\d{1,4})([mhd])$/;
const BUCKET_UNITS: Record<string, number> = { m: MINUTE, h: 60 * MINUTE, d: DAY };
/** Buckets tried, shortest first, when none is given: the first that cuts the range into at most 200. */
const AUTO_BUCKETS = [1, 5, 15, 60, 360, 1440].map((m) => m * MINUTE);

export interface TrafficViewsOptions {
  analytics: Pick<AnalyticsStore, 'overview' | 'listRequestLog' | 'listDetections' | 'listRateLimitEvents'>;
  now: () => number;
}

/** The parameters given, each non-empty: an empty value (a script's unset variable) is refused, never read as "any". */
function given<N extends string>(query: unknown, names: readonly N[], endpoint: string): Partial<Record<N, string>> {
  const q = readQuery(query, names, endpoint);
  for (const [name, value] of Object.entries(q)) {
    if (value === '') throw new FilterError(`${endpoint}: ${name} is empty: give a value, or leave ${name} out`);
  }
  return q;
}

function wholeNumber(name: string, text: string | undefined, max: number, fallback: number): number {
  if (text === undefined) return fallback;
  const n = /^\d{1,7}$/.test(text) ? Number(text) : NaN;
  if (!(n >= 1 && n <= max)) throw new FilterError(`${name} ${JSON.stringify(text.slice(0, 20))} must be a whole number from 1 to ${max}`);
  return n;
}

/** [since, until) from `since` and `until` (durations before now or ISO-8601); without since, the day before until. */
function timeRange(q: { since?: string; until?: string }, now: number): { sinceMs: number; untilMs: number } {
  const untilMs = q.until === undefined ? now : parseTimeBound(q.until, now, 'until');
  const sinceMs = q.since === undefined ? untilMs - DAY : parseTimeBound(q.since, now, 'since');
  if (sinceMs >= untilMs) throw new FilterError(`since (${new Date(sinceMs).toISOString()}) must be before until (${new Date(untilMs).toISOString()})`);
  return { sinceMs, untilMs };
}

/**
 * The overview's parameters: since, until (on whole minutes: since rounded down, until up),
 * bucket (1m to 1000 buckets; default the shortest of 1m, 5m, 15m, 1h, 6h, 1d making at most
 * 200), top and latest (1 to 100, default 10). FilterError says what is accepted.
 *
 * @example
 * overviewQuery({ since: '6h', bucket: '5m' }, Date.parse('2026-12-01T12:00:30Z'));
 * // { sinceMs: 11:00 - 5h ..., untilMs: 12:01, bucketMs: 300000, top: 10, latest: 10 }
 */
export function overviewQuery(query: unknown, now: number, endpoint = 'GET /api/v1/overview'): OverviewQuery {
  const q = given(query, ['since', 'until', 'bucket', 'top', 'latest'], endpoint);
  // Like the dashboard: a range ending now takes in the current minute.
  const untilMs = Math.ceil((q.until === undefined ? now + 1 : parseTimeBound(q.until, now, 'until')) / MINUTE) * MINUTE;
  const sinceMs = q.since === undefined ? untilMs - DAY : Math.floor(parseTimeBound(q.since, now, 'since') / MINUTE) * MINUTE;
  if (sinceMs >= untilMs) throw new FilterError(`since (${new Date(sinceMs).toISOString()}) must be before until (${new Date(untilMs).toISOString()})`);
  const length = untilMs - sinceMs;
  // The rounding to whole minutes may add up to two: since=31d is still 31 days.
  if (length > MAX_OVERVIEW_DAYS * DAY + 2 * MINUTE) throw new FilterError(`the overview covers at most ${MAX_OVERVIEW_DAYS} days (it reads the range and the one before it): give a later since or an earlier until`);
  let bucketMs: number;
  if (q.bucket === undefined) {
    bucketMs = AUTO_BUCKETS.find((b) => length / b <= 200) ?? DAY;
  } else {
    const m = BUCKET.exec(q.bucket);
    if (!m || Number(m[1]) === 0) throw new FilterError(`bucket ${JSON.stringify(q.bucket.slice(0, 20))} is not a bucket length: give minutes, hours or days such as 1m, 15m, 1h, 1d`);
    bucketMs = Number(m[1]) * BUCKET_UNITS[m[2]!]!;
  }
  return { sinceMs, untilMs, bucketMs, top: wholeNumber('top', q.top, 100, 10), latest: wholeNumber('latest', q.latest, 100, 10) };
}

/**
 * The detections filter: rule, severity, mode, client (an IP or CIDR: detections of the
 * clients inside it, or keyed by it), since, until, before (the cursor `next` gave), limit.
 *
 * @example
 * detectionsQuery({ rule: 'burst', mode: 'live', client: '203.0.113.0/24' }, now);
 * // { rule: 'burst', mode: 'live', client: { text, ipFrom, ipTo }, sinceMs: now - 86400000, untilMs: now, limit: 100 }
 */
export function detectionsQuery(query: unknown, now: number, endpoint = 'GET /api/v1/detections'): ListDetectionsQuery & { limit: number } {
  const q = given(query, ['rule', 'severity', 'mode', 'client', 'since', 'until', 'before', 'limit'], endpoint);
  const out: ListDetectionsQuery & { limit: number } = { ...timeRange(q, now), limit: wholeNumber('limit', q.limit, MAX_DETECTIONS_PAGE, 100) };
  if (q.rule !== undefined) {
    if (!DETECTION_RULE.test(q.rule)) throw new FilterError(`rule ${JSON.stringify(q.rule.slice(0, 40))} is not a rule id: give one as GET /api/v1/rules lists it, such as burst`);
    out.rule = q.rule;
  }
  if (q.severity !== undefined) {
    if (!(SEVERITIES as readonly string[]).includes(q.severity)) throw new FilterError(`severity ${JSON.stringify(q.severity.slice(0, 20))} is not a severity: give ${SEVERITIES.join(', ')}`);
    out.severity = q.severity;
  }
  if (q.mode !== undefined) {
    if (!(RULE_MODES as readonly string[]).includes(q.mode)) throw new FilterError(`mode ${JSON.stringify(q.mode.slice(0, 20))} is not a mode: give ${RULE_MODES.join(' or ')}`);
    out.mode = q.mode;
  }
  if (q.client !== undefined) {
    const range = ipColumnRange(q.client, 'client');
    out.client = { text: q.client, ipFrom: range.from, ipTo: range.to };
  }
  if (q.before !== undefined) {
    const cursor = parseLogCursor(q.before);
    out.before = { tsMs: cursor.tsMs, id: cursor.eventId };
  }
  return out;
}

/** The request log's parameters: each field, its not_ exclusion, and the range, flags, cursor and page size. */
export const REQUEST_LOG_PARAMETERS = [...LOG_FILTER_FIELDS, ...LOG_FILTER_FIELDS.map((f) => `not_${f}` as const), 'since', 'until', 'blocked', 'limited', 'before', 'limit'] as const;

/**
 * The request log's filter, as the dashboard's log reads it (parseLogFilter): ip, path,
 * method, status, country, asn, user, ua, each also as not_NAME (excluded), since (default:
 * a day before until), until, blocked, limited, before (the cursor `next` gave), limit.
 *
 * @example
 * requestLogQuery({ ip: '203.0.113.0/24', not_status: '2xx' }, now);
 * // { ipRange: {...}, exclude: { status: { from: 200, to: 299 } }, sinceMs: now - 86400000, limit: 100 }
 */
export function requestLogQuery(query: unknown, now: number, endpoint = 'GET /api/v1/request-log'): RequestFilter {
  return parseLogFilter(given(query, REQUEST_LOG_PARAMETERS, endpoint) as LogFilterInput, now);
}

/**
 * The rate-limit refusals' filter: ip (an IP or CIDR), rule, since, until, limit.
 *
 * @example
 * rateLimitsQuery({ rule: 'login', since: '1h' }, now); // { rule: 'login', sinceMs: now - 3600000, untilMs: now, limit: 100 }
 */
export function rateLimitsQuery(query: unknown, now: number, endpoint = 'GET /api/v1/rate-limits'): ListRateLimitEventsQuery & { limit: number } {
  const q = given(query, ['ip', 'rule', 'since', 'until', 'limit'], endpoint);
  const out: ListRateLimitEventsQuery & { limit: number } = { ...timeRange(q, now), limit: wholeNumber('limit', q.limit, MAX_RATE_LIMIT_ROWS, 100) };
  if (q.ip !== undefined) out.ip = ipColumnRange(q.ip, 'ip');
  if (q.rule !== undefined) {
    if (!LIMIT_RULE.test(q.rule)) throw new FilterError(`rule ${JSON.stringify(q.rule.slice(0, 40))} is not a rate-limit rule's name, such as login or anonymous`);
    out.rule = q.rule;
  }
  return out;
}

/**
 * @example
 * v1.get('/overview', overviewHandler({ analytics, now: Date.now }));
 */
export function overviewHandler(options: TrafficViewsOptions): RequestHandler {
  return async (req, res, next) => {
    try {
      res.json(await options.analytics.overview(overviewQuery(req.query, options.now(), `GET ${req.baseUrl}/overview`)));
    } catch (err) {
      next(err);
    }
  };
}

/**
 * Answers { rows, next }: `next` is the `before` of the following (older) page, null on the last.
 *
 * @example
 * v1.get('/request-log', requestLogHandler({ analytics, now: Date.now }));
 */
export function requestLogHandler(options: TrafficViewsOptions): RequestHandler {
  return async (req, res, next) => {
    try {
      const filter = requestLogQuery(req.query, options.now(), `GET ${req.baseUrl}/request-log`);
      const fetched = await options.analytics.listRequestLog({ ...filter, limit: filter.limit + 1 });
      const rows = fetched.slice(0, filter.limit);
      const last = rows[rows.length - 1];
      res.json({ rows, next: fetched.length > filter.limit && last ? `${last.ts_ms},${last.event_id}` : null });
    } catch (err) {
      next(err);
    }
  };
}

/**
 * Answers { rows, next }: `next` is the `before` of the following (older) page, null on the last.
 *
 * @example
 * v1.get('/detections', detectionsHandler({ analytics, now: Date.now }));
 */
export function detectionsHandler(options: TrafficViewsOptions): RequestHandler {
  return async (req, res, next) => {
    try {
      const query = detectionsQuery(req.query, options.now(), `GET ${req.baseUrl}/detections`);
      const fetched = await options.analytics.listDetections({ ...query, limit: query.limit + 1 });
      const rows = fetched.slice(0, query.limit);
      const last = rows[rows.length - 1];
      res.json({ rows, next: fetched.length > query.limit && last ? `${last.ts},${last.id}` : null });
    } catch (err) {
      next(err);
    }
  };
}

/**
 * @example
 * v1.get('/rate-limits', rateLimitsHandler({ analytics, now: Date.now }));
 */
export function rateLimitsHandler(options: TrafficViewsOptions): RequestHandler {
  return async (req, res, next) => {
    try {
      res.json(await options.analytics.listRateLimitEvents(rateLimitsQuery(req.query, options.now(), `GET ${req.baseUrl}/rate-limits`)));
    } catch (err) {
      next(err);
    }
  };
}

/**
 * The three views on a router, for /api/v1 only (they came with v1: no unversioned path).
 *
 * @example
 * app.use('/api/v1', api, trafficViewsRouter({ analytics, now: Date.now }));
 */
export function trafficViewsRouter(options: TrafficViewsOptions): Router {
  const router = express.Router();
  router.get('/overview', overviewHandler(options));
  router.get('/request-log', requestLogHandler(options));
  router.get('/detections', detectionsHandler(options));
  router.get('/rate-limits', rateLimitsHandler(options));
  return router;
}
