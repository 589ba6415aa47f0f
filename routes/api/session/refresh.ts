import type { Handlers } from "$fresh/server.ts";
import type { AppState } from "../../../lib/server/app.ts";
import { AuthError } from "../../../lib/server/auth.ts";
import {
  refuseCrossOrigin,
  requestIsHttps,
} from "../../../lib/server/http_security.ts";
import { renewSession } from "../../../lib/server/sign_in.ts";

/**
 * `POST /api/session/refresh`: renew the caller's browser session. Answers
 * `{ "expiresAt": ms }` with a new session cookie (the cookie is HttpOnly,
 * so the page cannot renew it itself); for a Bearer token that is not a
 * browser session, only the unchanged expiry. 401 when the sign-in ended.
 */
export const handler: Handlers<unknown, AppState> = {
  async POST(req, ctx) {
    const { app, user } = ctx.state;
    const refused = refuseCrossOrigin(req, app.config);
    if (refused) return refused;
    try {
      // Secure as at sign-in: behind a trusted TLS proxy too.
      const { cookie, expiresAt } = await renewSession(app, user!, {
        secure: requestIsHttps(req, app.config.trustProxy),
      });
      return Response.json({ expiresAt }, {
        headers: {
          "cache-control": "no-store",
          ...(cookie ? { "set-cookie": cookie } : {}),
        },
      });
    } catch (error) {
      if (!(error instanceof AuthError)) throw error;
      return Response.json({
        error: { code: "AUTH_FAILED", message: error.message },
      }, { status: 401 });
    }
  },
};
