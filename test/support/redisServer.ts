/**
 * A redis-server of the test's own, on a free loopback port, that the test may stop and
 * start again (the machine's shared Redis on 6379 must never be stopped by a test).
 *
 * @example
 * const redis = await startRedisServer();
 * // ... redis.url
 * await redis.stop();    // Redis down: the emitter must keep serving
 * await redis.start();   // same port, empty data: everything must recover
 * await redis.close();
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, connect } from 'node:net';
import { once } from 'node:events';

export interface TestRedis {
  readonly port: number;
  readonly url: string;
  /** Stops the server (SIGKILL: like a crash, no goodbye to clients). */
  stop(): Promise<void>;
  /** Starts it again on the same port. */
  start(): Promise<void>;
  /** Stops it for good. */
  close(): Promise<void>;
}

async function freePort(): Promise<number> {
  const srv = createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const port = (srv.address() as { port: number }).port;
  srv.close();
  await once(srv, 'close');
  return port;
}

function answersPing(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(300, () => done(false));
    s.on('error', () => done(false));
    s.on('connect', () => s.write('PING\r\n'));
    s.on('data', (d) => done(d.toString().startsWith('+PONG')));
  });
}

export async function startRedisServer(): Promise<TestRedis> {
  const port = await freePort();
  let child: ChildProcess | null = null;

  async function start(): Promise<void> {
    if (child) return;
    const c = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--loglevel', 'warning'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    child = c;
    // A test file stopped by a timeout (--test-force-exit) skips its cleanup: never leave a server behind.
    const killOnExit = () => c.kill('SIGKILL');
    process.once('exit', killOnExit);
    c.on('exit', () => {
      process.off('exit', killOnExit);
      if (child === c) child = null;
    });
    const deadline = Date.now() + 10_000;
    while (!(await answersPing(port))) {
      if (child !== c) throw new Error(`redis-server on port ${port} exited at start (is redis-server installed?)`);
      if (Date.now() > deadline) throw new Error(`redis-server on port ${port} did not answer PING within 10 s`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async function stop(): Promise<void> {
    const c = child;
    if (!c) return;
    child = null;
    const exited = once(c, 'exit');
    c.kill('SIGKILL');
    await exited;
  }

  await start();
  return { port, url: `redis://127.0.0.1:${port}`, start, stop, close: stop };
}
