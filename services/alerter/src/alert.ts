/**
 * What the alerter sends, before any channel's format: an alert about one client (or about
 * many, folded by network or ASN), a digest of alerts folded above the rate limit, the daily
 * report, or a test. Renderers (render.ts, report/render.ts) turn each into a `Rendered`;
 * channels (channels/) only carry a `Rendered` to its destination.
 *
 * Every string that came from a request (evidence: paths, user agents, usernames; even the
 * client's org name) is attacker-controlled: renderers escape it for HTML and defuse it for
 * Slack; in JSON it is plain data.
 */
import type { Severity } from '@ipwatch/core/schemas';

/** One client an alert is about. */
export interface AlertSubject {
  /** What was scored and blocked: an IP, or an IPv6 network such as 2001:db8:1:2::/64. */
  client: string;
  /** The address of the request that crossed the threshold. */
  ip: string;
  /** The client's network: its /24 (IPv4) or /48 (IPv6). */
  network: string;
  /** ISO country code, '' when unknown. */
  country: string;
  /** Autonomous system number, null when unknown. */
  asn: number | null;
  /** The network's owner as the geo data names it ('' when unknown). Attacker-influenced: escape it. */
  org: string;
}

/** What was done about it. */
export type AlertAction = 'flagged' | 'blocked' | 'dry-run';

export interface Alert {
  /** Stable id: the detection's id, `block:<target>:<createdAt>`, or a fold's id. Sent once per channel. */
  id: string;
  kind: 'detection' | 'block';
  /** When it happened (detection or block time), ms since epoch. */
  ts: number;
  /** The rule's id, or a manual block's source. */
  rule: string;
  severity: Severity;
  action: AlertAction;
  /** For 'blocked': when the block ends (ms since epoch), null when it never does. */
  blockedUntil: number | null;
  /** One line, e.g. "page requests: 51 in 10s (more than 50)" (the detection's evidence.summary, or the block's reason). */
  summary: string;
  /**
   * The detection's evidence map (summary, figure, trigger, samples, userAgents, statuses,
   * crawlerClaim ...): attacker-controlled values, some multi-line (samples).
   */
  evidence: Record<string, string>;
  /** Who: one subject, or every address of a folded attack. Never empty. */
  subjects: AlertSubject[];
  /** Set when several clients were folded into this one alert. */
  foldedBy: { by: 'network' | 'asn'; value: string } | null;
  /** Who made it: 'scorer' for detections, the api user for a manual block. */
  actor: string;
  /** Link to the first subject's page in the dashboard. */
  url: string;
}

/** Alerts folded into one message because the channel was above its rate. */
export interface Digest {
  id: string;
  ts: number;
  /** The highest severity among the folded alerts. */
  severity: Severity;
  /** Every alert folded, oldest first (renderers may list the first N and count the rest). */
  alerts: Alert[];
  /** The rate that was exceeded, e.g. "10 alerts a minute". */
  limit: string;
  /** The dashboard's base URL (for a link to the detections page). */
  url: string;
}

/** A message in every format the channels need. */
export interface Rendered {
  /** Email subject (one line, no control characters). */
  subject: string;
  /** Plain-text body (email text part). */
  text: string;
  /** A complete HTML document (email HTML part): inline styles, tables, no scripts, no external resources. */
  html: string;
  /** The JSON webhook's body (a documented payload; `type` says which kind). */
  json: Record<string, unknown>;
  /** Slack-compatible mrkdwn text (the Slack webhook posts { text }). */
  slack: string;
}

/** Everything a channel needs to send one message. */
export interface Outgoing {
  /** Idempotency key: sent as X-Ipwatch-Delivery and as the email's Message-ID local part. */
  id: string;
  severity: Severity;
  rendered: Rendered;
}

export type ChannelName = 'email' | 'webhook' | 'slack';

/** A destination: email over SMTP, a signed JSON webhook, or a Slack-compatible webhook. */
export interface Channel {
  readonly name: ChannelName;
  /** Alerts below this severity are not sent here (the daily report and tests always are). */
  readonly minSeverity: Severity;
  /** Where it goes, for messages: "smtp://mail.example.com:587 -> ops@example.com" (never a password or a secret URL path). */
  readonly describe: string;
  /** Sends once (no retry here: the caller retries). Throws ChannelError on failure. */
  send(message: Outgoing): Promise<void>;
  close(): Promise<void>;
}
