/**
 * The webhook channels against a real node:http receiver on loopback: the signed JSON
 * delivery verified as a receiver would (verifyWebhookSignature), each kind of answer classed
 * retriable or not, redirects never followed, replays and tampering refused, and the Slack
 * variant posting `{ text }` with attacker text defused.
 */
import { describe, test } from '@jest/globals';
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterThisTest } from '../../../../test/support/afterThisTest.ts';
import type { Alert, Outgoing } from '../alert.ts';
import { ChannelError } from '../channelError.ts';
import { renderAlert, type AlertPayload } from '../render.ts';
import { createSlackChannel, createWebhookChannel, signWebhook, verifyWebhookSignature } from './webhook.ts';

const SECRET = 'a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718';

interface Delivery {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  verified: { ok: true } | { ok: false; reason: string };
}

/** A receiver on 127.0.0.1 that verifies each delivery's signature and records it; `answer` decides the response. */
async function receiver(answer: (req: IncomingMessage, res: ServerResponse, d: Delivery) => void = (_q, res) => void res.writeHead(204).end()) {
  const deliveries: Delivery[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      const d: Delivery = {
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers,
        body,
        verified: verifyWebhookSignature(SECRET, { timestamp: header(req.headers, 'x-ipwatch-timestamp'), signature: header(req.headers, 'x-ipwatch-signature') }, body),
      };
      deliveries.push(d);
      answer(req, res, d);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  afterThisTest(() => {
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, deliveries };
}

function header(h: IncomingHttpHeaders, name: string): string | undefined {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
}

const TS = Date.UTC(2026, 11, 1, 10, 0, 0);
const ALERT: Alert = {
  id: 'det-path-scan-198.51.100.23-1764583200000',
  kind: 'detection',
  ts: TS,
  rule: 'path-scan',
  severity: 'high',
  action: 'blocked',
  blockedUntil: TS + 3_600_000,
  summary: 'distinct paths answered 404/403: 21 in 5m (more than 20)',
  evidence: {
    trigger: 'GET /wp-login.php?x="><img src=x onerror=alert(1)> -> 404',
    samples: '10:00:00 GET /.git/config -> 404\n10:00:01 GET /<script>alert(1)</script> -> 404',
    userAgents: '<!channel> <@U123> <http://evil.example|click here> ```boom```',
  },
  subjects: [{ client: '198.51.100.23', ip: '198.51.100.23', network: '198.51.100.0/24', country: 'NL', asn: 64500, org: 'Example Hosting <@U999>' }],
  foldedBy: null,
  actor: 'scorer',
  url: 'https://dash.example.com/clients/198.51.100.23',
};

function outgoing(alert: Alert = ALERT): Outgoing {
  return { id: alert.id, severity: alert.severity, rendered: renderAlert(alert) };
}

async function failure(p: Promise<void>, channel: 'webhook' | 'slack' = 'webhook'): Promise<ChannelError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof ChannelError, `not a ChannelError: ${String(err)}`);
    assert.equal(err.channel, channel);
    assert.doesNotMatch(err.message, /[\r\n]/, 'the message is one line');
    return err;
  }
  assert.fail('the send succeeded; it should have failed');
}

function webhookTo(url: string, timeoutMs = 2000) {
  return createWebhookChannel({ url, secret: SECRET, minSeverity: 'medium', timeoutMs, format: 'json' });
}

