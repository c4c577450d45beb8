/**
 * A real ClickHouse engine for tests: chDB in a fresh temporary directory. chDB allows one
 * engine per process, so each test file shares one (node --test runs files in separate
 * processes); tests keep apart by their own rows, not by their own database.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openAnalytics, migrate, type Analytics } from '@ipwatch/store';

let shared: Promise<Analytics> | undefined;

export function testAnalytics(): Promise<Analytics> {
  shared ??= (async () => {
    const analytics = await openAnalytics({ clickhouse: null, dataDir: mkdtempSync(join(tmpdir(), 'ipwatch-chdb-')) });
    await migrate(analytics);
    return analytics;
  })();
  return shared;
}
