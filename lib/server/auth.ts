/**
 * Tokens: HS256 JWTs signed with the server secret, carrying a `role`, a
 * `jti` (the sign-in's id, see `auth_sessions.ts`) and, for agents, an
 * `agentId`. Lifetimes are capped at {@link Auth.maxTtlSeconds}.
 *
 * @module
 */
import { jwtVerify, SignJWT } from "jose";
import { type Role, RoleSchema } from "../protocol.ts";
import type { KvLike } from "./redis_kv.ts";

/** Name of the browser session cookie. */
export const SESSION_COOKIE = "flightdeck_session";

/** Longest token lifetime signed or accepted by default: 90 days. */
export const DEFAULT_MAX_TTL_SECONDS = 90 * 86400;

/**
 * What a token is: `session` for a browser sign-in (short-lived, renewed
 * in place, ended by logout), `token` for one made by `deno task token`.
 */
export type TokenKind = "session" | "token";

/** Who a verified token belongs to. */
export interface Principal {
  /** Subject: a user name, or `agent:<id>` for agents. */
  id: string;
  role: Role;
  /** Set for role `agent`: the only agent id this token may register. */
  agentId?: string;
  /** Expiry in milliseconds since the epoch. */
  expiresAt: number;
  /** Issue time in milliseconds since the epoch. */
  issuedAt: number;
  /**
   * The server-side id of this sign-in (the `jti` claim): shared by a
   * session's renewed tokens and by an agent's refreshed tokens, so
   * revoking it refuses all of them. A token without `jti` (signed before
   * ids existed) is named by its signature.
   */
  sessionId: string;
  kind: TokenKind;
}

/** Raised for a token that is missing, malformed, badly signed or expired. */
export class AuthError extends Error {
  override name = "AuthError";
}

/** Options of {@link Auth.sign}. */
export interface SignOptions {
  role: Role;
  agentId?: string;
  /** Subject; defaults to the role name, or `agent:<id>`. */
  subject?: string;
  /** Lifetime in seconds (default one hour), at most the maximum lifetime. */
  ttlSeconds?: number;
  /** The `jti` claim; a new random id by default. */
  sessionId?: string;
  /** Default `token`. */
  kind?: TokenKind;
}

/** Options of {@link Auth.verify}. */
export interface VerifyOptions {
  /** Accept an expired but otherwise valid token (logout, revocation). */
  allowExpired?: boolean;
}

const ISSUER = "flightdeck";

/** Parse durations like `90s`, `15m`, `1h`, `7d` or plain seconds. */
export function parseTtl(text: string): number {
  const match = /^(\d+)\s*([smhd]?)$/.exec(text.trim());
  if (!match) throw new TypeError(`Invalid duration "${text}"`);
  const unit = { "": 1, s: 1, m: 60, h: 3600, d: 86400 }[match[2]] ?? 1;
  const seconds = Number(match[1]) * unit;
  if (seconds <= 0) {
    throw new RangeError(`Duration must be positive: "${text}"`);
  }
  return seconds;
}

/** `seconds` as the largest whole unit: `90d`, `36h`, `15m`, `45s`. */
export function formatTtl(seconds: number): string {
  for (const [unit, size] of [["d", 86400], ["h", 3600], ["m", 60]] as const) {
    if (seconds % size === 0) return `${seconds / size}${unit}`;
  }
  return `${seconds}s`;
}

/** Signs and verifies tokens with one secret. */
export class Auth {
  #key: Uint8Array;
  /** Longest lifetime signed or accepted, in seconds. */
  readonly maxTtlSeconds: number;

  /**
   * @throws {RangeError} when the secret is shorter than 32 characters or
   * the maximum lifetime is not a positive integer.
   */
  constructor(
    secret: string,
    options: { maxTtlSeconds?: number } = {},
  ) {
    if (secret.length < 32) {
      throw new RangeError("The server secret must be at least 32 characters");
    }
    const max = options.maxTtlSeconds ?? DEFAULT_MAX_TTL_SECONDS;
    if (!Number.isInteger(max) || max <= 0) {
      throw new RangeError(`Invalid maximum token lifetime "${max}"`);
    }
    this.maxTtlSeconds = max;
    this.#key = new TextEncoder().encode(secret);
  }

