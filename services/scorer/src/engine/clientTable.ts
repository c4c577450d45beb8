/**
 * The scorer's per-client state, kept small enough for a million clients: each client gets a
 * slot number, and every rule keeps its counters in typed arrays indexed by slot (a column per
 * counter), rather than an object per client. A slot costs the Map entry of its key, the
 * key's string, a last-seen time, and a few bytes per rule (bench:scorer measures it).
 *
 * Clients idle for longer than the longest window are evicted (their counters could only be
 * zero again); when the table is full the least recently seen are evicted early, and counted.
 */

/** One counter column: grows with the table; a slot's value is reset when the slot is reused. */
export interface Column {
  grow(capacity: number): void;
  reset(slot: number): void;
}

export class U32Column implements Column {
  a: Uint32Array;
  constructor(capacity: number) {
    this.a = new Uint32Array(capacity);
  }
  grow(capacity: number): void {
    const next = new Uint32Array(capacity);
    next.set(this.a);
    this.a = next;
  }
  reset(slot: number): void {
    this.a[slot] = 0;
  }
}

export interface ClientTableOptions {
  /** Most clients tracked at once. Default 1,000,000. */
  maxClients?: number;
  /** First allocation of the columns. Default 1024. */
  initialCapacity?: number;
}

export class ClientTable {
  readonly maxClients: number;
  private readonly slots = new Map<string, number>();
  private keys: (string | undefined)[] = [];
  /** Last event time of each slot, in seconds. */
  private lastSeen: Uint32Array;
  private readonly free: number[] = [];
  private next = 0;
  private capacity: number;
  private readonly columns = new Set<Column>();
  /** Clients evicted because the table was full (not for being idle). */
  evictedForCap = 0;
  evictedIdle = 0;

  constructor(options: ClientTableOptions = {}) {
    this.maxClients = options.maxClients ?? 1_000_000;
    this.capacity = Math.min(options.initialCapacity ?? 1024, this.maxClients);
    this.lastSeen = new Uint32Array(this.capacity);
  }

  get size(): number {
    return this.slots.size;
  }

  get allocated(): number {
    return this.capacity;
  }

  /** A column that grows with the table; call `release` when the rule that owns it goes. */
  column(): U32Column {
    const c = new U32Column(this.capacity);
    this.columns.add(c);
    return c;
  }

  release(c: Column): void {
    this.columns.delete(c);
  }

  has(key: string): boolean {
    return this.slots.has(key);
  }

  /** The slot of a client, allocated (and its counters zeroed) when it is new. */
  slot(key: string, nowMs: number): number {
    const seconds = (nowMs / 1000) >>> 0;
    let s = this.slots.get(key);
    if (s === undefined) {
      s = this.allocate(nowMs);
      this.slots.set(key, s);
      this.keys[s] = key;
    }
    if (seconds > (this.lastSeen[s] as number)) this.lastSeen[s] = seconds;
    return s;
  }

  /**
   * The latest event time seen for the slot, as late as it can have been: kept to the second,
   * so the second's last millisecond (a late event judged then counts for less, never more).
   */
  latestMs(slot: number): number {
    return (this.lastSeen[slot] as number) * 1000 + 999;
  }

  keyOf(slot: number): string | undefined {
    return this.keys[slot];
  }

  /** Evicts clients not seen since `beforeMs`; returns how many. */
  evictIdle(beforeMs: number): number {
    const cutoff = (beforeMs / 1000) >>> 0;
    let n = 0;
    for (let s = 0; s < this.next; s++) {
      if (this.keys[s] !== undefined && (this.lastSeen[s] as number) < cutoff) {
        this.evict(s);
        n++;
      }
    }
    this.evictedIdle += n;
    return n;
  }

  private evict(s: number): void {
    this.slots.delete(this.keys[s] as string);
    this.keys[s] = undefined;
    this.lastSeen[s] = 0;
    for (const c of this.columns) c.reset(s);
    this.free.push(s);
  }

  private allocate(nowMs: number): number {
    if (this.free.length === 0 && this.next >= this.maxClients) this.makeRoom(nowMs);
    const reused = this.free.pop();
    if (reused !== undefined) return reused;
    if (this.next >= this.capacity) this.grow();
    return this.next++;
  }

  /** The table is full: evict the least recently seen tenth (by a sampled cut-off). */
  private makeRoom(nowMs: number): void {
    const sample: number[] = [];
    const step = Math.max(1, Math.floor(this.next / 1000));
    for (let s = 0; s < this.next; s += step) if (this.keys[s] !== undefined) sample.push(this.lastSeen[s] as number);
    sample.sort((a, b) => a - b);
    const cutoff = sample[Math.floor(sample.length / 10)] ?? (nowMs / 1000) >>> 0;
    let n = 0;
    for (let s = 0; s < this.next; s++) {
      if (this.keys[s] !== undefined && (this.lastSeen[s] as number) <= cutoff) {
        this.evict(s);
        n++;
      }
    }
    this.evictedForCap += n;
  }

  private grow(): void {
    this.capacity = Math.min(this.capacity * 2, this.maxClients);
    const seen = new Uint32Array(this.capacity);
    seen.set(this.lastSeen);
    this.lastSeen = seen;
    for (const c of this.columns) c.grow(this.capacity);
  }
}
