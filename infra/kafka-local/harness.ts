/**
 * A real single-node Kafka broker (KRaft, combined controller + broker) on loopback, for
 * tests and benchmarks. No Docker here: the broker's jars come from Maven Central (jars.ts,
 * through the pom.xml beside this file), and run on the machine's JDK (see
 * /work/shared/KAFKA-LOCAL.md).
 *
 * Run it by hand with `npx tsx infra/kafka-local/harness.ts`: it prints
 * `IPWATCH_KAFKA_BROKERS=127.0.0.1:<port>` and runs until Ctrl-C.
 *
 * @example
 * const kafka = await startKafka();
 * try { await runTests(kafka.brokers); } finally { await kafka.stop(); }
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, openSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Kafka, Partitioners, logLevel } from 'kafkajs';
import { ensureKafkaJars, KAFKA_VERSION, readText, run, tail } from './jars.ts';

export { ensureKafkaJars, KAFKA_VERSION } from './jars.ts';

const JVM_OPTS = ['-Xms256m', '-Xmx512m', '-XX:+UseSerialGC', '-XX:TieredStopAtLevel=1'];

export interface StartKafkaOptions {
  /** Folder of the broker's jars; default `<repo>/.cache/kafka-4.1.1`, filled by `ensureKafkaJars`. */
  jarsDir?: string;
  /** How long to wait for the broker to answer; default 90 s. */
  startTimeoutMs?: number;
  /** Extra server.properties entries (override the defaults). */
  properties?: Record<string, string>;
  /** Keep the broker's temp dir (data and logs) after stop, for debugging. Default false. */
  keepDir?: boolean;
}

export interface RunningKafka {
  /** `127.0.0.1:<port>`, the bootstrap address for clients. */
  brokers: string;
  /** The broker's temp dir (data, config, `broker.log`). */
  dir: string;
  /** SIGTERM, SIGKILL after 10 s, then removes the temp dir. Safe to call twice. */
  stop(): Promise<void>;
}

