/**
 * The test runner behind `npm test`: one real Kafka broker and the machine's Redis for the
 * whole run, then node's test runner over every `*.test.ts` under shared/, services/, test/.
 *
 *   tsx scripts/test.ts            all tests (starts a broker)
 *   tsx scripts/test.ts --unit     only files without `.kafka.` in the name, no broker
 *   tsx scripts/test.ts eventLog   only files whose path contains one of the given words
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { connect } from 'node:net';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startKafka, type RunningKafka } from '../infra/kafka-local/harness.ts';
import { childEnv } from '../test/support/components.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const TEST_ROOTS = ['shared', 'services', 'test'];

async function findTests(dir: string, out: string[]): Promise<string[]> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return out;
  }
  for (const e of entries) {
    if (e.name === 'node_modules' || e.name.startsWith('.')) continue;
    const path = join(dir, e.name);
    if (e.isDirectory()) await findTests(path, out);
    else if (e.isFile() && e.name.endsWith('.test.ts')) out.push(path);
  }
  return out;
}

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

async function ensureRedis(): Promise<void> {
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

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  const unit = args.includes('--unit');
  const filters = args.filter((a) => !a.startsWith('--'));
  let files: string[] = [];
  for (const root of TEST_ROOTS) await findTests(join(ROOT, root), files);
  files = files.map((f) => relative(ROOT, f)).sort();
  if (unit) files = files.filter((f) => !f.includes('.kafka.'));
  if (filters.length) files = files.filter((f) => filters.some((w) => f.includes(w)));
  if (files.length === 0) {
    process.stderr.write('no test files matched\n');
    return 1;
  }

  let kafka: RunningKafka | null = null;
  let child: ChildProcess | null = null;
  let interrupted = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (interrupted) return;
    interrupted = true;
    process.stderr.write(`\n${signal}: stopping the tests and the broker...\n`);
    child?.kill(signal);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  try {
    const extraEnv: Record<string, string> = {};
    const needsKafka = !unit && files.some((f) => f.includes('.kafka.'));
    const [broker] = await Promise.all([
      // Only a run with Kafka tests pays for a broker; --unit never starts one.
      needsKafka ? startKafkaTimed() : Promise.resolve(null),
      ensureRedis(),
    ]);
    kafka = broker;
    if (kafka) extraEnv.IPWATCH_TEST_KAFKA_BROKERS = kafka.brokers;
    if (interrupted) return 130;

    // --test-force-exit: a test file that fails before its cleanup leaves handles open (consumers,
    // sockets); without it that file never exits and the whole run hangs instead of reporting.
    child = spawn(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=1', '--test-force-exit', ...files], {
      cwd: ROOT,
      stdio: 'inherit',
      env: childEnv(extraEnv),
    });
    const running = child;
    const code = await new Promise<number>((res) => {
      running.once('exit', (c, signal) => res(c ?? (signal ? 128 + 2 : 1)));
      running.once('error', (err) => {
        process.stderr.write(`could not start node --test: ${err.message}\n`);
        res(1);
      });
    });
    return interrupted ? 130 : code;
  } finally {
    await kafka?.stop();
  }
}

async function startKafkaTimed(): Promise<RunningKafka> {
  const t0 = Date.now();
  const kafka = await startKafka();
  process.stderr.write(`kafka broker ready on ${kafka.brokers} in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
  return kafka;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
