import type { Handlers } from "$fresh/server.ts";
import type { AppState } from "../lib/server/app.ts";
import { requestToken, SESSION_COOKIE } from "../lib/server/auth.ts";
import { signOut } from "../lib/server/sign_in.ts";

/**
 * `POST /logout`: revoke the sign-in of the token presented (cookie or
 * Bearer) server-side, which closes its open sockets and SSE streams with
 * 4401, clear the cookie and go to /login. Other methods get 405.
 */
export const handler: Handlers<unknown, AppState> = {
  async POST(req, ctx) {
    await signOut(ctx.state.app, requestToken(req));
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
