/**
 * Longest-prefix match over IPs and CIDRs, IPv4 and IPv6, each entry with its own expiry:
 * the block mirror's answer to "is this client blocked?", asked once per request against a
 * list that may hold a million entries.
 *
 * Layout (no BigInt, no object per entry):
 * - one Map per prefix length present, from the network (as numbers or a short string) to
 *   a slot; a lookup probes only lengths that could hold a match, longest first;
 * - per slot, the expiry in a Float64Array and the target text in an array, slots reused
 *   through a free list;
 * - which lengths to probe comes from a bitmask per /16 for IPv4 (lengths /0-/16 whose
 *   network covers this /16; lengths /17-/32 that have an entry inside it) and per /32 for
 *   IPv6 (lengths /32-/128 with an entry inside it, in a Map keyed by the top 32 bits); only
 *   IPv6 lengths below /32, rare in block lists, are probed always. So a miss costs a few
 *   Map lookups, however many lengths the list uses.
 *
 * An entry applies while now < expiresAt. An expired entry simply stops matching (nothing
 * needs to run when it expires) and a shorter entry that still applies matches behind it.
 *
 * @example
 * const table = new PrefixTable();
 * table.set('10.0.0.0/8', null);
 * table.set('10.1.2.3', Date.now() + 60_000);
 * table.match('10.1.2.3', Date.now()); // '10.1.2.3'
 * table.match('10.9.9.9', Date.now()); // '10.0.0.0/8'
 */
import { InvalidAddressError } from '@ipwatch/core/ip';
import { AddressParser, V4, V6, type Family } from './addressParser.ts';

/** MASK[len]: the int32 mask of a /len network within 32 bits. */
const MASK = new Int32Array(33);
for (let len = 1; len <= 32; len++) MASK[len] = -1 << (32 - len);

/** IPv4 lengths at or below this cover whole /16s; longer ones lie inside one. */
const V4_SHORT_MAX = 16;
/** IPv6 lengths at or below this have a number as key (the top 32 bits); longer ones a string. */
const V6_SHORT_MAX = 32;
/** Words of the per-/32 bitmask of IPv6 lengths 32..128 (97 bits). */
const V6_MASK_WORDS = 4;

export class PrefixTable {
  private readonly parser = new AddressParser();
  /** Family of the last parseTarget(); its numbers are in `parser`. */
  private lastFamily: typeof V4 | typeof V6 = V4;

  // IPv4: one Map per length; key = network as int32, which V8 keeps as a small integer (no heap number, integer hash).
  private v4 = new Array<Map<number, number> | undefined>(33);
  /** Per /16: bit len set when a /len entry (len 0..16) covers it; one network per length can, so no counts. */
  private v4ShortMask: Uint32Array | null = null;
  /** Per /16: bit (len - 17) set when some /len entry (len 17..32) lies inside it. */
  private v4LongMask: Uint16Array | null = null;
  /** Per /16 and length 17..32: how many entries, so a bit is cleared when its last entry goes. */
  private v4LongCount: Uint32Array | null = null;

  // IPv6 lengths 0..32: key = top 32 bits as int32, like IPv4.
  private v6Short = new Array<Map<number, number> | undefined>(33);
  /** IPv6 lengths 0..31 that hold entries, longest first: probed always. */
  private v6ShortLens: number[] = [];
  // IPv6 lengths 33..128: key = the network's 16-bit groups as a string of UTF-16 code units (short, hashed once).
  private v6Long = new Array<Map<string, number> | undefined>(129);
  /** Top 32 bits (int32) -> bucket: which lengths 32..128 have entries inside that /32. */
  private v6Buckets = new Map<number, number>();
  private v6BucketMask = new Int32Array(V6_MASK_WORDS * 64);
  private v6BucketFree: number[] = [];
  private v6BucketTop = 0;
  /** (top 32 bits unsigned) * 256 + length -> entries, so a bucket bit is cleared when its last entry goes. */
  private v6LongCount = new Map<number, number>();

  // Slots: expiry (Infinity = never) and target text, reused through a free list.
  private expires = new Float64Array(1024);
  private targets: Array<string | undefined> = [];
  private freeSlots: number[] = [];
  private slotTop = 0;
  private count = 0;

  get size(): number {
    return this.count;
  }

