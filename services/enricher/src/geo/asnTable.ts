/**
 * IP -> autonomous system (number and organisation) from the CSV files of
 * `@ip-location-db/asn` (RouteViews + RIRs + DB-IP, CC BY 4.0). No mmdb of this data is
 * published on npm, so the ranges are loaded once into typed arrays and binary-searched:
 * ~400k IPv4 and ~100k IPv6 ranges take about 11 MB and a lookup is ~20 comparisons.
 */
import { readFileSync } from 'node:fs';
import { IpwatchError } from '@ipwatch/core/errors';

/** One autonomous system; shared by every range it announces, so a lookup allocates nothing. */
export interface AsnEntry {
  readonly asn: number;
  readonly org: string;
}

export interface AsnTable {
  /** The AS announcing an IPv4 address given as an unsigned 32-bit number, or null. */
  v4(ip: number): AsnEntry | null;
  /** The AS announcing an IPv6 address given as four 32-bit words, most significant first. */
  v6(w0: number, w1: number, w2: number, w3: number): AsnEntry | null;
  readonly ranges: { v4: number; v6: number };
}

export class AsnDataError extends IpwatchError {
  override readonly name = 'AsnDataError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('IPWATCH_ASN_DATA_INVALID', message, options);
  }
}

const COMMA = 44;
const NL = 10;
const CR = 13;
const QUOTE = 34;

/**
 * Reads `start,end,asn,org` rows straight from the bytes (bounds are decimal numbers; only
 * org may be quoted, "" escaping "). Bytes rather than one big string: the file is 20 MB and
 * slices of a string keep all of it alive; each bound becomes four 32-bit words (IPv4 uses
 * the last), without BigInt, which made loading several times slower.
 */
const LIMBS = new Float64Array(8);

/**
 * Parses the decimal number at buf[pos] into out (4 words, most significant first).
 * Returns the position of the byte after it, or -1 when there is no number or it exceeds 2^128.
 */
function decimalAt(buf: Buffer, pos: number, out: Uint32Array): number {
  // 8 limbs of 16 bits: limb * 10^9 + carry stays below 2^53, so plain numbers are exact.
  const limbs = LIMBS;
  limbs.fill(0);
  const first = pos;
  while (true) {
    // Up to 9 digits at a time, then limbs = limbs * 10^k + chunk.
    let chunk = 0;
    let scale = 1;
    for (let k = 0; k < 9; k++, pos++) {
      const d = buf[pos]! - 48;
      if (d < 0 || d > 9) break;
      chunk = chunk * 10 + d;
      scale *= 10;
    }
    if (scale === 1) break;
    let carry = chunk;
    for (let l = 7; l >= 0; l--) {
      const v = limbs[l]! * scale + carry;
      const hi = Math.floor(v / 65536);
      limbs[l] = v - hi * 65536;
      carry = hi;
    }
    if (carry !== 0) return -1;
  }
  if (pos === first) return -1;
  for (let w = 0; w < 4; w++) out[w] = limbs[2 * w]! * 65536 + limbs[2 * w + 1]!;
  return pos;
}

function scanRows(file: string, onRow: (start: Uint32Array, end: Uint32Array, asn: number, org: string) => void): void {
  const buf = readFileSync(file);
  const start = new Uint32Array(4);
  const end = new Uint32Array(4);
  let pos = 0;
  let line = 0;
  const fail = (what: string): never => {
    throw new AsnDataError(`${file}:${line}: ${what}; expected "start,end,asn,org" with decimal bounds (reinstall @ip-location-db/asn)`);
  };
  while (pos < buf.length) {
    line++;
    if (buf[pos] === NL || buf[pos] === CR) {
      pos++;
      continue;
    }
    pos = decimalAt(buf, pos, start);
    if (pos < 0 || buf[pos] !== COMMA) fail('a range start that is not a decimal number below 2^128');
    pos = decimalAt(buf, pos + 1, end);
    if (pos < 0 || buf[pos] !== COMMA) fail('a range end that is not a decimal number below 2^128');
    pos++;
    let asn = 0;
    const asnAt = pos;
    for (; pos < buf.length && buf[pos]! >= 48 && buf[pos]! <= 57; pos++) asn = asn * 10 + buf[pos]! - 48;
    if (pos === asnAt || buf[pos] !== COMMA || asn > 0xffffffff) fail('a bad AS number');
    pos++;
    let eol = buf.indexOf(NL, pos);
    if (eol === -1) eol = buf.length;
    const orgEnd = buf[eol - 1] === CR ? eol - 1 : eol;
    let org: string;
    if (buf[pos] === QUOTE && orgEnd - pos >= 2 && buf[orgEnd - 1] === QUOTE) {
      org = buf.toString('utf8', pos + 1, orgEnd - 1).replaceAll('""', '"');
    } else {
      org = buf.toString('utf8', pos, orgEnd);
    }
    onRow(start, end, asn, org);
    pos = eol + 1;
  }
}

/** Interns (asn, org) pairs so equal ones share one frozen object. */
function entryPool(): { intern(asn: number, org: string): number; entries: AsnEntry[] } {
  // Keyed by org alone first: most organisations have one AS, and no key string is built.
  const byOrg = new Map<string, number>();
  const byBoth = new Map<string, number>();
  const entries: AsnEntry[] = [];
  const add = (asn: number, org: string): number => {
    entries.push(Object.freeze({ asn, org }));
    return entries.length - 1;
  };
  return {
    entries,
    intern(asn, org) {
      const id = byOrg.get(org);
      if (id === undefined) {
        const created = add(asn, org);
        byOrg.set(org, created);
        return created;
      }
      if (entries[id]!.asn === asn) return id;
      const key = `${asn} ${org}`;
      let other = byBoth.get(key);
      if (other === undefined) {
        other = add(asn, org);
        byBoth.set(key, other);
      }
      return other;
    },
  };
}

