/**
 * IP text to numbers without BigInt, for the block mirror's lookups (once per request) and
 * loads (a million entries). @ipwatch/core/ip parses into one BigInt, which is exact and
 * general but costs ~0.5 us per address; this reads the characters once into small
 * integers. It accepts what parseIp accepts for a bare address (dotted IPv4 without leading
 * zeros, IPv6 in any valid spelling, an IPv4 tail), not ports, brackets or zones.
 *
 * @example
 * const p = new AddressParser();
 * if (p.parse('2001:db8::1', 0, 11) === 6) console.log(p.words); // Int32Array [0x2001, 0xdb8, 0, 0, 0, 0, 0, 1]
 */

export const NOT_IP = 0;
export const V4 = 4;
export const V6 = 6;
export type Family = typeof NOT_IP | typeof V4 | typeof V6;

export class AddressParser {
  /** After a V4 result: the address as an unsigned 32-bit number. */
  v4 = 0;
  /** After a V4 result: true when it was written as IPv4-mapped IPv6 (::ffff:a.b.c.d). */
  mapped = false;
  /** After a V6 result: the eight 16-bit groups. Reused across calls: no allocation per parse. */
  readonly words = new Int32Array(8);

  /**
   * Parses text[start, end). Returns V4 (see `v4`), V6 (see `words`) or NOT_IP.
   * IPv4-mapped IPv6 is returned as V4, so one client has one key whichever way it is spelt.
   */
  parse(text: string, start: number, end: number): Family {
    // The first '.' or ':' decides the family within five characters, so dotted IPv4 (most
    // traffic) is read in one pass instead of being scanned for a colon first.
    for (let i = start, stop = Math.min(end, start + 5); i < stop; i++) {
      const c = text.charCodeAt(i);
      if (c === 58) return this.parseV6(text, start, end);
      if (c === 46) break;
    }
    const v = parseV4(text, start, end);
    if (v < 0) return NOT_IP;
    this.v4 = v;
    this.mapped = false;
    return V4;
  }

  private parseV6(text: string, start: number, end: number): Family {
    const w = this.words;
    if (end - start < 2 || end - start > 45) return NOT_IP;
    let n = 0; // groups written
    let gap = -1; // where "::" stands, in groups
    let i = start;
    if (text.charCodeAt(i) === 58) {
      if (text.charCodeAt(i + 1) !== 58) return NOT_IP;
      gap = 0;
      i += 2;
    }
    while (i < end) {
      const groupStart = i;
      let value = 0;
      let digits = 0;
      for (; i < end && digits <= 4; i++) {
        const c = text.charCodeAt(i);
        // A table read instead of three range tests per character.
        const h = c < 128 ? HEX[c]! : -1;
        if (h < 0) break;
        value = (value << 4) | h;
        digits++;
      }
      if (i < end && text.charCodeAt(i) === 46) {
        // An IPv4 tail ("::ffff:1.2.3.4"): it fills the last two groups and ends the text.
        if (n > 6) return NOT_IP;
        const v = parseV4(text, groupStart, end);
        if (v < 0) return NOT_IP;
        w[n++] = v >>> 16;
        w[n++] = v & 0xffff;
        i = end;
        break;
      }
      if (digits === 0 || digits > 4 || n === 8) return NOT_IP;
      w[n++] = value;
      if (i === end) break;
      if (text.charCodeAt(i) !== 58) return NOT_IP;
      i++;
      if (i < end && text.charCodeAt(i) === 58) {
        if (gap >= 0) return NOT_IP;
        gap = n;
        i++;
      } else if (i === end) {
        return NOT_IP; // a single trailing colon
      }
    }
    if (gap >= 0) {
      // "::" stands for one or more zero groups: move the groups after it to the end.
      if (n === 8) return NOT_IP;
      const tail = n - gap;
      for (let k = 1; k <= tail; k++) w[8 - k] = w[n - k]!;
      for (let k = gap; k < 8 - tail; k++) w[k] = 0;
    } else if (n !== 8) {
      return NOT_IP;
    }
    if (w[0] === 0 && w[1] === 0 && w[2] === 0 && w[3] === 0 && w[4] === 0 && w[5] === 0xffff) {
      this.v4 = w[6]! * 65536 + w[7]!;
      this.mapped = true;
      return V4;
    }
    return V6;
  }
}

/** Dotted IPv4 in text[start, end) as an unsigned 32-bit number, or -1. No leading zeros (they would read as octal elsewhere). */
export function parseV4(text: string, start: number, end: number): number {
  let value = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i) - 48;
    if (c === -2) {
      // '.'
      if (digits === 0 || ++dots > 3) return -1;
      // Multiplying (not shifting) keeps the value unsigned past 2^31.
      value = value * 256 + octet;
      octet = 0;
      digits = 0;
      continue;
    }
    if (c < 0 || c > 9 || (digits > 0 && octet === 0)) return -1;
    octet = octet * 10 + c;
    if (octet > 255) return -1;
    digits++;
  }
  if (dots !== 3 || digits === 0) return -1;
  return value * 256 + octet;
}

/** HEX[charCode]: the value of a hex digit, or -1. */
const HEX = new Int8Array(128).fill(-1);
for (let i = 0; i < 10; i++) HEX[48 + i] = i;
for (let i = 0; i < 6; i++) HEX[65 + i] = HEX[97 + i] = 10 + i;
