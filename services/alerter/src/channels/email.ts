/**
 * The email channel: each message sent over SMTP with nodemailer as a multipart mail (the
 * plain-text part and the HTML part of render.ts), Message-ID `<id@ipwatch>` and an
 * `X-Ipwatch-Alert-Id` header, so a mail client threads and de-duplicates by the alert.
 *
 * A plain transport, not a pooled one: alerts are few (folded, rate-limited to a handful a
 * minute), so a connection per message costs one handshake an alert and buys a failure that
 * belongs to that message alone: never a connection the server dropped while it idled, and
 * nothing to drain on close.
 *
 * Failures are ChannelErrors: retriable for a connection refused or lost, a timeout, and an
 * SMTP 4xx (greylisting, a full queue); not retriable for an SMTP 5xx (an unknown recipient, a
 * refused sender) and for a refused login (535: a configuration error; the message names
 * IPWATCH_SMTP_USER and IPWATCH_SMTP_PASSWORD). The server's answer is quoted on one line.
 */
import nodemailer from 'nodemailer';
import { IpwatchError } from '@ipwatch/core/errors';
import type { Severity } from '@ipwatch/core/schemas';
import type { Channel, Outgoing } from '../alert.ts';
import { ChannelError } from '../channelError.ts';
import { oneLine } from '../render.ts';

const DEFAULT_TIMEOUT_MS = 30_000;

export interface EmailOptions {
  /** Host name or address (an IPv6 address may be bracketed). */
  host: string;
  port: number;
  /** starttls: STARTTLS required; tls: implicit TLS (port 465); none: plain SMTP, no STARTTLS (a relay on loopback). */
  tls: 'starttls' | 'tls' | 'none';
  user: string | null;
  password: string | null;
  /** The sender, "ipwatch <ipwatch@example.com>" or a bare address. */
  from: string;
  to: string[];
  minSeverity: Severity;
  /** Longest a whole send may take, and each wait within it (connect, greeting, answers); default 30 s. */
  timeoutMs?: number;
  /** Verify the server's TLS certificate (default true). Turn off only for a test server. */
  rejectUnauthorized?: boolean;
}

/** The email channel, with `verify()` for `ipwatch alerts test`: connects, upgrades and logs in, sends nothing. */
export interface EmailChannel extends Channel {
  /** Resolves when the server takes the connection and the login; throws a ChannelError saying what went wrong. */
  verify(): Promise<void>;
}

/** The fields of nodemailer's errors that say what failed (NodemailerError). */
interface SmtpErrorFields {
  code?: string;
  responseCode?: number;
  response?: string;
  command?: string;
  message?: string;
  originalCode?: string;
}

const CONNECTION_CODES = new Set(['ECONNECTION', 'ESOCKET', 'EDNS', 'ETIMEDOUT', 'ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EPROXY']);
const CERTIFICATE = /certificate|self[- ]signed|CERT_|altname|unable to verify/i;

/**
 * The ChannelError for what nodemailer threw: retriable or not, with the server's answer on
 * one line and what to do.
 */
