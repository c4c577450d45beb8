// Jest loads global hooks as CommonJS through its transform, where import.meta (the broker
// harness needs it) does not exist; tsx loads the TypeScript as ESM instead.
import { tsImport } from 'tsx/esm/api';

export default async function globalSetup() {
  const { startKafkaForTests } = await tsImport('./startKafka.ts', import.meta.url);
  await startKafkaForTests();
}
