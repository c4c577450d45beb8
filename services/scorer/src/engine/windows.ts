/**
 * Sliding windows in a few bytes per client: the sliding-window counter (as rate limiters at
 * Cloudflare and in Redis use it). Time is cut into fixed windows; a client keeps the count of
 * the current one and of the one before, and the count over the last `windowMs` is estimated as
 * `previous * (share of the previous window still inside) + current`. Exact when events are
 * spread evenly, never off by more than the previous window's count; 12 bytes per client.
 *
 * Distinct values (paths, usernames) use the same two windows, each a 64-bit bitmap counted by
 * linear counting (the most likely count for the bits set): exact for small counts without a
 * hash collision, within about a tenth up to a hundred distinct values, which is where the
 * thresholds are; 20 bytes per client.
 *
 * Time is the events' own time, not the clock, so a replayed log and a backfill over history
 * find what the live stream found. One client's events can come a little out of order (the
 * addresses of an IPv6 network travel on several partitions of the requests topic before the
 * enricher merges them): a late event is counted in the window it belongs to (the previous
 * one, or nowhere when older), and the figure is taken at the client's latest time, so a late
 * event never counts for more than it would have on time.
 */
import type { ClientTable, U32Column } from './clientTable.ts';

export class SlidingCounter {
  private readonly win: U32Column;
  private readonly prev: U32Column;
  private readonly cur: U32Column;

  constructor(
    private readonly table: ClientTable,
    readonly windowMs: number,
  ) {
    this.win = table.column();
    this.prev = table.column();
    this.cur = table.column();
  }

  /** Adds `inc` at time `ts` and returns the estimated count over the window ending at `ts`. */
  add(slot: number, ts: number, inc: number): number {
    const w = Math.floor(ts / this.windowMs) + 1; // +1: 0 means "no window yet"
    const win = this.win.a;
    const current = win[slot] as number;
    if (w > current) {
      this.prev.a[slot] = w === current + 1 ? (this.cur.a[slot] as number) : 0;
      this.cur.a[slot] = 0;
      win[slot] = w;
    } else if (w < current) {
      // Late: into the previous window if that is where it belongs; older, it has slid out already.
      if (w === current - 1) this.prev.a[slot] = (this.prev.a[slot] as number) + inc;
      return this.estimate(slot, Math.max(ts, this.table.latestMs(slot)));
    }
    const cur = this.cur.a;
    cur[slot] = (cur[slot] as number) + inc;
    return this.estimate(slot, ts);
  }

  estimate(slot: number, ts: number): number {
    const w = this.win.a[slot] as number;
    if (w === 0) return 0;
    const into = ts - (w - 1) * this.windowMs;
    if (into >= 2 * this.windowMs) return 0;
    if (into >= this.windowMs) return (this.cur.a[slot] as number) * (1 - (into - this.windowMs) / this.windowMs);
    const previousShare = 1 - Math.max(0, into) / this.windowMs;
    return (this.prev.a[slot] as number) * previousShare + (this.cur.a[slot] as number);
  }

  release(): void {
    for (const c of [this.win, this.prev, this.cur]) this.table.release(c);
  }
}

/** FNV-1a over the UTF-16 code units: cheap, and good enough to spread values over 64 bits. */
export function hash32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

function zeros32(x: number): number {
  let n = 0;
  for (let v = ~x >>> 0; v !== 0; v &= v - 1) n++;
  return n;
}

const LN_63_64 = Math.log(63 / 64);

/**
 * Distinct values behind a 64-bit bitmap: the most likely count for the bits set,
 * ln(zero share) / ln(63/64). Callers floor it, so up to about 10 values without a hash
 * collision the count is exact (4 bits set reads 4.1, floored 4), and above that it is an
 * estimate within about a tenth.
 */
function distinctIn(lo: number, hi: number): number {
  const z = zeros32(lo) + zeros32(hi);
  if (z === 0) return Math.log(1 / 64) / LN_63_64; // saturated: about 265
  return Math.log(z / 64) / LN_63_64;
}

export class SlidingDistinct {
  private readonly win: U32Column;
  private readonly prevLo: U32Column;
  private readonly prevHi: U32Column;
  private readonly curLo: U32Column;
  private readonly curHi: U32Column;

  constructor(
    private readonly table: ClientTable,
    readonly windowMs: number,
  ) {
    this.win = table.column();
    this.prevLo = table.column();
    this.prevHi = table.column();
    this.curLo = table.column();
    this.curHi = table.column();
  }

  /** Adds one value at `ts` and returns the estimated distinct values over the window. */
  add(slot: number, ts: number, value: string): number {
    let w = Math.floor(ts / this.windowMs) + 1;
    const current = this.win.a[slot] as number;
    const bit = hash32(value) & 63;
    // The bitmap the value goes into: the current window's, or for a late value the previous one's, or none.
    let lo: U32Column | null = this.curLo;
    let hi: U32Column | null = this.curHi;
    if (w > current) {
      const adjacent = w === current + 1;
      this.prevLo.a[slot] = adjacent ? (this.curLo.a[slot] as number) : 0;
      this.prevHi.a[slot] = adjacent ? (this.curHi.a[slot] as number) : 0;
      this.curLo.a[slot] = 0;
      this.curHi.a[slot] = 0;
      this.win.a[slot] = w;
    } else if (w < current) {
      // Late (see SlidingCounter): into the previous window, or nowhere; judged at the client's latest time.
      const previous = w === current - 1;
      lo = previous ? this.prevLo : null;
      hi = previous ? this.prevHi : null;
      ts = Math.max(ts, this.table.latestMs(slot));
      w = current;
    }
    const half = bit < 32 ? lo : hi;
    if (half !== null) half.a[slot] = ((half.a[slot] as number) | (1 << (bit & 31))) >>> 0;
    const elapsed = ts - (w - 1) * this.windowMs;
    const cur = distinctIn(this.curLo.a[slot] as number, this.curHi.a[slot] as number);
    const prevLo = this.prevLo.a[slot] as number;
    const prevHi = this.prevHi.a[slot] as number;
    if (prevLo === 0 && prevHi === 0) return cur;
    // The previous window's values not seen again now, weighted by its share still inside.
    const onlyPrev = distinctIn((this.curLo.a[slot] as number) | prevLo, (this.curHi.a[slot] as number) | prevHi) - cur;
    return cur + Math.max(0, onlyPrev) * (1 - Math.max(0, elapsed) / this.windowMs);
  }

  release(): void {
    for (const c of [this.win, this.prevLo, this.prevHi, this.curLo, this.curHi]) this.table.release(c);
  }
}
