/**
 * A real SMTP server on loopback for tests (the `smtp-server` package), keeping every mail
 * it accepts, parsed by `mailparser`. It can be told to refuse for a while (a temporary
 * 451, as a busy or greylisting server answers) to test retries.
 *
 * @example
 * const smtp = await startSmtpSink();
 * // IPWATCH_SMTP_HOST=127.0.0.1 IPWATCH_SMTP_PORT=smtp.port IPWATCH_SMTP_TLS=none
 * smtp.refusing = true;                 // every MAIL FROM answered 451 until set back
 * const [mail] = await smtp.waitFor(1); // parsed: mail.subject, mail.text, mail.html, mail.to
 * await smtp.close();
 */
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { simpleParser, type ParsedMail } from 'mailparser';

export interface SmtpSink {
  readonly port: number;
  readonly mails: ParsedMail[];
  /** Envelope recipients of each accepted mail, in order. */
  readonly envelopes: string[][];
  /** While true, every MAIL FROM is answered 451 (try again later). */
  refusing: boolean;
  /** MAIL FROM commands refused so far. */
  readonly refused: number;
  /** Waits until at least `n` mails were accepted (or throws after timeoutMs); the mails. */
  waitFor(n: number, timeoutMs?: number): Promise<ParsedMail[]>;
  close(): Promise<void>;
}

export async function startSmtpSink(options: { user?: string; password?: string } = {}): Promise<SmtpSink> {
  const mails: ParsedMail[] = [];
  const envelopes: string[][] = [];
  let refused = 0;
  const state = { refusing: false };
  const server = new SMTPServer({
    secure: false,
    disabledCommands: options.user ? ['STARTTLS'] : ['STARTTLS', 'AUTH'],
    authOptional: !options.user,
    allowInsecureAuth: true,
    logger: false,
    onAuth(auth, _session, callback) {
      if (auth.username === options.user && auth.password === options.password) callback(null, { user: auth.username });
      else callback(Object.assign(new Error('Authentication credentials invalid'), { responseCode: 535 }));
    },
    onMailFrom(_address, _session, callback) {
      if (state.refusing) {
        refused++;
        callback(Object.assign(new Error('Try again later'), { responseCode: 451 }));
      } else callback();
    },
    onData(stream, session, callback) {
      simpleParser(stream)
        .then((mail) => {
          mails.push(mail);
          envelopes.push(session.envelope.rcptTo.map((r) => r.address));
          callback();
        })
        .catch((err: Error) => callback(err));
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.server.address() as AddressInfo).port;
  return {
    port,
    mails,
    envelopes,
    get refusing() {
      return state.refusing;
    },
    set refusing(v: boolean) {
      state.refusing = v;
    },
    get refused() {
      return refused;
    },
    async waitFor(n, timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      while (mails.length < n) {
        if (Date.now() > deadline) throw new Error(`${n} mail(s) expected at the SMTP server, ${mails.length} arrived within ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 20));
      }
      return mails;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
