/**
 * The shared lists in Redis, for the distributed mode: blocksync writes, every emitter's
 * block mirror reads a snapshot (HSCAN) and then follows the announced changes (pub/sub).
 *
 * Layout (keyPrefix defaults to "ipwatch:"):
 *   ipwatch:list:blocks, ipwatch:list:allow   hash: field = target, value = "<expiresAt>|<record>"
 *                                              (expiresAt empty for never), so a reader gets the
 *                                              expiry with one indexOf, without JSON.parse of the record
 *   ipwatch:list:<list>:loading:<uuid>         replace()'s temporary hash, renamed over the live one
 *                                              (expires by itself if the writer dies half way)
 *   ipwatch:list:<list>:written                 set by replace(): the list was written whole since Redis
 *                                              started (a restarted or evicting Redis loses it)
 *   ipwatch:list:changes                       pub/sub channel, one message per change:
 *                                              "put|<list>|<target>|<expiresAt>|<record>",
 *                                              "del|<list>|<target>", "reset|<list>"
 *
 * put/remove change the hash and publish in one MULTI, so a reader that subscribed before
 * scanning can never miss a change nor see it announced before it is stored.
 *
 * @example
 * const lists = createRedisSharedLists('redis://127.0.0.1:6379', { keyPrefix: 'ipwatch:' });
 * await lists.put('blocks', { target: '203.0.113.7', expiresAt: Date.now() + 3_600_000, record: JSON.stringify(decision) });
 */
import { randomUUID } from 'node:crypto';
import { firstEvent } from '../deadline.ts';
import { createRedisClient, type Redis } from '../redis.ts';
import type { ListChange, ListEntry, ListName, ListSubscription, SharedLists } from '../sharedLists.ts';
import { assertEntry, assertListName, assertTarget, closedError } from './entry.ts';

export interface RedisSharedListsOptions {
  /** Prefix of every key and of the channel. Default "ipwatch:". */
  keyPrefix?: string;
  /** Connection name shown in CLIENT LIST; the subscriber adds ":sub". Default "ipwatch-lists". */
  name?: string;
  /**
   * Deadline of one command, ms. Default 2000: nothing here is in a request path, and one
   * HSCAN of 10,000 entries on a busy Redis may take longer than the emitter's 250 ms.
   */
  commandTimeoutMs?: number;
  /** HSCAN COUNT: entries asked for per round trip of scan(). Default 10,000. */
  scanCount?: number;
  /** Fields per HSET while replace() fills its temporary hash. Default 1000. */
  writeChunkSize?: number;
  /** Told about data this adapter did not write and cannot read (skipped). Default: process.emitWarning. */
  onWarn?: (message: string) => void;
}

/** Chunks of replace() in flight at once: enough to keep Redis busy, few enough to stay inside the command deadline. */
const REPLACE_IN_FLIGHT = 8;
/** The temporary hash of replace() lives this long after its last chunk, so a dead writer leaves nothing behind. */
const LOADING_TTL_MS = 60_000;