function smtpFailure(err: unknown, where: string, timeoutMs: number): ChannelError {
  const e = (typeof err === 'object' && err !== null ? err : { message: String(err) }) as SmtpErrorFields;
  const code = e.code ?? '';
  const status = typeof e.responseCode === 'number' ? e.responseCode : 0;
  const answer = oneLine(e.response || e.message || 'no answer', 300);
  const fail = (message: string, retriable: boolean): ChannelError => new ChannelError('email', `${where} ${message}`, retriable, { cause: err });

  if (code === 'EABORT' || (code === 'ETIMEDOUT' && !status)) return fail(`did not answer within ${timeoutMs} ms (${answer})`, true);
  if (code === 'EAUTH' || code === 'ENOAUTH' || status === 535 || status === 534) {
    if (status >= 400 && status <= 499) return fail(`could not check the login for now: ${answer}`, true);
    return fail(`refused the login: ${answer}; check IPWATCH_SMTP_USER and IPWATCH_SMTP_PASSWORD (retrying will not help)`, false);
  }
  // 530: the server wants something first, a login (RFC 4954) or STARTTLS.
  if (status === 530) {
    if (/TLS/i.test(answer)) return fail(`requires TLS first (${answer}): set IPWATCH_SMTP_TLS=starttls (or tls for port 465)`, false);
    return fail(`requires a login (${answer}): set IPWATCH_SMTP_USER and IPWATCH_SMTP_PASSWORD (retrying will not help)`, false);
  }
  if (code === 'ETLS' || e.command === 'STARTTLS') {
    if (status >= 500) return fail(`does not take STARTTLS (${answer}): IPWATCH_SMTP_TLS=starttls requires it; use tls for implicit TLS (port 465), or none only for a relay on loopback`, false);
    if (CERTIFICATE.test(`${e.message ?? ''} ${e.originalCode ?? ''}`)) return fail(`presented a TLS certificate that was refused: ${answer}; fix the certificate, or IPWATCH_SMTP_HOST to the name it is issued for`, false);
    return fail(`TLS failed: ${answer}`, true);
  }
  if (CERTIFICATE.test(e.message ?? '')) return fail(`presented a TLS certificate that was refused: ${answer}; fix the certificate, or IPWATCH_SMTP_HOST to the name it is issued for`, false);
  if (status >= 400 && status <= 499) return fail(`refused for now (${e.command ?? 'SMTP'}): ${answer}`, true);
  // 503 is "bad sequence of commands": a session gone wrong, not the message refused (nodemailer's isPermanentResponseCode agrees).
  if (status === 503) return fail(`lost track of the session (${e.command ?? 'SMTP'}): ${answer}`, true);
  if (status >= 500 && status <= 599) {
    const what = e.command === 'RCPT TO' ? 'a recipient (check IPWATCH_ALERT_EMAIL_TO)' : e.command === 'MAIL FROM' ? 'the sender (check IPWATCH_ALERT_EMAIL_FROM)' : 'the message';
    return fail(`refused ${what}: ${answer} (retrying will not help)`, false);
  }
  if (CONNECTION_CODES.has(code) || CONNECTION_CODES.has(e.originalCode ?? '')) return fail(`could not be reached: ${answer}`, true);
  if (code === 'EENVELOPE' || code === 'ECONFIG' || code === 'EMAXRECIPIENTS') return fail(`could not be given the message: ${answer}; check IPWATCH_ALERT_EMAIL_FROM and IPWATCH_ALERT_EMAIL_TO`, false);
  // Anything else may pass: the alerter's retries give up in the end.
  return fail(`failed: ${answer}${code ? ` (${code})` : ''}`, true);
}

/**
 * The Message-ID of an alert: `<local@ipwatch>`, where local is the id with every character an
 * RFC 5322 dot-atom does not allow written `=XX` (hex; `=` itself too), so distinct ids stay
 * distinct; an id over 200 characters is cut to keep the header short.
 *
 * @example
 * messageIdFor('block:203.0.113.0/24:1764583200000'); // '<block=3A203.0.113.0/24=3A1764583200000@ipwatch>'
 */
