/**
 * The alerter's part of the one validated configuration (config.ts calls `readAlertsConfig`):
 * its channels (SMTP email, a signed JSON webhook, a Slack-compatible webhook), how it keeps
 * quiet (severity thresholds, quiet period, rate, folding), its retries and the daily report's
 * schedule. A channel is on when its address is set; what it then needs is required, and a
 * missing or malformed value is refused at start with the variable's name.
 */
import type { Severity } from './schemas.ts';

export type SmtpTls = 'starttls' | 'tls' | 'none';

export interface EmailSettings {
  host: string;
  port: number;
  /** starttls: plain connection upgraded, STARTTLS required; tls: implicit TLS (465); none: plain (loopback only). */
  tls: SmtpTls;
  user: string | null;
  password: string | null;
  from: string;
  to: string[];
  minSeverity: Severity;
}

export interface AlertsConfig {
  email: EmailSettings | null;
  webhook: { url: string; secret: string; minSeverity: Severity } | null;
  slack: { url: string; minSeverity: Severity } | null;
  /** Base URL of the dashboard: alerts link to `<base>/clients/<client>`. */
  dashboardUrl: string;
  /** The same client and rule alert once per this period. */
  quietMs: number;
  /** Alerts a channel sends a minute before the rest fold into a digest. */
  maxPerMinute: number;
  /** How long the alerter gathers alerts before sending, so an attack from many addresses is one message. */
  gatherMs: number;
  /** Clients of one rule in one /24 (/48) or ASN, gathered together, that fold into one alert. */
  foldMin: number;
  /** Attempts per message and channel before it is given up to the DLQ; the first wait after a failure (doubling, at most 60 s). */
  retry: { attempts: number; minMs: number };
  /** The daily report: local time HH:MM (null: not sent) in an IANA time zone. */
  report: { time: string | null; timeZone: string };
}

export const ALERT_CONFIG_VARIABLES: Record<string, string> = {
  IPWATCH_SMTP_HOST: 'SMTP server for email alerts and the daily report; set = email on (default: no email)',
  IPWATCH_SMTP_PORT: 'SMTP port (default 587; 465 with IPWATCH_SMTP_TLS=tls)',
  IPWATCH_SMTP_TLS: 'starttls (required upgrade, default), tls (implicit, port 465) or none (plain: a relay on loopback only)',
  IPWATCH_SMTP_USER: 'SMTP user (default: no authentication); needs IPWATCH_SMTP_PASSWORD',
  IPWATCH_SMTP_PASSWORD: 'SMTP password, required with IPWATCH_SMTP_USER',
  IPWATCH_ALERT_EMAIL_FROM: 'sender address of alert mail, e.g. "ipwatch <ipwatch@example.com>" (required with IPWATCH_SMTP_HOST)',
  IPWATCH_ALERT_EMAIL_TO: 'comma list of recipients (required with IPWATCH_SMTP_HOST)',
  IPWATCH_ALERT_EMAIL_MIN_SEVERITY: 'lowest severity emailed: low, medium, high or critical (default high)',
  IPWATCH_ALERT_WEBHOOK_URL: 'http(s) URL that receives each alert as signed JSON (default: none)',
  IPWATCH_ALERT_WEBHOOK_SECRET: 'HMAC-SHA256 key of the X-Ipwatch-Signature header, 32+ characters, required with IPWATCH_ALERT_WEBHOOK_URL',
  IPWATCH_ALERT_WEBHOOK_MIN_SEVERITY: 'lowest severity sent to the webhook (default medium)',
  IPWATCH_ALERT_SLACK_URL: 'Slack (or Mattermost, Rocket.Chat) incoming-webhook URL (default: none)',
  IPWATCH_ALERT_SLACK_MIN_SEVERITY: 'lowest severity sent to Slack (default high)',
  IPWATCH_DASHBOARD_URL: 'the dashboard\'s address as its readers reach it, for links in alerts (default http://127.0.0.1:7070)',
  IPWATCH_ALERT_QUIET_MINUTES: 'the same client and rule alert once per this many minutes (default 60)',
  IPWATCH_ALERT_MAX_PER_MINUTE: 'alerts a channel sends a minute; beyond it they fold into one digest per 15 s (default 10)',
  IPWATCH_ALERT_GATHER_MS: 'how long alerts are gathered before sending, so that many addresses of one attack fold into one alert (default 2000)',
  IPWATCH_ALERT_FOLD_MIN: 'clients of one rule in one /24 (IPv6 /48) or one ASN, gathered together, that make one alert (default 3)',
  IPWATCH_ALERT_RETRY_ATTEMPTS: 'tries per alert and channel before it is given up to the DLQ (default 8)',
  IPWATCH_ALERT_RETRY_MIN_MS: 'wait after a channel\'s first failure, doubling up to 60 s (default 1000)',
  IPWATCH_REPORT_TIME: 'local time HH:MM at which the day before\'s report is sent, once however many alerters run; off = never (default 07:00)',
  IPWATCH_REPORT_TZ: 'IANA time zone of the report\'s day and time, e.g. Europe/Paris (default UTC)',
};

