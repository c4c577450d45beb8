/**
 * Test data for the client analysis (store, api and CLI tests): one IPv4 client with
 * requests, logins, rate-limit refusals, a detection and blocks, an IPv6 client spread over
 * two addresses of one /64, and neighbours that must not be counted. Times are relative to
 * `now`, inside the last 3 hours unless said otherwise.
 */
import type { Analytics } from '../analytics.ts';

const M = 60_000;
const H = 3_600_000;

export const FIXTURE = {
  ip: '198.51.100.23',
  neighbour: '198.51.100.24',
  ip6: '2001:db8:1:2::10',
  ip6Sibling: '2001:db8:1:2::20',
  net6: '2001:db8:1:2::/64',
  ip6Other: '2001:db8:1:3::10',
  /** Printed by `ipwatch analyze`: it must reach the terminal without its escapes. */
  hostileUserAgent: '\u001b[2J\u001b]0;owned\u0007evil-agent\u001b[31m',
} as const;

/** The clock a fixture is read with: half past the hour, so that `hours: 3` is [h-2, h+1). */
export function fixtureNow(): number {
  return Math.floor(Date.now() / H) * H + 30 * M;
}

/** Inserts the fixture, times relative to `now` (from fixtureNow()); `tag` keeps two insertions apart. */
export async function insertClientFixture(analytics: Analytics, now: number, tag = 'fixture'): Promise<void> {
  const h0 = Math.floor(now / H) * H - 2 * H; // first hour of a 3-hour analysis
  const at = (hour: number, minute: number) => h0 + hour * H + minute * M;
  const columns = ['event_id', 'ts', 'ip', 'app', 'method', 'host', 'path', 'status', 'latency_ms', 'user_agent', 'country', 'region', 'city', 'asn', 'org', 'login', 'login_user', 'log_epoch', 'kafka_partition', 'kafka_offset'] as const;
  const v4 = `::ffff:${FIXTURE.ip}`;
  const fr = ['FR', 'IDF', 'Paris', 16276, 'OVH SAS'];
  const de = ['DE', 'BE', 'Berlin', 3320, 'Deutsche Telekom AG'];
  const none = ['', '', '', 0, ''];
  const requests: Array<[number, string, string, string, number, string, unknown[], string, string | null]> = [
    [at(0, 10), v4, 'GET', '/index.html', 200, 'Mozilla/5.0', fr, 'none', null],
    [at(0, 20), v4, 'GET', '/.env', 404, 'curl/8.5', fr, 'none', null],
    [at(0, 21), v4, 'GET', '/.env', 404, 'curl/8.5', fr, 'none', null],
    [at(0, 30), v4, 'GET', '/wp-login.php', 404, 'curl/8.5', fr, 'none', null],
    [at(2, 5), v4, 'GET', '/wp-login.php', 200, 'curl/8.5', fr, 'none', null],
    [at(2, 6), v4, 'POST', '/login', 401, 'Mozilla/5.0', fr, 'failed', 'admin'],
    [at(2, 7), v4, 'POST', '/login', 401, 'Mozilla/5.0', fr, 'failed', 'root'],
    [at(2, 8), v4, 'POST', '/login', 200, 'Mozilla/5.0', fr, 'succeeded', 'alice'],
    [at(2, 9), v4, 'GET', '/%2Eenv?x=1', 404, 'curl/8.5', de, 'none', null],
    [at(2, 10), v4, 'GET', '/', 500, FIXTURE.hostileUserAgent, none, 'none', null],
    // Not counted: before the range, and a neighbour.
    [at(0, 0) - M, v4, 'GET', '/.git/config', 404, 'curl/8.5', fr, 'none', null],
    [at(0, 15), `::ffff:${FIXTURE.neighbour}`, 'GET', '/.env', 404, 'curl/8.5', fr, 'none', null],
    // IPv6: two addresses of one /64, and one of another /64.
    [at(0, 5), FIXTURE.ip6, 'GET', '/', 200, 'Mozilla/5.0', none, 'none', null],
    [at(0, 6), FIXTURE.ip6, 'GET', '/admin', 403, 'Mozilla/5.0', none, 'none', null],
    [at(2, 0), FIXTURE.ip6Sibling, 'GET', '/', 200, 'Mozilla/5.0', none, 'none', null],
    [at(2, 1), FIXTURE.ip6Other, 'GET', '/', 200, 'Mozilla/5.0', none, 'none', null],
  ];
  await analytics.insertStreamRows({
    table: 'requests',
    columns,
    rows: requests.map(([ts, ip, method, path, status, ua, geo, login, user], i) => [`${tag}-r${i}`, ts, ip, 'shop', method, 'shop.example', path, status, 1.5, ua, ...geo, login, user, tag, 0, i]),
    deduplicationToken: `${tag}-requests-${now}`,
  });
  await analytics.insertStreamRows({
    table: 'rate_limit_events',
    columns: ['ts', 'ip', 'rule', 'limit_key', 'limit', 'window_ms', 'count', 'path', 'app', 'log_epoch', 'kafka_partition', 'kafka_offset'],
    rows: [
      [at(2, 7), v4, 'login', `ip:${FIXTURE.ip}`, 3, 300_000, 3, '/login', 'shop', tag, 0, 1],
      [at(2, 9), v4, 'login', `ip:${FIXTURE.ip}`, 3, 300_000, 2, '/login', 'shop', tag, 0, 2],
      [at(0, 40), v4, 'anonymous', `ip:${FIXTURE.ip}`, 5, 60_000, 1, '/', 'shop', tag, 0, 3],
      [at(0, 0) - 2 * H, v4, 'anonymous', `ip:${FIXTURE.ip}`, 5, 60_000, 50, '/', 'shop', tag, 0, 4],
      [at(2, 7), `::ffff:${FIXTURE.neighbour}`, 'login', 'x', 3, 300_000, 9, '/login', 'shop', tag, 0, 5],
    ],
    deduplicationToken: `${tag}-ratelimits-${now}`,
  });
  const detectionColumns = ['id', 'ts', 'ip', 'client', 'rule', 'severity', 'mode', 'score', 'count', 'threshold', 'window_start', 'window_end', 'evidence', 'action', 'block_expires_at', 'offence', 'log_epoch', 'kafka_partition', 'kafka_offset'] as const;
  const detection = (id: string, ts: number, ip: string, client: string, rule: string, action: string, evidence: Record<string, string>, expires: number | null, i: number) =>
    [`${tag}-${id}`, ts, ip, client, rule, 'high', 'live', 1, 2, 1, ts - 10 * M, ts, evidence, action, expires, 1, tag, 0, i];
  await analytics.insertStreamRows({
    table: 'detections',
    columns: detectionColumns,
    rows: [
      detection('d-old', at(0, 0) - 30 * H, v4, FIXTURE.ip, 'sensitive-files', 'block', { paths: '/.git/config' }, at(0, 0) - 29 * H, 0),
      detection('d-files', at(0, 22), v4, FIXTURE.ip, 'sensitive-files', 'block', { paths: '/.env', requests: '2' }, now + 6 * H, 1),
      detection('d-neighbour', at(0, 16), `::ffff:${FIXTURE.neighbour}`, FIXTURE.neighbour, 'sensitive-files', 'block', { paths: '/.env' }, now + 6 * H, 2),
      detection('d-v6', at(2, 1), FIXTURE.ip6Sibling, FIXTURE.net6, 'burst', 'block', { requests: '51' }, now + H, 3),
      detection('d-v6-other', at(2, 2), FIXTURE.ip6Other, '2001:db8:1:3::/64', 'burst', 'block', { requests: '60' }, now + H, 4),
    ],
    deduplicationToken: `${tag}-detections-${now}`,
  });
  const event = (ts: number, action: 'block' | 'unblock', target: string, source: string, actor: string) =>
    ({ ts, action, target, reason: `${action} ${target}`, source, severity: 'high', expires_at: action === 'block' ? now + 6 * H : null, actor, note: '' });
  await analytics.insertBlockEvents([
    event(at(0, 22), 'block', FIXTURE.ip, 'sensitive-files', 'scorer-api'),
    event(at(0, 0) - 48 * H, 'block', '198.51.100.0/24', 'manual', 'alice'),
    event(at(0, 0) - 47 * H, 'unblock', '198.51.100.0/24', 'manual', 'alice'),
    event(at(0, 1), 'block', '198.51.101.0/24', 'manual', 'alice'),
    event(at(0, 1), 'block', FIXTURE.neighbour, 'manual', 'alice'),
    event(at(2, 1), 'block', FIXTURE.net6, 'burst', 'scorer-api'),
    event(at(2, 2), 'block', FIXTURE.ip6Sibling, 'manual', 'bob'),
    event(at(2, 3), 'block', '2001:db8:1:3::/64', 'burst', 'scorer'),
  ]);
}