  /**
   * Sign a token for `options.role`.
   *
   * @throws {TypeError} for role `agent` without an agentId.
   * @throws {RangeError} for a lifetime that is not positive or over
   * {@link maxTtlSeconds}.
   */
  async sign(options: SignOptions): Promise<string> {
    if (options.role === "agent" && !options.agentId) {
      throw new TypeError('Role "agent" needs an agentId');
    }
    const ttl = options.ttlSeconds ?? 3600;
    if (!(ttl > 0)) {
      throw new RangeError(`Token lifetime must be positive: "${ttl}"`);
    }
    if (ttl > this.maxTtlSeconds) {
      throw new RangeError(
        `Token lifetime "${formatTtl(Math.ceil(ttl))}" is over the maximum of ${
          formatTtl(this.maxTtlSeconds)
        }`,
      );
    }
    const subject = options.subject ??
      (options.role === "agent" ? `agent:${options.agentId}` : options.role);
    const claims: Record<string, string> = { role: options.role };
    if (options.agentId) claims.agentId = options.agentId;
    if (options.kind === "session") claims.kind = "session";
    const now = Math.floor(Date.now() / 1000);
    return await new SignJWT(claims)
      .setProtectedHeader({ alg: "HS256", typ: "JWT" })
      .setIssuer(ISSUER)
      .setSubject(subject)
      .setJti(options.sessionId ?? crypto.randomUUID())
      .setIssuedAt(now)
      .setExpirationTime(now + Math.ceil(ttl))
      .sign(this.#key);
  }

  /**
   * Verify `token` and return its principal. This checks the signature,
   * claims and lifetime only; revocation is {@link AuthSessions.verify}'s.
   *
   * @throws {AuthError} when the token is missing, invalid, expired, or
   * lives longer than {@link maxTtlSeconds}.
   */
  async verify(
    token: string | null | undefined,
    options: VerifyOptions = {},
  ): Promise<Principal> {
    if (!token) throw new AuthError("Missing token");
    let payload;
    try {
      ({ payload } = await jwtVerify(token, this.#key, {
        issuer: ISSUER,
        algorithms: ["HS256"],
        ...(options.allowExpired ? { currentDate: new Date(0) } : {}),
      }));
    } catch (error) {
      const expired = error instanceof Error &&
        (error as { code?: string }).code === "ERR_JWT_EXPIRED";
      throw new AuthError(expired ? "Token expired" : "Invalid token", {
        cause: error,
      });
    }
    const role = RoleSchema.safeParse(payload.role);
    if (
      !role.success || typeof payload.sub !== "string" || !payload.exp ||
      typeof payload.iat !== "number"
    ) {
      throw new AuthError("Invalid token claims");
    }
    if (payload.exp - payload.iat > this.maxTtlSeconds) {
      throw new AuthError(
        `Token lifetime is over the maximum of ${
          formatTtl(this.maxTtlSeconds)
        }`,
      );
    }
    const agentId = typeof payload.agentId === "string"
      ? payload.agentId
      : undefined;
    if (role.data === "agent" && !agentId) {
      throw new AuthError("Agent token without agentId");
    }
    const sessionId = typeof payload.jti === "string" && payload.jti
      ? payload.jti
      : `sig:${token.slice(token.lastIndexOf(".") + 1)}`;
    return {
      id: payload.sub,
      role: role.data,
      agentId,
      expiresAt: payload.exp * 1000,
      issuedAt: payload.iat * 1000,
      sessionId,
      kind: payload.kind === "session" ? "session" : "token",
    };
  }
}

/** Read the session cookie or the Bearer token from a request. */
export function requestToken(req: Request): string | null {
  const header = req.headers.get("authorization");
  if (header?.toLowerCase().startsWith("bearer ")) {
    return header.slice(7).trim();
  }
  const cookies = req.headers.get("cookie") ?? "";
  for (const part of cookies.split(";")) {
    const [name, ...rest] = part.trim().split("=");
    if (name === SESSION_COOKIE) {
      try {
        return decodeURIComponent(rest.join("="));
      } catch {
        return null; // Malformed escapes: treat as no cookie.
      }
    }
  }
  return null;
}

/** `Set-Cookie` value for a session holding `token`. */
export function sessionCookie(
  token: string,
  maxAgeSeconds: number,
  secure: boolean,
): string {
  return `${SESSION_COOKIE}=${token}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAgeSeconds}${
    secure ? "; Secure" : ""
  }`;
}

/**
 * Whether `a` and `b` are the same sign-in: subject, role and sign-in id
 * (so a viewer token of the same subject cannot act for an operator's).
 */
export function sameSignIn(a: Principal, b: Principal): boolean {
  return a.id === b.id && a.role === b.role && a.sessionId === b.sessionId;
}

/** Whether `role` may do what needs `required` (viewer < operator < admin). */
export function roleAllows(role: Role, required: Role): boolean {
  const rank: Record<Role, number> = {
    agent: -1,
    viewer: 0,
    operator: 1,
    admin: 2,
  };
  if (required === "agent") return role === "agent";
  return rank[role] >= rank[required];
}

/** What a one-time sign-in code grants. */
export interface LoginCode {
  role: Role;
  user: string;
  /** The token whose sign-in the session belongs to (id and expiry). */
  parent?: { id: string; endsAt: number };
}

/** KV key prefix of the sign-in codes kept in a shared store. */
export const LOGIN_CODE_KEY = "login_code";

/** Longest code looked up (ours are 48 characters). */
const MAX_CODE_LENGTH = 128;

