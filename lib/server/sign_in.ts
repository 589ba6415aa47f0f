/**
 * Browser sign-in and sign-out: one-time codes and pasted tokens become a
 * server-side session (see `auth_sessions.ts`); a session from a pasted
 * token ends when that token is revoked. Failures are logged and throttled
 * per client address.
 *
 * @module
 */
import { AuthError, type Principal, sessionCookie } from "./auth.ts";
import type { Issued } from "./auth_sessions.ts";
import type { Services } from "./services.ts";
import { storageUnavailable } from "./errors.ts";

/** Outcome of a sign-in attempt. */
export type SignInResult =
  | { ok: true; cookie: string; expiresAt: number }
  | {
    ok: false;
    status: 401 | 403 | 429 | 503;
    error: string;
    /** Set with 429 and 503: seconds until the address may try again. */
    retryAfterSeconds?: number;
  };

type Failure = {
  ok: false;
  status: 401 | 403;
  error: string;
  reason: string;
};

type Attempt = {
  ok: true;
  subject: string;
  role: "viewer" | "operator" | "admin";
  endsAt?: number;
  /** Sign-in id of the pasted token. */
  parentId?: string;
} | Failure;

/**
 * Sign in from `address` with a one-time `code` or a pasted `token`
 * (exactly one of them). While `address` has too many recent failures, every
 * attempt gets 429 without being checked.
 */
export async function signIn(
  app: Services,
  address: string,
  credential: { code: string } | { token: string },
  options: { secure: boolean },
): Promise<SignInResult> {
  const { loginThrottle, log, audit } = app;
  const method = "code" in credential ? "code" : "token";
  const wait = loginThrottle.retryAfterMs(address);
  if (wait > 0) {
    const retryAfterSeconds = Math.ceil(wait / 1000);
    audit.refusal({
      actor: null,
      role: null,
      address,
      connectionId: null,
      action: "auth.sign-in",
      target: {},
      outcome: "refused",
      detail: { method, reason: "rate", retryAfterSeconds },
    });
    return {
      ok: false,
      status: 429,
      error:
        `Too many failed sign-ins from this address. Try again in ${retryAfterSeconds} s.`,
      retryAfterSeconds,
    };
  }
  // Counted as a failure while it is checked, so that parallel attempts
  // cannot all pass the throttle before the first one fails; taken back on
  // success.
  const startedAt = Date.now();
  loginThrottle.fail(address, startedAt);
  let attempt;
  try {
    const checked = "code" in credential
      ? await redeemCode(app, credential.code)
      : await checkToken(app, credential.token);
    attempt = checked.ok ? await startSession(app, checked) : checked;
  } catch (error) {
    // The storage (Redis, in cluster mode) is unreachable: the credential
    // could not be checked, or the session not stored, so the attempt does
    // not count as a failure of this address.
    const unavailable = storageUnavailable(error);
    if (!unavailable) throw error;
    loginThrottle.forgive(address, startedAt);
    log.warn("Sign-in not possible: storage unavailable", {
      address,
      method,
      error: String(error),
    });
    return {
      ok: false,
      status: 503,
      error:
        "Sign-in is not possible right now: the server cannot reach its storage (Redis). Nothing was changed; try again in a moment.",
      retryAfterSeconds: 5,
    };
  }
  if (attempt.ok) loginThrottle.forgive(address, startedAt);
  if (!attempt.ok) {
    const throttled = loginThrottle.retryAfterMs(address) > 0;
    audit.refusal({
      actor: null,
      role: null,
      address,
      connectionId: null,
      action: "auth.sign-in",
      target: {},
      outcome: "refused",
      detail: { method, reason: attempt.reason },
    });
    log.warn("Sign-in failed", {
      address,
      method,
      reason: attempt.reason,
      ...(throttled ? { throttledForMs: loginThrottle.windowMs } : {}),
    });
    return { ok: false, status: attempt.status, error: attempt.error };
  }
  const { issued } = attempt;
  const maxAge = Math.max(
    1,
    Math.floor((issued.expiresAt - Date.now()) / 1000),
  );
  log.info("Signed in", { address, user: attempt.subject, role: attempt.role });
  audit.record({
    actor: attempt.subject,
    role: attempt.role,
    address,
    connectionId: null,
    action: "auth.sign-in",
    target: {},
    outcome: "ok",
    detail: { method },
  });
  return {
    ok: true,
    cookie: sessionCookie(issued.token, maxAge, options.secure),
    expiresAt: issued.expiresAt,
  };
}

