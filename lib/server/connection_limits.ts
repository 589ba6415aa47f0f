/**
 * Caps on concurrent connections: per user (dashboard sockets plus SSE
 * sessions, or an agent's sockets), per client address, and for sockets
 * not yet authenticated (per address and over all). A connection is
 * admitted before it gets a socket (the refusal becomes HTTP 429), moved to
 * its user's count when it authenticates in-band, and released once when
 * its session ends.
 *
 * @module
 */
import { addressKey } from "./address.ts";

/** Options of {@link ConnectionLimits}. */
export interface ConnectionLimitsOptions {
  maxPerUser: number;
  maxPerAddress: number;
  maxUnauthenticatedPerAddress: number;
  maxUnauthenticated: number;
}

/** How a connection counts. */
export interface Admission {
  /** Client address (`ctx.remoteAddr.hostname`), counted by {@link addressKey}. */
  address: string;
  /** The authenticated user (token subject), or null until it authenticates. */
  userId: string | null;
  /**
   * Whether it counts against its address once authenticated (dashboards
   * do; agents, many of which may share a host, count per agent only).
   */
  perAddress: boolean;
}

interface Entry extends Admission {
  /** Counted in the address total (unauthenticated, or `perAddress`). */
  countedAtAddress: boolean;
}

/** Counts live connections and refuses those over a cap. */
export class ConnectionLimits {
  readonly options: ConnectionLimitsOptions;
  #entries = new Map<string, Entry>();
  #perUser = new Map<string, number>();
  #perAddress = new Map<string, number>();
  #unauthPerAddress = new Map<string, number>();
  #unauth = 0;
  #refused = 0;

  /** @throws {RangeError} for a cap below 1. */
  constructor(options: ConnectionLimitsOptions) {
    for (const [name, value] of Object.entries(options)) {
      if (!(value >= 1)) throw new RangeError(`${name} must be at least 1`);
    }
    this.options = options;
  }

  /**
   * Admit connection `id`; returns null when admitted, else why not (and
   * nothing is counted).
   *
   * @throws {TypeError} when `id` is already admitted.
   */
  admit(id: string, admission: Admission): string | null {
    const refused = this.#admit(id, admission);
    if (refused) this.#refused++;
    return refused;
  }

  #admit(id: string, admission: Admission): string | null {
    if (this.#entries.has(id)) throw new TypeError(`"${id}" already admitted`);
    const { userId } = admission;
    const address = addressKey(admission.address);
    const o = this.options;
    if (userId === null) {
      if (
        (this.#unauthPerAddress.get(address) ?? 0) >=
          o.maxUnauthenticatedPerAddress
      ) {
        return `Too many unauthenticated connections from "${address}" (limit ${o.maxUnauthenticatedPerAddress})`;
      }
      if (this.#unauth >= o.maxUnauthenticated) {
        return `Too many unauthenticated connections (limit ${o.maxUnauthenticated})`;
      }
    } else {
      const refused = this.#checkUser(userId);
      if (refused) return refused;
    }
    const countedAtAddress = userId === null || admission.perAddress;
    if (countedAtAddress) {
      const refused = this.#checkAddress(address);
      if (refused) return refused;
    }
    const entry: Entry = { ...admission, address, countedAtAddress };
    this.#entries.set(id, entry);
    if (countedAtAddress) increment(this.#perAddress, address);
    if (userId === null) {
      increment(this.#unauthPerAddress, address);
      this.#unauth++;
    } else {
      increment(this.#perUser, userId);
    }
    return null;
  }

  /**
   * Connection `id` authenticated as `userId`: it leaves the
   * unauthenticated counts and joins the user's. Returns null, or why it is
   * over a cap (it is then released). An unknown id is left alone (null).
   */
  authenticate(id: string, userId: string): string | null {
    const refused = this.#authenticate(id, userId);
    if (refused) this.#refused++;
    return refused;
  }

  #authenticate(id: string, userId: string): string | null {
    const entry = this.#entries.get(id);
    if (!entry || entry.userId === userId) return null;
    if (entry.userId !== null) {
      // Another user on the same connection (auth:refresh): move it over.
      const refused = this.#checkUser(userId);
      if (refused) {
        this.release(id);
        return refused;
      }
      decrement(this.#perUser, entry.userId);
      entry.userId = userId;
      increment(this.#perUser, userId);
      return null;
    }
    const refused = this.#checkUser(userId);
    if (refused) {
      this.release(id);
      return refused;
    }
    decrement(this.#unauthPerAddress, entry.address);
    this.#unauth--;
    if (!entry.perAddress) {
      decrement(this.#perAddress, entry.address);
      entry.countedAtAddress = false;
    }
    entry.userId = userId;
    increment(this.#perUser, userId);
    return null;
  }

  /** Forget connection `id`; returns false when it was not counted. */
  release(id: string): boolean {
    const entry = this.#entries.get(id);
    if (!entry) return false;
    this.#entries.delete(id);
    if (entry.countedAtAddress) decrement(this.#perAddress, entry.address);
    if (entry.userId === null) {
      decrement(this.#unauthPerAddress, entry.address);
      this.#unauth--;
    } else {
      decrement(this.#perUser, entry.userId);
    }
    return true;
  }

  /**
   * Connections counted now (all, and those not yet authenticated), and
   * refusals since start.
   */
  get counts(): { total: number; unauthenticated: number; refused: number } {
    return {
      total: this.#entries.size,
      unauthenticated: this.#unauth,
      refused: this.#refused,
    };
  }

  /** Connections of `userId`, and counted at `address`. */
  countOf(key: { userId?: string; address?: string }): number {
    return key.userId !== undefined
      ? this.#perUser.get(key.userId) ?? 0
      : this.#perAddress.get(addressKey(key.address ?? "")) ?? 0;
  }

  #checkUser(userId: string): string | null {
    const max = this.options.maxPerUser;
    return (this.#perUser.get(userId) ?? 0) >= max
      ? `Too many connections for user "${userId}" (limit ${max})`
      : null;
  }

  #checkAddress(address: string): string | null {
    const max = this.options.maxPerAddress;
    return (this.#perAddress.get(address) ?? 0) >= max
      ? `Too many connections from "${address}" (limit ${max})`
      : null;
  }
}

function increment(map: Map<string, number>, key: string): void {
  map.set(key, (map.get(key) ?? 0) + 1);
}

function decrement(map: Map<string, number>, key: string): void {
  const n = (map.get(key) ?? 0) - 1;
  if (n > 0) map.set(key, n);
  else map.delete(key);
}
