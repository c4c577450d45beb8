/**
 * Where ClickHouse holds data about a person, and what each field means: the tables an export
 * reads and an erasure deletes from, with the condition that finds a subject in each. The
 * rollups made of `requests` (requests_per_minute, requests_top_hourly, requests_top_5min) hold
 * no row per person: an erasure rebuilds the buckets the subject's requests fell in (erase.ts).
 *
 * A new table or column holding personal data is added here, or export and erasure miss it:
 * privacy.chdb.test.ts checks that every column of these tables has a meaning.
 */
import { IP_TEXT_SQL } from '../queries/listRequests.ts';
import type { AddressSubject, PrivacySubject } from '@ipwatch/core/dataSubject';
import { accountOf } from '@ipwatch/core/rules';

export interface PersonalTable {
  /** The ClickHouse table. */
  table: string;
  /** What a row is, for the export's reader. */
  description: string;
  /** Every column, with what it means (the export prints them beside the rows). */
  fields: Record<string, string>;
  /** The column rows are ordered by in an export. */
  time: string;
  /** The rows about the subject (parameters prefixed `s_`), or null when this table cannot hold such a subject. */
  where(subject: PrivacySubject, params: Record<string, unknown>): string | null;
  /**
   * Rows that mention the subject without being about it (a username in another client's failed
   * login): an erasure rewrites these fields instead of deleting the row. Null: none.
   */
  scrub?(subject: PrivacySubject, params: Record<string, unknown>): { where: string; set: string } | null;
}

const KAFKA_FIELDS = {
  log_epoch: 'which event log the row came from (bookkeeping, so a replayed batch is not stored twice)',
  kafka_partition: 'the event log partition the row came from (bookkeeping)',
  kafka_offset: 'the event\'s position in that partition (bookkeeping)',
};

/**
 * A regular expression finding one address in text (a path, a referer): as written, or with its
 * colons percent-encoded, and not as part of a longer number (1.2.3.4 is not in 11.2.3.45).
 * The address is canonical (digits, dots, hex, colons), so it needs only its dots escaped.
 */
export function addressPattern(canonical: string): string {
  const forms = [canonical, ...(canonical.includes(':') ? [canonical.replace(/:/g, '%3[Aa]')] : [])].map((f) => f.replace(/\./g, '\\.'));
  return `(^|[^0-9A-Fa-f.:])(?:${forms.join('|')})($|[^0-9A-Fa-f.:%])`;
}

/** The ip column inside the subject's range. */
function inRange(subject: AddressSubject, params: Record<string, unknown>): string {
  params.s_from = subject.from;
  params.s_to = subject.to;
  return 'ip BETWEEN toIPv6({s_from:String}) AND toIPv6({s_to:String})';
}

/**
 * A block target (an address, or a range written a.b.c.d/n) about the subject: inside its range,
 * or, for one address, a range of at most a /64 (IPv6) or /32 (IPv4) holding it: the scorer
 * blocks an IPv6 client's /64.
 */
function targetAbout(subject: AddressSubject, params: Record<string, unknown>): string {
  params.s_from = subject.from;
  params.s_to = subject.to;
  params.s_bits = subject.version === 4 ? subject.prefix + 96 : subject.prefix;
  const address = "toIPv6OrNull(splitByChar('/', target)[1])";
  // The target's prefix in IPv6 bits (an IPv4 prefix is 96 more).
  const bits = `(if(position(target, '/') > 0, toUInt8OrZero(splitByChar('/', target)[2]), if(position(target, ':') > 0, 128, 32)) + if(position(target, ':') > 0, 0, 96))`;
  const inside = `(${address} BETWEEN toIPv6({s_from:String}) AND toIPv6({s_to:String}) AND ${bits} >= {s_bits:UInt8})`;
  if (subject.kind === 'cidr') return inside;
  // One address: also an IPv6 /64 or narrower range holding it (the network starts at or before it, and the address is within the prefix).
  // An IPv4 range holding the address (a /16 blocked) is about everyone in it: its history is not this person's.
  const holding = `(position(target, ':') > 0 AND ${bits} >= 64 AND ${bits} < 128 AND isIPAddressInRange(toString(toIPv6({s_from:String})), concat(toString(ifNull(${address}, toIPv6('::'))), '/', toString(${bits}))))`;
  return `(${inside} OR ${holding})`;
}

