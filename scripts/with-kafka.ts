/**
 * Runs one TypeScript file against a fresh real Kafka broker (for the benchmarks):
 *
 *   tsx scripts/with-kafka.ts bench/pipeline.bench.ts [args...]
 *
 * The file sees the broker as IPWATCH_KAFKA_BROKERS; the broker is stopped afterwards,
 * also on Ctrl-C. The exit code is the file's.
 */
import { spawn } from 'node:child_process';
import { startKafka } from '../infra/kafka-local/harness.ts';
import { childEnv } from '../test/support/components.ts';

async function main(): Promise<number> {
  const [file, ...rest] = process.argv.slice(2);
  if (!file) {
    process.stderr.write('usage: tsx scripts/with-kafka.ts <file.ts> [args...]\n');
    return 2;
  }
  const t0 = Date.now();
  const kafka = await startKafka();
  process.stderr.write(`kafka broker ready on ${kafka.brokers} in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
  let interrupted = false;
  try {
    const child = spawn(process.execPath, ['--import', 'tsx', file, ...rest], {
      stdio: 'inherit',
      env: childEnv({ IPWATCH_KAFKA_BROKERS: kafka.brokers }),
    });
    const forward = (signal: NodeJS.Signals): void => {
      interrupted = true;
      child.kill(signal);
    };
    process.on('SIGINT', forward);
    process.on('SIGTERM', forward);
    const code = await new Promise<number>((res) => {
      child.once('exit', (c) => res(c ?? 1));
      child.once('error', (err) => {
        process.stderr.write(`could not start ${file}: ${err.message}\n`);
        res(1);
      });
    });
    return interrupted ? 130 : code;
  } finally {
    await kafka.stop();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
