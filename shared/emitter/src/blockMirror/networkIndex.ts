/**
 * Hash tables from a network (its bits and its prefix length) to a slot number, for the
 * prefix table. Open addressing with linear probing in one Int32Array each, key and value
 * side by side: a lookup reads one or two adjacent cache lines, where a JS Map reads its
 * bucket, its entry and (for string keys) the key string, three scattered places. On a
 * million entries that is the difference between ~25 ns and ~65 ns per probe. Deletion
 * shifts the following cells back, so there are no tombstones and lookups never slow down.
 *
 * Not general purpose: keys are int32 words, values are slots below MAX_SLOTS.
 */

/** Cells are kept at most half full: short probe runs, and a miss ends at an empty cell soon. */
const MAX_LOAD = 0.5;
/** Slots are stored with the length in the same 32 bits (`(slot + 1) << 8 | len`, read back with >>> 8), so at most this. */
export const MAX_SLOTS = 2 ** 24 - 2;

/** murmur3's finaliser: every input bit moves about half the output bits. */
function mix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/**
 * (int32 key, length 0..128) -> slot. For IPv4 networks, and the top 32 bits of short IPv6
 * networks. Cell: [key, (slot + 1) << 8 | len]; a zero second word is an empty cell.
 */
export class Int32Index {
  private cells = new Int32Array(2 * 16);
  private mask = 15;
  size = 0;

  private home(key: number, len: number): number {
    return mix(key ^ Math.imul(len + 1, 0x9e3779b1)) & this.mask;
  }

  /** The slot of (key, len), or -1. */
  get(key: number, len: number): number {
    const cells = this.cells;
    for (let i = this.home(key, len); ; i = (i + 1) & this.mask) {
      const v = cells[2 * i + 1]!;
      if (v === 0) return -1;
      if (cells[2 * i] === key && (v & 255) === len) return (v >>> 8) - 1;
    }
  }

  /** Sets (key, len) to slot; returns the slot it had, or -1 if it is new. */
  set(key: number, len: number, slot: number): number {
    if (slot > MAX_SLOTS) throw new RangeError(`the prefix table holds at most ${MAX_SLOTS} entries`);
    const cells = this.cells;
    let i = this.home(key, len);
    for (; ; i = (i + 1) & this.mask) {
      const v = cells[2 * i + 1]!;
      if (v === 0) break;
      if (cells[2 * i] === key && (v & 255) === len) {
        cells[2 * i + 1] = ((slot + 1) << 8) | len;
        return (v >>> 8) - 1;
      }
    }
    cells[2 * i] = key;
    cells[2 * i + 1] = ((slot + 1) << 8) | len;
    if (++this.size > (this.mask + 1) * MAX_LOAD) this.grow();
    return -1;
  }

  /** Removes (key, len); returns its slot, or -1 if it was not there. */
  delete(key: number, len: number): number {
    const cells = this.cells;
    let i = this.home(key, len);
    for (; ; i = (i + 1) & this.mask) {
      const v = cells[2 * i + 1]!;
      if (v === 0) return -1;
      if (cells[2 * i] === key && (v & 255) === len) break;
    }
    const slot = (cells[2 * i + 1]! >>> 8) - 1;
    // Backward shift: pull later cells of the run into the hole when their home allows it.
    for (let j = (i + 1) & this.mask; cells[2 * j + 1] !== 0; j = (j + 1) & this.mask) {
      const h = this.home(cells[2 * j]!, cells[2 * j + 1]! & 255);
      if (((j - h) & this.mask) >= ((j - i) & this.mask)) {
        cells[2 * i] = cells[2 * j]!;
        cells[2 * i + 1] = cells[2 * j + 1]!;
        i = j;
      }
    }
    cells[2 * i] = 0;
    cells[2 * i + 1] = 0;
    this.size--;
    return slot;
  }

  private grow(): void {
    const old = this.cells;
    this.cells = new Int32Array(old.length * 2);
    this.mask = this.cells.length / 2 - 1;
    for (let c = 0; c < old.length; c += 2) {
      const v = old[c + 1]!;
      if (v === 0) continue;
      let i = this.home(old[c]!, v & 255);
      while (this.cells[2 * i + 1] !== 0) i = (i + 1) & this.mask;
      this.cells[2 * i] = old[c]!;
      this.cells[2 * i + 1] = v;
    }
  }
}

/**
 * (128-bit key as four int32 words, length 0..128) -> slot. For IPv6 networks longer than
 * /32. Cell: [a, b, c, d, (slot + 1) << 8 | len, 0] (six words: 24 bytes, cells never straddle
 * more than two cache lines); a zero fifth word is an empty cell.
 */
export class Int128Index {
  private cells = new Int32Array(6 * 16);
  private mask = 15;
  size = 0;

  private home(a: number, b: number, c: number, d: number, len: number): number {
    return mix(a ^ mix(b ^ mix(c ^ mix(d ^ Math.imul(len + 1, 0x9e3779b1))))) & this.mask;
  }

  get(a: number, b: number, c: number, d: number, len: number): number {
    const cells = this.cells;
    for (let i = this.home(a, b, c, d, len); ; i = (i + 1) & this.mask) {
      const at = 6 * i;
      const v = cells[at + 4]!;
      if (v === 0) return -1;
      if ((v & 255) === len && cells[at] === a && cells[at + 1] === b && cells[at + 2] === c && cells[at + 3] === d) return (v >>> 8) - 1;
    }
  }

