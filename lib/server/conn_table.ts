/**
 * Bookkeeping of the connection guard's caps, without any I/O: connections
 * by client address, and which of them still wait for their request head.
 *
 * @module
 */

/** Limits of a {@link ConnectionTable}. */
export interface ConnectionTableOptions<T> {
  /** Connections in all. */
  maxTotal: number;
  /** Connections per key (client address). */
  maxPerKey: number;
  /**
   * Whether a settled entry may be evicted (an idle keep-alive connection);
   * default: never.
   */
  evictable?: (entry: T) => boolean;
}

/** The outcome of {@link ConnectionTable.add}. */
export interface Admission<T> {
  /** Whether the new entry is in the table. */
  admitted: boolean;
  /** Entries removed to make room; the caller closes them. */
  evicted: T[];
}

/**
 * Connections counted per key and in all. A new entry over a cap evicts the
 * oldest entry still pending (waiting for its head) under the same key, or
 * for the global cap under any key; when there is none, the oldest settled
 * entry (head received) that `evictable` accepts, likewise; when there is
 * none either it is refused.
 */
export class ConnectionTable<T> {
  #options: ConnectionTableOptions<T>;
  #keyOf = new Map<T, string>();
  #byKey = new Map<string, Set<T>>();
  /** Pending entries, oldest first (Map keeps insertion order). */
  #pending = new Map<T, string>();

  /** @throws {RangeError} for limits below 1. */
  constructor(options: ConnectionTableOptions<T>) {
    if (!(options.maxTotal >= 1) || !(options.maxPerKey >= 1)) {
      throw new RangeError("Connection limits must be at least 1");
    }
    this.#options = options;
  }

  /** Entries in the table. */
  get size(): number {
    return this.#keyOf.size;
  }

  /** Entries still pending. */
  get pendingCount(): number {
    return this.#pending.size;
  }

  /** Entries under `key`. */
  countFor(key: string): number {
    return this.#byKey.get(key)?.size ?? 0;
  }

  /** Whether `entry` is still pending. */
  isPending(entry: T): boolean {
    return this.#pending.has(entry);
  }

  /** Every entry. */
  entries(): T[] {
    return [...this.#keyOf.keys()];
  }

  /** Add a pending `entry` under `key`, evicting or refusing over a cap. */
  add(entry: T, key: string): Admission<T> {
    const evicted: T[] = [];
    if (this.countFor(key) >= this.#options.maxPerKey) {
      const victim = this.#oldestPending(key) ?? this.#oldestEvictable(key);
      if (victim === undefined) return { admitted: false, evicted };
      this.remove(victim);
      evicted.push(victim);
    }
    if (this.size >= this.#options.maxTotal) {
      const victim = this.#oldestPending() ?? this.#oldestEvictable();
      if (victim === undefined) return { admitted: false, evicted };
      this.remove(victim);
      evicted.push(victim);
    }
    this.#keyOf.set(entry, key);
    let set = this.#byKey.get(key);
    if (!set) this.#byKey.set(key, set = new Set());
    set.add(entry);
    this.#pending.set(entry, key);
    return { admitted: true, evicted };
  }

  /**
   * Mark `entry` as having sent its head: from now on it is evicted only
   * when `evictable` accepts it.
   */
  settle(entry: T): void {
    this.#pending.delete(entry);
  }

  /** Remove `entry`; false when it was not in the table. */
  remove(entry: T): boolean {
    const key = this.#keyOf.get(entry);
    if (key === undefined) return false;
    this.#keyOf.delete(entry);
    this.#pending.delete(entry);
    const set = this.#byKey.get(key)!;
    set.delete(entry);
    if (set.size === 0) this.#byKey.delete(key);
    return true;
  }

  /** Scans the settled entries: runs only when a cap is reached. */
  #oldestEvictable(key?: string): T | undefined {
    const evictable = this.#options.evictable;
    if (!evictable) return undefined;
    const candidates = key === undefined
      ? this.#keyOf.keys()
      : this.#byKey.get(key)?.values() ?? [];
    for (const entry of candidates) {
      if (!this.#pending.has(entry) && evictable(entry)) return entry;
    }
    return undefined;
  }

  #oldestPending(key?: string): T | undefined {
    for (const [entry, k] of this.#pending) {
      if (key === undefined || k === key) return entry;
    }
    return undefined;
  }
}
