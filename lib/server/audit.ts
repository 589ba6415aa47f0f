/**
 * The audit trail: an append-only record of who did what, when, from where.
 *
 * {@link AuditTrail} is what the server's edges (message handlers, HTTP
 * routes) call, one line per action; it stamps time and id, bounds what
 * outsiders can make it write, and hands entries to an {@link AuditStore}.
 * {@link KvAuditStore} keeps them in a {@link KvLike} under
 * `["audit", time, id]` (time in ms, so a reverse list is newest first):
 * the server's Deno KV, or in cluster mode the RedisKv (redis_kv.ts) every
 * server shares, so the trail of every server is listed by any. Entries are
 * never changed; the only deletion is retention by age.
 *
 * Bounds on writes from outside: refusals (sign-in failures, refused
 * roles, origins and rates, unauthenticated requests) are written at most
 * `refusalsPerMinute` per source (client address, or user) per minute;
 * past that they are counted and written as one `audit.suppressed` entry
 * (with the count) when that source's minute ends. The table of sources is
 * itself capped ({@link MAX_SOURCES}; past it, new sources share one).
 * Raw terminal input is written as one `terminal.input` entry per
 * connection and agent with the byte and message counts, when control is
 * released, the connection closes, or after {@link INPUT_FLUSH_MS}.
 *
 * @module
 */
import type { Role } from "../protocol.ts";
import type { KvLike } from "./redis_kv.ts";

/** What an entry records. */
export const AUDIT_ACTIONS = [
  "auth.sign-in",
  "auth.sign-out",
  "auth.refused",
  "access.refused",
  "token.mint",
  "token.revoke",
  "command.request",
  "command.cancel",
  "command.interrupt",
  "command.timeout",
  "prompt.send",
  "emergency.stop",
  "agent.register",
  "agent.replace",
  "agent.forget",
  "session.restart",
  "session.control.take",
  "session.control.release",
  "terminal.input",
  "audit.read",
  "audit.suppressed",
] as const;

/** One of {@link AUDIT_ACTIONS}. */
export type AuditAction = typeof AUDIT_ACTIONS[number];

/** How an action ended. */
export type AuditOutcome = "ok" | "refused" | "failed";

/** What an action concerned. */
export interface AuditTarget {
  agentId?: string;
  commandId?: string;
  /** Sign-in id (`jti`) of a minted or revoked token. */
  tokenId?: string;
  /** A user the action concerned (a minted token's subject). */
  user?: string;
  /** An HTTP path. */
  path?: string;
}

/** Who acted, from where. */
export interface AuditActor {
  /** The user name (token subject); null when not signed in. */
  actor: string | null;
  role: Role | null;
  /** Client address (IP), or null for the server itself. */
  address: string | null;
  /** Socket or SSE connection id, when the action came on one. */
  connectionId: string | null;
}

/** One stored entry. */
export interface AuditEntry extends AuditActor {
  /** Unique; within one server process, ids increase with time. */
  id: string;
  /** Milliseconds since the epoch. */
  time: number;
  action: AuditAction;
  target: AuditTarget;
  outcome: AuditOutcome;
  /** Reason, prompt text, byte counts and the like. */
  detail?: Record<string, string | number | boolean>;
}

/** What to record; the trail adds id and time. */
export type AuditEvent = Omit<AuditEntry, "id" | "time">;

/** Filters of {@link AuditStore.list}. */
export interface AuditQuery {
  actor?: string;
  action?: AuditAction;
  agentId?: string;
  /** Inclusive lower bound (ms). */
  from?: number;
  /** Exclusive upper bound (ms). */
  to?: number;
  /** Continue after this entry (a {@link AuditPage.cursor}). */
  cursor?: AuditCursor;
  /** Entries per page. */
  limit: number;
}

/** Position of an entry in the trail's order. */
export interface AuditCursor {
  time: number;
  id: string;
}

/** A page of entries, newest first, and where the next one starts. */
export interface AuditPage {
  entries: AuditEntry[];
  /** Null when there is nothing older. */
  cursor: AuditCursor | null;
}

/**
 * Where the trail lives. Entries are only appended; {@link deleteBefore}
 * is retention's alone.
 */