  /**
   * Adds or updates an entry: an IP ("203.0.113.7", "2001:db8::1") or a CIDR
   * ("10.0.0.0/8", "2001:db8::/32"). expiresAt: ms since epoch, or null for never.
   * Throws InvalidAddressError for anything else, and for a CIDR with host bits set.
   */
  set(target: string, expiresAt: number | null): void {
    if (expiresAt !== null && Number.isNaN(expiresAt)) throw new TypeError(`${target}: expiresAt is NaN`);
    const exp = expiresAt ?? Number.POSITIVE_INFINITY;
    const len = this.parseTarget(target);
    const p = this.parser;
    if (this.lastFamily === V4) {
      const map = (this.v4[len] ??= new Map());
      const key = p.v4 & MASK[len]!;
      const slot = map.get(key);
      if (slot !== undefined) return this.update(slot, target, exp);
      map.set(key, this.allocate(target, exp));
      if (len <= V4_SHORT_MAX) this.markV4Short(key, len, true);
      else this.countV4Long(p.v4 >>> 16, len, 1);
      return;
    }
    const w = p.words;
    const top = (w[0]! << 16) | w[1]!;
    if (len <= V6_SHORT_MAX) {
      const map = (this.v6Short[len] ??= new Map());
      const key = top & MASK[len]!;
      const slot = map.get(key);
      if (slot !== undefined) return this.update(slot, target, exp);
      map.set(key, this.allocate(target, exp));
      if (len === V6_SHORT_MAX) this.countV6Long(top, len, 1);
      else if (map.size === 1) this.v6ShortLens = presentLengths(this.v6Short, 0, V6_SHORT_MAX - 1);
      return;
    }
    const map = (this.v6Long[len] ??= new Map());
    const key = v6Key(w, len);
    const slot = map.get(key);
    if (slot !== undefined) return this.update(slot, target, exp);
    map.set(key, this.allocate(target, exp));
    this.countV6Long(top, len, 1);
  }

  /** Removes an entry (given as set() was given it, or any spelling of the same network). Returns whether it was there. */
  delete(target: string): boolean {
    const len = this.parseTarget(target);
    const p = this.parser;
    if (this.lastFamily === V4) {
      const map = this.v4[len];
      const key = p.v4 & MASK[len]!;
      const slot = map?.get(key);
      if (map === undefined || slot === undefined) return false;
      map.delete(key);
      this.release(slot);
      if (len <= V4_SHORT_MAX) this.markV4Short(key, len, false);
      else this.countV4Long(p.v4 >>> 16, len, -1);
      return true;
    }
    const w = p.words;
    const top = (w[0]! << 16) | w[1]!;
    if (len <= V6_SHORT_MAX) {
      const map = this.v6Short[len];
      const key = top & MASK[len]!;
      const slot = map?.get(key);
      if (map === undefined || slot === undefined) return false;
      map.delete(key);
      this.release(slot);
      if (len === V6_SHORT_MAX) this.countV6Long(top, len, -1);
      else if (map.size === 0) this.v6ShortLens = presentLengths(this.v6Short, 0, V6_SHORT_MAX - 1);
      return true;
    }
    const map = this.v6Long[len];
    const key = v6Key(w, len);
    const slot = map?.get(key);
    if (map === undefined || slot === undefined) return false;
    map.delete(key);
    this.release(slot);
    this.countV6Long(top, len, -1);
    return true;
  }

  /** The stored expiry of exactly this entry (null: never), or undefined when there is none. Ignores the clock. */
  get(target: string): number | null | undefined {
    const len = this.parseTarget(target);
    const p = this.parser;
    let slot: number | undefined;
    if (this.lastFamily === V4) {
      slot = this.v4[len]?.get(p.v4 & MASK[len]!);
    } else {
      const top = (p.words[0]! << 16) | p.words[1]!;
      slot = len <= V6_SHORT_MAX ? this.v6Short[len]?.get(top & MASK[len]!) : this.v6Long[len]?.get(v6Key(p.words, len));
    }
    if (slot === undefined) return undefined;
    const exp = this.expires[slot]!;
    return exp === Number.POSITIVE_INFINITY ? null : exp;
  }

  clear(): void {
    this.v4 = new Array(33);
    this.v4ShortMask = null;
    this.v4LongMask = null;
    this.v4LongCount = null;
    this.v6Short = new Array(33);
    this.v6ShortLens = [];
    this.v6Long = new Array(129);
    this.v6Buckets = new Map();
    this.v6BucketMask = new Int32Array(V6_MASK_WORDS * 64);
    this.v6BucketFree = [];
    this.v6BucketTop = 0;
    this.v6LongCount = new Map();
    this.expires = new Float64Array(1024);
    this.targets = [];
    this.freeSlots = [];
    this.slotTop = 0;
    this.count = 0;
  }

  /**
   * The most specific entry that contains `ip` and still applies at `now` (ms since epoch),
   * as the target text it was set with; null when none does or `ip` is not an address.
   */
  match(ip: string, now: number): string | null {
    const p = this.parser;
    return this.matchParsed(p, p.parse(ip, 0, ip.length), now);
  }

  /**
   * match() for an address already read by `parser` (whose parse() returned `family`): one
   * parse serves several tables, e.g. the allowlist and then the block list.
   */
  matchParsed(parser: AddressParser, family: Family, now: number): string | null {
    if (this.count === 0) return null;
    if (family === V4) return this.match4(parser.v4, now);
    if (family === V6) return this.match6(parser.words, now);
    return null;
  }