/**
 * Loads `asn-ipv4-num.csv` and `asn-ipv6-num.csv` (numeric bounds, inclusive, sorted).
 * Overlapping rows (the data has a few) are clipped so the earlier row keeps the overlap:
 * binary search needs disjoint ranges.
 */
export function loadAsnTable(files: { v4: string; v6: string }): AsnTable {
  const pool = entryPool();

  const v4Start: number[] = [];
  const v4End: number[] = [];
  const v4Entry: number[] = [];
  let prevStart = -1;
  let prevEnd = -1;
  scanRows(files.v4, (s, e, asn, org) => {
    if (s[0] !== 0 || s[1] !== 0 || s[2] !== 0 || e[0] !== 0 || e[1] !== 0 || e[2] !== 0) {
      throw new AsnDataError(`${files.v4}: an IPv4 bound above 2^32 (reinstall @ip-location-db/asn)`);
    }
    let start = s[3]!;
    const end = e[3]!;
    if (start < prevStart) throw new AsnDataError(`${files.v4}: rows are not sorted at ${start} (reinstall @ip-location-db/asn)`);
    prevStart = start;
    if (start <= prevEnd) start = prevEnd + 1;
    if (start > end) return;
    v4Start.push(start);
    v4End.push(end);
    v4Entry.push(pool.intern(asn, org));
    prevEnd = end;
  });

  // IPv6 bounds as 4 x 32-bit words each: plain number comparisons at lookup, no bigint.
  const v6Start: number[] = [];
  const v6End: number[] = [];
  const v6Entry: number[] = [];
  const prevStart6 = new Uint32Array(4);
  const prevEnd6 = new Uint32Array(4);
  let first6 = true;
  const cmpWords = (a: Uint32Array, b: Uint32Array): number => {
    for (let i = 0; i < 4; i++) if (a[i] !== b[i]) return a[i]! < b[i]! ? -1 : 1;
    return 0;
  };
  scanRows(files.v6, (s, e, asn, org) => {
    if (!first6) {
      if (cmpWords(s, prevStart6) < 0) throw new AsnDataError(`${files.v6}: rows are not sorted (reinstall @ip-location-db/asn)`);
      prevStart6.set(s);
      if (cmpWords(s, prevEnd6) <= 0) {
        // start = prevEnd + 1, carrying across words (prevEnd < end, so it cannot overflow)
        s.set(prevEnd6);
        for (let w = 3; w >= 0; w--) {
          s[w] = (s[w]! + 1) >>> 0;
          if (s[w] !== 0) break;
        }
      }
    } else {
      prevStart6.set(s);
    }
    if (cmpWords(s, e) > 0) return;
    first6 = false;
    v6Start.push(s[0]!, s[1]!, s[2]!, s[3]!);
    v6End.push(e[0]!, e[1]!, e[2]!, e[3]!);
    v6Entry.push(pool.intern(asn, org));
    prevEnd6.set(e);
  });

  const s4 = Uint32Array.from(v4Start);
  const e4 = Uint32Array.from(v4End);
  const id4 = Uint32Array.from(v4Entry);
  const s6 = Uint32Array.from(v6Start);
  const e6 = Uint32Array.from(v6End);
  const id6 = Uint32Array.from(v6Entry);
  const entries = pool.entries;
  const n4 = s4.length;
  const n6 = id6.length;

  /** Sign of (words at arr[i*4..]) - (w0..w3). */
  const cmp6 = (arr: Uint32Array, i: number, w0: number, w1: number, w2: number, w3: number): number => {
    const o = i * 4;
    const a0 = arr[o]!;
    if (a0 !== w0) return a0 < w0 ? -1 : 1;
    const a1 = arr[o + 1]!;
    if (a1 !== w1) return a1 < w1 ? -1 : 1;
    const a2 = arr[o + 2]!;
    if (a2 !== w2) return a2 < w2 ? -1 : 1;
    const a3 = arr[o + 3]!;
    return a3 === w3 ? 0 : a3 < w3 ? -1 : 1;
  };

  return {
    ranges: { v4: n4, v6: n6 },
    v4(ip) {
      // Last range starting at or before ip, then check ip is not past its end.
      let lo = 0;
      let hi = n4 - 1;
      let found = -1;
      while (lo <= hi) {
        const mid = (lo + hi) >>> 1;
        if (s4[mid]! <= ip) {
          found = mid;
          lo = mid + 1;
        } else {
          hi = mid - 1;
        }
      }
      if (found < 0 || e4[found]! < ip) return null;
      return entries[id4[found]!] ?? null;
    },
    v6(w0, w1, w2, w3) {
      let lo = 0;
      let hi = n6 - 1;
      let found = -1;
      while (lo <= hi) {
        const mid = (lo + hi) >>> 1;
        if (cmp6(s6, mid, w0, w1, w2, w3) <= 0) {
          found = mid;
          lo = mid + 1;
        } else {
          hi = mid - 1;
        }
      }
      if (found < 0 || cmp6(e6, found, w0, w1, w2, w3) < 0) return null;
      return entries[id6[found]!] ?? null;
    },
  };
}
