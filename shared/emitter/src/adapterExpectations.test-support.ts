/**
 * What the adapters' tests (Express, node:http, Fastify, the recorder) expect alike, written
 * once: a wait that polls, a block mirror over loaded lists, the answers blocked clients get,
 * and the rate-limit expectations. Test code: tsconfig.build.json leaves it out of dist/.
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import type { RateLimitEvent, RequestEvent } from '@ipwatch/core/schemas';
import { createMemorySharedLists } from '@ipwatch/core/sharedLists/memory';
import { createBlockMirror, type BlockMirror } from './blockMirror/blockMirror.ts';
import type { BlockedResponseOptions } from './enforcement.ts';

/** An app under test as the expectations see it: a GET from a forwarded address, and the events that reached its log. */
export interface AppUnderTest {
  get(ip: string, headers?: Record<string, string>): Promise<Response>;
  requests(): RequestEvent[];
  limits(): RateLimitEvent[];
}

/**
 * Polls `cond` every 5 ms until it holds; throws naming `what` after `timeoutMs`.
 *
 * @example
 * await until(() => t.requests().length === 2, 'two events');
 */
export async function until(cond: () => boolean, what = 'a condition', timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

const entry = (target: string) => ({ target, expiresAt: null, record: '{}' });

/**
 * A block mirror over in-process lists holding these targets, loaded. The caller closes it.
 *
 * @example
 * const blockMirror = await loadedMirror(['203.0.113.0/24'], ['203.0.113.10']);
 */
export async function loadedMirror(blocks: string[], allow: string[] = []): Promise<BlockMirror> {
  const lists = createMemorySharedLists();
  await lists.replace('blocks', blocks.map(entry));
  await lists.replace('allow', allow.map(entry));
  const blockMirror = createBlockMirror({ lists });
  await blockMirror.ready;
  return blockMirror;
}

/**
 * Blocked clients get 403 with `blocked.text` (the option the app was given), or with
 * `blocked.json` when they accept JSON.
 *
 * @example
 * const blocked = { text: 'go away', json: { error: 'blocked' } };
 * await expectBlockedAnswers(t, blocked, '203.0.113.7', '203.0.113.8');
 */
export async function expectBlockedAnswers(t: AppUnderTest, blocked: Required<Pick<BlockedResponseOptions, 'text' | 'json'>>, textIp: string, jsonIp: string): Promise<void> {
  const text = await t.get(textIp);
  assert.equal(text.status, 403);
  assert.equal(await text.text(), blocked.text);
  const json = await t.get(jsonIp, { accept: 'application/json' });
  assert.equal(json.status, 403);
  assert.deepEqual(await json.json(), blocked.json);
}

/**
 * The rate-limit expectations every adapter meets, for an app named 'shop' that limits
 * anonymous clients to 3 a minute: six requests from `ip` get 200 three times then 429
 * three times, the last with Retry-After and RateLimit-Policy; all six are logged, the
 * refused three marked rateLimited; the refusals fold into one RateLimitEvent.
 *
 * @example
 * await expectThreeAMinuteLimit(await setup({ at: 'mounted' }));
 */
export async function expectThreeAMinuteLimit(t: AppUnderTest, ip = '198.51.100.20'): Promise<void> {
  const statuses: number[] = [];
  let last: Response | undefined;
  for (let i = 0; i < 6; i++) {
    last = await t.get(ip);
    statuses.push(last.status);
    await last.text();
  }
  assert.deepEqual(statuses, [200, 200, 200, 429, 429, 429]);
  assert.ok(Number(last!.headers.get('retry-after')) > 0);
  assert.equal(last!.headers.get('ratelimit-policy'), '"anonymous";q=3;w=60');
  await until(() => t.requests().length === 6, 'six request events');
  assert.equal(t.requests().filter((e) => e.rateLimited && e.status === 429).length, 3);
  await until(() => t.limits().length > 0, 'a rate-limit event');
  const [event] = t.limits() as [RateLimitEvent];
  assert.equal(t.limits().length, 1);
  assert.deepEqual(
    { ip: event.ip, rule: event.rule, limitKey: event.limitKey, count: event.count, limit: event.limit, app: event.app },
    { ip, rule: 'anonymous', limitKey: ip, count: 3, limit: 3, app: 'shop' },
  );
}
