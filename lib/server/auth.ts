/**
 * Tokens and sessions: HS256 JWTs signed with the server secret, carrying a
 * `role` and, for agents, an `agentId`.
 *
 * @module
 */
import { jwtVerify, SignJWT } from "jose";
import { type Role, RoleSchema } from "../protocol.ts";

/** Name of the browser session cookie. */
export const SESSION_COOKIE = "flightdeck_session";

/** Who a verified token belongs to. */
export interface Principal {
  /** Subject: a user name, or `agent:<id>` for agents. */
  id: string;
  role: Role;
  /** Set for role `agent`: the only agent id this token may register. */
  agentId?: string;
  /** Expiry in milliseconds since the epoch. */
  expiresAt: number;
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
  /** Lifetime in seconds (default one hour). */
  ttlSeconds?: number;
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

/** Signs and verifies tokens with one secret. */
export class Auth {
  #key: Uint8Array;

  /** @throws {RangeError} when the secret is shorter than 32 characters. */
  constructor(secret: string) {
    if (secret.length < 32) {
      throw new RangeError("The server secret must be at least 32 characters");
    }
    this.#key = new TextEncoder().encode(secret);
  }

  /** Sign a token for `options.role`. */
  async sign(options: SignOptions): Promise<string> {
    if (options.role === "agent" && !options.agentId) {
      throw new TypeError('Role "agent" needs an agentId');
    }
    const subject = options.subject ??
      (options.role === "agent" ? `agent:${options.agentId}` : options.role);
    const claims: Record<string, string> = { role: options.role };
    if (options.agentId) claims.agentId = options.agentId;
    return await new SignJWT(claims)
      .setProtectedHeader({ alg: "HS256", typ: "JWT" })
      .setIssuer(ISSUER)
      .setSubject(subject)
      .setIssuedAt()
      .setExpirationTime(
        Math.floor(Date.now() / 1000) + (options.ttlSeconds ?? 3600),
      )
      .sign(this.#key);
  }

  /**
   * Verify `token` and return its principal.
   *
   * @throws {AuthError} when the token is missing, invalid or expired.
   */
  async verify(token: string | null | undefined): Promise<Principal> {
    if (!token) throw new AuthError("Missing token");
    let payload;
    try {
      ({ payload } = await jwtVerify(token, this.#key, {
        issuer: ISSUER,
        algorithms: ["HS256"],
      }));
    } catch (error) {
      const expired = error instanceof Error &&
        (error as { code?: string }).code === "ERR_JWT_EXPIRED";
      throw new AuthError(expired ? "Token expired" : "Invalid token", {
        cause: error,
      });
    }
    const role = RoleSchema.safeParse(payload.role);
    if (!role.success || typeof payload.sub !== "string" || !payload.exp) {
      throw new AuthError("Invalid token claims");
    }
    const agentId = typeof payload.agentId === "string"
      ? payload.agentId
      : undefined;
    if (role.data === "agent" && !agentId) {
      throw new AuthError("Agent token without agentId");
    }
    return {
      id: payload.sub,
      role: role.data,
      agentId,
      expiresAt: payload.exp * 1000,
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

/**
 * One-time sign-in codes: printed at start as a URL, each usable once
 * within its lifetime.
 */
export class LoginCodes {
  #codes = new Map<string, { role: Role; expiresAt: number }>();

  /** Create a code granting `role`, valid for `ttlMs`. */
  create(role: Role = "admin", ttlMs = 24 * 3600_000): string {
    const bytes = crypto.getRandomValues(new Uint8Array(24));
    const code = Array.from(bytes, (b) => b.toString(16).padStart(2, "0"))
      .join("");
    this.#codes.set(code, { role, expiresAt: Date.now() + ttlMs });
    return code;
  }

  /** Use `code`: its role once, then `null` forever. */
  redeem(code: string): Role | null {
    const entry = this.#codes.get(code);
    this.#codes.delete(code);
    if (!entry || entry.expiresAt < Date.now()) return null;
    return entry.role;
  }
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
