/**
 * Webhook channels: a signed JSON POST (the documented payload of render.ts, with an HMAC
 * header a receiver verifies, timestamped against replay) and a Slack-compatible POST of
 * `{ text }` (Slack, Mattermost, Rocket.Chat incoming webhooks).
 *
 * Signature, in the manner of Stripe and Slack: `x-ipwatch-timestamp` is the send time in unix
 * seconds, and `x-ipwatch-signature` is `v1=` + hex HMAC-SHA256(secret, `${timestamp}.${body}`)
 * over the exact bytes of the body. A receiver recomputes it with `verifyWebhookSignature`
 * before parsing, and refuses a timestamp more than 5 minutes away from its clock (a replayed
 * delivery); `x-ipwatch-delivery` (the alert's id) lets it drop a delivery it already has.
 *
 * One send is one POST, no retry here (the alerter retries): 2xx is sent; 429, 5xx, a timeout
 * or a connection error is a retriable ChannelError; any other answer (4xx, a redirect, which
 * is never followed) is not.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { IpwatchError } from '@ipwatch/core/errors';
import type { Severity } from '@ipwatch/core/schemas';
import type { Channel, ChannelName, Outgoing } from '../alert.ts';
import { ChannelError } from '../channelError.ts';

const USER_AGENT = 'ipwatch-alerter/0.1';
const DEFAULT_TIMEOUT_MS = 10_000;
/** How far a delivery's timestamp may be from the receiver's clock, by default. */
const DEFAULT_TOLERANCE_SEC = 300;

export interface WebhookOptions {
  /** http(s) URL that receives each alert. */
  url: string;
  /** The HMAC-SHA256 key, shared with the receiver. */
  secret: string;
  minSeverity: Severity;
  /** Longest wait for the receiver's answer, connection included (default 10 s). */
  timeoutMs?: number;
  format: 'json';
}

export interface SlackOptions {
  /** The incoming-webhook URL; its path is a secret. */
  url: string;
  minSeverity: Severity;
  /** Longest wait for the answer (default 10 s). */
  timeoutMs?: number;
}

/**
 * The signature header's value for a body sent at `timestampSec`: `v1=<hex HMAC-SHA256>` of
 * `${timestampSec}.${body}`.
 *
 * @example
 * const ts = Math.floor(Date.now() / 1000);
 * const body = JSON.stringify(payload);
 * headers['x-ipwatch-timestamp'] = String(ts);
 * headers['x-ipwatch-signature'] = signWebhook(secret, ts, body);
 */
export function signWebhook(secret: string, timestampSec: number, body: string): string {
  return `v1=${createHmac('sha256', secret).update(`${timestampSec}.${body}`).digest('hex')}`;
}

/**
 * Checks a delivery as a receiver: the `x-ipwatch-signature` header must be the HMAC of the
 * `x-ipwatch-timestamp` header and the body exactly as received (verify before parsing the
 * JSON), compared in constant time, and the timestamp within `toleranceSec` (default 300) of
 * now, older or newer (a replay). The header may list several `v1=` signatures separated by
 * commas (a secret being rotated): one matching is enough.
 *
 * @example
 * // A receiver on node:http (the function has no dependency but node:crypto: copy it, or import this module).
 * createServer((req, res) => {
 *   let body = '';
 *   req.setEncoding('utf8').on('data', (c) => (body += c)).on('end', () => {
 *     const check = verifyWebhookSignature(process.env.IPWATCH_ALERT_WEBHOOK_SECRET!, {
 *       timestamp: req.headers['x-ipwatch-timestamp'] as string | undefined,
 *       signature: req.headers['x-ipwatch-signature'] as string | undefined,
 *     }, body);
 *     if (!check.ok) return void res.writeHead(401).end(check.reason);
 *     const payload = JSON.parse(body); // an AlertPayload, DigestPayload or TestPayload
 *     res.writeHead(204).end();
 *   });
 * }).listen(8080);
 */
