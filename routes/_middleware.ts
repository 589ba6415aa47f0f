import type { FreshContext } from "$fresh/server.ts";
import { AuthError, requestToken } from "../lib/server/auth.ts";
import type { AppState } from "../lib/server/app.ts";
import { errorResponse, storageUnavailable } from "../lib/server/errors.ts";

/** Paths anyone may reach; sockets authenticate on their own. */
const PUBLIC = [
  /^\/login$/,
  /^\/logout$/,
  /^\/api\/health$/,
  /^\/api\/ready$/,
  /^\/ws\//,
  /^\/_frsh\//,
];

/**
 * Resolve the signed-in user; send anonymous page requests to /login. With
 * Redis unreachable (sign-ins are kept there in cluster mode), any request
 * that needs it gets a clear 503 STORAGE_UNAVAILABLE instead of a 500.
 */
export async function handler(
  req: Request,
  ctx: FreshContext<AppState>,
): Promise<Response> {
  try {
    return await authenticated(req, ctx);
  } catch (error) {
    const unavailable = storageUnavailable(error);
    if (!unavailable) throw error;
    return errorResponse(unavailable.code, unavailable.message, {
      "cache-control": "no-store",
    });
  }
}

async function authenticated(req: Request, ctx: FreshContext<AppState>) {
  if (ctx.destination === "static" || ctx.destination === "internal") {
    return ctx.next();
  }
  const path = ctx.url.pathname;
  if (PUBLIC.some((re) => re.test(path))) return ctx.next();
  const token = requestToken(req);
  try {
    const user = await ctx.state.app.sessions.verify(token);
    if (user.role !== "agent") ctx.state.user = user;
  } catch (error) {
    if (!(error instanceof AuthError)) throw error;
  }
  if (ctx.state.user) return await ctx.next();
  if (path.startsWith("/api/")) {
    return Response.json(
      {
        error: {
          code: "AUTH_FAILED",
          message: "Sign in or send a Bearer token",
        },
      },
      { status: 401 },
    );
  }
  const next = encodeURIComponent(path + ctx.url.search);
  return new Response(null, {
    status: 303,
    headers: { location: `/login?next=${next}` },
  });
}