  set(a: number, b: number, c: number, d: number, len: number, slot: number): number {
    if (slot > MAX_SLOTS) throw new RangeError(`the prefix table holds at most ${MAX_SLOTS} entries`);
    const cells = this.cells;
    let i = this.home(a, b, c, d, len);
    for (; ; i = (i + 1) & this.mask) {
      const at = 6 * i;
      const v = cells[at + 4]!;
      if (v === 0) break;
      if ((v & 255) === len && cells[at] === a && cells[at + 1] === b && cells[at + 2] === c && cells[at + 3] === d) {
        cells[at + 4] = ((slot + 1) << 8) | len;
        return (v >>> 8) - 1;
      }
    }
    this.write(6 * i, a, b, c, d, ((slot + 1) << 8) | len);
    if (++this.size > (this.mask + 1) * MAX_LOAD) this.grow();
    return -1;
  }

  delete(a: number, b: number, c: number, d: number, len: number): number {
    const cells = this.cells;
    let i = this.home(a, b, c, d, len);
    for (; ; i = (i + 1) & this.mask) {
      const at = 6 * i;
      const v = cells[at + 4]!;
      if (v === 0) return -1;
      if ((v & 255) === len && cells[at] === a && cells[at + 1] === b && cells[at + 2] === c && cells[at + 3] === d) break;
    }
    const slot = (cells[6 * i + 4]! >>> 8) - 1;
    for (let j = (i + 1) & this.mask; cells[6 * j + 4] !== 0; j = (j + 1) & this.mask) {
      const at = 6 * j;
      const h = this.home(cells[at]!, cells[at + 1]!, cells[at + 2]!, cells[at + 3]!, cells[at + 4]! & 255);
      if (((j - h) & this.mask) >= ((j - i) & this.mask)) {
        this.write(6 * i, cells[at]!, cells[at + 1]!, cells[at + 2]!, cells[at + 3]!, cells[at + 4]!);
        i = j;
      }
    }
    this.write(6 * i, 0, 0, 0, 0, 0);
    this.size--;
    return slot;
  }

  private write(at: number, a: number, b: number, c: number, d: number, v: number): void {
    const cells = this.cells;
    cells[at] = a;
    cells[at + 1] = b;
    cells[at + 2] = c;
    cells[at + 3] = d;
    cells[at + 4] = v;
  }

  private grow(): void {
    const old = this.cells;
    this.cells = new Int32Array(old.length * 2);
    this.mask = this.cells.length / 6 - 1;
    for (let at = 0; at < old.length; at += 6) {
      const v = old[at + 4]!;
      if (v === 0) continue;
      let i = this.home(old[at]!, old[at + 1]!, old[at + 2]!, old[at + 3]!, v & 255);
      while (this.cells[6 * i + 4] !== 0) i = (i + 1) & this.mask;
      this.write(6 * i, old[at]!, old[at + 1]!, old[at + 2]!, old[at + 3]!, v);
    }
  }
}

/**
 * int32 key -> four int32 words of bits, read and written in place. For the per-/32 bitmask
 * of IPv6 lengths. Cell: [key, m0, m1, m2, m3, 1 if used]. find() returns the index of m0 in
 * `cells` (or -1), so the caller reads the words where they are.
 */
export class BitsIndex {
  cells = new Int32Array(6 * 16);
  private mask = 15;
  size = 0;

  private home(key: number): number {
    return mix(key) & this.mask;
  }

  find(key: number): number {
    const cells = this.cells;
    for (let i = this.home(key); ; i = (i + 1) & this.mask) {
      const at = 6 * i;
      if (cells[at + 5] === 0) return -1;
      if (cells[at] === key) return at + 1;
    }
  }

  /** find(), adding a cell with zero bits when the key is new. */
  findOrAdd(key: number): number {
    const found = this.find(key);
    if (found >= 0) return found;
    if (this.size + 1 > (this.mask + 1) * MAX_LOAD) this.grow();
    let i = this.home(key);
    while (this.cells[6 * i + 5] !== 0) i = (i + 1) & this.mask;
    this.cells[6 * i] = key;
    this.cells[6 * i + 5] = 1;
    this.size++;
    return 6 * i + 1;
  }

  delete(key: number): void {
    const cells = this.cells;
    let i = this.home(key);
    for (; ; i = (i + 1) & this.mask) {
      if (cells[6 * i + 5] === 0) return;
      if (cells[6 * i] === key) break;
    }
    for (let j = (i + 1) & this.mask; cells[6 * j + 5] !== 0; j = (j + 1) & this.mask) {
      const h = this.home(cells[6 * j]!);
      if (((j - h) & this.mask) >= ((j - i) & this.mask)) {
        cells.copyWithin(6 * i, 6 * j, 6 * j + 6);
        i = j;
      }
    }
    cells.fill(0, 6 * i, 6 * i + 6);
    this.size--;
  }

  private grow(): void {
    const old = this.cells;
    this.cells = new Int32Array(old.length * 2);
    this.mask = this.cells.length / 6 - 1;
    for (let at = 0; at < old.length; at += 6) {
      if (old[at + 5] === 0) continue;
      let i = this.home(old[at]!);
      while (this.cells[6 * i + 5] !== 0) i = (i + 1) & this.mask;
      this.cells.set(old.subarray(at, at + 6), 6 * i);
    }
  }
}