export const PERSONAL_TABLES: readonly PersonalTable[] = [
  {
    table: 'requests',
    description: 'One row per HTTP request an app served (or refused), as its emitter reported it, with the geolocation the enricher added.',
    time: 'ts',
    fields: {
      event_id: 'a random id of the request',
      ts: 'when the request arrived (UTC)',
      ip: 'the client address as the app sent it (truncated or a keyed pseudonym if the app anonymises; :: when withheld)',
      ip_anonymisation: 'how the app anonymised the address: off, truncate or hash',
      app: 'which app served the request',
      instance: 'which process of the app (host:pid)',
      method: 'the HTTP method',
      host: 'the Host the request named',
      path: 'the path and query asked for',
      status: 'the HTTP status answered',
      latency_ms: 'how long the answer took, in milliseconds',
      bytes: 'the size of the answer\'s body',
      user_agent: 'the User-Agent header sent',
      referer: 'the Referer header sent',
      user_id: 'the signed-in user, as the app reported it',
      authenticated: 'whether the request was signed in',
      blocked: 'whether ipwatch refused it because its address was blocked',
      rate_limited: 'whether ipwatch refused it because a rate limit was reached',
      login: 'whether it was a login attempt and how it ended (none, failed, succeeded)',
      login_user: 'the username a login attempt named',
      country: 'the country the address is located in (ISO code)',
      region: 'the region the address is located in',
      city: 'the city the address is located in',
      latitude: 'the approximate latitude of the address\'s location',
      longitude: 'the approximate longitude of the address\'s location',
      asn: 'the autonomous system (network operator) number of the address',
      org: 'the network operator\'s name',
      geo_source: 'which geolocation data answered: offline (the bundled database), an online provider\'s name, none (public but unknown), or the address\'s class (private, reserved, loopback...)',
      enriched_at: 'when the geolocation was added',
      ...KAFKA_FIELDS,
    },
    where(subject, params) {
      if (subject.kind !== 'user') return inRange(subject, params);
      params.s_user = subject.text;
      return 'user_id = {s_user:String}';
    },
    scrub(subject, params) {
      if (subject.kind === 'user') {
        // Another client's login attempt naming this user: the username goes, the request stays.
        params.s_user = subject.text;
        return { where: 'login_user = {s_user:String}', set: 'login_user = NULL' };
      }
      if (subject.kind !== 'ip') return null;
      // Another client's request naming this address in its path or referer (an operator's
      // /clients/203.0.113.7 in the dashboard's own log): the address is cut out, the request stays.
      params.s_pattern = addressPattern(subject.text);
      params.s_from = subject.from;
      params.s_to = subject.to;
      params.s_erased = '\\1[erased]\\2';
      return {
        where: 'ip NOT BETWEEN toIPv6({s_from:String}) AND toIPv6({s_to:String}) AND (match(path, {s_pattern:String}) OR match(referer, {s_pattern:String}))',
        set: 'path = replaceRegexpAll(path, {s_pattern:String}, {s_erased:String}), referer = replaceRegexpAll(referer, {s_pattern:String}, {s_erased:String})',
      };
    },
  },
  {
    table: 'rate_limit_events',
    description: 'Requests refused by a rate limit: one row per limit, client and short interval, with how many were refused.',
    time: 'ts',
    fields: {
      ts: 'when the refusals happened (UTC)',
      ip: 'the client address refused',
      rule: 'the rate limit reached',
      limit_key: 'what the limit counted (the address, its network, the user or the username)',
      limit: 'the requests the limit allows per window',
      window_ms: 'the limit\'s window, in milliseconds',
      count: 'the requests refused in this interval',
      path: 'a path asked for when refused',
      user_id: 'the signed-in user, as the app reported it',
      app: 'which app refused them',
      ...KAFKA_FIELDS,
    },
    where(subject, params) {
      if (subject.kind !== 'user') return inRange(subject, params);
      params.s_user = subject.text;
      params.s_user_key = `user:${subject.text}`;
      params.s_login_key = `login-user:${subject.text.toLowerCase()}`;
      return '(user_id = {s_user:String} OR limit_key IN ({s_user_key:String}, {s_login_key:String}))';
    },
  },
  {
    table: 'detections',
    description: 'What the scorer found: a client whose requests crossed a rule\'s threshold, with the evidence.',
    time: 'ts',
    fields: {
      id: 'the detection\'s id',
      ts: 'when it was detected (UTC)',
      ip: 'the client address (for an IPv6 network, its first address)',
      client: 'the client as scored: the address, or its IPv6 /64 network',
      rule: 'the rule that fired',
      severity: 'low, medium, high or critical',
      mode: 'live (acted on) or dry_run (recorded only, never blocks)',
      score: 'the figure that crossed the threshold',
      count: 'the requests counted',
      threshold: 'the rule\'s threshold',
      window_start: 'the start of the window counted',
      window_end: 'the end of the window counted',
      evidence: 'what the decision rests on: sample paths, statuses, user agents, usernames (and the account, for a rule counting one username\'s failed logins), a summary',
      action: 'flag or block',
      block_expires_at: 'until when the block held, if it blocked',
      offence: 'which offence of this client it was (blocks grow longer with repeats)',
      ...KAFKA_FIELDS,
    },
    where(subject, params) {
      return subject.kind === 'user' ? null : inRange(subject, params);
    },
    scrub(subject, params) {
      // A username in the evidence of another client's failed logins, or the account an account
      // rule found attacked: dropped from the evidence, the detection kept.
      if (subject.kind !== 'user') return null;
      params.s_username = subject.text.slice(0, 64);
      params.s_account = accountOf(subject.text);
      return {
        where: "has(splitByChar('\\n', evidence['usernames']), {s_username:String}) OR evidence['account'] = {s_account:String}",
        set: "evidence = mapApply((k, v) -> (k, multiIf(k = 'usernames', arrayStringConcat(arrayFilter(x -> x != {s_username:String}, splitByChar('\\n', v)), '\\n'), k = 'account' AND v = {s_account:String}, '', v)), evidence)",
      };
    },
  },
  {
    table: 'block_events',
    description: 'The history of the block list and the allowlist: who or which rule blocked, unblocked, allowed or unallowed what, why, and until when.',
    time: 'ts',
    fields: {
      ts: 'when the change was made (UTC)',
      action: 'block, unblock, allow or unallow',
      target: 'the address or range blocked or allowed',
      reason: 'why, as its author wrote it (or the detection\'s summary)',
      source: 'who decided: manual, import, or the rule that fired',
      severity: 'the detection\'s severity, for a rule\'s block',
      expires_at: 'until when the entry holds (empty: until lifted)',
      actor: 'the operator or service that made it',
      note: 'what the caller said of itself, or the detection the block came from',
    },
    where(subject, params) {
      return subject.kind === 'user' ? null : targetAbout(subject, params);
    },
  },
];

/** Every table's rows as the export reads them: the ip column as text (203.0.113.7, not ::ffff:203.0.113.7). */
export function exportColumns(t: PersonalTable): string {
  return Object.keys(t.fields)
    .map((c) => (c === 'ip' ? `${IP_TEXT_SQL} AS ip` : c))
    .join(', ');
}
