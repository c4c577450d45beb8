/**
 * The packages as an app outside this repository gets them: @ipwatch/core and
 * @ipwatch/emitter built and packed (`npm pack`), installed offline from npm's cache (which
 * `npm ci` filled: scripts/cache-app-deps.mjs) into scratch JavaScript apps in a temporary
 * directory, with no path into the repo and no tsx. One app is an ES module on Express, one
 * is CommonJS on node:http loading the packages with require(); both publish to the real
 * Kafka broker and enforce a block read from the real Redis. A TypeScript file type-checks
 * against the installed .d.ts.
 */
import { afterAll, beforeAll, describe, test, jest } from '@jest/globals';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createKafkaEventLog } from '@ipwatch/core/eventLog/kafka';
import { createRedisSharedLists } from '@ipwatch/core/sharedLists/redis';
import { codecs, type RequestEvent } from '@ipwatch/core/schemas';
import type { LogMessage } from '@ipwatch/core/eventLog';
import { kafkaBrokers, redisUrl, uniqueName } from './support/components.ts';
import { call, eventually, startListeningProcess, type AppProcess } from './support/appProcess.ts';

const run = promisify(execFile);
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const NPM_ENV = { ...process.env, npm_config_audit: 'false', npm_config_fund: 'false', npm_config_update_notifier: 'false' };

/** An app's process environment: nothing of the repo's (no ipwatch-source condition, no IPWATCH_*). */
function appEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, HOME: process.env.HOME, ...extra };
}

const ESM_APP = `
import express from 'express';
import { ipwatch, createKafkaEventLog, createBlockMirror, createRedisSharedLists } from '@ipwatch/emitter';

const log = createKafkaEventLog({ brokers: process.env.BROKERS.split(','), clientId: 'scratch-esm' });
const blockMirror = createBlockMirror({ lists: createRedisSharedLists(process.env.REDIS_URL, { keyPrefix: process.env.KEY_PREFIX }) });
const tracker = ipwatch({ log, topic: process.env.TOPIC, app: 'scratch-esm', trustedProxies: ['127.0.0.1'], blockMirror, bufferOptions: { flushIntervalMs: 20 } });
const app = express();
app.use(tracker);
app.get('/hello', (req, res) => res.send('hello from esm'));
await blockMirror.ready;
const server = app.listen(0, '127.0.0.1', () => console.log(JSON.stringify({ port: server.address().port })));
process.on('SIGTERM', async () => { server.close(); await tracker.close(); await blockMirror.close(); await log.close(); process.exit(0); });
`;

const CJS_APP = `
const { createServer } = require('node:http');
const { withIpwatch, createKafkaEventLog, createBlockMirror, createRedisSharedLists } = require('@ipwatch/emitter');

const log = createKafkaEventLog({ brokers: process.env.BROKERS.split(','), clientId: 'scratch-cjs' });
const blockMirror = createBlockMirror({ lists: createRedisSharedLists(process.env.REDIS_URL, { keyPrefix: process.env.KEY_PREFIX }) });
const handler = withIpwatch((req, res) => res.end('hello from cjs'), { log, topic: process.env.TOPIC, app: 'scratch-cjs', trustedProxies: ['127.0.0.1'], blockMirror, bufferOptions: { flushIntervalMs: 20 } });
blockMirror.ready.then(() => {
  const server = createServer(handler).listen(0, '127.0.0.1', () => console.log(JSON.stringify({ port: server.address().port })));
  process.on('SIGTERM', async () => { server.close(); await handler.close(); await blockMirror.close(); await log.close(); process.exit(0); });
});
`;

const TS_APP = `
import { ipwatch, ipwatchFastify, createKafkaEventLog, type IpwatchStats } from '@ipwatch/emitter';
import { TOPICS } from '@ipwatch/core/topics';
const tracker = ipwatch({ log: createKafkaEventLog({ brokers: ['kafka:9092'], clientId: 'typed' }), app: 'typed', trustedProxies: ['10.0.0.0/8'] });
const stats: IpwatchStats = tracker.stats();
const sent: number = stats.sent;
const topic: string = TOPICS.requests;
void ipwatchFastify; void sent; void topic;
`;

