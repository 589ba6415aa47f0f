/**
 * Server-side sign-ins: browser sessions with a short token lifetime renewed
 * in place, refreshed agent tokens, and revocation that reaches every open
 * connection at once.
 *
 * Every token names its sign-in with the `jti` claim ({@link
 * Principal.sessionId}). The store (the server's Deno KV, or in cluster mode
 * the RedisKv every server shares, whose atomic checks hold across servers)
 * holds, each expiring on its own:
 *
 * - `["auth", "session", id]`: a browser session (subject, role, when it
 *   ends for good, when its current token expires, and the sign-in of the
 *   pasted token it was started from, its parent). A session token is valid
 *   only while this record exists and has not expired, and its parent is
 *   not revoked.
 * - `["auth", "children", parentId, id]`: a session started from the pasted
 *   token `parentId` (its creation time), until the session ends. A token
 *   keeps at most `maxSessionsPerParent` of them: a sign-in past that
 *   deletes the oldest.
 * - `["auth", "revoked", id]`: a revoked sign-in. Every token with that id,
 *   and every session started from such a token, is refused until the last
 *   of them has expired.
 *
 * Connections register with {@link AuthSessions.track}; {@link
 * AuthSessions.revoke} closes them (4401), and those of the sessions
 * started from the revoked token, before it returns: those tracked by this
 * server (another server sharing the store refuses them at their next
 * check).
 *
 * Redis outages (cluster mode): while the store cannot be read, a check of a
 * sign-in this server checked successfully shortly before the outage began
 * (see {@link AuthSessions.check}) still passes, so monitoring and open
 * dashboards keep working; anything else fails with the storage error.
 *
 * @module
 */
import type { Role } from "../protocol.ts";
import {
  type Auth,
  AuthError,
  type Principal,
  type TokenKind,
} from "./auth.ts";
import type { KvLike } from "./redis_kv.ts";
import { storageUnavailable } from "./errors.ts";

/**
 * Longest time after the last successful read of the store during which
 * recently checked sign-ins are still accepted without it (see
 * {@link AuthSessions.check}): 5 minutes.
 */
export const OUTAGE_TRUST_MS = 5 * 60_000;

/** A browser session as stored in KV. */
export interface SessionRecord {
  id: string;
  subject: string;
  role: Role;
  createdAt: number;
  /** When the session ends however often it is renewed (ms since epoch). */
  endsAt: number;
  /** When its current token expires (ms since epoch). */
  expiresAt: number;
  /**
   * The sign-in id of the pasted token this session was started from;
   * absent for a session from a one-time sign-in code.
   */
  parentId?: string;
}

/** A freshly signed token and its expiry. */
export interface Issued {
  token: string;
  expiresAt: number;
  principal: Principal;
}

/** Options of {@link AuthSessions}. */
export interface AuthSessionsOptions {
  /** Lifetime of one browser session token (seconds). */
  accessTtlSeconds: number;
  /** Longest a browser session lasts (seconds). */
  sessionTtlSeconds: number;
  /**
   * Most sessions started from one pasted token (default 20); creating one
   * more deletes the oldest.
   */
  maxSessionsPerParent?: number;
  /**
   * How often {@link AuthSessions.closeRevoked} runs (ms, default 2000):
   * during an outage of the store, a sign-in read as live at most twice
   * this long before the last read of the store that succeeded is still
   * accepted.
   */
  revocationCheckMs?: number;
  /** Most sign-ins whose last read is kept (default 10,000). */
  checkCacheSize?: number;
  /**
   * Sign-ins checked for a request within this long (ms, default 5
   * minutes) are read again by {@link AuthSessions.closeRevoked} even
   * without an open connection: a monitoring scraper's token stays fresh.
   */
  recentUseMs?: number;
}

/** What the last read of one sign-in found. */
interface CheckEntry {
  /** When the read that found it started (ms since epoch). */
  checkedAt: number;
  /** When a request last checked it (ms since epoch). */
  usedAt: number;
  kind: TokenKind;
  /**
   * Why it was refused (revoked or ended: for good), or null when it was
   * live.
   */
  refused: string | null;
  /** A session's token expiry; infinite for other tokens. */
  expiresAt: number;
}

