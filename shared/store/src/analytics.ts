/**
 * The analytics store: one `@clickhouse/client` whatever the engine. Embedded mode plugs
 * chDB in as the client's connection (ClickHouse in-process, data on disk); distributed
 * mode talks HTTP to a ClickHouse server. The SQL is the same either way.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createClient, type ClickHouseClient } from '@clickhouse/client';

type ClientOptions = NonNullable<Parameters<typeof createClient>[0]>;
import type { IpwatchConfig } from '@ipwatch/core/config';

export interface Analytics {
  readonly client: ClickHouseClient;
  readonly engine: 'chdb' | 'server';
  readonly database: string;
  close(): Promise<void>;
}

const CHDB_DATABASE = 'ipwatch';

/**
 * Opens the store named by the config: `clickhouse` set means a server, otherwise chDB
 * under `<dataDir>/chdb`. Creates the database if it is missing.
 */
export async function openAnalytics(config: Pick<IpwatchConfig, 'clickhouse' | 'dataDir'>): Promise<Analytics> {
  if (config.clickhouse) {
    const { url, username, password, database } = config.clickhouse;
    const bootstrap = createClient({ url, username, password });
    try {
      // database is a validated identifier (config.ts), so it is safe to place in DDL.
      await bootstrap.command({ query: `CREATE DATABASE IF NOT EXISTS ${database}` });
    } catch (err) {
      throw new Error(`cannot reach ClickHouse at ${url}: ${(err as Error).message}. Check IPWATCH_CLICKHOUSE_URL and that the server is up.`, { cause: err });
    } finally {
      await bootstrap.close();
    }
    const client = createClient({ url, username, password, database, clickhouse_settings: { date_time_input_format: 'best_effort' } });
    return { client, engine: 'server', database, close: () => client.close() };
  }
  // chDB is loaded only here, so a server deployment never needs its 500 MB native library.
  const { createChdbConnection } = await import('chdb/connection');
  const path = join(config.dataDir, 'chdb');
  mkdirSync(path, { recursive: true });
  // chdb types its connection against @clickhouse/client-common's copy of the settings
  // types, which is structurally the same as the client's own but nominally distinct.
  const connection = createChdbConnection({ path }) as unknown as NonNullable<ClientOptions['connection']>;
  const client = createClient({ connection, clickhouse_settings: { date_time_input_format: 'best_effort' } });
  // chDB runs one session per process and ignores the client's `database` option; USE sticks to that session.
  await client.command({ query: `CREATE DATABASE IF NOT EXISTS ${CHDB_DATABASE}` });
  await client.command({ query: `USE ${CHDB_DATABASE}` });
  return { client, engine: 'chdb', database: CHDB_DATABASE, close: () => client.close() };
}