export interface AuditStore {
  /** Append `entries` (in order) in as few commits as the engine allows. */
  append(entries: AuditEntry[]): Promise<void>;
  /** Matching entries, newest first. */
  list(query: AuditQuery): Promise<AuditPage>;
  /** Delete entries older than `time`; returns how many went. */
  deleteBefore(time: number): Promise<number>;
}

/** Entries examined per page before a page is returned short (with a cursor). */
export const MAX_SCAN_PER_PAGE = 10_000;

/** Entries per KV commit. */
const APPEND_BATCH = 50;

/** The trail in Deno KV: `["audit", time, id]`. */
export class KvAuditStore implements AuditStore {
  #kv: KvLike;

  constructor(kv: KvLike) {
    this.#kv = kv;
  }

  async append(entries: AuditEntry[]): Promise<void> {
    // Deno KV commits at most 1000 mutations (and 800 KiB) at once; an
    // entry is at most a few KiB (texts are cut to 4096 characters).
    for (let i = 0; i < entries.length; i += APPEND_BATCH) {
      const atomic = this.#kv.atomic();
      for (const entry of entries.slice(i, i + APPEND_BATCH)) {
        atomic.set(["audit", entry.time, entry.id], entry);
      }
      await atomic.commit();
    }
  }

  async list(query: AuditQuery): Promise<AuditPage> {
    if (query.cursor && query.cursor.time < (query.from ?? 0)) {
      return { entries: [], cursor: null };
    }
    const start: Deno.KvKey = ["audit", query.from ?? 0];
    const end: Deno.KvKey = query.cursor
      ? ["audit", query.cursor.time, query.cursor.id]
      : ["audit", query.to ?? Number.MAX_SAFE_INTEGER];
    // A cursor past `to` still ends at `to`.
    const upper = query.cursor && query.to !== undefined &&
        query.cursor.time >= query.to
      ? ["audit", query.to]
      : end;
    const entries: AuditEntry[] = [];
    let scanned = 0;
    let last: AuditCursor | null = null;
    for await (
      const item of this.#kv.list<AuditEntry>({ start, end: upper }, {
        reverse: true,
        batchSize: Math.min(500, query.limit + 1),
      })
    ) {
      const entry = item.value;
      if (matches(entry, query)) {
        if (entries.length === query.limit) {
          return { entries, cursor: last };
        }
        entries.push(entry);
      }
      last = { time: entry.time, id: entry.id };
      if (++scanned >= MAX_SCAN_PER_PAGE && entries.length < query.limit) {
        // A sparse filter over a long trail: return what was found and
        // where to go on, rather than read the whole trail at once.
        return { entries, cursor: last };
      }
    }
    return { entries, cursor: null };
  }

  async deleteBefore(time: number): Promise<number> {
    let deleted = 0;
    let batch = this.#kv.atomic();
    let inBatch = 0;
    for await (
      const item of this.#kv.list({ start: ["audit", 0], end: ["audit", time] })
    ) {
      batch.delete(item.key);
      deleted++;
      if (++inBatch === 100) {
        await batch.commit();
        batch = this.#kv.atomic();
        inBatch = 0;
      }
    }
    if (inBatch) await batch.commit();
    return deleted;
  }
}

function matches(entry: AuditEntry, query: AuditQuery): boolean {
  if (query.actor !== undefined && entry.actor !== query.actor) return false;
  if (query.action !== undefined && entry.action !== query.action) {
    return false;
  }
  if (
    query.agentId !== undefined && entry.target.agentId !== query.agentId
  ) return false;
  return true;
}

/** Entries waiting for the store at most; past it new ones are dropped (counted). */
export const MAX_QUEUED = 100_000;
/** Most refusal sources tracked at once; past it new sources share one. */
export const MAX_SOURCES = 10_000;
/** A connection's raw input tally is written at least this often. */
export const INPUT_FLUSH_MS = 60_000;
const OVERFLOW_SOURCE = "*";

interface SourceWindow {
  startedAt: number;
  written: number;
  suppressed: number;
  last: AuditEvent | null;
}

interface InputTally {
  who: AuditActor;
  agentId: string;
  commandId?: string;
  bytes: number;
  messages: number;
  startedAt: number;
}

