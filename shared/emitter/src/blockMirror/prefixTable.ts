/**
 * Longest-prefix match over IPs and CIDRs, IPv4 and IPv6, each entry with its own expiry:
 * the block mirror's answer to "is this client blocked?", asked once per request against a
 * list that may hold a million entries.
 *
 * Layout (no BigInt, no object per entry, typed arrays wherever the hot path reads):
 * - hash tables from (network bits, prefix length) to a slot (networkIndex.ts): IPv4 keyed
 *   by 32 bits, IPv6 up to /32 by its top 32 bits, longer IPv6 by 128 bits;
 * - per slot, the expiry in a Float64Array and the target text in an array, slots reused
 *   through a free list;
 * - which lengths to probe, longest first, comes from bitmasks: per /16 for IPv4 (lengths
 *   /0-/16 whose network covers this /16, lengths /17-/32 with an entry inside it) and per
 *   /32 for IPv6 (lengths /32-/128 with an entry inside it); only IPv6 lengths below /32,
 *   rare in block lists, are probed always. So a lookup costs a few probes, however many
 *   lengths the list uses.
 *
 * Measured (bench:blocklist, 1M entries, 2 vCPU): ~200-400 ns per lookup, ~110 MB for
 * the tables (about half of it typed arrays outside the JS heap). At most 16.7M entries.
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
import { BitsIndex, Int128Index, Int32Index } from './networkIndex.ts';

/** MASK[len]: the int32 mask of a /len network within 32 bits (MASK[0] = 0). */
const MASK = new Int32Array(33);
for (let len = 1; len <= 32; len++) MASK[len] = -1 << (32 - len);

/** The mask of 32-bit word `word` (0..3) of a /len IPv6 network. */
const wordMask = (len: number, word: number): number => MASK[Math.max(0, Math.min(32, len - 32 * word))]!;

/** IPv4 lengths at or below this cover whole /16s; longer ones lie inside one. */
const V4_SHORT_MAX = 16;
/** IPv6 lengths at or below this are keyed by the top 32 bits; /32 itself is found through the per-/32 bits. */
const V6_SHORT_MAX = 32;

export class PrefixTable {
  private readonly parser = new AddressParser();
  /** Family of the last parseTarget(); its numbers are in `parser`. */
  private lastFamily: typeof V4 | typeof V6 = V4;

  private v4 = new Int32Index();
  /**
   * Per /16, two words side by side (one cache line for both): [2h] bit (len - 17) when some
   * /len entry (len 17..32) lies inside it; [2h + 1] bit len when a /len entry (len 0..16)
   * covers it (one network per length can, so that bit needs no count). Allocated with the
   * first IPv4 entry.
   */
  private v4Bits: Uint32Array | null = null;
  /** Per /16 and length 17..32: how many entries, so a bit is cleared when its last entry goes. */
  private v4LongCount: Uint32Array | null = null;

