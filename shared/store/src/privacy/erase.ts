/**
 * Erasure: a subject removed from every ClickHouse table, the rollups rebuilt where they held it,
 * what Redis and the caches hold forgotten, and the act recorded in the audit log.
 *
 * It survives a crash half-way: before the first row goes, the rollup buckets the subject's
 * requests fell in are written to privacy_erasures_pending (they cannot be found once the
 * requests are gone), and every step is idempotent, so running the erasure again finishes it.
 * The journal row is deleted when the erasure completes.
 *
 * The rollups hold no row per person, but their sketches do hold addresses (requests_top_hourly
 * and requests_top_5min keep the heavy hitters' addresses as text; requests_per_minute a
 * distinct-count sketch of hashed addresses): the buckets are deleted and aggregated again from
 * the requests that remain, with the SELECTs of their views (migrations 0009, 0010, 0011; a
 * migration that changes a view changes REBUILDS too, and privacy.chdb.test.ts compares them).
 */
import type { StoreConnection } from '../analytics.ts';
import { PERSONAL_TABLES } from './catalog.ts';
import { newAuditId, recordAudit, type AuditOutcome } from './audit.ts';
import { subjectDetectionIds } from './export.ts';
import type { PersonalStateHolder, Remaining } from '@ipwatch/core/dataSubject';
import { subjectBits, subjectKey, type PrivacySubject } from '@ipwatch/core/dataSubject';

/** The steps of an erasure, in order; a test stops it after one to prove the rerun finishes. */
export type EraseStep = 'journal' | `delete:${string}` | `scrub:${string}` | `rebuild:${string}` | 'holders';

export interface EraseOptions {
  actor: string;
  holders?: readonly PersonalStateHolder[];
  /** What cannot be removed now (blocks in force, events in Kafka topics, mail sent), as the caller knows it. */
  remaining?: readonly Remaining[];
  /** Tests: throw right after this step, as a crash would stop it. */
  crashAfter?: EraseStep;
  now?: number;
}

export interface ErasureReport {
  auditId: string;
  subject: string;
  subjectKind: PrivacySubject['kind'];
  /** Rows deleted per table, in this run. */
  removed: Record<string, number>;
  /** Rows kept with a field about the subject cleared (a username in another client's login). */
  scrubbed: Record<string, number>;
  /** Rollup buckets aggregated again without the subject. */
  rebuilt: { minutes: number; hours: number; fiveMinutes: number };
  /** Entries forgotten outside ClickHouse, per place. */
  forgotten: Record<string, number>;
  remaining: Remaining[];
  /** True when an earlier run of this erasure had stopped half-way and this one finished it. */
  resumed: boolean;
  /** True when nothing was stored about the subject: not an error. */
  nothingFound: boolean;
}

/** Raised by `crashAfter` (tests only). */
export class InjectedCrash extends Error {
  override readonly name = 'InjectedCrash';
}

interface Plan {
  minutes: number[];
  hours: number[];
  buckets: number[];
}

/**
 * Settings go in the statements' own SETTINGS clauses, never as the client's clickhouse_settings:
 * chDB's adapter turns those into session-wide SET statements, which would outlive the erasure
 * (insert_deduplicate = 0 left on would let the sink store a replayed batch twice).
 */
const SYNC = 'SETTINGS mutations_sync = 2';

/** Not deduplicated: a rerun's insert can be byte for byte the one a crashed run made before its delete was repeated. */
const NO_DEDUP = 'SETTINGS insert_deduplicate = 0';

const DIMENSIONS = "[('client', toString(ip)), ('path', path), ('user_agent', user_agent), ('asn', concat(toString(asn), ' ', org))]";

/** Each rollup: its table, its bucket column, the journal's array of buckets, and the SELECT of its view for the given buckets ({b:Array(UInt32)}). */
const REBUILDS = [
  {
    table: 'requests_per_minute',
    column: 'minute',
    plan: 'minutes' as const,
    insert: `INSERT INTO requests_per_minute (minute, app, country, status_class, requests, errors, blocked, rate_limited, bytes, unique_ips, latency_ms)
      SELECT toStartOfMinute(ts) AS m, app, country, intDiv(status, 100) AS sc, count(), countIf(status >= 400), countIf(requests.blocked),
             countIf(requests.rate_limited), sum(bytes), uniqState(ip), quantilesState(0.5, 0.95, 0.99)(latency_ms)
      FROM requests WHERE has({b:Array(UInt32)}, toUInt32(toStartOfMinute(ts))) GROUP BY m, app, country, sc`,
  },
  {
    table: 'requests_top_hourly',
    column: 'hour',
    plan: 'hours' as const,
    insert: `INSERT INTO requests_top_hourly (hour, dimension, sketch, keys) ${NO_DEDUP}
      SELECT toStartOfHour(ts) AS h, d.1 AS dim, approx_top_countState(100, 1000)(d.2), uniqState(d.2)
      FROM requests ARRAY JOIN ${DIMENSIONS} AS d WHERE has({b:Array(UInt32)}, toUInt32(toStartOfHour(ts))) GROUP BY h, dim`,
  },
  {
    table: 'requests_top_5min',
    column: 'bucket',
    plan: 'buckets' as const,
    insert: `INSERT INTO requests_top_5min (bucket, dimension, sketch, keys) ${NO_DEDUP}
      SELECT toStartOfFiveMinutes(ts) AS b5, d.1 AS dim, approx_top_countState(100, 1000)(d.2), uniqState(d.2)
      FROM requests ARRAY JOIN ${DIMENSIONS} AS d WHERE has({b:Array(UInt32)}, toUInt32(toStartOfFiveMinutes(ts))) GROUP BY b5, dim`,
  },
];

