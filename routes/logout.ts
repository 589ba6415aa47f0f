import type { Handlers } from "$fresh/server.ts";
import type { AppState } from "../lib/server/app.ts";
import { requestToken, SESSION_COOKIE } from "../lib/server/auth.ts";
import { refuseCrossOrigin } from "../lib/server/http_security.ts";
import { originRefusal } from "../lib/server/audit.ts";
import { signOut } from "../lib/server/sign_in.ts";

/**
 * `POST /logout`: revoke the sign-in of the token presented (cookie or
 * Bearer) server-side, which closes its open sockets and SSE streams with
 * 4401, clear the cookie and go to /login. Other methods get 405; a
 * foreign `Origin` gets 403 (a same-site page must not sign anyone out).
 */
export const handler: Handlers<unknown, AppState> = {
  async POST(req, ctx) {
    const refused = refuseCrossOrigin(req, ctx.state.app.config);
    if (refused) {
      ctx.state.app.audit.refusal(
        originRefusal(req, ctx.remoteAddr.hostname),
      );
      return refused;
    }
    await signOut(ctx.state.app, requestToken(req), ctx.remoteAddr.hostname);
    return new Response(null, {
      status: 303,
      headers: {
        location: "/login",
        "set-cookie":
          `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0`,
      },
    });
  },
};