/** Starts a fresh broker on free loopback ports and resolves once it serves clients. */
export async function startKafka(opts: StartKafkaOptions = {}): Promise<RunningKafka> {
  const jarsDir = opts.jarsDir ?? (await ensureKafkaJars());
  const classpath = `${jarsDir}/*`;
  const timeoutMs = opts.startTimeoutMs ?? 90_000;
  const started = Date.now();

  const [port, controllerPort] = (await freePorts(2)) as [number, number];
  const dir = await mkdtemp(join(tmpdir(), 'ipwatch-kafka-'));
  const dataDir = join(dir, 'data');
  const brokers = `127.0.0.1:${port}`;
  const controller = `127.0.0.1:${controllerPort}`;

  const properties: Record<string, string> = {
    'process.roles': 'broker,controller',
    'node.id': '1',
    'controller.quorum.bootstrap.servers': controller,
    listeners: `PLAINTEXT://${brokers},CONTROLLER://${controller}`,
    'advertised.listeners': `PLAINTEXT://${brokers},CONTROLLER://${controller}`,
    'controller.listener.names': 'CONTROLLER',
    'inter.broker.listener.name': 'PLAINTEXT',
    'listener.security.protocol.map': 'CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT',
    'log.dirs': dataDir,
    // One node: every internal topic with replication factor 1, or group coordination never starts.
    'offsets.topic.replication.factor': '1',
    'offsets.topic.num.partitions': '1',
    'transaction.state.log.replication.factor': '1',
    'transaction.state.log.min.isr': '1',
    'share.coordinator.state.topic.replication.factor': '1',
    'share.coordinator.state.topic.min.isr': '1',
    'default.replication.factor': '1',
    'min.insync.replicas': '1',
    'group.initial.rebalance.delay.ms': '0',
    // Tests use short consumer sessions so a lost member is noticed in seconds, not 45 s.
    'group.min.session.timeout.ms': '1000',
    'num.network.threads': '2',
    'num.io.threads': '2',
    'num.partitions': '1',
    'auto.create.topics.enable': 'true',
    'log.cleaner.backoff.ms': '1000',
    ...opts.properties,
  };
  const propsFile = join(dir, 'server.properties');
  await writeFile(propsFile, Object.entries(properties).map(([k, v]) => `${k}=${v}`).join('\n') + '\n');

  const logFile = join(dir, 'broker.log');
  const log4jFile = join(dir, 'log4j2.properties');
  await writeFile(log4jFile, log4jConfig(logFile));
  const javaOpts = [...JVM_OPTS, `-Dlog4j2.configurationFile=${log4jFile}`, `-Dkafka.logs.dir=${dir}`];

  let stopped = false;
  const cleanup = async (): Promise<void> => {
    if (!opts.keepDir) await rm(dir, { recursive: true, force: true });
  };

  // A random 16-byte id, base64url like Kafka's Uuid.toString: saves a JVM start for `random-uuid`.
  const clusterId = kafkaUuid();
  const format = await run(
    'java',
    [...javaOpts, '-cp', classpath, 'kafka.tools.StorageTool', 'format', '--standalone', '-t', clusterId, '-c', propsFile],
    { cwd: dir },
  );
  if (format.code !== 0) {
    await cleanup();
    throw new Error(`kafka StorageTool format failed (exit ${format.code}):\n${tail(format.output, 40)}`);
  }

  // The broker's own stdout/stderr go to a file in its temp dir: quiet tests, logs kept for debugging.
  const outFile = join(dir, 'console.log');
  const outFd = openSync(outFile, 'a');
  const child = spawn('java', [...javaOpts, '-cp', classpath, 'kafka.Kafka', propsFile], {
    cwd: dir,
    stdio: ['ignore', outFd, outFd],
  });
  closeSync(outFd);
  const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));
  let exitCode: number | null | undefined;
  void exited.then((c) => {
    exitCode = c;
  });
  // If this process dies without stopping the broker, do not leave a JVM behind.
  const killOnExit = (): void => {
    if (exitCode === undefined) child.kill('SIGKILL');
  };
  process.once('exit', killOnExit);

  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    process.removeListener('exit', killOnExit);
    await terminate(child, exited, () => exitCode !== undefined);
    await cleanup();
  };

  try {
    await waitReady(brokers, port, timeoutMs, () => exitCode);
  } catch (err) {
    const logs = `${tail(await readText(logFile), 40)}\n${tail(await readText(outFile), 20)}`;
    await stop();
    throw new Error(
      `Kafka broker did not become ready on ${brokers} within ${Math.round((Date.now() - started) / 1000)} s: ${(err as Error).message}\n` +
        `--- broker log tail ---\n${logs}\n` +
        'Check that Java 17+ is installed (java -version) and that nothing else holds the ports; pass keepDir to keep the logs.',
    );
  }
  return { brokers, dir, stop };
}

async function waitReady(brokers: string, port: number, timeoutMs: number, exitCode: () => number | null | undefined): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError = 'port never accepted a connection';
  const checkAlive = (): void => {
    const code = exitCode();
    if (code !== undefined) throw new Error(`the broker process exited with code ${code}`);
  };
  while (!(await canConnect(port))) {
    checkAlive();
    if (Date.now() > deadline) throw new Error(lastError);
    await sleep(150);
  }
  const kafka = new Kafka({
    clientId: 'ipwatch-harness',
    brokers: [brokers],
    logLevel: logLevel.NOTHING,
    retry: { retries: 0 },
    connectionTimeout: 1000,
    requestTimeout: 3000,
  });
  const admin = kafka.admin();
  // The group coordinator (__consumer_offsets) and the producer-id manager start lazily on
  // first use; warming them here keeps every test client from logging "coordinator not available".
  const producer = kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    retry: { retries: 1, initialRetryTime: 50, maxRetryTime: 100 }, // an idempotent producer refuses retries: 0
    createPartitioner: Partitioners.DefaultPartitioner,
  });
  const steps: Array<[string, () => Promise<unknown>]> = [
    ['describeCluster', async () => {
      await admin.connect();
      await admin.describeCluster();
    }],
    ['group coordinator', () => admin.describeGroups(['ipwatch-harness-warmup'])],
    ['idempotent producer', () => producer.connect()],
  ];
  try {
    for (const [name, step] of steps) {
      for (;;) {
        checkAlive();
        try {
          await step();
          break;
        } catch (err) {
          lastError = `${name}: ${(err as Error).message}`;
        }
        if (Date.now() > deadline) throw new Error(lastError);
        await sleep(200);
      }
    }
  } finally {
    await producer.disconnect().catch(() => undefined);
    await admin.disconnect().catch(() => undefined);
  }
}

