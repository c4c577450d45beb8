/**
 * From what the pipeline decided to what an operator reads: a detection or a manual block
 * becomes an `Alert`, and alerts gathered together fold when they are one attack from many
 * addresses (one rule, one /24 or /48, or one ASN). Pure functions: the alerter (alerter.ts)
 * decides when, how often and where.
 */
import { createHash } from 'node:crypto';
import { formatCidr, mask, parseCidr, parseIp } from '@ipwatch/core/ip';
import type { BlockDecision, Detection, Severity } from '@ipwatch/core/schemas';
import type { Alert, AlertAction, AlertSubject } from './alert.ts';

const RANK: Record<Severity, number> = { low: 0, medium: 1, high: 2, critical: 3 };

/** True when `severity` is `min` or above. */
export function atLeast(severity: Severity, min: Severity): boolean {
  return RANK[severity] >= RANK[min];
}

/** The higher of two severities. */
export function higher(a: Severity, b: Severity): Severity {
  return RANK[a] >= RANK[b] ? a : b;
}

/**
 * The network an address (or a network) belongs to for folding: its /24 for IPv4, its /48
 * for IPv6; '' for what is not an address.
 *
 * @example
 * networkOf('203.0.113.7'); // '203.0.113.0/24'
 * networkOf('2001:db8:1:2::/64'); // '2001:db8:1::/48'
 */
export function networkOf(client: string): string {
  const slash = client.indexOf('/');
  let version: 4 | 6;
  let value: bigint;
  if (slash === -1) {
    const ip = parseIp(client);
    if (ip === null) return '';
    ({ version, value } = ip);
  } else {
    try {
      const c = parseCidr(client);
      ({ version, network: value } = c);
      if (c.prefix <= (version === 4 ? 24 : 48)) return formatCidr(c);
    } catch {
      return '';
    }
  }
  const prefix = version === 4 ? 24 : 48;
  return formatCidr({ version, network: value & mask(version, prefix), prefix });
}

/** Where an alert links: the client's page in the dashboard. */
export function clientUrl(base: string, client: string): string {
  return `${base}/clients/${encodeURIComponent(client)}`;
}

const ACTIONS: Record<Detection['action'], AlertAction> = { block: 'blocked', alert: 'flagged', none: 'dry-run' };

/** The alert for one detection. */
export function detectionAlert(d: Detection, dashboardUrl: string): Alert {
  const asn = Number(d.evidence.asn);
  const subject: AlertSubject = {
    client: d.client,
    ip: d.ip,
    network: networkOf(d.client) || networkOf(d.ip),
    country: d.evidence.country ?? '',
    asn: Number.isInteger(asn) && asn > 0 ? asn : null,
    org: d.evidence.org ?? '',
  };
  return {
    id: d.id,
    kind: 'detection',
    ts: d.ts,
    rule: d.rule,
    severity: d.severity,
    action: ACTIONS[d.action],
    blockedUntil: d.action === 'block' ? d.blockExpiresAt : null,
    summary: d.evidence.summary ?? `${d.rule}: ${d.count} (more than ${d.threshold})`,
    evidence: d.evidence,
    subjects: [subject],
    foldedBy: null,
    actor: 'scorer',
    url: clientUrl(dashboardUrl, d.client),
  };
}

/**
 * The alert for a block someone made by hand (the CLI, the api, an import). The scorer's own
 * blocks are not alerted here: the detection that made each one is, and says so.
 */
export function blockAlert(key: string, b: BlockDecision, dashboardUrl: string): Alert {
  return {
    id: `block:${key}:${b.createdAt}`,
    kind: 'block',
    ts: b.createdAt,
    rule: b.source,
    severity: b.severity,
    action: 'blocked',
    blockedUntil: b.expiresAt,
    summary: b.reason || `blocked by ${b.createdBy}`,
    evidence: { reason: b.reason, by: b.createdBy },
    subjects: [{ client: b.target, ip: b.target, network: networkOf(b.target), country: '', asn: null, org: '' }],
    foldedBy: null,
    actor: b.createdBy,
    url: clientUrl(dashboardUrl, b.target),
  };
}

/**
 * Folds alerts of one rule that come from one network (/24, /48) or, failing that, one ASN
 * into one alert listing every address, when at least `foldMin` distinct clients are there.
 * Alerts that do not fold come back as they were. Order: oldest first.
 *
 * @example
 * fold(alerts, 3); // 40 sensitive-files alerts from 198.51.100.0/24 -> one alert with 40 subjects
 */
export function fold(alerts: readonly Alert[], foldMin: number): Array<{ alert: Alert; members: Alert[] }> {
  const out: Array<{ alert: Alert; members: Alert[] }> = [];
  const rest = foldBy(alerts, foldMin, 'network', (a) => a.subjects[0]!.network, out);
  const singles = foldBy(rest, foldMin, 'asn', (a) => (a.subjects[0]!.asn === null ? '' : `AS${a.subjects[0]!.asn}`), out);
  for (const a of singles) out.push({ alert: a, members: [a] });
  return out.sort((x, y) => x.alert.ts - y.alert.ts);
}

function foldBy(
  alerts: readonly Alert[],
  foldMin: number,
  by: 'network' | 'asn',
  groupOf: (a: Alert) => string,
  out: Array<{ alert: Alert; members: Alert[] }>,
): Alert[] {
  const groups = new Map<string, Alert[]>();
  const rest: Alert[] = [];
  for (const a of alerts) {
    const g = a.kind === 'detection' && a.subjects.length === 1 ? groupOf(a) : '';
    if (g === '') rest.push(a);
    else groups.set(`${a.rule}|${g}`, [...(groups.get(`${a.rule}|${g}`) ?? []), a]);
  }
  for (const [key, members] of groups) {
    const clients = new Set(members.map((m) => m.subjects[0]!.client));
    if (clients.size < foldMin) {
      rest.push(...members);
      continue;
    }
    members.sort((x, y) => x.ts - y.ts);
    const first = members[0]!;
    const value = key.slice(key.indexOf('|') + 1);
    const actions = new Set(members.map((m) => m.action));
    const blocked = members.filter((m) => m.action === 'blocked');
    out.push({
      members,
      alert: {
        ...first,
        id: `fold:${createHash('sha256').update(members.map((m) => m.id).sort().join(',')).digest('hex').slice(0, 32)}`,
        severity: members.reduce<Severity>((s, m) => higher(s, m.severity), 'low'),
        action: actions.size === 1 ? first.action : actions.has('blocked') ? 'blocked' : 'flagged',
        // The longest block among them; null: none was blocked, or one was blocked for good.
        blockedUntil: blocked.length === 0 || blocked.some((m) => m.blockedUntil === null) ? null : Math.max(...blocked.map((m) => m.blockedUntil!)),
        summary: `${clients.size} clients of ${by === 'network' ? `network ${value}` : value}: ${first.summary}`,
        subjects: members.map((m) => m.subjects[0]!),
        foldedBy: { by, value },
      },
    });
  }
  return rest;
}
