/**
 * The email channel against a real SMTP server on loopback (the `smtp-server` package), the
 * mail read back with mailparser: what arrives, and how each refusal is classed (retriable or
 * not) with the server's answer in the message.
 */
import { describe, test } from '@jest/globals';
import assert from 'node:assert/strict';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { SMTPServer, type SMTPServerOptions, type SMTPServerSession } from 'smtp-server';
import { simpleParser, type ParsedMail } from 'mailparser';
import { afterThisTest } from '../../../../test/support/afterThisTest.ts';
import type { Alert, Outgoing } from '../alert.ts';
import { ChannelError } from '../channelError.ts';
import { renderAlert } from '../render.ts';
import { createEmailChannel, messageIdFor, type EmailOptions } from './email.ts';

interface Received {
  parsed: ParsedMail;
  from: string;
  to: string[];
  user: string | undefined;
  /** Whether the session was under TLS when the mail came. */
  secure: boolean;
}

interface TestSmtp {
  port: number;
  received: Received[];
}

/** An SMTP server on 127.0.0.1, STARTTLS off (the channel's tls: 'none'), that keeps what it is given. */
async function smtpServer(options: Partial<SMTPServerOptions> = {}): Promise<TestSmtp> {
  const received: Received[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    allowInsecureAuth: true,
    logger: false,
    closeTimeout: 100,
    onData(stream, session: SMTPServerSession, callback) {
      simpleParser(stream)
        .then((parsed) => {
          received.push({
            parsed,
            from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
            to: session.envelope.rcptTo.map((r) => r.address),
            user: typeof session.user === 'string' ? session.user : undefined,
            secure: session.secure,
          });
          callback();
        })
        .catch(callback);
    },
    ...options,
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  afterThisTest(() => new Promise<void>((resolve) => server.close(resolve)));
  return { port: (server.server.address() as AddressInfo).port, received };
}

/** An error as smtp-server answers it: `responseCode` is the reply it sends. */
function smtpError(responseCode: number, message: string): Error {
  return Object.assign(new Error(message), { responseCode });
}

function channelOn(port: number, options: Partial<EmailOptions> = {}) {
  const channel = createEmailChannel({
    host: '127.0.0.1',
    port,
    tls: 'none',
    user: null,
    password: null,
    from: 'ipwatch <ipwatch@example.com>',
    to: ['ops@example.com', 'sec@example.org'],
    minSeverity: 'high',
    timeoutMs: 5000,
    ...options,
  });
  afterThisTest(() => channel.close());
  return channel;
}

const TS = Date.UTC(2026, 11, 1, 10, 0, 0);
const ALERT: Alert = {
  id: 'det-sensitive-files-203.0.113.7-1764583200000',
  kind: 'detection',
  ts: TS,
  rule: 'sensitive-files',
  severity: 'high',
  action: 'blocked',
  blockedUntil: TS + 3_600_000,
  summary: 'matching requests: 2 in 10m (more than 1)',
  evidence: {
    trigger: 'GET /.env -> 404',
    samples: '10:00:00 GET /.env -> 404\n10:00:01 GET /<script>alert(1)</script> -> 404',
    userAgents: 'Mozilla/5.0 (compatible; scanner)',
    statuses: '404x2',
  },
  subjects: [{ client: '203.0.113.7', ip: '203.0.113.7', network: '203.0.113.0/24', country: 'FR', asn: 16276, org: 'OVH SAS' }],
  foldedBy: null,
  actor: 'scorer',
  url: 'https://dash.example.com/clients/203.0.113.7',
};

function outgoing(alert: Alert = ALERT): Outgoing {
  return { id: alert.id, severity: alert.severity, rendered: renderAlert(alert) };
}

/** The ChannelError a send or verify threw (fails the test when it resolved or threw anything else). */
async function failure(p: Promise<void>): Promise<ChannelError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof ChannelError, `not a ChannelError: ${String(err)}`);
    assert.equal(err.code, 'IPWATCH_ALERT_CHANNEL_FAILED');
    assert.equal(err.channel, 'email');
    assert.doesNotMatch(err.message, /[\r\n]/, 'the message is one line');
    return err;
  }
  assert.fail('the send succeeded; it should have failed');
}

/** A port nothing listens on: one that was just free. */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