  private match4(a: number, now: number): string | null {
    if (this.v4LongMask === null || this.v4ShortMask === null) return null;
    const expires = this.expires;
    const hi16 = a >>> 16;
    // Only the lengths 17..32 with an entry inside this /16: usually one to three probes.
    let bits = this.v4LongMask[hi16]!;
    while (bits !== 0) {
      const bit = 31 - Math.clz32(bits); // highest set bit = longest length first
      bits ^= 1 << bit;
      const len = 17 + bit;
      const slot = this.v4[len]!.get(a & MASK[len]!);
      if (slot !== undefined && expires[slot]! > now) return this.targets[slot]!;
    }
    // Only the lengths 0..16 whose network covers this /16: each probe is a hit unless expired.
    bits = this.v4ShortMask[hi16]!;
    while (bits !== 0) {
      const len = 31 - Math.clz32(bits);
      bits ^= 1 << len;
      const slot = this.v4[len]!.get(a & MASK[len]!);
      if (slot !== undefined && expires[slot]! > now) return this.targets[slot]!;
    }
    return null;
  }

  private match6(w: Int32Array, now: number): string | null {
    const expires = this.expires;
    const top = (w[0]! << 16) | w[1]!;
    // One Map lookup says which lengths 32..128 have entries inside this /32; a miss (most traffic) skips them all.
    const bucket = this.v6Buckets.size === 0 ? undefined : this.v6Buckets.get(top);
    if (bucket !== undefined) {
      const masks = this.v6BucketMask;
      for (let word = V6_MASK_WORDS - 1; word >= 0; word--) {
        let bits = masks[bucket * V6_MASK_WORDS + word]!;
        while (bits !== 0) {
          const bit = 31 - Math.clz32(bits);
          bits ^= 1 << bit;
          const len = 32 + word * 32 + bit;
          const slot = len === V6_SHORT_MAX ? this.v6Short[len]!.get(top) : this.v6Long[len]!.get(v6Key(w, len));
          if (slot !== undefined && expires[slot]! > now) return this.targets[slot]!;
        }
      }
    }
    const lens = this.v6ShortLens;
    for (let i = 0; i < lens.length; i++) {
      const len = lens[i]!;
      const slot = this.v6Short[len]!.get(top & MASK[len]!);
      if (slot !== undefined && expires[slot]! > now) return this.targets[slot]!;
    }
    return null;
  }

  /** Parses "addr" or "addr/len" into the parser's registers; returns the length. Throws InvalidAddressError. */
  private parseTarget(target: string): number {
    const p = this.parser;
    const slash = target.indexOf('/');
    const end = slash < 0 ? target.length : slash;
    const family = p.parse(target, 0, end);
    if (family !== V4 && family !== V6) {
      throw new InvalidAddressError(`${JSON.stringify(target)} is not an IP address or CIDR (expected e.g. 203.0.113.7, 203.0.113.0/24 or 2001:db8::/32)`);
    }
    this.lastFamily = family;
    const width = family === V4 && !p.mapped ? 32 : 128;
    let len = width;
    if (slash >= 0) {
      const digits = target.slice(slash + 1);
      if (!/^\d{1,3}$/.test(digits) || Number(digits) > width) {
        throw new InvalidAddressError(`${JSON.stringify(target)}: the prefix length must be a number from 0 to ${width}`);
      }
      len = Number(digits);
    }
    if (family === V4 && p.mapped) {
      // ::ffff:10.0.0.0/104 is the IPv4 /8 it names, as in @ipwatch/core/ip parseCidr.
      if (len < 96) throw new InvalidAddressError(`${JSON.stringify(target)}: an IPv4-mapped CIDR needs a prefix of at least 96`);
      len -= 96;
    }
    if (family === V4 ? (p.v4 & ~MASK[len]!) !== 0 : hasHostBits(p.words, len)) {
      throw new InvalidAddressError(`${JSON.stringify(target)} has host bits set`);
    }
    return len;
  }

  private allocate(target: string, exp: number): number {
    let slot = this.freeSlots.pop();
    if (slot === undefined) {
      slot = this.slotTop++;
      if (slot === this.expires.length) {
        const grown = new Float64Array(this.expires.length * 2);
        grown.set(this.expires);
        this.expires = grown;
      }
    }
    this.expires[slot] = exp;
    this.targets[slot] = target;
    this.count++;
    return slot;
  }

  private update(slot: number, target: string, exp: number): void {
    this.expires[slot] = exp;
    this.targets[slot] = target;
  }

  private release(slot: number): void {
    this.targets[slot] = undefined;
    this.expires[slot] = 0;
    this.freeSlots.push(slot);
    this.count--;
  }