/**
 * One-time sign-in codes: printed at start as a URL, each usable once
 * within its lifetime, each signing in one named user.
 *
 * Without a store they live in this process's memory. With one (cluster
 * mode: the {@link KvLike} over Redis), each code is kept there under
 * `["login_code", sha256(code)]` (the code itself is never stored) until
 * it expires, so a code printed by one server works through any of them;
 * redeeming deletes it with an atomic check, so it works once across all.
 */
export class LoginCodes {
  #codes = new Map<string, LoginCode & { expiresAt: number }>();
  #store: KvLike | null;
  /** Writes of created codes to {@link #store} not finished yet. */
  #pending = new Set<Promise<void>>();
  #failure: unknown = null;
  /** The user a code signs in when none is named (the admin's name). */
  readonly defaultUser: string;

  constructor(defaultUser = "admin", store: KvLike | null = null) {
    this.defaultUser = defaultUser;
    this.#store = store;
  }

  /**
   * Create a code granting `role` to `user` (default {@link defaultUser}),
   * valid for `ttlMs`. With `parent`, the session it starts belongs to that
   * token (ends with it, and when it is revoked). With a store, it is
   * written there in the background: {@link written} waits for that.
   */
  create(
    role: Role = "admin",
    ttlMs = 24 * 3600_000,
    user = this.defaultUser,
    parent?: LoginCode["parent"],
  ): string {
    const bytes = crypto.getRandomValues(new Uint8Array(24));
    const code = Array.from(bytes, (b) => b.toString(16).padStart(2, "0"))
      .join("");
    const entry = {
      role,
      user,
      expiresAt: Date.now() + ttlMs,
      ...(parent ? { parent } : {}),
    };
    const store = this.#store;
    if (!store) {
      this.#codes.set(code, entry);
      return code;
    }
    const write: Promise<void> = codeKey(code)
      .then((key) => store.set(key, entry, { expireIn: Math.max(1, ttlMs) }))
      .then(() => {}, (error) => {
        this.#failure = error;
      })
      .finally(() => this.#pending.delete(write));
    this.#pending.add(write);
    return code;
  }

  /**
   * Wait until every code created so far is stored (usable through any
   * server sharing the store).
   *
   * @throws the store's error when a write failed.
   */
  async written(): Promise<void> {
    while (this.#pending.size) await Promise.all(this.#pending);
    const failure = this.#failure;
    this.#failure = null;
    if (failure) throw failure;
  }

  /** Use `code`: what it grants once, then `null` forever. */
  async redeemUser(code: string): Promise<LoginCode | null> {
    if (!this.#store) {
      const entry = this.#codes.get(code);
      this.#codes.delete(code);
      if (!entry || entry.expiresAt < Date.now()) return null;
      const { expiresAt: _, ...grant } = entry;
      return grant;
    }
    if (code.length === 0 || code.length > MAX_CODE_LENGTH) return null;
    // A code created by this process a moment ago is stored first.
    await Promise.all(this.#pending);
    const key = await codeKey(code);
    const entry = await this.#store.get<LoginCode & { expiresAt: number }>(
      key,
    );
    if (!entry.value) return null;
    // Deleted only if nobody (on any server) redeemed it meanwhile.
    const spent = await this.#store.atomic().check(entry).delete(key)
      .commit();
    if (!spent.ok || entry.value.expiresAt < Date.now()) return null;
    const { expiresAt: _, ...grant } = entry.value;
    return grant;
  }

  /** Use `code`: its role once, then `null` forever. */
  async redeem(code: string): Promise<Role | null> {
    return (await this.redeemUser(code))?.role ?? null;
  }
}

/** The store key of `code`: its SHA-256, so the store never holds a code. */
async function codeKey(code: string): Promise<Deno.KvKey> {
  const digest = await crypto.subtle.digest(
    "SHA-256",
    new TextEncoder().encode(code),
  );
  const hex = Array.from(
    new Uint8Array(digest),
    (b) => b.toString(16).padStart(2, "0"),
  ).join("");
  return [LOGIN_CODE_KEY, hex];
}

/** The OS user name (`USER`, `USERNAME`), or null when unknown or not readable. */
export function osUserName(): string | null {
  for (const name of ["USER", "USERNAME", "LOGNAME"]) {
    try {
      const value = Deno.env.get(name)?.trim();
      if (value) return value;
    } catch {
      return null; // No --allow-env.
    }
  }
  return null;
}

/**
 * Only paths of this site may follow a sign-in (no open redirect): the value
 * is resolved against a placeholder origin and must stay on it, which also
 * defeats `/\\evil.example`, `//evil.example` and control characters; and
 * the resolved path must not start with `//` or `/\\` (`/.//evil.example`
 * resolves to the path `//evil.example`, which a browser reads as a host).
 */
export function safeRedirectPath(value: string | null): string {
  if (!value?.startsWith("/")) return "/";
  try {
    const url = new URL(value, "http://flightdeck.invalid");
    if (url.origin !== "http://flightdeck.invalid") return "/";
    if (/^\/[\/\\]/.test(url.pathname)) return "/";
    return url.pathname + url.search + url.hash;
  } catch {
    return "/";
  }
}