export function verifyWebhookSignature(
  secret: string,
  headers: { timestamp?: string; signature?: string },
  body: string,
  options: { nowSec?: number; toleranceSec?: number } = {},
): { ok: true } | { ok: false; reason: string } {
  const { timestamp, signature } = headers;
  if (!timestamp) return { ok: false, reason: 'no x-ipwatch-timestamp header' };
  if (!signature) return { ok: false, reason: 'no x-ipwatch-signature header' };
  if (!/^\d{1,12}$/.test(timestamp)) return { ok: false, reason: 'x-ipwatch-timestamp is not unix seconds' };
  const ts = Number(timestamp);
  const now = options.nowSec ?? Math.floor(Date.now() / 1000);
  const tolerance = options.toleranceSec ?? DEFAULT_TOLERANCE_SEC;
  if (Math.abs(now - ts) > tolerance) {
    return { ok: false, reason: `timestamp ${ts} is ${Math.abs(now - ts)} s ${ts < now ? 'old' : 'in the future'}, more than the ${tolerance} s allowed: a replayed or delayed delivery, or a clock out of step` };
  }
  const expected = Buffer.from(signWebhook(secret, ts, body).slice(3), 'hex');
  const given = signature
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.startsWith('v1='))
    .map((s) => s.slice(3));
  if (given.length === 0) return { ok: false, reason: 'x-ipwatch-signature holds no v1= signature' };
  for (const hex of given) {
    if (!/^[0-9a-f]{64}$/i.test(hex)) continue;
    if (timingSafeEqual(Buffer.from(hex, 'hex'), expected)) return { ok: true };
  }
  return { ok: false, reason: 'the signature does not match the body and timestamp (a wrong secret, or a body changed on the way)' };
}

function checkUrl(name: string, url: string): URL {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new IpwatchError('IPWATCH_BAD_OPTION', `${name}: the url is not a URL; write it whole, e.g. https://hooks.example.com/ipwatch`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new IpwatchError('IPWATCH_BAD_OPTION', `${name}: the url must be http:// or https:// (it is ${u.protocol})`);
  return u;
}

function checkTimeout(name: string, timeoutMs: number | undefined): number {
  const t = timeoutMs ?? DEFAULT_TIMEOUT_MS;
  if (!Number.isInteger(t) || t < 1) throw new IpwatchError('IPWATCH_BAD_OPTION', `${name}: timeoutMs must be a whole number of milliseconds above 0 (it is ${String(timeoutMs)})`);
  return t;
}

/** The first 200 characters of an answer's body, on one line. */
function excerpt(body: string): string {
  const line = body.replace(/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]+/gu, ' ').replace(/ {2,}/g, ' ').trim();
  return line.length > 200 ? `${line.slice(0, 200)}…` : line;
}

/** The cause of a fetch failure, named: "ECONNREFUSED", "UND_ERR_SOCKET" ... */
function failureOf(err: unknown): string {
  const cause = (err as { cause?: { code?: unknown; message?: unknown } } | null)?.cause;
  const code = typeof cause?.code === 'string' ? cause.code : '';
  const message = typeof cause?.message === 'string' ? cause.message : err instanceof Error ? err.message : String(err);
  return excerpt(code && !message.includes(code) ? `${code} ${message}` : message);
}

/** One POST; throws a ChannelError saying what the receiver answered or why it could not be reached. */
async function post(channel: ChannelName, where: string, url: string, body: string, headers: Record<string, string>, timeoutMs: number): Promise<void> {
  let res: Response;
  try {
    res = await fetch(url, { method: 'POST', body, headers, redirect: 'manual', signal: AbortSignal.timeout(timeoutMs) });
  } catch (err) {
    const name = (err as { name?: unknown } | null)?.name;
    if (name === 'TimeoutError' || name === 'AbortError') throw new ChannelError(channel, `${where} did not answer within ${timeoutMs} ms`, true, { cause: err });
    throw new ChannelError(channel, `${where} could not be reached: ${failureOf(err)}`, true, { cause: err });
  }
  let text = '';
  try {
    text = await res.text();
  } catch (err) {
    // A body cut off (or too slow) after a 2xx status still means the receiver took it.
    if (res.status < 200 || res.status > 299) throw new ChannelError(channel, `${where} answered ${res.status} and then failed: ${failureOf(err)}`, true, { cause: err });
  }
  if (res.status >= 200 && res.status <= 299) return;
  const said = excerpt(text);
  const answer = `${where} answered ${res.status}${said ? `: ${said}` : ''}`;
  if (res.status >= 300 && res.status <= 399) {
    throw new ChannelError(channel, `${where} redirects (${res.status}); redirects are not followed, so that a signed alert goes only where it was configured to: set the URL it redirects to`, false);
  }
  if (res.status === 429 || res.status >= 500) throw new ChannelError(channel, answer, true);
  throw new ChannelError(channel, `${answer} (refused: retrying will not help; check the URL and the receiver)`, false);
}