/** name -> version of what the packages and Express pull in, as locked (and cached by `npm ci`). */
async function lockedVersions(): Promise<Record<string, string>> {
  return JSON.parse((await run(process.execPath, [join(ROOT, 'scripts/cache-app-deps.mjs'), '--print'])).stdout) as Record<string, string>;
}

describe('@ipwatch/emitter installed from its tarball into apps outside the repository', () => {
  jest.setTimeout(240_000);
  const work = mkdtempSync(join(tmpdir(), 'ipwatch-packages-'));
  const packs = join(work, 'packs');
  const topic = uniqueName('scratch-requests');
  const keyPrefix = `${uniqueName('scratch')}:`;
  const log = createKafkaEventLog({ brokers: kafkaBrokers(), clientId: 'packages-test', logLevel: 'nothing' });
  const lists = createRedisSharedLists(redisUrl(), { keyPrefix });
  const events: RequestEvent[] = [];
  let stopConsumer: (() => Promise<void>) | null = null;
  const apps: AppProcess[] = [];

  /** A scratch app: package.json naming the tarballs (and Express), installed offline. */
  async function scratch(name: string, type: 'module' | 'commonjs', extraDeps: Record<string, string>): Promise<string> {
    const dir = join(work, name);
    mkdirSync(dir);
    const closure = await lockedVersions();
    const tarballs = readdirSync(packs);
    const tarball = (pkg: string) => `file:../packs/${tarballs.find((f) => f.startsWith(`ipwatch-${pkg}-`))!}`;
    const dependencies: Record<string, string> = { '@ipwatch/core': tarball('core'), '@ipwatch/emitter': tarball('emitter'), ...extraDeps };
    // Pinned to the versions locked (and cached): a newer release the cache lacks is never picked.
    const overrides = Object.fromEntries(Object.entries(closure).filter(([dep]) => !(dep in dependencies)));
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name, private: true, type, dependencies, overrides }, null, 2));
    await run('npm', ['install', '--offline', '--no-audit', '--no-fund', '--loglevel', 'error'], { cwd: dir, env: NPM_ENV }).catch((err: Error & { stderr?: string }) => {
      throw new Error(`offline install of ${name} failed (did \`npm ci\` fill the cache? node scripts/cache-app-deps.mjs does):\n${err.stderr ?? err.message}`);
    });
    return dir;
  }

  beforeAll(async () => {
    await run(process.execPath, [join(ROOT, 'scripts/build-packages.mjs')]);
    mkdirSync(packs);
    for (const pkg of ['core', 'emitter']) await run('npm', ['pack', '--pack-destination', packs, '--loglevel', 'error'], { cwd: join(ROOT, 'shared', pkg), env: NPM_ENV });
    await log.ensureTopics([{ name: topic, partitions: 1, config: {} }]);
    const consumer = await log.consume({
      groupId: uniqueName('packages'),
      topics: [topic],
      fromBeginning: true,
      handle: async (batch) => void events.push(...batch.messages.map((m: LogMessage) => codecs.RequestEvent.decode(m.value!))),
    });
    stopConsumer = () => consumer.stop();
    // What blocksync would write: one block, an empty allowlist.
    await lists.replace('blocks', [{ target: '203.0.113.0/24', expiresAt: null, record: '{}' }]);
    await lists.replace('allow', []);
  });

  afterAll(async () => {
    for (const app of apps) await app.stop();
    await stopConsumer?.();
    await log.close();
    await lists.close();
    rmSync(work, { recursive: true, force: true });
  });

  test('the tarballs hold built JavaScript, types and the schemas; every export names a file that is there', async () => {
    for (const pkg of ['core', 'emitter']) {
      const tarball = readdirSync(packs).find((f) => f.startsWith(`ipwatch-${pkg}-`))!;
      const { stdout } = await run('tar', ['-tzf', join(packs, tarball)]);
      const files = new Set(stdout.trim().split('\n').map((f) => f.replace(/^package\//, '')));
      const manifest = JSON.parse(readFileSync(join(ROOT, 'shared', pkg, 'package.json'), 'utf8')) as { exports: Record<string, Record<string, string>>; dependencies: Record<string, string> };
      for (const [entry, targets] of Object.entries(manifest.exports)) {
        assert.ok(!entry.includes('*'), `${pkg}: ${entry} is a wildcard`);
        for (const condition of ['types', 'default']) assert.ok(files.has(targets[condition]!.replace(/^\.\//, '')), `${pkg}: ${entry} (${condition}) names ${targets[condition]}, not in the tarball`);
      }
      assert.ok(![...files].some((f) => /\.test(-support)?\.js$/.test(f) || f.startsWith('src/')), `${pkg}: no tests, test helpers or sources in the tarball`);
      assert.ok(!('express' in manifest.dependencies) && !('chdb' in manifest.dependencies));
      if (pkg === 'core') assert.ok(files.has('dist/avsc/RequestEvent.avsc'), 'the codecs need the .avsc files');
    }
  });

  test('an ES module Express app: events reach Kafka, a blocked client gets 403', async () => {
    const dir = await scratch('esm-app', 'module', { express: (await lockedVersions()).express! });
    writeFileSync(join(dir, 'app.js'), ESM_APP);
    const app = await startListeningProcess(['app.js'], { cwd: dir, env: appEnv({ BROKERS: kafkaBrokers().join(','), REDIS_URL: redisUrl(), KEY_PREFIX: keyPrefix, TOPIC: topic }) });
    apps.push(app);
    const ok = await call(app.port, '/hello', { xff: '198.51.100.1' });
    assert.deepEqual([ok.status, ok.body], [200, 'hello from esm']);
    const blocked = await call(app.port, '/hello', { xff: '203.0.113.9' });
    assert.equal(blocked.status, 403);
    await eventually('both events on Kafka', () => events.filter((e) => e.app === 'scratch-esm').length === 2, 30_000);
    const byIp = new Map(events.filter((e) => e.app === 'scratch-esm').map((e) => [e.ip, e]));
    assert.deepEqual([byIp.get('198.51.100.1')?.status, byIp.get('198.51.100.1')?.blocked, byIp.get('198.51.100.1')?.path], [200, false, '/hello']);
    assert.deepEqual([byIp.get('203.0.113.9')?.status, byIp.get('203.0.113.9')?.blocked], [403, true]);
  });

  test('a CommonJS node:http app loading the packages with require(): events reach Kafka, a blocked client gets 403', async () => {
    const dir = await scratch('cjs-app', 'commonjs', {});
    writeFileSync(join(dir, 'app.js'), CJS_APP);
    const app = await startListeningProcess(['app.js'], { cwd: dir, env: appEnv({ BROKERS: kafkaBrokers().join(','), REDIS_URL: redisUrl(), KEY_PREFIX: keyPrefix, TOPIC: topic }) });
    apps.push(app);
    assert.equal((await call(app.port, '/x', { xff: '198.51.100.2' })).body, 'hello from cjs');
    assert.equal((await call(app.port, '/x', { xff: '203.0.113.200' })).status, 403);
    await eventually('both events on Kafka', () => events.filter((e) => e.app === 'scratch-cjs').length === 2, 30_000);
    assert.deepEqual(events.filter((e) => e.app === 'scratch-cjs').map((e) => [e.ip, e.status, e.blocked]).sort(), [['198.51.100.2', 200, false], ['203.0.113.200', 403, true]]);
  });

  test('TypeScript in the app type-checks against the installed .d.ts', async () => {
    const dir = join(work, 'cjs-app');
    // @types/node from the repo's install stands in for the app's own (any TypeScript app on node has it).
    writeFileSync(join(dir, 'app.ts'), TS_APP);
    writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions: { strict: true, module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2022', noEmit: true, typeRoots: [join(ROOT, 'node_modules/@types')], types: ['node'] }, files: ['app.ts'] }));
    await run(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', dir]).catch((err: Error & { stdout?: string }) => {
      throw new Error(`the installed types do not check:\n${err.stdout ?? err.message}`);
    });
  });
});
