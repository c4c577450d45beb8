/**
 * The contract every EventLog adapter passes (ARCHITECTURE.md: "each adapter passes the same
 * contract tests"). Run it from a test file beside the adapter:
 *
 * @example
 * eventLogContract('memory', async () => createMemoryEventLog());
 *
 * `make` is called once per test and must return a fresh client (the test closes it); two
 * clients made for one test must see the same log, so for the in-process adapter each
 * test keeps to the one log it made.
 */
import assert from 'node:assert/strict';
import { describe, test } from '@jest/globals';
import type { EventLog } from '../eventLog.ts';
import { compactedAndDlqContract } from './contractCompacted.ts';
import { consumerGroupContract } from './contractGroups.ts';
import { rangeReadContract } from './contractRange.ts';
import { TEST_TIMEOUT_MS, type WithLog } from './contractSupport.ts';

export function eventLogContract(name: string, make: () => Promise<EventLog>): void {
  const withLog: WithLog = async (fn) => {
    const log = await make();
    try {
      await fn(log);
    } finally {
      await log.close();
    }
  };

  describe(`EventLog contract: ${name}`, () => {
    test('epoch names the offset space: non-empty and stable for one log', () =>
      withLog(async (log) => {
        const a = await log.epoch();
        assert.ok(a.length > 0);
        assert.equal(await log.epoch(), a);
      }), TEST_TIMEOUT_MS,
    );

    consumerGroupContract(withLog);
    compactedAndDlqContract(withLog);
    rangeReadContract(withLog);
  });
}
