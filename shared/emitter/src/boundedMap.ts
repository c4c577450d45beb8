/**
 * A Map that never holds more than `capacity` entries: when full, the oldest insertion is
 * evicted (FIFO). Client IPs are attacker-chosen, so every per-IP cache must be bounded.
 * Internal: not exported from the package.
 */
export class BoundedMap<K, V> {
  private readonly map = new Map<K, V>();

  constructor(private readonly capacity: number) {}

  get(key: K): V | undefined {
    return this.map.get(key);
  }

  set(key: K, value: V): void {
    if (this.capacity <= 0) return;
    // FIFO rather than LRU: no delete+reinsert on every hit, and one eviction is O(1).
    if (this.map.size >= this.capacity && !this.map.has(key)) {
      const oldest = this.map.keys().next();
      if (!oldest.done) this.map.delete(oldest.value);
    }
    this.map.set(key, value);
  }

  get size(): number {
    return this.map.size;
  }
}