describe('signed JSON webhook, to a real HTTP receiver', () => {
  test('one POST of the payload, signed: the receiver verifies it and reads plain data', async () => {
    const r = await receiver();
    const channel = webhookTo(`${r.url}/hooks/ipwatch?token=abc`);
    const started = performance.now();
    await channel.send(outgoing());
    const ms = performance.now() - started;
    assert.equal(r.deliveries.length, 1);
    const d = r.deliveries[0] as Delivery;
    assert.deepEqual(d.verified, { ok: true });
    assert.equal(d.method, 'POST');
    assert.equal(d.path, '/hooks/ipwatch?token=abc');
    assert.equal(d.headers['content-type'], 'application/json');
    assert.equal(d.headers['user-agent'], 'ipwatch-alerter/0.1');
    assert.equal(d.headers['x-ipwatch-delivery'], ALERT.id);
    const ts = Number(d.headers['x-ipwatch-timestamp']);
    assert.ok(Math.abs(ts - Date.now() / 1000) < 5, `timestamp ${ts}`);
    assert.equal(d.headers['x-ipwatch-signature'], signWebhook(SECRET, ts, d.body));
    const payload = JSON.parse(d.body) as AlertPayload;
    assert.equal(payload.type, 'alert');
    assert.equal(payload.version, 1);
    assert.equal(payload.id, ALERT.id);
    assert.equal(payload.blockedUntil, '2026-12-01T11:00:00.000Z');
    assert.equal(payload.evidence.trigger, ALERT.evidence.trigger, 'attacker text arrives exactly, not escaped');
    assert.equal(payload.subjects[0]?.org, 'Example Hosting <@U999>');
    assert.ok(ms < 1000, `one delivery took ${ms.toFixed(0)} ms`);
    assert.equal(channel.describe, `${r.url}/hooks/ipwatch`, 'origin and path; the query (a token, maybe) left out');
  });

  test('500: retriable, with the status and the start of the body on one line', async () => {
    const r = await receiver((_q, res) => void res.writeHead(500, { 'content-type': 'text/plain' }).end(`database down\r\nretry later ${'x'.repeat(500)}`));
    const err = await failure(webhookTo(r.url).send(outgoing()));
    assert.equal(err.retriable, true);
    assert.match(err.message, /^webhook: http:\/\/127\.0\.0\.1:\d+\/ answered 500: database down retry later x+…$/);
    assert.ok(err.message.length < 300, `message of ${err.message.length} characters`);
  });

  test('429: retriable', async () => {
    const r = await receiver((_q, res) => void res.writeHead(429, { 'retry-after': '5' }).end('slow down'));
    const err = await failure(webhookTo(r.url).send(outgoing()));
    assert.equal(err.retriable, true);
    assert.match(err.message, /answered 429: slow down/);
  });

  test('400: not retriable', async () => {
    const r = await receiver((_q, res) => void res.writeHead(400).end('{"error":"unknown field"}'));
    const err = await failure(webhookTo(r.url).send(outgoing()));
    assert.equal(err.retriable, false);
    assert.match(err.message, /answered 400: \{"error":"unknown field"\}/);
  });

  test('a receiver slower than timeoutMs: retriable, given up on time', async () => {
    const r = await receiver((_q, res) => void setTimeout(() => res.writeHead(204).end(), 2000).unref());
    const started = performance.now();
    const err = await failure(webhookTo(r.url, 300).send(outgoing()));
    const ms = performance.now() - started;
    assert.equal(err.retriable, true);
    assert.match(err.message, /did not answer within 300 ms/);
    assert.ok(ms >= 250 && ms < 1500, `gave up after ${ms.toFixed(0)} ms`);
  });

  test('a 302 is not followed: not retriable, saying the URL redirects', async () => {
    const target = await receiver();
    const r = await receiver((_q, res) => void res.writeHead(302, { location: `${target.url}/elsewhere` }).end());
    const err = await failure(webhookTo(r.url).send(outgoing()));
    assert.equal(err.retriable, false);
    assert.match(err.message, /redirects \(302\)/);
    assert.equal(target.deliveries.length, 0, 'the signed alert did not go where the redirect pointed');
  });

  test('a connection refused: retriable', async () => {
    // A port that was just free: nothing listens, the connection is refused.
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const { port } = probe.address() as AddressInfo;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const err = await failure(webhookTo(`http://127.0.0.1:${port}/x`).send(outgoing()));
    assert.equal(err.retriable, true);
    assert.match(err.message, /could not be reached: .*ECONNREFUSED/);
  });

  test('the receiver refuses a tampered body, an old or future timestamp, a wrong secret, missing headers', () => {
    const body = JSON.stringify({ type: 'alert', id: 'x', evidence: { trigger: 'GET /' } });
    const now = 1_764_583_200;
    const sig = signWebhook(SECRET, now, body);
    const ok = verifyWebhookSignature(SECRET, { timestamp: String(now), signature: sig }, body, { nowSec: now + 10 });
    assert.deepEqual(ok, { ok: true });

    const tampered = verifyWebhookSignature(SECRET, { timestamp: String(now), signature: sig }, body.replace('GET /', 'GET /admin'), { nowSec: now });
    assert.equal(tampered.ok, false);
    assert.match(!tampered.ok ? tampered.reason : '', /does not match/);

    const old = verifyWebhookSignature(SECRET, { timestamp: String(now), signature: sig }, body, { nowSec: now + 301 });
    assert.equal(old.ok, false);
    assert.match(!old.ok ? old.reason : '', /301 s old, more than the 300 s allowed/);
    const future = verifyWebhookSignature(SECRET, { timestamp: String(now), signature: sig }, body, { nowSec: now - 400 });
    assert.match(!future.ok ? future.reason : '', /in the future/);
    assert.deepEqual(verifyWebhookSignature(SECRET, { timestamp: String(now), signature: sig }, body, { nowSec: now + 900, toleranceSec: 1000 }), { ok: true });

    // The timestamp is signed: moving it forward to pass the window breaks the signature.
    const moved = verifyWebhookSignature(SECRET, { timestamp: String(now + 301), signature: sig }, body, { nowSec: now + 301 });
    assert.match(!moved.ok ? moved.reason : '', /does not match/);

    const wrongSecret = verifyWebhookSignature('another secret of some length 0123456789', { timestamp: String(now), signature: sig }, body, { nowSec: now });
    assert.match(!wrongSecret.ok ? wrongSecret.reason : '', /does not match/);
    assert.deepEqual(verifyWebhookSignature(SECRET, { signature: sig }, body), { ok: false, reason: 'no x-ipwatch-timestamp header' });
    assert.deepEqual(verifyWebhookSignature(SECRET, { timestamp: String(now) }, body, { nowSec: now }), { ok: false, reason: 'no x-ipwatch-signature header' });
    const garbage = verifyWebhookSignature(SECRET, { timestamp: String(now), signature: 'v1=zz' }, body, { nowSec: now });
    assert.equal(garbage.ok, false);
    // Several signatures (a secret being rotated): one matching is enough.
    const rotated = verifyWebhookSignature(SECRET, { timestamp: String(now), signature: `v1=${'0'.repeat(64)}, ${sig}` }, body, { nowSec: now });
    assert.deepEqual(rotated, { ok: true });
  });

  test('a delivery replayed 6 minutes later fails verification at the receiver', async () => {
    const r = await receiver();
    await webhookTo(r.url).send(outgoing());
    const d = r.deliveries[0] as Delivery;
    const replay = verifyWebhookSignature(SECRET, { timestamp: header(d.headers, 'x-ipwatch-timestamp'), signature: header(d.headers, 'x-ipwatch-signature') }, d.body, {
      nowSec: Math.floor(Date.now() / 1000) + 360,
    });
    assert.equal(replay.ok, false);
    assert.match(!replay.ok ? replay.reason : '', /old, more than the 300 s allowed/);
  });

  test('a URL that is not http(s) is refused when the channel is made', () => {
    assert.throws(() => webhookTo('ftp://example.com/x'), /must be http:\/\/ or https:\/\//);
    assert.throws(() => webhookTo('not a url'), /is not a URL/);
    assert.throws(() => createSlackChannel({ url: 'javascript:alert(1)', minSeverity: 'high' }), /must be http:\/\/ or https:\/\//);
  });
});

describe('Slack-compatible webhook', () => {
  test('posts { text } with attacker text defused: no mention, no link, no escape from a code span', async () => {
    const r = await receiver();
    const channel = createSlackChannel({ url: `${r.url}/services/T000/B000/XXXXSECRET`, minSeverity: 'high', timeoutMs: 2000 });
    assert.equal(channel.describe, `${r.url}/services/***`);
    assert.doesNotMatch(channel.describe, /SECRET|T000/);
    await channel.send(outgoing());
    const d = r.deliveries[0] as Delivery;
    assert.equal(d.path, '/services/T000/B000/XXXXSECRET');
    assert.equal(d.headers['content-type'], 'application/json');
    const posted = JSON.parse(d.body) as { text: string };
    assert.deepEqual(Object.keys(posted), ['text']);
    const { text } = posted;
    assert.match(text, /\*HIGH path-scan\*/);
    // The only < in the text is the dashboard link Slack should render.
    assert.deepEqual(text.match(/</g)?.length, 1);
    assert.match(text, /<https:\/\/dash\.example\.com\/clients\/198\.51\.100\.23\|Open 198\.51\.100\.23 in the dashboard>$/);
    assert.match(text, /&lt;!channel&gt;/);
    assert.match(text, /&lt;@\u2060U123&gt;/);
    assert.match(text, /&lt;http:\/\/evil\.example\|click here&gt;/);
    // Code spans and blocks: backticks only in pairs and fences we wrote.
    const fences = text.match(/```/g)?.length ?? 0;
    assert.equal(fences % 2, 0);
    assert.match(text, /\u02CB\u02CB\u02CBboom\u02CB\u02CB\u02CB/);
  });

  test('a Slack answer of 404 (a deleted webhook): not retriable; 503: retriable', async () => {
    const gone = await receiver((_q, res) => void res.writeHead(404).end('no_service'));
    const err = await failure(createSlackChannel({ url: `${gone.url}/services/T/B/X`, minSeverity: 'high' }).send(outgoing()), 'slack');
    assert.equal(err.retriable, false);
    assert.match(err.message, /^slack: http:\/\/127\.0\.0\.1:\d+\/services\/\*\*\* answered 404: no_service/);
    assert.doesNotMatch(err.message, /T\/B\/X/, 'the secret path is not in the message');
    const down = await receiver((_q, res) => void res.writeHead(503).end());
    const err2 = await failure(createSlackChannel({ url: `${down.url}/services/T/B/X`, minSeverity: 'high' }).send(outgoing()), 'slack');
    assert.equal(err2.retriable, true);
  });
});