type Env = Record<string, string | undefined>;
const SEVERITY_NAMES: readonly Severity[] = ['low', 'medium', 'high', 'critical'];
/** A bare address, or "Display Name <address>". Deliberately plain: the SMTP server has the last word. */
const ADDRESS = /^[^\s@<>",;]+@[A-Za-z0-9\-_[\]:.]+$/;
const NAMED_ADDRESS = /^[^<>\r\n]*<[^\s@<>",;]+@[A-Za-z0-9\-_[\]:.]+>$/;

function isMailbox(text: string): boolean {
  return ADDRESS.test(text) || NAMED_ADDRESS.test(text);
}

/** True when `zone` is an IANA time zone this Node knows. */
export function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

/** Reads the IPWATCH_SMTP_*, IPWATCH_ALERT_*, IPWATCH_DASHBOARD_URL and IPWATCH_REPORT_* variables; problems are appended, never thrown. */
export function readAlertsConfig(env: Env, problems: string[]): AlertsConfig {
  const text = (name: string): string | null => {
    const v = env[name]?.trim();
    return v === undefined || v === '' ? null : v;
  };
  const int = (name: string, fallback: number, min: number, max: number): number => {
    const raw = text(name);
    if (raw === null) return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min || n > max) {
      problems.push(`${name}=${JSON.stringify(raw)} is not a whole number from ${min} to ${max}`);
      return fallback;
    }
    return n;
  };
  const severity = (name: string, fallback: Severity): Severity => {
    const raw = text(name);
    if (raw === null) return fallback;
    if ((SEVERITY_NAMES as string[]).includes(raw)) return raw as Severity;
    problems.push(`${name}=${JSON.stringify(raw)} must be low, medium, high or critical`);
    return fallback;
  };
  const httpUrl = (name: string): string | null => {
    const raw = text(name);
    if (raw === null) return null;
    let u: URL;
    try {
      u = new URL(raw);
    } catch {
      problems.push(`${name} is not a URL: write it whole, e.g. https://hooks.example.com/ipwatch`);
      return null;
    }
    // The URL may hold a secret (Slack's does): its text is never echoed.
    if (u.protocol !== 'http:' && u.protocol !== 'https:') problems.push(`${name} must be an http:// or https:// URL (it starts ${JSON.stringify(u.protocol)})`);
    else if (u.username || u.password) problems.push(`${name} must not carry a user or password: a webhook authenticates by its secret`);
    return raw;
  };

  let email: EmailSettings | null = null;
  const host = text('IPWATCH_SMTP_HOST');
  if (host !== null) {
    if (!/^[A-Za-z0-9.\-_]+$|^\[[0-9A-Fa-f:.]+\]$/.test(host)) problems.push(`IPWATCH_SMTP_HOST=${JSON.stringify(host)} is not a host name or address (no scheme, no port: the port is IPWATCH_SMTP_PORT)`);
    const tlsRaw = text('IPWATCH_SMTP_TLS') ?? 'starttls';
    if (!['starttls', 'tls', 'none'].includes(tlsRaw)) problems.push(`IPWATCH_SMTP_TLS=${JSON.stringify(tlsRaw)} must be starttls, tls or none`);
    const tls = (['starttls', 'tls', 'none'].includes(tlsRaw) ? tlsRaw : 'starttls') as SmtpTls;
    const user = text('IPWATCH_SMTP_USER');
    const password = env.IPWATCH_SMTP_PASSWORD ?? null;
    if (user !== null && (password === null || password === '')) problems.push('IPWATCH_SMTP_PASSWORD is missing: IPWATCH_SMTP_USER is set, so the SMTP server expects a password');
    else if (password !== null && /[\x00-\x1f\x7f]/.test(password)) problems.push('IPWATCH_SMTP_PASSWORD holds a line break or control character, which SMTP AUTH cannot carry: check how it was quoted');
    if (user === null && password) problems.push('IPWATCH_SMTP_PASSWORD is set without IPWATCH_SMTP_USER: set the user too, or unset the password');
    const from = text('IPWATCH_ALERT_EMAIL_FROM');
    if (from === null) problems.push('IPWATCH_ALERT_EMAIL_FROM is missing: IPWATCH_SMTP_HOST is set, so alert mail needs a sender, e.g. "ipwatch <ipwatch@example.com>"');
    else if (!isMailbox(from)) problems.push(`IPWATCH_ALERT_EMAIL_FROM=${JSON.stringify(from)} is not an address such as ipwatch@example.com or "ipwatch <ipwatch@example.com>"`);
    const to = (text('IPWATCH_ALERT_EMAIL_TO') ?? '').split(',').map((a) => a.trim()).filter(Boolean);
    if (to.length === 0) problems.push('IPWATCH_ALERT_EMAIL_TO is missing: IPWATCH_SMTP_HOST is set, so alert mail needs recipients (a comma list)');
    for (const a of to) if (!isMailbox(a)) problems.push(`IPWATCH_ALERT_EMAIL_TO: ${JSON.stringify(a)} is not an address such as ops@example.com`);
    email = {
      host,
      port: int('IPWATCH_SMTP_PORT', tls === 'tls' ? 465 : 587, 1, 65535),
      tls,
      user,
      password: user === null ? null : password,
      from: from ?? '',
      to,
      minSeverity: severity('IPWATCH_ALERT_EMAIL_MIN_SEVERITY', 'high'),
    };
  } else {
    for (const name of ['IPWATCH_SMTP_USER', 'IPWATCH_SMTP_PASSWORD', 'IPWATCH_ALERT_EMAIL_TO', 'IPWATCH_ALERT_EMAIL_FROM']) {
      if (text(name) !== null) problems.push(`${name} is set but IPWATCH_SMTP_HOST is not: set the SMTP server too, or unset ${name}`);
    }
  }

  let webhook: AlertsConfig['webhook'] = null;
  const webhookUrl = httpUrl('IPWATCH_ALERT_WEBHOOK_URL');
  const secret = env.IPWATCH_ALERT_WEBHOOK_SECRET?.trim() || null;
  if (webhookUrl !== null) {
    if (secret === null) problems.push('IPWATCH_ALERT_WEBHOOK_SECRET is missing: IPWATCH_ALERT_WEBHOOK_URL is set, and its receiver verifies each alert by this shared secret (make one with `openssl rand -hex 32`)');
    else if (secret.length < 32 || !/^[\x21-\x7e]+$/.test(secret)) problems.push('IPWATCH_ALERT_WEBHOOK_SECRET is too weak: 32 or more printable characters, no spaces (make one with `openssl rand -hex 32`)');
    webhook = { url: webhookUrl, secret: secret ?? '', minSeverity: severity('IPWATCH_ALERT_WEBHOOK_MIN_SEVERITY', 'medium') };
  } else if (secret !== null) {
    problems.push('IPWATCH_ALERT_WEBHOOK_SECRET is set but IPWATCH_ALERT_WEBHOOK_URL is not: set the URL too, or unset the secret');
  }

  const slackUrl = httpUrl('IPWATCH_ALERT_SLACK_URL');
  const slack = slackUrl === null ? null : { url: slackUrl, minSeverity: severity('IPWATCH_ALERT_SLACK_MIN_SEVERITY', 'high') };

  const dashboardUrl = (httpUrl('IPWATCH_DASHBOARD_URL') ?? 'http://127.0.0.1:7070').replace(/\/+$/, '');

  const reportTimeRaw = text('IPWATCH_REPORT_TIME') ?? '07:00';
  let reportTime: string | null = null;
  if (reportTimeRaw !== 'off') {
    const m = /^([01]\d|2[0-3]):([0-5]\d)$/.exec(reportTimeRaw);
    if (m) reportTime = reportTimeRaw;
    else problems.push(`IPWATCH_REPORT_TIME=${JSON.stringify(reportTimeRaw)} must be a local time HH:MM (00:00 to 23:59), or off`);
  }
  const timeZone = text('IPWATCH_REPORT_TZ') ?? 'UTC';
  if (!isTimeZone(timeZone)) problems.push(`IPWATCH_REPORT_TZ=${JSON.stringify(timeZone)} is not a time zone this Node knows: write an IANA name such as Europe/Paris or America/New_York`);

  return {
    email,
    webhook,
    slack,
    dashboardUrl,
    quietMs: int('IPWATCH_ALERT_QUIET_MINUTES', 60, 0, 10_080) * 60_000,
    maxPerMinute: int('IPWATCH_ALERT_MAX_PER_MINUTE', 10, 1, 10_000),
    gatherMs: int('IPWATCH_ALERT_GATHER_MS', 2000, 0, 60_000),
    foldMin: int('IPWATCH_ALERT_FOLD_MIN', 3, 2, 10_000),
    retry: { attempts: int('IPWATCH_ALERT_RETRY_ATTEMPTS', 8, 1, 100), minMs: int('IPWATCH_ALERT_RETRY_MIN_MS', 1000, 10, 60_000) },
    report: { time: reportTime, timeZone },
  };
}