/** Start the session of a checked sign-in. */
async function startSession(
  app: Services,
  attempt: Extract<Attempt, { ok: true }>,
): Promise<Failure | typeof attempt & { issued: Issued }> {
  try {
    const issued = await app.sessions.create(
      attempt.subject,
      attempt.role,
      attempt.endsAt,
      attempt.parentId,
    );
    return { ...attempt, issued };
  } catch (error) {
    // The pasted token was revoked since it was checked.
    if (!(error instanceof AuthError)) throw error;
    return refused(error);
  }
}

async function redeemCode(app: Services, code: string): Promise<Attempt> {
  const redeemed = await app.loginCodes.redeemUser(code);
  if (redeemed === null || redeemed.role === "agent") {
    return {
      ok: false,
      status: 401,
      error:
        "This sign-in link was already used or has expired. Restart the server for a new one, or paste a token.",
      reason: "Unknown or used code",
    };
  }
  return {
    ok: true,
    subject: redeemed.user,
    role: redeemed.role,
    ...(redeemed.parent
      ? { parentId: redeemed.parent.id, endsAt: redeemed.parent.endsAt }
      : {}),
  };
}

async function checkToken(app: Services, token: string): Promise<Attempt> {
  try {
    const user = await app.sessions.verify(token);
    if (user.role === "agent") {
      return {
        ok: false,
        status: 403,
        error: "Agent tokens cannot sign in to the dashboard.",
        reason: "Agent token",
      };
    }
    if (user.kind === "session") {
      // Only tokens made with `deno task token` start sessions, so every
      // session's parent is such a token and revoking it reaches them all.
      return {
        ok: false,
        status: 403,
        error:
          "A browser session's token cannot start another session. Paste a token made with deno task token.",
        reason: "Session token",
      };
    }
    return {
      ok: true,
      subject: user.id,
      role: user.role,
      endsAt: user.expiresAt,
      parentId: user.sessionId,
    };
  } catch (error) {
    if (!(error instanceof AuthError)) throw error;
    return refused(error);
  }
}

function refused(error: AuthError): Failure {
  return {
    ok: false,
    status: 401,
    error: `Sign-in failed: ${error.message}.`,
    reason: error.message,
  };
}

/**
 * Sign out: revoke the sign-in of `token` (an expired one too), which
 * closes its open connections, and record it for `address`. Nothing
 * happens for a missing or invalid token.
 */
export async function signOut(
  app: Services,
  token: string | null,
  address: string | null = null,
): Promise<void> {
  if (!token) return;
  let principal;
  try {
    principal = await app.auth.verify(token, { allowExpired: true });
  } catch (error) {
    if (!(error instanceof AuthError)) throw error;
    return;
  }
  await app.sessions.revoke(principal, "Signed out");
  app.log.info("Signed out", { user: principal.id, role: principal.role });
  app.audit.record({
    actor: principal.id,
    role: principal.role,
    address,
    connectionId: null,
    action: "auth.sign-out",
    target: {},
    outcome: "ok",
  });
}

/**
 * Renew the browser session of `token`'s sign-in: a new cookie (null for a
 * token that is not a browser session) and the new expiry.
 *
 * @throws {AuthError} when the sign-in was revoked or ended.
 */
export async function renewSession(
  app: Services,
  user: Principal,
  options: { secure: boolean },
): Promise<{ cookie: string | null; expiresAt: number }> {
  const refreshed = await app.sessions.refresh(user);
  if (user.kind !== "session" || !refreshed.token) {
    return { cookie: null, expiresAt: refreshed.expiresAt };
  }
  const maxAge = Math.max(
    1,
    Math.floor((refreshed.expiresAt - Date.now()) / 1000),
  );
  return {
    cookie: sessionCookie(refreshed.token, maxAge, options.secure),
    expiresAt: refreshed.expiresAt,
  };
}
