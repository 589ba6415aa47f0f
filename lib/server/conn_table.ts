/**
 * Bookkeeping of the connection guard's caps, without any I/O: connections
 * by client address, and which of them still wait for their request head.
 *
 * @module
 */

/** Limits of a {@link ConnectionTable}. */
export interface ConnectionTableOptions {
  /** Connections in all. */
  maxTotal: number;
  /** Connections per key (client address). */
  maxPerKey: number;
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
 * for the global cap under any key; when there is none it is refused.
 * Settled entries (head received) are never evicted.
 */
export class ConnectionTable<T> {
  #options: ConnectionTableOptions;
  #keyOf = new Map<T, string>();
  #byKey = new Map<string, Set<T>>();
  /** Pending entries, oldest first (Map keeps insertion order). */
  #pending = new Map<T, string>();

  /** @throws {RangeError} for limits below 1. */
  constructor(options: ConnectionTableOptions) {
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
      const victim = this.#oldestPending(key);
      if (victim === undefined) return { admitted: false, evicted };
      this.remove(victim);
      evicted.push(victim);
    }
    if (this.size >= this.#options.maxTotal) {
      const victim = this.#oldestPending();
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

  /** Mark `entry` as having sent its head: it is no longer evictable. */
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

  #oldestPending(key?: string): T | undefined {
    for (const [entry, k] of this.#pending) {
      if (key === undefined || k === key) return entry;
    }
    return undefined;
  }
}

/**
 * The key a client address is capped under: an IPv4 address as is (also
 * when IPv4-mapped, `::ffff:1.2.3.4`), an IPv6 address by its /64 prefix,
 * since one host commonly holds a whole /64.
 *
 * @example
 * ```ts
 * addressKey("2001:db8::1"); // "2001:db8:0:0::/64"
 * ```
 */
export function addressKey(hostname: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(hostname);
  if (mapped) return mapped[1];
  if (!hostname.includes(":")) return hostname;
  const [head, tail = ""] = hostname.toLowerCase().split("%")[0].split("::");
  const left = head ? head.split(":") : [];
  const right = hostname.includes("::") && tail ? tail.split(":") : [];
  const groups = hostname.includes("::")
    ? [
      ...left,
      ...Array(Math.max(0, 8 - left.length - right.length)).fill("0"),
      ...right,
    ]
    : left;
  return `${
    groups.slice(0, 4).map((g) => g.replace(/^0+(?=.)/, "")).join(":")
  }::/64`;
}