/** Options of {@link AuditTrail}. */
export interface AuditTrailOptions {
  /** Entries older than this are deleted by {@link AuditTrail.enforceRetention}. */
  retentionMs: number;
  /** Refusal entries written per source per minute; the rest are counted. */
  refusalsPerMinute: number;
  /** Called when a write fails (the action itself is not undone). */
  onError?: (error: unknown) => void;
  now?: () => number;
}

/** Records actions into an {@link AuditStore}. */
export class AuditTrail {
  readonly store: AuditStore;
  #o: AuditTrailOptions;
  #now: () => number;
  /** Entries recorded and not yet handed to the store. */
  #queue: AuditEntry[] = [];
  /** The write in progress (it takes everything queued meanwhile next). */
  #writing: Promise<void> | null = null;
  #closed = false;
  #sources = new Map<string, SourceWindow>();
  #inputs = new Map<string, InputTally>();
  #seq = 0;
  /** Entries dropped because {@link MAX_QUEUED} were waiting for the store. */
  dropped = 0;
  /** Entries refused by the per-source cap so far (all sources). */
  suppressed = 0;

  /** @throws {RangeError} for a retention or cap that is not positive. */
  constructor(store: AuditStore, options: AuditTrailOptions) {
    if (!(options.retentionMs > 0)) {
      throw new RangeError(`Invalid audit retention "${options.retentionMs}"`);
    }
    if (!(options.refusalsPerMinute > 0)) {
      throw new RangeError(
        `Invalid audit refusals per minute "${options.refusalsPerMinute}"`,
      );
    }
    this.store = store;
    this.#o = options;
    this.#now = options.now ?? (() => Date.now());
  }

  /**
   * Append `event`, stamped now. Writes run in the background, in order,
   * everything recorded meanwhile in one go (see {@link flush}); a failed
   * write is reported to `onError`.
   */
  record(event: AuditEvent): void {
    if (this.#closed || this.#queue.length >= MAX_QUEUED) {
      // Closed (the store is going away), or the store is stuck: drop
      // rather than hold memory without bound.
      this.dropped++;
      return;
    }
    this.#queue.push({ id: this.#nextId(), time: this.#now(), ...event });
    this.#writing ??= this.#write();
  }