describe('email channel, on a real SMTP server', () => {
  test('the alert arrives with its subject, text and HTML parts, the recipients and the Message-ID', async () => {
    const smtp = await smtpServer();
    const channel = channelOn(smtp.port);
    const started = performance.now();
    await channel.send(outgoing());
    const ms = performance.now() - started;
    assert.equal(smtp.received.length, 1);
    const mail = smtp.received[0] as Received;
    assert.equal(mail.from, 'ipwatch@example.com');
    assert.deepEqual(mail.to, ['ops@example.com', 'sec@example.org']);
    assert.equal(mail.parsed.subject, '[ipwatch] HIGH sensitive-files: 203.0.113.7 (FR) blocked for 1h');
    assert.equal(mail.parsed.messageId, '<det-sensitive-files-203.0.113.7-1764583200000@ipwatch>');
    assert.equal(mail.parsed.headers.get('x-ipwatch-alert-id'), ALERT.id);
    assert.equal(mail.secure, false, "tls 'none': plain SMTP");
    assert.match(mail.parsed.text ?? '', /Client: +203\.0\.113\.7/);
    assert.match(mail.parsed.text ?? '', /10:00:01 GET \/<script>alert\(1\)<\/script> -> 404/, 'the text part shows the evidence as it was');
    const html = typeof mail.parsed.html === 'string' ? mail.parsed.html : '';
    assert.match(html, /^<!DOCTYPE html>/);
    assert.match(html, /GET \/&lt;script&gt;alert\(1\)&lt;\/script&gt; -&gt; 404/, 'the HTML part escapes it');
    assert.doesNotMatch(html, /<script/i);
    assert.match(html, /href="https:\/\/dash\.example\.com\/clients\/203\.0\.113\.7"/);
    assert.ok(ms < 2000, `one send took ${ms.toFixed(0)} ms`);
    assert.equal(channel.describe, `smtp://127.0.0.1:${smtp.port} -> ops@example.com, sec@example.org`);
  });

  test('a subject holding a line break cannot add a header or a recipient', async () => {
    const smtp = await smtpServer();
    const channel = channelOn(smtp.port);
    const message = outgoing();
    await channel.send({ ...message, id: 'odd id\r\nBcc: evil@example.net', rendered: { ...message.rendered, subject: 'alert\r\nBcc: evil@example.net' } });
    const mail = smtp.received[0] as Received;
    assert.deepEqual(mail.to, ['ops@example.com', 'sec@example.org']);
    assert.equal(mail.parsed.bcc, undefined);
    assert.equal(mail.parsed.subject, 'alert Bcc: evil@example.net');
    assert.equal(mail.parsed.headers.get('x-ipwatch-alert-id'), 'odd id Bcc: evil@example.net');
    assert.equal(mail.parsed.messageId, '<odd=20id=0D=0ABcc=3A=20evil=40example.net@ipwatch>');
  });

  test('Message-IDs: characters a dot-atom refuses are written =XX, so distinct ids stay distinct', () => {
    assert.equal(messageIdFor('block:203.0.113.0/24:1764583200000'), '<block=3A203.0.113.0/24=3A1764583200000@ipwatch>');
    assert.notEqual(messageIdFor('a:b'), messageIdFor('a=3Ab'));
    assert.equal(messageIdFor('.a..b.'), '<=2Ea=2E=2Eb=2E@ipwatch>');
    assert.equal(messageIdFor('x'.repeat(500)).length, '<@ipwatch>'.length + 200);
  });

  test('451 on DATA (a full queue, greylisting): retriable, quoting the server', async () => {
    const smtp = await smtpServer({
      onData(stream, _session, callback) {
        stream.resume();
        stream.on('end', () => callback(smtpError(451, 'Requested action aborted: local error in processing')));
      },
    });
    const err = await failure(channelOn(smtp.port).send(outgoing()));
    assert.equal(err.retriable, true);
    assert.match(err.message, /^email: smtp:\/\/127\.0\.0\.1:\d+ refused for now \(DATA\): 451 Requested action aborted/);
  });

  test('550 on RCPT TO for the only recipient: not retriable, naming IPWATCH_ALERT_EMAIL_TO', async () => {
    const smtp = await smtpServer({ onRcptTo: (_address, _session, callback) => callback(smtpError(550, 'No such user here')) });
    const err = await failure(channelOn(smtp.port, { to: ['nobody@example.com'] }).send(outgoing()));
    assert.equal(err.retriable, false);
    assert.match(err.message, /refused a recipient \(check IPWATCH_ALERT_EMAIL_TO\): 550 No such user here/);
    assert.equal(smtp.received.length, 0);
  });

  test('550 for one of two recipients: the other gets it once; not retriable (a retry would send it twice), naming the refused one', async () => {
    const smtp = await smtpServer({
      onRcptTo(address, _session, callback) {
        if (address.address === 'sec@example.org') callback(smtpError(550, 'No such user here'));
        else callback();
      },
    });
    const err = await failure(channelOn(smtp.port).send(outgoing()));
    assert.equal(err.retriable, false);
    assert.match(err.message, /refused sec@example\.org \(550 No such user here\) and took the message for ops@example\.com/);
    assert.match(err.message, /IPWATCH_ALERT_EMAIL_TO/);
    assert.equal(smtp.received.length, 1);
    assert.deepEqual(smtp.received[0]?.to, ['ops@example.com']);
  });

  test('450 on RCPT TO for every recipient (greylisting): retriable, nothing delivered', async () => {
    const smtp = await smtpServer({ onRcptTo: (_address, _session, callback) => callback(smtpError(450, 'Greylisted, try again later')) });
    const err = await failure(channelOn(smtp.port).send(outgoing()));
    assert.equal(err.retriable, true);
    assert.match(err.message, /450 Greylisted/);
    assert.equal(smtp.received.length, 0);
  });

  test('a connection refused (nothing listening): retriable', async () => {
    const port = await closedPort();
    const err = await failure(channelOn(port).send(outgoing()));
    assert.equal(err.retriable, true);
    assert.match(err.message, /could not be reached: .*ECONNREFUSED/);
  });

  test('a server that never greets: retriable once the timeout passes', async () => {
    const sockets = new Set<Socket>();
    const silent: Server = createServer((s) => sockets.add(s));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    afterThisTest(() => {
      for (const s of sockets) s.destroy();
      return new Promise<void>((resolve) => silent.close(() => resolve()));
    });
    const started = performance.now();
    const err = await failure(channelOn((silent.address() as AddressInfo).port, { timeoutMs: 300 }).send(outgoing()));
    const ms = performance.now() - started;
    assert.equal(err.retriable, true);
    assert.match(err.message, /did not answer within 300 ms/);
    assert.ok(ms >= 250 && ms < 3000, `gave up after ${ms.toFixed(0)} ms`);
  });

  test('AUTH required, wrong password: not retriable, the message names IPWATCH_SMTP_PASSWORD; the right one sends', async () => {
    const smtp = await smtpServer({
      authOptional: false,
      onAuth(auth, _session, callback) {
        if (auth.username === 'ipwatch' && auth.password === 'right horse battery staple') callback(null, { user: 'ipwatch' });
        else callback(smtpError(535, 'Authentication credentials invalid'));
      },
    });
    const wrong = channelOn(smtp.port, { user: 'ipwatch', password: 'wrong' });
    const err = await failure(wrong.send(outgoing()));
    assert.equal(err.retriable, false);
    assert.match(err.message, /535/);
    assert.match(err.message, /IPWATCH_SMTP_USER and IPWATCH_SMTP_PASSWORD/);
    assert.doesNotMatch(err.message, /wrong/, 'never the password');
    assert.doesNotMatch(wrong.describe, /wrong/);
    const verifyErr = await failure(wrong.verify());
    assert.equal(verifyErr.retriable, false);
    assert.match(verifyErr.message, /IPWATCH_SMTP_PASSWORD/);
    assert.equal(smtp.received.length, 0);

    const right = channelOn(smtp.port, { user: 'ipwatch', password: 'right horse battery staple' });
    await right.verify();
    await right.send(outgoing());
    assert.equal(smtp.received.length, 1);
    assert.equal(smtp.received[0]?.user, 'ipwatch');
  });

  test('tls starttls: the mail goes over the upgraded session; the server\'s certificate is verified unless told not to', async () => {
    // smtp-server's own self-signed certificate: refused by default, a configuration error.
    const smtp = await smtpServer({ disabledCommands: [] });
    const err = await failure(channelOn(smtp.port, { tls: 'starttls' }).send(outgoing()));
    assert.equal(err.retriable, false);
    assert.match(err.message, /TLS certificate that was refused/);
    assert.equal(smtp.received.length, 0);
    await channelOn(smtp.port, { tls: 'starttls', rejectUnauthorized: false }).send(outgoing());
    assert.equal(smtp.received.length, 1);
    assert.equal(smtp.received[0]?.secure, true);
    // tls 'none' does not upgrade even when STARTTLS is offered (a loopback relay).
    await channelOn(smtp.port, { tls: 'none' }).send(outgoing());
    assert.equal(smtp.received[1]?.secure, false);
  });

  test('tls starttls against a server without STARTTLS: not retriable, saying what to set', async () => {
    const smtp = await smtpServer();
    const err = await failure(channelOn(smtp.port, { tls: 'starttls', rejectUnauthorized: false }).send(outgoing()));
    assert.equal(err.retriable, false);
    assert.match(err.message, /does not take STARTTLS .*IPWATCH_SMTP_TLS/);
    assert.equal(smtp.received.length, 0, 'nothing went in plain text');
  });

  test('tls tls: implicit TLS from the first byte (port 465 style)', async () => {
    const smtp = await smtpServer({ secure: true, disabledCommands: [] });
    const channel = channelOn(smtp.port, { tls: 'tls', rejectUnauthorized: false });
    assert.match(channel.describe, /^smtps:\/\/127\.0\.0\.1:\d+ -> /);
    await channel.verify();
    await channel.send(outgoing());
    assert.equal(smtp.received.length, 1);
    assert.equal(smtp.received[0]?.parsed.subject, '[ipwatch] HIGH sensitive-files: 203.0.113.7 (FR) blocked for 1h');
    assert.equal(smtp.received[0]?.secure, true);
  });

  test('no login given where the server requires one: not retriable, naming the variables', async () => {
    const smtp = await smtpServer({ authOptional: false, onAuth: (_a, _s, callback) => callback(null, { user: 'x' }) });
    const err = await failure(channelOn(smtp.port).send(outgoing()));
    assert.equal(err.retriable, false);
    assert.match(err.message, /530|Authentication Required/i);
    assert.match(err.message, /IPWATCH_SMTP_USER/);
  });
});
