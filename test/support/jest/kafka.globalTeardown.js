// See kafka.globalSetup.js for why this is JavaScript loading TypeScript through tsx.
import { tsImport } from 'tsx/esm/api';

export default async function globalTeardown() {
  const { stopKafkaForTests } = await tsImport('./stopKafka.ts', import.meta.url);
  await stopKafkaForTests();
}
