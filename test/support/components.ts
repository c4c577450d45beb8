/**
 * Where the tests find the real components (ARCHITECTURE.md, "Real components"). The one
 * test-side module that reads the environment: jest's global setup (test/support/jest/) starts a broker and
 * passes its address down as IPWATCH_TEST_KAFKA_BROKERS.
 *
 * @example
 * const log = createKafkaEventLog({ brokers: kafkaBrokers(), clientId: uniqueName('test') });
 */
import { randomBytes } from 'node:crypto';

/** Bootstrap addresses of the broker `npm test` started. Throws with what to do when there is none. */
export function kafkaBrokers(): string[] {
  const raw = process.env.IPWATCH_TEST_KAFKA_BROKERS?.trim();
  if (!raw) {
    throw new Error(
      'IPWATCH_TEST_KAFKA_BROKERS is not set: run the tests with npm test, which starts a broker ' +
        '(or `npm test -- <word-in-path>` for some files; `npm run test:unit` skips the *.kafka.* files).',
    );
  }
  return raw.split(',').map((b) => b.trim()).filter(Boolean);
}

/** The machine's Redis on loopback; `npm test` starts redis-server when none answers. */
export function redisUrl(): string {
  return 'redis://127.0.0.1:6379';
}

let counter = 0;
/** A name no other test (or earlier run against the same broker) uses: for topics, groups, keys. */
export function uniqueName(prefix: string): string {
  counter += 1;
  return `${prefix}-${process.pid}-${counter}-${randomBytes(3).toString('hex')}`;
}

/**
 * The environment for a child process (test runner, benchmark): this process's own plus
 * `extra`. Kept here so that reading `process.env` stays in one module.
 */
export function childEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  return { ...process.env, ...extra };
}
