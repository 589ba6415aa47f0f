import type { Handlers, PageProps } from "$fresh/server.ts";
import type { AppState } from "../lib/server/app.ts";
import {
  AuthError,
  safeRedirectPath,
  sessionCookie,
} from "../lib/server/auth.ts";
import { BodyError, readForm } from "../lib/server/body.ts";
import {
  refuseCrossOrigin,
  requestIsHttps,
} from "../lib/server/http_security.ts";

interface LoginData {
  error: string | null;
  next: string;
}

function signedIn(
  token: string,
  next: string,
  maxAge: number,
  secure: boolean,
) {
  return new Response(null, {
    status: 303,
    headers: {
      location: next,
      "set-cookie": sessionCookie(token, maxAge, secure),
    },
  });
}

/** `/login`: a one-time code from the start-up URL, or a pasted token. */
export const handler: Handlers<LoginData, AppState> = {
  async GET(req, ctx) {
    const next = safeRedirectPath(ctx.url.searchParams.get("next"));
    const code = ctx.url.searchParams.get("code");
    if (!code) return ctx.render({ error: null, next });
    const { app } = ctx.state;
    const role = app.loginCodes.redeem(code);
    if (!role) {
      return ctx.render({
        error:
          "This sign-in link was already used or has expired. Restart the server for a new one, or paste a token.",
        next,
      }, { status: 401 });
    }
    const ttl = app.config.sessionTtlSeconds;
    const token = await app.auth.sign({
      role,
      subject: "admin",
      ttlSeconds: ttl,
    });
    return signedIn(
      token,
      next,
      ttl,
      requestIsHttps(req, app.config.trustProxy),
    );
  },
  async POST(req, ctx) {
    const { config } = ctx.state.app;
    // Login CSRF: a foreign page must not sign this browser in as someone else.
    const refused = refuseCrossOrigin(req, config);
    if (refused) return refused;
    let form;
    try {
      form = await readForm(req);
    } catch (error) {
      if (error instanceof BodyError) return error.toResponse();
      throw error;
    }
    const token = (form.get("token") ?? "").trim();
    const next = safeRedirectPath(form.get("next") ?? "/");
    try {
      const user = await ctx.state.app.auth.verify(token);
      if (user.role === "agent") {
        return ctx.render({
          error: "Agent tokens cannot sign in to the dashboard.",
          next,
        }, {
          status: 403,
        });
      }
      const maxAge = Math.max(
        1,
        Math.floor((user.expiresAt - Date.now()) / 1000),
      );
      return signedIn(
        token,
        next,
        maxAge,
        requestIsHttps(req, config.trustProxy),
      );
    } catch (error) {
      if (!(error instanceof AuthError)) throw error;
      return ctx.render({ error: `Sign-in failed: ${error.message}.`, next }, {
        status: 401,
      });
    }
  },
};

export default function Login({ data }: PageProps<LoginData>) {
  return (
    <main class="login">
      <h1>Flightdeck</h1>
      <p>
        Open the sign-in link the server printed at start, or paste a token made
        with <code>deno task token --role operator</code>.
      </p>
      {data.error && <p class="error" role="alert">{data.error}</p>}
      <form method="post" action="/login">
        <input type="hidden" name="next" value={data.next} />
        <label>
          Token
          <textarea
            name="token"
            rows={4}
            required
            autocomplete="off"
            spellcheck={false}
          />
        </label>
        <button type="submit">Sign in</button>
      </form>
    </main>
  );
}