  /** Sets or clears bit len in every /16 the /len network `key` covers (len <= 16: 2^(16-len) of them). */
  private markV4Short(key: number, len: number, on: boolean): void {
    const masks = this.v4Masks().short;
    const first = key >>> 16;
    const bit = 1 << len;
    for (let h = first, end = first + 2 ** (16 - len); h < end; h++) masks[h] = on ? masks[h]! | bit : masks[h]! & ~bit;
  }

  /** The per-/16 arrays, allocated with the first IPv4 entry (4.4 MB: not paid by a table without IPv4). */
  private v4Masks(): { short: Uint32Array; long: Uint16Array; count: Uint32Array } {
    if (this.v4ShortMask === null || this.v4LongMask === null || this.v4LongCount === null) {
      this.v4ShortMask = new Uint32Array(65536);
      this.v4LongMask = new Uint16Array(65536);
      this.v4LongCount = new Uint32Array(65536 * 16);
    }
    return { short: this.v4ShortMask, long: this.v4LongMask, count: this.v4LongCount };
  }

  private countV4Long(hi16: number, len: number, delta: 1 | -1): void {
    const { long, count } = this.v4Masks();
    const i = hi16 * 16 + (len - 17);
    const n = (count[i] = count[i]! + delta);
    const bit = 1 << (len - 17);
    long[hi16] = n === 0 ? long[hi16]! & ~bit : long[hi16]! | bit;
  }

  private countV6Long(top: number, len: number, delta: 1 | -1): void {
    const countKey = (top >>> 0) * 256 + len;
    const n = (this.v6LongCount.get(countKey) ?? 0) + delta;
    let bucket = this.v6Buckets.get(top);
    if (bucket === undefined) {
      bucket = this.v6BucketFree.pop() ?? this.v6BucketTop++;
      if ((bucket + 1) * V6_MASK_WORDS > this.v6BucketMask.length) {
        const grown = new Int32Array(this.v6BucketMask.length * 2);
        grown.set(this.v6BucketMask);
        this.v6BucketMask = grown;
      }
      this.v6Buckets.set(top, bucket);
    }
    const idx = len - 32;
    const at = bucket * V6_MASK_WORDS + (idx >>> 5);
    if (n > 0) {
      this.v6LongCount.set(countKey, n);
      this.v6BucketMask[at] = this.v6BucketMask[at]! | (1 << (idx & 31));
      return;
    }
    this.v6LongCount.delete(countKey);
    this.v6BucketMask[at] = this.v6BucketMask[at]! & ~(1 << (idx & 31));
    const base = bucket * V6_MASK_WORDS;
    if ((this.v6BucketMask[base]! | this.v6BucketMask[base + 1]! | this.v6BucketMask[base + 2]! | this.v6BucketMask[base + 3]!) === 0) {
      this.v6Buckets.delete(top);
      this.v6BucketFree.push(bucket);
    }
  }
}

/** Lengths in [from, to] whose Map holds entries, longest first. */
function presentLengths(maps: Array<Map<unknown, number> | undefined>, from: number, to: number): number[] {
  const out: number[] = [];
  for (let len = to; len >= from; len--) if ((maps[len]?.size ?? 0) > 0) out.push(len);
  return out;
}

/**
 * The key of a /len IPv6 network (len 33..128): its first ceil(len/16) groups, host bits
 * cleared, as UTF-16 code units. At most 8 characters: hashed and compared in a few ns,
 * and each length has its own Map, so "/48" and "/64" keys never meet.
 */
function v6Key(w: Int32Array, len: number): string {
  const n = (len + 15) >>> 4;
  const last = w[n - 1]! & (0xffff << ((n << 4) - len)) & 0xffff;
  // Explicit arguments per length: no array built and no spread, one string allocated.
  switch (n) {
    case 3:
      return String.fromCharCode(w[0]!, w[1]!, last);
    case 4:
      return String.fromCharCode(w[0]!, w[1]!, w[2]!, last);
    case 5:
      return String.fromCharCode(w[0]!, w[1]!, w[2]!, w[3]!, last);
    case 6:
      return String.fromCharCode(w[0]!, w[1]!, w[2]!, w[3]!, w[4]!, last);
    case 7:
      return String.fromCharCode(w[0]!, w[1]!, w[2]!, w[3]!, w[4]!, w[5]!, last);
    default:
      return String.fromCharCode(w[0]!, w[1]!, w[2]!, w[3]!, w[4]!, w[5]!, w[6]!, last);
  }
}

function hasHostBits(w: Int32Array, len: number): boolean {
  for (let i = 0; i < 8; i++) {
    const netBits = Math.min(16, Math.max(0, len - i * 16));
    if ((w[i]! & (0xffff >>> netBits)) !== 0) return true;
  }
  return false;
}
