/**
 * For the privacy tests: where an address is stored, as ClickHouse counts it (rows per personal
 * table, rollup buckets whose heavy-hitter sketches name it, requests naming it in a path or
 * referer), and the defence rows a scorer and an emitter would have stored about a client.
 */
import type { Analytics } from '@ipwatch/store';

export async function rowsOf<T>(a: Analytics, query: string, params: Record<string, unknown> = {}): Promise<T[]> {
  const rs = await a.client.query({ query, query_params: params, format: 'JSONEachRow', clickhouse_settings: { output_format_json_quote_64bit_integers: 0 } });
  return rs.json<T>();
}

export async function countOf(a: Analytics, query: string, params: Record<string, unknown> = {}): Promise<number> {
  return Number((await rowsOf<{ n: number }>(a, query, params))[0]!.n);
}

/** A rollup's buckets whose client sketch names the address. */
const sketchNaming = (table: string, bucket: string) =>
  `SELECT count() AS n FROM (SELECT ${bucket} FROM ${table} WHERE dimension = 'client' GROUP BY ${bucket} HAVING arrayExists(x -> x.1 = {c:String}, approx_top_countMerge(100, 1000)(sketch)))`;

/** Rows per personal table about one IPv4 address, and the rollup buckets whose sketches name it. */
export async function whereIs(a: Analytics, ip: string) {
  const c = `::ffff:${ip}`;
  return {
    requests: await countOf(a, 'SELECT count() AS n FROM requests WHERE ip = toIPv6({c:String})', { c }),
    rate_limit_events: await countOf(a, 'SELECT count() AS n FROM rate_limit_events WHERE ip = toIPv6({c:String})', { c }),
    detections: await countOf(a, 'SELECT count() AS n FROM detections WHERE ip = toIPv6({c:String})', { c }),
    block_events: await countOf(a, 'SELECT count() AS n FROM block_events WHERE target = {ip:String}', { ip }),
    hourly: await countOf(a, sketchNaming('requests_top_hourly', 'hour'), { c }),
    fiveMinutes: await countOf(a, sketchNaming('requests_top_5min', 'bucket'), { c }),
  };
}

/** A detection of the client (`action` block: its view writes a block_events row too) and a rate-limit refusal, at `ts`. */
export async function storeDefence(a: Analytics, ip: string, ts: string, action: 'flag' | 'block' = 'flag'): Promise<void> {
  const col = `::ffff:${ip}`;
  await a.client.insert({
    table: 'detections',
    format: 'JSONEachRow',
    values: [
      {
        id: `det-${ip}`, ts, ip: col, client: ip, rule: 'scanner-paths', severity: 'high', mode: 'live', score: 40, count: 40, threshold: 20,
        window_start: ts, window_end: ts, evidence: { summary: `40 paths from ${ip}`, paths: '/.env\n/.git/config' }, action, block_expires_at: null, offence: 1,
        log_epoch: 'test', kafka_partition: 0, kafka_offset: 1,
      },
    ],
  });
  await a.client.insert({
    table: 'rate_limit_events',
    format: 'JSONEachRow',
    values: [{ ts, ip: col, rule: 'anonymous', limit_key: ip, limit: 5, window_ms: 60000, count: 3, path: '/login', user_id: null, app: 'shop', log_epoch: 'test', kafka_partition: 0, kafka_offset: 1 }],
  });
}