export function messageIdFor(id: string): string {
  const atext = /[A-Za-z0-9!#$%&'*+\-/?^_`{|}~]/;
  let local = '';
  const chars = Array.from(id.slice(0, 200));
  chars.forEach((c, i) => {
    // A dot is kept only between two other characters, never first, last or doubled.
    const dotOk = c === '.' && i > 0 && i < chars.length - 1 && chars[i - 1] !== '.' && chars[i + 1] !== '.';
    if (atext.test(c) || dotOk) local += c;
    else local += [...Buffer.from(c)].map((b) => `=${b.toString(16).toUpperCase().padStart(2, '0')}`).join('');
  });
  return `<${local || 'alert'}@ipwatch>`;
}

/**
 * An SMTP channel.
 *
 * @example
 * const email = createEmailChannel({ host: 'mail.example.com', port: 587, tls: 'starttls', user: 'ipwatch', password,
 *   from: 'ipwatch <ipwatch@example.com>', to: ['ops@example.com'], minSeverity: 'high' });
 * await email.verify();                       // ipwatch alerts test
 * await email.send({ id: alert.id, severity: alert.severity, rendered: renderAlert(alert) });
 * email.describe;                             // 'smtp://mail.example.com:587 -> ops@example.com'
 */
export function createEmailChannel(options: EmailOptions): EmailChannel {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  if (!Number.isInteger(timeoutMs) || timeoutMs < 1) throw new IpwatchError('IPWATCH_BAD_OPTION', `email: timeoutMs must be a whole number of milliseconds above 0 (it is ${String(options.timeoutMs)})`);
  if (!Number.isInteger(options.port) || options.port < 1 || options.port > 65535) throw new IpwatchError('IPWATCH_BAD_OPTION', `email: port must be 1 to 65535 (it is ${String(options.port)}): IPWATCH_SMTP_PORT`);
  if (!['starttls', 'tls', 'none'].includes(options.tls)) throw new IpwatchError('IPWATCH_BAD_OPTION', `email: tls must be starttls, tls or none (it is ${JSON.stringify(options.tls)}): IPWATCH_SMTP_TLS`);
  if (options.to.length === 0) throw new IpwatchError('IPWATCH_BAD_OPTION', 'email: at least one recipient is needed: IPWATCH_ALERT_EMAIL_TO');
  if (options.user !== null && !options.password) throw new IpwatchError('IPWATCH_BAD_OPTION', 'email: a user without a password: set IPWATCH_SMTP_PASSWORD');
  const host = options.host.replace(/^\[(.*)\]$/, '$1');
  const shownHost = host.includes(':') ? `[${host}]` : host;
  const describe = `${options.tls === 'tls' ? 'smtps' : 'smtp'}://${shownHost}:${options.port} -> ${options.to.join(', ')}`;
  const where = `${options.tls === 'tls' ? 'smtps' : 'smtp'}://${shownHost}:${options.port}`;

  const transporter = nodemailer.createTransport({
    host,
    port: options.port,
    secure: options.tls === 'tls',
    requireTLS: options.tls === 'starttls',
    ignoreTLS: options.tls === 'none',
    auth: options.user === null ? undefined : { user: options.user, pass: options.password ?? '' },
    tls: { rejectUnauthorized: options.rejectUnauthorized ?? true, ...(/^[\d.]+$|:/.test(host) ? {} : { servername: host }) },
    connectionTimeout: timeoutMs,
    greetingTimeout: timeoutMs,
    socketTimeout: timeoutMs,
    dnsTimeout: timeoutMs,
    // A refused connection is not waited out: the alerter retries with back-off.
    socketCloseTimeout: 1000,
  });

  return {
    name: 'email',
    minSeverity: options.minSeverity,
    describe,
    async send(message: Outgoing): Promise<void> {
      const { rendered } = message;
      let info: { accepted?: unknown[]; rejected?: unknown[]; rejectedErrors?: SmtpErrorFields[] };
      try {
        info = await transporter.sendMail({
          from: options.from,
          to: options.to,
          subject: oneLine(rendered.subject, 250),
          text: rendered.text,
          html: rendered.html,
          messageId: messageIdFor(message.id),
          headers: { 'X-Ipwatch-Alert-Id': oneLine(message.id, 200) },
          // Everything this transport does is plain text it was given: never fetch or read a file.
          disableFileAccess: true,
          disableUrlAccess: true,
          signal: AbortSignal.timeout(timeoutMs),
        });
      } catch (err) {
        throw smtpFailure(err, where, timeoutMs);
      }
      // Some recipients took it, others were refused: retrying would send it twice to the first.
      const rejected = info.rejected ?? [];
      if (rejected.length > 0) {
        const answers = (info.rejectedErrors ?? []).map((e) => oneLine(e.response || e.message || '', 200)).filter(Boolean);
        throw new ChannelError(
          'email',
          `${where} refused ${rejected.map(String).join(', ')} (${answers.join('; ') || 'no answer'}) and took the message for ${(info.accepted ?? []).map(String).join(', ')}; not retried, so that they do not get it twice: check IPWATCH_ALERT_EMAIL_TO`,
          false,
        );
      }
    },
    async verify(): Promise<void> {
      try {
        await transporter.verify();
      } catch (err) {
        throw smtpFailure(err, where, timeoutMs);
      }
    },
    async close(): Promise<void> {
      transporter.close();
    },
  };
}