/**
 * A signed JSON webhook: each message POSTed as `JSON.stringify(rendered.json)` with
 * `x-ipwatch-delivery`, `x-ipwatch-timestamp` and `x-ipwatch-signature` headers.
 *
 * @example
 * const webhook = createWebhookChannel({ url: 'https://hooks.example.com/ipwatch', secret, minSeverity: 'medium', format: 'json' });
 * await webhook.send({ id: alert.id, severity: alert.severity, rendered: renderAlert(alert) });
 */
export function createWebhookChannel(options: WebhookOptions): Channel {
  const u = checkUrl('webhook', options.url);
  const timeoutMs = checkTimeout('webhook', options.timeoutMs);
  if (typeof options.secret !== 'string' || options.secret.length === 0) throw new IpwatchError('IPWATCH_BAD_OPTION', 'webhook: a secret is required to sign the deliveries (IPWATCH_ALERT_WEBHOOK_SECRET)');
  if (options.format !== 'json') throw new IpwatchError('IPWATCH_BAD_OPTION', `webhook: format must be 'json' (it is ${JSON.stringify(options.format)})`);
  // The query may hold a token: it is left out of messages.
  const describe = `${u.origin}${u.pathname}`;
  const url = u.href;
  return {
    name: 'webhook',
    minSeverity: options.minSeverity,
    describe,
    async send(message: Outgoing): Promise<void> {
      const body = JSON.stringify(message.rendered.json);
      const timestamp = Math.floor(Date.now() / 1000);
      await post('webhook', describe, url, body, {
        'content-type': 'application/json',
        'user-agent': USER_AGENT,
        'x-ipwatch-delivery': deliveryId(message.id),
        'x-ipwatch-timestamp': String(timestamp),
        'x-ipwatch-signature': signWebhook(options.secret, timestamp, body),
      }, timeoutMs);
    },
    async close(): Promise<void> {},
  };
}

/**
 * A Slack-compatible incoming webhook: each message POSTed as `{ "text": rendered.slack }`.
 * The URL's path is a secret (anyone holding it can post): `describe` masks it.
 *
 * @example
 * const slack = createSlackChannel({ url: 'https://hooks.slack.com/services/T000/B000/XXXX', minSeverity: 'high' });
 * slack.describe; // 'https://hooks.slack.com/services/***'
 */
export function createSlackChannel(options: SlackOptions): Channel {
  const u = checkUrl('slack', options.url);
  const timeoutMs = checkTimeout('slack', options.timeoutMs);
  const firstSegment = u.pathname.split('/').filter(Boolean)[0];
  const describe = `${u.origin}/${firstSegment ? `${firstSegment}/` : ''}***`;
  const url = u.href;
  return {
    name: 'slack',
    minSeverity: options.minSeverity,
    describe,
    async send(message: Outgoing): Promise<void> {
      await post('slack', describe, url, JSON.stringify({ text: message.rendered.slack }), {
        'content-type': 'application/json',
        'user-agent': USER_AGENT,
        'x-ipwatch-delivery': deliveryId(message.id),
      }, timeoutMs);
    },
    async close(): Promise<void> {},
  };
}

/** An id fit for a header value: printable ASCII (anything else percent-encoded), at most 200 characters. */
function deliveryId(id: string): string {
  return id.replace(/[^\x21-\x7e]/gu, (c) => [...Buffer.from(c)].map((b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`).join('')).slice(0, 200);
}