  private v6Short = new Int32Index();
  /** Entries per IPv6 length 0..31, and those lengths present, longest first: probed always. */
  private v6ShortCount = new Int32Array(V6_SHORT_MAX);
  private v6ShortLens: number[] = [];
  private v6Long = new Int128Index();
  /** Top 32 bits -> four words: bit (len - 32) when some /len entry (len 32..128) lies inside that /32. */
  private v6Bits = new BitsIndex();
  /** (top 32 bits unsigned) * 256 + length -> entries, so a bit is cleared when its last entry goes. Not read by lookups. */
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
    const found = this.find(len);
    if (found >= 0) {
      this.expires[found] = exp;
      this.targets[found] = target;
      return;
    }
    const slot = this.allocate(target, exp);
    const p = this.parser;
    if (this.lastFamily === V4) {
      const key = p.v4 & MASK[len]!;
      this.v4.set(key, len, slot);
      if (len <= V4_SHORT_MAX) this.markV4Short(key, len, true);
      else this.countV4Long(p.v4 >>> 16, len, 1);
      return;
    }
    const [a, b, c, d] = this.v6Words(len);
    if (len <= V6_SHORT_MAX) {
      this.v6Short.set(a, len, slot);
      if (len === V6_SHORT_MAX) this.countV6Long(a, len, 1);
      else if (this.v6ShortCount[len]!++ === 0) this.v6ShortLens = presentLengths(this.v6ShortCount);
      return;
    }
    this.v6Long.set(a, b, c, d, len, slot);
    this.countV6Long(a, len, 1);
  }

  /** Removes an entry (given as set() was given it, or any spelling of the same network). Returns whether it was there. */
  delete(target: string): boolean {
    const len = this.parseTarget(target);
    const p = this.parser;
    let slot: number;
    if (this.lastFamily === V4) {
      const key = p.v4 & MASK[len]!;
      slot = this.v4.delete(key, len);
      if (slot < 0) return false;
      if (len <= V4_SHORT_MAX) this.markV4Short(key, len, false);
      else this.countV4Long(p.v4 >>> 16, len, -1);
    } else {
      const [a, b, c, d] = this.v6Words(len);
      if (len <= V6_SHORT_MAX) {
        slot = this.v6Short.delete(a, len);
        if (slot < 0) return false;
        if (len === V6_SHORT_MAX) this.countV6Long(a, len, -1);
        else if (--this.v6ShortCount[len]! === 0) this.v6ShortLens = presentLengths(this.v6ShortCount);
      } else {
        slot = this.v6Long.delete(a, b, c, d, len);
        if (slot < 0) return false;
        this.countV6Long(a, len, -1);
      }
    }
    this.release(slot);
    return true;
  }

  /** The stored expiry of exactly this entry (null: never), or undefined when there is none. Ignores the clock. */
  get(target: string): number | null | undefined {
    const slot = this.find(this.parseTarget(target));
    if (slot < 0) return undefined;
    const exp = this.expires[slot]!;
    return exp === Number.POSITIVE_INFINITY ? null : exp;
  }

  clear(): void {
    this.v4 = new Int32Index();
    this.v4Bits = null;
    this.v4LongCount = null;
    this.v6Short = new Int32Index();
    this.v6ShortCount = new Int32Array(V6_SHORT_MAX);
    this.v6ShortLens = [];
    this.v6Long = new Int128Index();
    this.v6Bits = new BitsIndex();
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
    const v4Bits = this.v4Bits;
    if (v4Bits === null) return null;
    const expires = this.expires;
    const hi16 = a >>> 16;
    // Only the lengths 17..32 with an entry inside this /16: usually one to three probes.
    let bits = v4Bits[2 * hi16]!;
    while (bits !== 0) {
      const bit = 31 - Math.clz32(bits); // highest set bit = longest length first
      bits ^= 1 << bit;
      const len = 17 + bit;
      const slot = this.v4.get(a & MASK[len]!, len);
      if (slot >= 0 && expires[slot]! > now) return this.targets[slot]!;
    }
    // Only the lengths 0..16 whose network covers this /16: each probe is a hit unless expired.
    bits = v4Bits[2 * hi16 + 1]!;
    while (bits !== 0) {
      const len = 31 - Math.clz32(bits);
      bits ^= 1 << len;
      const slot = this.v4.get(a & MASK[len]!, len);
      if (slot >= 0 && expires[slot]! > now) return this.targets[slot]!;
    }
    return null;
  }

  private match6(w: Int32Array, now: number): string | null {
    const expires = this.expires;
    const top = (w[0]! << 16) | w[1]!;
    // One probe says which lengths 32..128 have entries inside this /32; a miss (most traffic) skips them all.
    const at = this.v6Bits.size === 0 ? -1 : this.v6Bits.find(top);
    if (at >= 0) {
      const cells = this.v6Bits.cells;
      const b = (w[2]! << 16) | w[3]!;
      const c = (w[4]! << 16) | w[5]!;
      const d = (w[6]! << 16) | w[7]!;
      for (let word = 3; word >= 0; word--) {
        let bits = cells[at + word]!;
        while (bits !== 0) {
          const bit = 31 - Math.clz32(bits);
          bits ^= 1 << bit;
          const len = 32 + 32 * word + bit;
          const slot =
            len === V6_SHORT_MAX
              ? this.v6Short.get(top, len)
              : this.v6Long.get(top, b & wordMask(len, 1), c & wordMask(len, 2), d & wordMask(len, 3), len);
          if (slot >= 0 && expires[slot]! > now) return this.targets[slot]!;
        }
      }
    }
    const lens = this.v6ShortLens;
    for (let i = 0; i < lens.length; i++) {
      const len = lens[i]!;
      const slot = this.v6Short.get(top & MASK[len]!, len);
      if (slot >= 0 && expires[slot]! > now) return this.targets[slot]!;
    }
    return null;
  }

  /** The slot of the network in the parser's registers with length len, or -1. */
  private find(len: number): number {
    const p = this.parser;
    if (this.lastFamily === V4) return this.v4.get(p.v4 & MASK[len]!, len);
    const [a, b, c, d] = this.v6Words(len);
    return len <= V6_SHORT_MAX ? this.v6Short.get(a, len) : this.v6Long.get(a, b, c, d, len);
  }

  /** The parsed IPv6 network as four 32-bit words, host bits of a /len cleared (not in the lookup path). */
  private v6Words(len: number): [number, number, number, number] {
    const w = this.parser.words;
    return [
      ((w[0]! << 16) | w[1]!) & wordMask(len, 0),
      ((w[2]! << 16) | w[3]!) & wordMask(len, 1),
      ((w[4]! << 16) | w[5]!) & wordMask(len, 2),
      ((w[6]! << 16) | w[7]!) & wordMask(len, 3),
    ];
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

  private release(slot: number): void {
    this.targets[slot] = undefined;
    this.expires[slot] = 0;
    this.freeSlots.push(slot);
    this.count--;
  }

  /** The per-/16 arrays, allocated with the first IPv4 entry (4.5 MB, not paid by a table without IPv4). */
  private v4Arrays(): { bits: Uint32Array; count: Uint32Array } {
    if (this.v4Bits === null || this.v4LongCount === null) {
      this.v4Bits = new Uint32Array(65536 * 2);
      this.v4LongCount = new Uint32Array(65536 * 16);
    }
    return { bits: this.v4Bits, count: this.v4LongCount };
  }

  /** Sets or clears bit len in every /16 the /len network `key` covers (len <= 16: 2^(16-len) of them). */
  private markV4Short(key: number, len: number, on: boolean): void {
    const { bits } = this.v4Arrays();
    const first = key >>> 16;
    const bit = 1 << len;
    for (let h = first, end = first + 2 ** (16 - len); h < end; h++) bits[2 * h + 1] = on ? bits[2 * h + 1]! | bit : bits[2 * h + 1]! & ~bit;
  }

  private countV4Long(hi16: number, len: number, delta: 1 | -1): void {
    const { bits, count } = this.v4Arrays();
    const i = hi16 * 16 + (len - 17);
    const n = (count[i] = count[i]! + delta);
    const bit = 1 << (len - 17);
    bits[2 * hi16] = n === 0 ? bits[2 * hi16]! & ~bit : bits[2 * hi16]! | bit;
  }

  private countV6Long(top: number, len: number, delta: 1 | -1): void {
    const countKey = (top >>> 0) * 256 + len;
    const n = (this.v6LongCount.get(countKey) ?? 0) + delta;
    const idx = len - 32;
    const bit = 1 << (idx & 31);
    if (n > 0) {
      this.v6LongCount.set(countKey, n);
      const at = this.v6Bits.findOrAdd(top) + (idx >>> 5);
      this.v6Bits.cells[at] = this.v6Bits.cells[at]! | bit;
      return;
    }
    this.v6LongCount.delete(countKey);
    const at = this.v6Bits.find(top);
    if (at < 0) return;
    const cells = this.v6Bits.cells;
    cells[at + (idx >>> 5)] = cells[at + (idx >>> 5)]! & ~bit;
    if ((cells[at]! | cells[at + 1]! | cells[at + 2]! | cells[at + 3]!) === 0) this.v6Bits.delete(top);
  }
}

/** Lengths whose count is above zero, longest first. */
function presentLengths(counts: Int32Array): number[] {
  const out: number[] = [];
  for (let len = counts.length - 1; len >= 0; len--) if (counts[len]! > 0) out.push(len);
  return out;
}

function hasHostBits(w: Int32Array, len: number): boolean {
  for (let i = 0; i < 8; i++) {
    const netBits = Math.min(16, Math.max(0, len - i * 16));
    if ((w[i]! & (0xffff >>> netBits)) !== 0) return true;
  }
  return false;
}
