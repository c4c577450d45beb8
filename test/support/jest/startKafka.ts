/**
 * Jest global setup for the `.kafka.` files: one real broker for the whole run (and the
 * machine's Redis), its address passed to the test workers as IPWATCH_TEST_KAFKA_BROKERS,
 * which components.ts reads. stopKafka.ts stops it.
 */
import { startKafka } from '../../../infra/kafka-local/harness.ts';
import { ensureRedis } from './ensureRedis.ts';
import { RUNNING_KAFKA } from './runningKafka.ts';

export async function startKafkaForTests(): Promise<void> {
  const t0 = Date.now();
  const [kafka] = await Promise.all([startKafka(), ensureRedis()]);
  // Globals set here reach only the teardown; the workers, forked later, inherit the environment.
  (globalThis as Record<symbol, unknown>)[RUNNING_KAFKA] = kafka;
  process.env.IPWATCH_TEST_KAFKA_BROKERS = kafka.brokers;
  process.stderr.write(`\nkafka broker ready on ${kafka.brokers} in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
}