export function createRedisSharedLists(url: string, options: RedisSharedListsOptions = {}): SharedLists {
  const prefix = options.keyPrefix ?? 'ipwatch:';
  const name = options.name ?? 'ipwatch-lists';
  const scanCount = options.scanCount ?? 10_000;
  const chunkSize = options.writeChunkSize ?? 1000;
  const warn = options.onWarn ?? ((message: string) => process.emitWarning(message));
  const channel = `${prefix}list:changes`;
  const keyOf = (list: ListName): string => `${prefix}list:${list}`;

  const client = createRedisClient(url, { name, commandTimeoutMs: options.commandTimeoutMs ?? 2000 });
  const subscribers = new Set<Redis>();
  let closed = false;
  const ensureOpen = (): void => {
    if (closed) throw closedError('Redis');
  };

  // The client fails commands at once while disconnected; only its very first connection
  // is waited for (bounded), so that an operation right after creation does not fail.
  const commandTimeoutMs = options.commandTimeoutMs ?? 2000;
  let firstConnect: Promise<void> | null = firstEvent(client, ['ready', 'close'], commandTimeoutMs, { unref: true }).then(() => {
    firstConnect = null;
  });
  const connected = async (): Promise<void> => {
    ensureOpen();
    if (firstConnect) await firstConnect;
  };

  const encodeValue = (e: ListEntry): string => `${e.expiresAt ?? ''}|${e.record}`;

  /** "<expiresAt>|<record>" back to an entry; null if someone else wrote something else there. */
  const decodeValue = (target: string, value: string): ListEntry | null => {
    const bar = value.indexOf('|');
    if (bar < 0) return null;
    const expiresAt = bar === 0 ? null : Number(value.slice(0, bar));
    if (expiresAt !== null && !Number.isFinite(expiresAt)) return null;
    return { target, expiresAt, record: value.slice(bar + 1) };
  };

  const decodeChange = (message: string): ListChange | null => {
    // Fields are split on the first '|'s only: targets never hold one, records may.
    const a = message.indexOf('|');
    const b = message.indexOf('|', a + 1);
    const op = message.slice(0, a);
    const list = b < 0 ? message.slice(a + 1) : message.slice(a + 1, b);
    if (a < 0 || (list !== 'blocks' && list !== 'allow')) return null;
    if (op === 'reset' && b < 0) return { op, list };
    if (b < 0) return null;
    if (op === 'del') return { op, list, target: message.slice(b + 1) };
    if (op !== 'put') return null;
    const c = message.indexOf('|', b + 1);
    if (c < 0) return null;
    const entry = decodeValue(message.slice(b + 1, c), message.slice(c + 1));
    return entry && { op, list, entry };
  };

  /** MULTI and pipelines answer each command with its own error; the first one fails the call. */
  const checkAnswers = (answers: Array<[Error | null, unknown]> | null, what: string): void => {
    if (answers === null) throw new Error(`redis: ${what} was aborted (MULTI discarded)`);
    for (const [err] of answers) if (err) throw err;
  };

  return {
    kind: 'redis',

    async replace(list, entries) {
      await connected();
      assertListName(list);
      const live = keyOf(list);
      const loading = `${live}:loading:${randomUUID()}`;
      let count = 0;
      // Each chunk's failure is caught where it happens (an unobserved rejection would
      // crash the process) and rethrown once the chunks before it are done.
      let failure: unknown = null;
      const inFlight: Array<Promise<void>> = [];
      const send = (fields: string[]): void => {
        const chunk = client.pipeline().hset(loading, ...fields).pexpire(loading, LOADING_TTL_MS).exec();
        inFlight.push(chunk.then((answers) => checkAnswers(answers, `HSET into ${loading}`)).catch((err: unknown) => void (failure ??= err)));
      };
      try {
        let fields: string[] = [];
        for (const entry of entries) {
          assertEntry(entry);
          fields.push(entry.target, encodeValue(entry));
          count++;
          if (fields.length < chunkSize * 2) continue;
          send(fields);
          fields = [];
          if (inFlight.length >= REPLACE_IN_FLIGHT) await inFlight.shift();
          if (failure !== null) throw failure;
        }
        if (fields.length > 0) send(fields);
        await Promise.all(inFlight.splice(0));
        if (failure !== null) throw failure;
        const swap = client.multi();
        // RENAME keeps the temporary TTL, so PERSIST it; an empty list has no hash to rename.
        if (count > 0) swap.rename(loading, live).persist(live);
        else swap.del(live);
        swap.set(`${live}:written`, String(Date.now()));
        checkAnswers(await swap.publish(channel, `reset|${list}`).exec(), `replace of ${list}`);
      } catch (err) {
        await Promise.all(inFlight);
        await client.del(loading).catch(() => {}); // best effort: its TTL removes it otherwise
        throw err;
      }
    },

    async put(list, entry) {
      await connected();
      assertListName(list);
      assertEntry(entry);
      const value = encodeValue(entry);
      checkAnswers(await client.multi().hset(keyOf(list), entry.target, value).publish(channel, `put|${list}|${entry.target}|${value}`).exec(), `put to ${list}`);
    },

    async remove(list, target) {
      await connected();
      assertListName(list);
      assertTarget(target);
      checkAnswers(await client.multi().hdel(keyOf(list), target).publish(channel, `del|${list}|${target}`).exec(), `remove from ${list}`);
    },

    async written(list) {
      await connected();
      assertListName(list);
      return (await client.exists(`${keyOf(list)}:written`)) === 1;
    },

    async scan(list, onBatch) {
      await connected();
      assertListName(list);
      const key = keyOf(list);
      const ask = (cursor: string): Promise<[string, string[]]> => {
        const reply = client.hscan(key, cursor, 'COUNT', scanCount);
        reply.catch(() => {}); // observed here so that an abandoned prefetch is no unhandled rejection; awaited below
        return reply;
      };
      let pending = ask('0');
      for (;;) {
        const [next, flat] = await pending;
        // Ask for the next batch before reading this one: Redis and the network work while we decode.
        if (next !== '0') pending = ask(next);
        const batch: ListEntry[] = [];
        let skipped = 0;
        for (let i = 0; i + 1 < flat.length; i += 2) {
          const entry = decodeValue(flat[i]!, flat[i + 1]!);
          if (entry) batch.push(entry);
          else skipped++;
        }
        if (skipped > 0) warn(`redis shared lists: skipped ${skipped} unreadable value(s) in ${key} (expected "<expiresAt>|<record>")`);
        if (batch.length > 0) onBatch(batch);
        if (next === '0') return;
      }
    },

    async subscribe(handlers): Promise<ListSubscription> {
      ensureOpen();
      // A connection of its own: one in subscriber mode can run no other command. We
      // subscribe again ourselves on each reconnect (not ioredis's autoResubscribe) so that
      // onConnection(true) is said only once the SUBSCRIBE is confirmed: a reader that
      // rescans then cannot miss a change made between its scan and the subscription.
      const sub = client.duplicate({ connectionName: `${name}:sub`, autoResubscribe: false, lazyConnect: true });
      sub.on('error', () => {}); // failures show as 'close'/'reconnecting' below and as rejections
      subscribers.add(sub);
      let up = false;
      let closing = false;

      sub.on('message', (ch: string, message: string) => {
        if (ch !== channel || closing) return;
        const change = decodeChange(message);
        if (!change) return warn(`redis shared lists: ignored an unreadable message on ${channel}: ${message.slice(0, 80)}`);
        try {
          handlers.onChange(change);
        } catch (err) {
          warn(`a shared-lists subscriber threw on ${change.op} ${change.list}: ${err instanceof Error ? err.message : String(err)}`);
        }
      });
      const lost = (): void => {
        if (!up || closing) return;
        up = false;
        handlers.onConnection(false);
      };
      sub.on('close', lost);
      sub.on('end', lost);
      sub.on('reconnecting', lost);

      try {
        await sub.connect();
        await sub.subscribe(channel);
      } catch (err) {
        subscribers.delete(sub);
        sub.disconnect(); // stops the reconnect loop the failed attempt started
        throw new Error(`redis shared lists: cannot subscribe to ${channel}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
      }
      up = true;
      sub.on('ready', () => {
        sub.subscribe(channel).then(
          () => {
            if (closing || up) return;
            up = true;
            handlers.onConnection(true);
          },
          // The link dropped before the SUBSCRIBE answered (the next 'ready' retries), or it
          // timed out on a live link: drop the link so that a new 'ready' tries again.
          () => {
            if (!closing && sub.status === 'ready') sub.disconnect(true);
          },
        );
      });

      return {
        async close() {
          if (closing) return;
          closing = true;
          subscribers.delete(sub);
          sub.disconnect();
        },
      };
    },

    async close() {
      if (closed) return;
      closed = true;
      for (const sub of subscribers) sub.disconnect();
      subscribers.clear();
      // QUIT lets writes in flight finish; a store that is down gets a plain disconnect.
      await client.quit().catch(() => client.disconnect());
    },
  };
}
