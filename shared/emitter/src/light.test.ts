/** The emitter goes into every app: it must not pull in the ClickHouse engine or the services. */
import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

const HEAVY = /^(chdb|@clickhouse\/|@ipwatch\/(store|enricher|sink|api|cli)$|maxmind$|@ip-location-db\/)/;

function deps(pkgJson: URL): string[] {
  const pkg = JSON.parse(readFileSync(pkgJson, 'utf8')) as { dependencies?: Record<string, string> };
  return Object.keys(pkg.dependencies ?? {});
}

test('@ipwatch/emitter and what it depends on (@ipwatch/core) carry no heavy dependency', () => {
  const emitter = deps(new URL('../package.json', import.meta.url));
  const core = deps(new URL('../../core/package.json', import.meta.url));
  assert.deepEqual(emitter, ['@ipwatch/core']);
  for (const name of [...emitter, ...core]) assert.doesNotMatch(name, HEAVY, `${name} would make every app install it`);
});