async function terminate(child: ChildProcess, exited: Promise<unknown>, hasExited: () => boolean): Promise<void> {
  if (hasExited()) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => {
    if (!hasExited()) child.kill('SIGKILL');
  }, 10_000);
  await exited;
  clearTimeout(timer);
}

function log4jConfig(logFile: string): string {
  return [
    'status = warn',
    'name = ipwatch-kafka-local',
    'appender.console.type = Console',
    'appender.console.name = STDERR',
    'appender.console.target = SYSTEM_ERR',
    'appender.console.layout.type = PatternLayout',
    'appender.console.layout.pattern = [%d] %p %m (%c)%n',
    'appender.console.filter.threshold.type = ThresholdFilter',
    'appender.console.filter.threshold.level = warn',
    'appender.file.type = File',
    'appender.file.name = FILE',
    `appender.file.fileName = ${logFile}`,
    'appender.file.layout.type = PatternLayout',
    'appender.file.layout.pattern = [%d] %p %m (%c)%n',
    'rootLogger.level = info',
    'rootLogger.appenderRef.console.ref = STDERR',
    'rootLogger.appenderRef.file.ref = FILE',
    // These two are chatty at INFO even on an idle broker.
    'logger.controller.name = org.apache.kafka.controller',
    'logger.controller.level = warn',
    'logger.raft.name = org.apache.kafka.raft',
    'logger.raft.level = warn',
    '',
  ].join('\n');
}

function kafkaUuid(): string {
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    if (!id.startsWith('-')) return id; // Kafka refuses ids that look like a CLI flag
  }
}

async function freePorts(n: number): Promise<number[]> {
  // Hold every socket open until all are picked, so the same port is not handed out twice.
  const servers = await Promise.all(
    Array.from({ length: n }, () =>
      new Promise<ReturnType<typeof createServer>>((res, rej) => {
        const s = createServer();
        s.once('error', rej);
        s.listen(0, '127.0.0.1', () => res(s));
      }),
    ),
  );
  const ports = servers.map((s) => {
    const addr = s.address();
    if (addr === null || typeof addr === 'string') throw new Error('could not read a free port');
    return addr.port;
  });
  await Promise.all(servers.map((s) => new Promise((res) => s.close(res))));
  return ports;
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((res) => {
    const socket = connect({ host: '127.0.0.1', port });
    const done = (ok: boolean): void => {
      socket.destroy();
      res(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((res) => setTimeout(res, ms));
}

async function main(): Promise<void> {
  const t0 = Date.now();
  const kafka = await startKafka();
  process.stderr.write(`kafka ${KAFKA_VERSION} ready in ${((Date.now() - t0) / 1000).toFixed(1)} s (data and logs in ${kafka.dir}); Ctrl-C stops it\n`);
  process.stdout.write(`IPWATCH_KAFKA_BROKERS=${kafka.brokers}\n`);
  let stopping = false;
  const shutdown = (): void => {
    if (stopping) return;
    stopping = true;
    process.stderr.write('stopping kafka...\n');
    kafka.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(`${String(err)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main().catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
