/**
 * Server-side sign-ins: browser sessions with a short token lifetime renewed
 * in place, refreshed agent tokens, and revocation that reaches every open
 * connection at once.
 *
 * Every token names its sign-in with the `jti` claim ({@link
 * Principal.sessionId}). Deno KV holds, each expiring on its own:
 *
 * - `["auth", "session", id]`: a browser session (subject, role, when it
 *   ends for good, and when its current token expires). A session token is
 *   valid only while this record exists and has not expired.
 * - `["auth", "revoked", id]`: a revoked sign-in. Every token with that id
 *   is refused until the last one of them has expired.
 *
 * Connections register with {@link AuthSessions.track}; {@link
 * AuthSessions.revoke} closes them (4401) before it returns.
 *
 * @module
 */
import type { Role } from "../protocol.ts";
import { type Auth, AuthError, type Principal } from "./auth.ts";

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
}

const SESSION = "session";
const REVOKED = "revoked";

/** Sign-ins, their renewal, and revocation. */
export class AuthSessions {
  #kv: Deno.Kv;
  #auth: Auth;
  #options: AuthSessionsOptions;
  /** Open connections by sign-in id; each entry closes its connection. */
  #live = new Map<string, Set<(reason: string) => void>>();

  /** @throws {RangeError} for a lifetime that is not a positive number. */
  constructor(kv: Deno.Kv, auth: Auth, options: AuthSessionsOptions) {
    for (const [name, value] of Object.entries(options)) {
      if (!(value > 0)) throw new RangeError(`Invalid ${name} "${value}"`);
    }
    this.#kv = kv;
    this.#auth = auth;
    this.#options = options;
  }

  /**
   * Start a browser session for `subject` and sign its first token. The
   * session ends after the session lifetime, or at `endsAt` if earlier
   * (the expiry of a pasted token).
   */
  async create(
    subject: string,
    role: Role,
    endsAt = Number.POSITIVE_INFINITY,
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
    };
    return await this.#issue(record);
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
   * @throws {AuthError} when it was revoked or its session ended.
   */
  async check(principal: Principal): Promise<void> {
    const [revoked, session] = await this.#kv.getMany<
      [{ revokedAt: number }, SessionRecord]
    >([
      [...this.#key(REVOKED, principal.sessionId)],
      [...this.#key(SESSION, principal.sessionId)],
    ]);
    if (revoked.value) throw new AuthError("Token revoked");
    if (principal.kind !== "session") return;
    const record = session.value;
    if (!record || record.expiresAt <= Date.now()) {
      throw new AuthError("Session ended");
    }
  }

  /**
   * Renew `principal`'s sign-in. A browser session gets a new token with the
   * same id and a new expiry (at most its end); an agent gets a new token of
   * its original lifetime. Other tokens cannot be renewed: the result keeps
   * their expiry and has no token.
   *
   * @throws {AuthError} when the sign-in was revoked or ended.
   */
  async refresh(
    principal: Principal,
  ): Promise<{ expiresAt: number; token?: string; principal: Principal }> {
    await this.check(principal);
    if (principal.kind === "session") {
      const entry = await this.#kv.get<SessionRecord>(
        this.#key(SESSION, principal.sessionId),
      );
      const record = entry.value;
      if (!record || record.endsAt <= Date.now()) {
        throw new AuthError("Session ended");
      }
      // #issue refuses it if it was revoked since the check.
      return await this.#issue(record);
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
   * connection of it is closed before this returns.
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
    await this.#kv.atomic()
      .set(this.#key(REVOKED, principal.sessionId), { revokedAt: now }, {
        expireIn: Math.max(1000, last - now),
      })
      .delete(this.#key(SESSION, principal.sessionId))
      .commit();
    this.closeAll(principal.sessionId, reason);
  }

  /** Close every tracked connection of sign-in `sessionId`. */
  closeAll(sessionId: string, reason: string): void {
    const closers = this.#live.get(sessionId);
    this.#live.delete(sessionId);
    for (const close of closers ?? []) close(reason);
  }

  /**
   * Register an open connection of sign-in `sessionId`; `close` is called
   * when it is revoked. Returns the function that unregisters it.
   */
  track(sessionId: string, close: (reason: string) => void): () => void {
    let set = this.#live.get(sessionId);
    if (!set) this.#live.set(sessionId, set = new Set());
    set.add(close);
    return () => {
      const current = this.#live.get(sessionId);
      if (!current?.delete(close)) return;
      if (current.size === 0) this.#live.delete(sessionId);
    };
  }

  /** Number of sign-ins with a tracked connection. */
  get trackedSessions(): number {
    return this.#live.size;
  }

  async #issue(record: SessionRecord): Promise<Issued> {
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
    const committed = await this.#kv.atomic()
      .check({ key: this.#key(REVOKED, record.id), versionstamp: null })
      .set(this.#key(SESSION, record.id), next, {
        expireIn: Math.max(1000, next.endsAt - now),
      })
      .commit();
    if (!committed.ok) throw new AuthError("Session ended");
    return { token, expiresAt: principal.expiresAt, principal };
  }

  #key(kind: string, id: string): Deno.KvKey {
    return ["auth", kind, id];
  }
}