const SESSION = "session";
const REVOKED = "revoked";
const CHILDREN = "children";
/** Renewals of one session that may lose a race with another before one fails. */
const MAX_RENEW_ATTEMPTS = 10;
/** Ids deleted per atomic operation when sessions are removed in bulk. */
const BATCH = 100;

/** The index entry of a session started from a pasted token. */
interface ChildEntry {
  createdAt: number;
}

/** Sign-ins, their renewal, and revocation. */
export class AuthSessions {
  #kv: KvLike;
  #auth: Auth;
  #options: Required<AuthSessionsOptions>;
  /** Open connections by sign-in id; each entry closes its connection. */
  #live = new Map<string, Set<(reason: string) => void>>();
  /** The kind of each tracked sign-in (a session, or a token). */
  #kinds = new Map<string, TokenKind>();
  /**
   * The last read of each sign-in, least recently written first; at most
   * `checkCacheSize` entries.
   */
  #checks = new Map<string, CheckEntry>();
  /**
   * When the first read of the current store outage started (one that
   * failed with a storage-unavailable error, since the last that
   * succeeded); null when up.
   */
  #outageStart: number | null = null;
  /** When the last read of the store that succeeded started. */
  #lastRead = Number.NEGATIVE_INFINITY;

  /** @throws {RangeError} for a lifetime that is not a positive number. */
  constructor(kv: KvLike, auth: Auth, options: AuthSessionsOptions) {
    for (const [name, value] of Object.entries(options)) {
      if (!(value > 0)) throw new RangeError(`Invalid ${name} "${value}"`);
    }
    this.#kv = kv;
    this.#auth = auth;
    this.#options = {
      maxSessionsPerParent: 20,
      revocationCheckMs: 2000,
      checkCacheSize: 10_000,
      recentUseMs: 5 * 60_000,
      ...options,
    };
  }

  /**
   * When the current outage of the store began (the start of the first
   * read that failed with a storage-unavailable error since the last one
   * that succeeded); null while reads succeed.
   */
  get outageStart(): number | null {
    return this.#outageStart;
  }

  /**
   * Start a browser session for `subject` and sign its first token. The
   * session ends after the session lifetime, or at `endsAt` if earlier
   * (the expiry of a pasted token). `parentId` is the sign-in id of the
   * pasted token it starts from: revoking that token ends this session, and
   * past `maxSessionsPerParent` sessions of one parent the oldest ones are
   * deleted (their connections closed with 4401).
   *
   * @throws {AuthError} when the parent was revoked.
   */
  async create(
    subject: string,
    role: Role,
    endsAt = Number.POSITIVE_INFINITY,
    parentId?: string,
  ): Promise<Issued> {
    if (role === "agent") throw new TypeError("Agents have no browser session");
    const now = Date.now();
    const record: SessionRecord = {
      id: crypto.randomUUID(),
      subject,
      role,
      createdAt: now,
      endsAt: Math.min(endsAt, now + this.#options.sessionTtlSeconds * 1000),
      expiresAt: 0,
      ...(parentId === undefined ? {} : { parentId }),
    };
    const issued = await this.#issue(record, null);
    // A new id cannot exist yet: only a revoked parent refuses it.
    if (!issued) throw new AuthError("Token revoked");
    if (parentId !== undefined) await this.#trim(parentId);
    return issued;
  }

  /**
   * Verify `token` and that its sign-in is neither revoked nor ended.
   *
   * @throws {AuthError} when the token is invalid, expired or revoked, or
   * its session ended.
   */
  async verify(
    token: string | null | undefined,
  ): Promise<Principal> {
    const principal = await this.#auth.verify(token);
    await this.check(principal);
    return principal;
  }

  /**
   * Check that `principal`'s sign-in is still live.
   *
   * When the store cannot be read (a storage-unavailable error: Redis is
   * unreachable), a sign-in this server last read as revoked or ended is
   * refused as before (AuthError), and one it last read as live is
   * accepted if that read started at most 2 × `revocationCheckMs` before
   * the start of the last read of the store that succeeded, and its
   * session token (for a session) has not expired. That last good read
   * stays fixed for the whole outage. {@link closeRevoked}, which runs
   * every `revocationCheckMs`, reads again every sign-in with an open
   * connection or used within `recentUseMs`, so those stay within the
   * bound (one period between sweeps, one more for a sweep's own duration
   * and its timer's drift). The last good read is used, not the first
   * failed one: a read to a silent network fails only seconds after it
   * started.
   * During an outage nothing can be revoked (a revocation is a write), so
   * the one risk is a revocation written shortly before the outage that
   * this server had not read yet: about the same window in which its open
   * connections may outlive a revocation by another server. When only this
   * server lost Redis (a partition), others may revoke meanwhile: so the
   * rule holds for at most {@link OUTAGE_TRUST_MS} after the last good
   * read; past it every check that needs the store is refused (503).
   *
   * @throws {AuthError} when it was revoked, its session ended, or the
   * token its session was started from was revoked.
   * @throws {FlightdeckError} STORAGE_UNAVAILABLE when the store cannot be
   * read and the sign-in was not checked recently enough.
   */
  async check(principal: Principal): Promise<void> {
    try {
      await this.#checked(principal);
    } catch (error) {
      if (!storageUnavailable(error)) throw error;
      const refused = this.#checks.get(principal.sessionId)?.refused;
      if (refused) throw new AuthError(refused);
      if (!this.#recentlyChecked(principal)) throw error;
    }
  }

  /** Whether the cache rule of {@link check} accepts `principal` now. */
  #recentlyChecked(principal: Principal): boolean {
    const entry = this.#checks.get(principal.sessionId);
    if (!entry || entry.refused || entry.kind !== principal.kind) return false;
    const since = this.#lastRead - 2 * this.#options.revocationCheckMs;
    const now = Date.now();
    return entry.checkedAt >= since && entry.expiresAt > now &&
      now - this.#lastRead <= OUTAGE_TRUST_MS;
  }

  /**
   * Remember what a read started at `checkedAt` found for sign-in `id`:
   * live (with the session's token expiry), or refused and why. A refusal
   * is kept over any success (a revoked or ended sign-in never comes back),
   * a success over an older one only; a read that succeeded ends the
   * outage. `used`: the read was a request's check. Past `checkCacheSize`
   * sign-ins, the least recently written is forgotten.
   */
  #remember(
    id: string,
    checkedAt: number,
    kind: TokenKind,
    refused: string | null,
    expiresAt = Number.POSITIVE_INFINITY,
    used = false,
  ): void {
    this.#read(checkedAt);
    const old = this.#checks.get(id);
    if (old?.refused && !refused) return;
    if (old && old.checkedAt > checkedAt && !refused) return;
    const usedAt = used ? checkedAt : old?.usedAt ?? 0;
    this.#checks.delete(id);
    this.#checks.set(id, { checkedAt, usedAt, kind, refused, expiresAt });
    if (this.#checks.size > this.#options.checkCacheSize) {
      this.#checks.delete(this.#checks.keys().next().value!);
    }
  }

  /** Note a read started at `start` that succeeded. */
  #read(start: number): void {
    this.#lastRead = Math.max(this.#lastRead, start);
    if (this.#outageStart !== null && start >= this.#outageStart) {
      this.#outageStart = null;
    }
  }

  /** Note a read started at `start` that failed with `error`. */
  #failedRead(error: unknown, start: number): void {
    if (!storageUnavailable(error)) return;
    this.#outageStart = Math.min(this.#outageStart ?? start, start);
  }

  /** {@link check}, returning the session's entry (null for other tokens). */
  async #checked(
    principal: Principal,
  ): Promise<Deno.KvEntry<SessionRecord> | null> {
    const { sessionId: id, kind } = principal;
    const start = Date.now();
    let revoked, session, parent;
    try {
      [revoked, session] = await this.#kv.getMany<
        [{ revokedAt: number }, SessionRecord]
      >([this.#key(REVOKED, id), this.#key(SESSION, id)]);
      const parentId = session.value?.parentId;
      // The parent's mark matters only while the session is live.
      if (
        !revoked.value && kind === "session" && parentId !== undefined &&
        session.value!.expiresAt > Date.now()
      ) parent = await this.#kv.get(this.#key(REVOKED, parentId));
    } catch (error) {
      this.#failedRead(error, start);
      throw error;
    }
    if (revoked.value) {
      this.#remember(id, start, kind, "Token revoked");
      throw new AuthError("Token revoked");
    }
    if (kind !== "session") {
      this.#remember(id, start, kind, null, undefined, true);
      return null;
    }
    const record = session.value;
    if (!record || record.expiresAt <= Date.now()) {
      this.#remember(id, start, kind, "Session ended");
      throw new AuthError("Session ended");
    }
    if (parent?.value) {
      this.#remember(id, start, kind, "Token revoked");
      throw new AuthError("Token revoked");
    }
    this.#remember(id, start, kind, null, record.expiresAt, true);
    return session as Deno.KvEntry<SessionRecord>;
  }

  /**
   * Renew `principal`'s sign-in. A browser session gets a new token with the
   * same id and a new expiry (at most its end); an agent gets a new token of
   * its original lifetime. Other tokens cannot be renewed: the result keeps
   * their expiry and has no token.
   *
   * @throws {AuthError} when the sign-in was revoked or ended, or the
   * token its session was started from was revoked.
   */
  async refresh(
    principal: Principal,
  ): Promise<{ expiresAt: number; token?: string; principal: Principal }> {
    let entry = await this.#checked(principal);
    for (let attempt = 1; entry; attempt++) {
      if (entry.value.endsAt <= Date.now()) {
        throw new AuthError("Session ended");
      }
      const issued = await this.#issue(entry.value, entry.versionstamp);
      if (issued) return issued;
      // Revoked, deleted, or renewed by another tab since it was read: a
      // renewal that lost the race renews again from the winner's record.
      if (attempt === MAX_RENEW_ATTEMPTS) throw new AuthError("Session ended");
      entry = await this.#checked(principal);
    }
    if (principal.role !== "agent") {
      return { expiresAt: principal.expiresAt, principal };
    }
    const ttlSeconds = Math.min(
      Math.round((principal.expiresAt - principal.issuedAt) / 1000),
      this.#auth.maxTtlSeconds,
    );
    const token = await this.#auth.sign({
      role: "agent",
      agentId: principal.agentId,
      subject: principal.id,
      sessionId: principal.sessionId,
      ttlSeconds,
    });
    const next = await this.#auth.verify(token);
    return { expiresAt: next.expiresAt, token, principal: next };
  }

  /**
   * Revoke the sign-in `principal` belongs to: its session record is
   * deleted, every token with its id is refused from now on (the mark
   * lasts until the last of them can have expired), and every tracked
   * connection of it is closed before this returns. The browser sessions
   * started from it (pasting it at `/login`) are refused by that mark, and
   * are deleted and their connections closed before this returns too.
   */
  async revoke(
    principal: Principal,
    reason = "Session revoked",
  ): Promise<void> {
    const now = Date.now();
    // An agent's refreshed tokens share its id: keep the mark as long as
    // the newest one could live.
    const until = principal.role === "agent"
      ? now + this.#auth.maxTtlSeconds * 1000
      : Math.max(principal.expiresAt, now);
    const session = await this.#kv.get<SessionRecord>(
      this.#key(SESSION, principal.sessionId),
    );
    const last = Math.max(until, session.value?.endsAt ?? 0);
    const atomic = this.#kv.atomic()
      .set(this.#key(REVOKED, principal.sessionId), { revokedAt: now }, {
        expireIn: Math.max(1000, last - now),
      })
      .delete(this.#key(SESSION, principal.sessionId));
    const parentId = session.value?.parentId;
    if (parentId !== undefined) {
      atomic.delete(this.#childKey(parentId, principal.sessionId));
    }
    await atomic.commit();
    this.#remember(principal.sessionId, now, principal.kind, "Token revoked");
    this.closeAll(principal.sessionId, reason);
    // Listed after the mark is set: a session created from this token
    // either committed before it (and is listed) or was refused by it.
    const children: string[] = [];
    for await (
      const entry of this.#kv.list({
        prefix: this.#key(CHILDREN, principal.sessionId),
      })
    ) children.push(String(entry.key.at(-1)));
    await this.#remove(principal.sessionId, children, reason);
  }

  /** Close every tracked connection of sign-in `sessionId`. */
  closeAll(sessionId: string, reason: string): void {
    const closers = this.#live.get(sessionId);
    this.#live.delete(sessionId);
    this.#kinds.delete(sessionId);
    for (const close of closers ?? []) close(reason);
  }

  /**
   * Register an open connection of sign-in `sessionId` (of `kind`: a
   * browser session, or a token); `close` is called when it is revoked.
   * Returns the function that unregisters it.
   */
  track(
    sessionId: string,
    close: (reason: string) => void,
    kind: TokenKind = "token",
  ): () => void {
    let set = this.#live.get(sessionId);
    if (!set) this.#live.set(sessionId, set = new Set());
    set.add(close);
    this.#kinds.set(sessionId, kind);
    return () => {
      const current = this.#live.get(sessionId);
      if (!current?.delete(close)) return;
      if (current.size === 0) {
        this.#live.delete(sessionId);
        this.#kinds.delete(sessionId);
      }
    };
  }

  /**
   * Close the tracked connections whose sign-in was revoked or ended
   * meanwhile by someone else: another server sharing the store (cluster
   * mode), which closes only its own connections. Reads the store for
   * `batch` sign-ins at a time (2 keys each, then the parents of the
   * sessions); returns how many sign-ins were closed. It also reads the
   * sign-ins a request checked within `recentUseMs` (live when last read),
   * and what it reads counts as a check of each for the outage rule of
   * {@link check}.
   */
  async closeRevoked(batch = 5): Promise<number> {
    const kinds = new Map(this.#kinds);
    const since = Date.now() - this.#options.recentUseMs;
    for (const [id, entry] of this.#checks) {
      if (!entry.refused && entry.usedAt >= since && !kinds.has(id)) {
        kinds.set(id, entry.kind);
      }
    }
    const ids = [...kinds.keys()];
    let closed = 0;
    for (let i = 0; i < ids.length; i += batch) {
      const some = ids.slice(i, i + batch);
      const start = Date.now();
      let entries;
      try {
        entries = await this.#kv.getMany<unknown[]>(
          some.flatMap((
            id,
          ) => [this.#key(REVOKED, id), this.#key(SESSION, id)]),
        );
      } catch (error) {
        this.#failedRead(error, start);
        throw error;
      }
      const parents = new Map<string, string>();
      /** The sign-ins found live, with their session token's expiry. */
      const live = new Map<string, number>();
      for (const [n, id] of some.entries()) {
        const revoked = entries[2 * n].value;
        const record = entries[2 * n + 1].value as SessionRecord | null;
        const kind = kinds.get(id)!;
        let reason: string | null = revoked ? "Token revoked" : null;
        if (!reason && kind === "session") {
          if (!record || record.expiresAt <= Date.now()) {
            reason = "Session ended";
          } else if (record.parentId !== undefined) {
            parents.set(id, record.parentId);
          }
        }
        if (reason) {
          this.#remember(id, start, kind, reason);
          if (this.#live.has(id)) {
            this.closeAll(id, reason);
            closed++;
          }
        } else {
          live.set(id, record?.expiresAt ?? Number.POSITIVE_INFINITY);
        }
      }
      const children = [...parents.keys()];
      let marks: Deno.KvEntryMaybe<unknown>[] = [];
      try {
        if (children.length) {
          marks = await this.#kv.getMany<unknown[]>(
            children.map((id) => this.#key(REVOKED, parents.get(id)!)),
          );
        }
      } catch (error) {
        this.#failedRead(error, start);
        throw error;
      }
      for (const [n, id] of children.entries()) {
        if (!marks[n].value) continue;
        live.delete(id);
        this.#remember(id, start, "session", "Token revoked");
        if (this.#live.has(id)) {
          this.closeAll(id, "Token revoked");
          closed++;
        }
      }
      for (const [id, expiresAt] of live) {
        this.#remember(id, start, kinds.get(id)!, null, expiresAt);
      }
    }
    return closed;
  }

  /** Number of sign-ins with a tracked connection. */
  get trackedSessions(): number {
    return this.#live.size;
  }

  /**
   * Delete the oldest sessions of `parentId` beyond `maxSessionsPerParent`
   * and close their connections. Oldest by the versionstamp of their index
   * entry, which is written once, when the session is created: commit order,
   * exact even within one millisecond.
   */
  async #trim(parentId: string): Promise<void> {
    const children: { id: string; versionstamp: string }[] = [];
    for await (
      const entry of this.#kv.list<ChildEntry>({
        prefix: this.#key(CHILDREN, parentId),
      })
    ) {
      children.push({
        id: String(entry.key.at(-1)),
        versionstamp: entry.versionstamp,
      });
    }
    const excess = children.length - this.#options.maxSessionsPerParent;
    if (excess <= 0) return;
    // Versionstamps are hex strings of one length: text order is their order.
    children.sort((a, b) =>
      a.versionstamp < b.versionstamp
        ? -1
        : a.versionstamp > b.versionstamp
        ? 1
        : 0
    );
    await this.#remove(
      parentId,
      children.slice(0, excess).map((child) => child.id),
      "Session ended",
    );
  }

  /**
   * Delete the sessions `ids` of `parentId` with their index entries and
   * close their connections. Their tokens are refused from then on because
   * the records are gone (renewal cannot recreate one: see {@link #issue}).
   */
  async #remove(parentId: string, ids: string[], reason: string) {
    for (const id of ids) this.closeAll(id, reason);
    for (let i = 0; i < ids.length; i += BATCH) {
      const now = Date.now();
      const atomic = this.#kv.atomic();
      for (const id of ids.slice(i, i + BATCH)) {
        atomic.delete(this.#key(SESSION, id))
          .delete(this.#childKey(parentId, id));
      }
      await atomic.commit();
      for (const id of ids.slice(i, i + BATCH)) {
        this.#remember(id, now, "session", "Session ended");
      }
    }
  }

  /**
   * Sign a new token for `record` and store it, provided the record's
   * entry still has `versionstamp` (null: it must not exist yet), its id is
   * not revoked, and neither is its parent; null when one of those failed.
   */
  async #issue(
    record: SessionRecord,
    versionstamp: string | null,
  ): Promise<Issued | null> {
    const now = Date.now();
    const ttlSeconds = Math.max(
      1,
      Math.floor(
        (Math.min(record.endsAt, now + this.#options.accessTtlSeconds * 1000) -
          now) / 1000,
      ),
    );
    const token = await this.#auth.sign({
      role: record.role,
      subject: record.subject,
      sessionId: record.id,
      kind: "session",
      ttlSeconds,
    });
    const principal = await this.#auth.verify(token);
    const next = { ...record, expiresAt: principal.expiresAt };
    const expireIn = Math.max(1000, next.endsAt - now);
    const atomic = this.#kv.atomic()
      .check({ key: this.#key(SESSION, record.id), versionstamp })
      .check({ key: this.#key(REVOKED, record.id), versionstamp: null })
      .set(this.#key(SESSION, record.id), next, { expireIn });
    if (record.parentId !== undefined) {
      atomic.check({
        key: this.#key(REVOKED, record.parentId),
        versionstamp: null,
      });
      if (versionstamp === null) {
        const entry: ChildEntry = { createdAt: record.createdAt };
        atomic.set(this.#childKey(record.parentId, record.id), entry, {
          expireIn,
        });
      }
    }
    const committed = await atomic.commit();
    if (!committed.ok) return null;
    // Live as written, with its new token's expiry.
    this.#remember(record.id, now, "session", null, principal.expiresAt);
    return { token, expiresAt: principal.expiresAt, principal };
  }

  #key(kind: string, id: string): Deno.KvKey {
    return ["auth", kind, id];
  }

  #childKey(parentId: string, id: string): Deno.KvKey {
    return ["auth", CHILDREN, parentId, id];
  }
}