  /** Write queued entries, a batch per commit, until none are left. */
  async #write(): Promise<void> {
    while (this.#queue.length) {
      const batch = this.#queue.splice(0, this.#queue.length);
      try {
        await this.store.append(batch);
      } catch (error) {
        this.#o.onError?.(error);
      }
    }
    this.#writing = null;
  }

  /**
   * Append a refusal, within `refusalsPerMinute` for its source (the
   * address when not signed in, else the user); past it, it is counted
   * and summed up in one `audit.suppressed` entry when the minute ends.
   */
  refusal(event: AuditEvent): void {
    const now = this.#now();
    let key = event.actor ?? `address:${event.address ?? ""}`;
    let window = this.#sources.get(key);
    if (!window && this.#sources.size >= MAX_SOURCES) {
      key = OVERFLOW_SOURCE;
      window = this.#sources.get(key);
    }
    // This source's minute is over: its summary first, then a new window
    // (the others are rolled by sweep()).
    if (window && now - window.startedAt >= 60_000) {
      this.#endWindow(key, window);
      window = undefined;
    }
    if (!window) {
      window = { startedAt: now, written: 0, suppressed: 0, last: null };
      this.#sources.set(key, window);
    }
    if (window.written < this.#o.refusalsPerMinute) {
      window.written++;
      this.record(event);
      return;
    }
    window.suppressed++;
    window.last = event;
    this.suppressed++;
  }

  /**
   * Count `bytes` of raw input sent by `who` to agent `agentId` (the
   * content is never recorded).
   */
  input(who: AuditActor, agentId: string, bytes: number, commandId?: string) {
    const now = this.#now();
    const key = `${who.connectionId}\n${agentId}`;
    let tally = this.#inputs.get(key);
    if (tally && now - tally.startedAt >= INPUT_FLUSH_MS) {
      this.#writeInput(tally);
      tally = undefined;
    }
    if (!tally) {
      tally = {
        who,
        agentId,
        commandId,
        bytes: 0,
        messages: 0,
        startedAt: now,
      };
      this.#inputs.set(key, tally);
    }
    tally.bytes += bytes;
    tally.messages++;
  }

  /**
   * Write the input tallies of `connectionId` (of agent `agentId` only,
   * when given) now: control released or the connection closed.
   */
  flushInput(connectionId: string, agentId?: string): void {
    for (const [key, tally] of [...this.#inputs]) {
      if (tally.who.connectionId !== connectionId) continue;
      if (agentId !== undefined && tally.agentId !== agentId) continue;
      this.#inputs.delete(key);
      this.#writeInput(tally);
    }
  }

  /**
   * Periodic work: write input tallies older than {@link INPUT_FLUSH_MS}
   * and the summaries of ended refusal windows.
   */
  sweep(): void {
    const now = this.#now();
    for (const [key, tally] of [...this.#inputs]) {
      if (now - tally.startedAt < INPUT_FLUSH_MS) continue;
      this.#inputs.delete(key);
      this.#writeInput(tally);
    }
    this.#rollSources(now);
  }

  /** Delete entries older than the retention; returns how many went. */
  enforceRetention(now = this.#now()): Promise<number> {
    return this.store.deleteBefore(now - this.#o.retentionMs);
  }

  /** Refusal sources with a window open (at most {@link MAX_SOURCES} + 1). */
  get trackedSources(): number {
    return this.#sources.size;
  }

  /** Wait for every write started so far. */
  async flush(): Promise<void> {
    while (this.#writing) await this.#writing;
  }

  /**
   * Write what is held (tallies, suppressed counts) and wait for it; later
   * entries are dropped (counted in {@link dropped}).
   */
  async close(): Promise<void> {
    for (const tally of this.#inputs.values()) this.#writeInput(tally);
    this.#inputs.clear();
    this.#rollSources(Number.POSITIVE_INFINITY);
    this.#closed = true;
    await this.flush();
  }

  /**
   * An id that sorts after every earlier one of this process (a counter),
   * so entries of one millisecond keep their order; the random part keeps
   * ids of different processes apart.
   */
  #nextId(): string {
    const seq = (this.#seq++).toString(16).padStart(12, "0");
    return `${seq}-${crypto.randomUUID().slice(0, 8)}`;
  }

  #writeInput(tally: InputTally): void {
    this.record({
      ...tally.who,
      action: "terminal.input",
      target: {
        agentId: tally.agentId,
        ...(tally.commandId ? { commandId: tally.commandId } : {}),
      },
      outcome: "ok",
      detail: { bytes: tally.bytes, messages: tally.messages },
    });
  }

  /** End refusal windows older than a minute, writing their summaries. */
  #rollSources(now: number): void {
    for (const [key, window] of [...this.#sources]) {
      if (now - window.startedAt >= 60_000) this.#endWindow(key, window);
    }
  }

  /** Forget source `key`'s window, writing its summary if it dropped any. */
  #endWindow(key: string, window: SourceWindow): void {
    this.#sources.delete(key);
    if (window.suppressed === 0 || !window.last) return;
    const last = window.last;
    this.record({
      actor: last.actor,
      role: last.role,
      address: last.address,
      connectionId: null,
      action: "audit.suppressed",
      target: {},
      outcome: "refused",
      detail: {
        count: window.suppressed,
        lastAction: last.action,
        source: key,
      },
    });
  }
}

/** The server itself as an actor (timeouts, retention). */
export const SYSTEM_ACTOR: AuditActor = {
  actor: "system",
  role: null,
  address: null,
  connectionId: null,
};

/** The refusal of a request from a foreign `Origin`, as an audit event. */
export function originRefusal(
  req: Request,
  address: string,
  user: { id: string; role: Role } | null = null,
): AuditEvent {
  return {
    actor: user?.id ?? null,
    role: user?.role ?? null,
    address,
    connectionId: null,
    action: "access.refused",
    target: { path: new URL(req.url).pathname },
    outcome: "refused",
    detail: {
      reason: "origin",
      origin: (req.headers.get("origin") ?? "").slice(0, 256),
    },
  };
}
