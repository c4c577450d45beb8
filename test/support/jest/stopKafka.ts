/** Jest global teardown for the `.kafka.` files: stops the broker startKafka.ts started. */
import type { RunningKafka } from '../../../infra/kafka-local/harness.ts';
import { RUNNING_KAFKA } from './runningKafka.ts';

export async function stopKafkaForTests(): Promise<void> {
  const kafka = (globalThis as Record<symbol, unknown>)[RUNNING_KAFKA] as RunningKafka | undefined;
  await kafka?.stop();
}