async function rows<T>(conn: Pick<StoreConnection, 'client'>, query: string, params: Record<string, unknown>): Promise<T[]> {
  return (await conn.client.query({ query, query_params: params, format: 'JSONEachRow', clickhouse_settings: { output_format_json_quote_64bit_integers: 0 } })).json<T>();
}

const merge = (a: number[], b: number[]) => [...new Set([...a, ...b].map(Number))].sort((x, y) => x - y);

/**
 * @example
 * const report = await eraseSubject(store, parseSubject({ ip: '203.0.113.7' }), { actor: 'admin', holders, remaining });
 * report.removed.requests; // rows deleted
 */
export async function eraseSubject(conn: Pick<StoreConnection, 'client'>, subject: PrivacySubject, options: EraseOptions): Promise<ErasureReport> {
  const step = (s: EraseStep) => {
    if (options.crashAfter === s) throw new InjectedCrash(`erasure stopped after ${s} (injected)`);
  };
  const key = subjectKey(subject);
  const now = options.now ?? Date.now();

  // An earlier run stopped half-way: its buckets are rebuilt too.
  const pending = await rows<{ minutes: number[]; hours: number[]; buckets: number[] }>(
    conn,
    `SELECT arrayMap(x -> toUInt32(x), minutes) AS minutes, arrayMap(x -> toUInt32(x), hours) AS hours, arrayMap(x -> toUInt32(x), buckets) AS buckets
     FROM privacy_erasures_pending WHERE subject = {k:String}`,
    { k: key },
  );
  const plan: Plan = { minutes: [], hours: [], buckets: [] };
  for (const p of pending) {
    plan.minutes = merge(plan.minutes, p.minutes);
    plan.hours = merge(plan.hours, p.hours);
    plan.buckets = merge(plan.buckets, p.buckets);
  }

  // What is stored now: rows per table (deleted, and mentioning the subject), and the buckets its requests fell in.
  const found: Array<{ table: string; where: string | null; scrub: { where: string; set: string } | null; params: Record<string, unknown>; rows: number; mentions: number }> = [];
  for (const t of PERSONAL_TABLES) {
    const params: Record<string, unknown> = {};
    const where = t.where(subject, params);
    const scrub = t.scrub?.(subject, params) ?? null;
    const [counted] = await rows<{ n: number; m: number }>(
      conn,
      `SELECT ${where === null ? '0' : `countIf(${where})`} AS n, ${scrub === null ? '0' : `countIf(${scrub.where})`} AS m FROM ${t.table}`,
      params,
    );
    found.push({ table: t.table, where, scrub, params, rows: Number(counted?.n ?? 0), mentions: Number(counted?.m ?? 0) });
  }
  const requests = found.find((f) => f.table === 'requests')!;
  // The buckets of the rows deleted, and of those whose path or referer is rewritten (the sketches keep paths too).
  const touched = [requests.rows > 0 ? requests.where : null, requests.mentions > 0 ? (requests.scrub?.where ?? null) : null].filter((c): c is string => c !== null);
  if (touched.length > 0) {
    const [b] = await rows<Plan>(
      conn,
      `SELECT groupUniqArray(toUInt32(toStartOfMinute(ts))) AS minutes, groupUniqArray(toUInt32(toStartOfHour(ts))) AS hours, groupUniqArray(toUInt32(toStartOfFiveMinutes(ts))) AS buckets
       FROM requests WHERE ${touched.map((c) => `(${c})`).join(' OR ')}`,
      requests.params,
    );
    // Only the buckets a rollup holds: one its TTL has dropped is not made again.
    for (const r of REBUILDS) {
      const wanted = b?.[r.plan] ?? [];
      if (wanted.length === 0) continue;
      const [held] = await rows<{ b: number[] }>(conn, `SELECT groupUniqArray(toUInt32(${r.column})) AS b FROM ${r.table} WHERE has({b:Array(UInt32)}, toUInt32(${r.column}))`, { b: wanted });
      plan[r.plan] = merge(plan[r.plan], held?.b ?? []);
    }
  }
  const related = { detectionIds: await subjectDetectionIds(conn, subject) };
  const heldCounts = await Promise.all((options.holders ?? []).map(async (h) => (await h.find(subject, related)).length));
  const auditId = newAuditId();
  /** This erasure's entry in the audit log: the subject's kind and prefix only, never the subject. */
  const audit = (outcome: AuditOutcome, counts: Record<string, number>, note: string) =>
    recordAudit(conn, { id: auditId, ts: now, actor: options.actor, action: 'erase', subjectKind: subject.kind, subjectBits: subjectBits(subject), outcome, rows: counts, note });
  const report: ErasureReport = {
    auditId,
    subject: subject.text,
    subjectKind: subject.kind,
    removed: {},
    scrubbed: {},
    rebuilt: { minutes: plan.minutes.length, hours: plan.hours.length, fiveMinutes: plan.buckets.length },
    forgotten: {},
    remaining: [...(options.remaining ?? [])],
    resumed: pending.length > 0,
    nothingFound: false,
  };
  const somethingStored = pending.length > 0 || found.some((f) => f.rows + f.mentions > 0) || heldCounts.some((n) => n > 0);
  if (!somethingStored) {
    report.nothingFound = true;
    await audit('nothing_found', {}, '');
    return report;
  }

  // The journal first: from here on a rerun knows which buckets to rebuild.
  await conn.client.insert({
    table: 'privacy_erasures_pending',
    format: 'JSONEachRow',
    values: [{ id: auditId, started_at: now, actor: options.actor.slice(0, 200), subject: key, minutes: plan.minutes, hours: plan.hours, buckets: plan.buckets }],
  });
  await audit('started', Object.fromEntries(found.flatMap((f) => [[f.table, f.rows], ...(f.mentions > 0 ? [[`${f.table} (field cleared)`, f.mentions]] : [])])), report.resumed ? 'resumes an erasure that had stopped half-way' : '');
  step('journal');

  for (const f of found) {
    if (f.where !== null && f.rows > 0) {
      await conn.client.command({ query: `ALTER TABLE ${f.table} DELETE WHERE ${f.where} ${SYNC}`, query_params: f.params });
    }
    report.removed[f.table] = f.rows;
    step(`delete:${f.table}`);
    if (f.scrub !== null && f.mentions > 0) {
      await conn.client.command({ query: `ALTER TABLE ${f.table} UPDATE ${f.scrub.set} WHERE ${f.scrub.where} ${SYNC}`, query_params: f.params });
      report.scrubbed[f.table] = f.mentions;
      step(`scrub:${f.table}`);
    }
  }

  for (const r of REBUILDS) {
    const buckets = plan[r.plan];
    if (buckets.length === 0) continue;
    await conn.client.command({ query: `ALTER TABLE ${r.table} DELETE WHERE has({b:Array(UInt32)}, toUInt32(${r.column})) ${SYNC}`, query_params: { b: buckets } });
    await conn.client.command({ query: r.insert, query_params: { b: buckets } });
    step(`rebuild:${r.table}`);
  }

  for (const h of options.holders ?? []) report.forgotten[h.place] = await h.forget(subject, related);
  step('holders');

  await audit(
    'completed',
    { ...report.removed, ...Object.fromEntries(Object.entries(report.scrubbed).map(([t, n]) => [`${t} (field cleared)`, n])), ...report.forgotten },
    report.resumed ? 'finished an erasure that had stopped half-way (the rows it deleted are counted in its started entry)' : '',
  );
  await conn.client.command({ query: `ALTER TABLE privacy_erasures_pending DELETE WHERE subject = {k:String} ${SYNC}`, query_params: { k: key } });
  return report;
}

/** Erasures stopped half-way (their subjects are in the journal until they complete). */
export async function pendingErasures(conn: Pick<StoreConnection, 'client'>): Promise<Array<{ id: string; startedAt: number; actor: string; subject: string }>> {
  const r = await rows<{ id: string; started_ms: number; actor: string; subject: string }>(
    conn,
    'SELECT id, toUnixTimestamp64Milli(started_at) AS started_ms, actor, subject FROM privacy_erasures_pending ORDER BY started_at',
    {},
  );
  return r.map((x) => ({ id: x.id, startedAt: Number(x.started_ms), actor: x.actor, subject: x.subject }));
}
