/**
 * Jest global setup for the files that need Redis: the machine's Redis on 127.0.0.1:6379
 * (redisUrl()), started with redis-server when none answers. Files with redis-servers of
 * their own (redisServer.ts) only need the binary.
 */
import { spawnSync } from 'node:child_process';
import { connect } from 'node:net';

function redisAnswers(): Promise<boolean> {
  return new Promise((res) => {
    const socket = connect({ host: '127.0.0.1', port: 6379 });
    let reply = '';
    const done = (ok: boolean): void => {
      socket.destroy();
      res(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (d: Buffer) => {
      reply += d.toString('utf8');
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG'));
    });
  });
}

export async function ensureRedis(): Promise<void> {
  if (await redisAnswers()) return;
  const r = spawnSync('redis-server', ['--daemonize', 'yes', '--port', '6379', '--save', '', '--appendonly', 'no'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    process.stderr.write(`warning: no Redis on 127.0.0.1:6379 and redis-server did not start (${r.error?.message ?? r.stderr.trim()}); tests that need Redis will fail\n`);
    return;
  }
  for (let i = 0; i < 50; i++) {
    if (await redisAnswers()) return;
    await new Promise((res) => setTimeout(res, 100));
  }
  process.stderr.write('warning: redis-server started but does not answer PING on 127.0.0.1:6379\n');
}
