import type { Handlers, PageProps, RenderOptions } from "$fresh/server.ts";
import type { AppState } from "../lib/server/app.ts";
import { safeRedirectPath } from "../lib/server/auth.ts";
import { BodyError, readForm } from "../lib/server/body.ts";
import {
  refuseCrossOrigin,
  requestIsHttps,
} from "../lib/server/http_security.ts";
import { originRefusal } from "../lib/server/audit.ts";
import { signIn, type SignInResult } from "../lib/server/sign_in.ts";

interface LoginData {
  error: string | null;
  next: string;
}

/** Redirect with the session cookie, or the form again with the error. */
function answer(
  result: SignInResult,
  next: string,
  render: (data: LoginData, init: RenderOptions) => Promise<Response>,
) {
  if (result.ok) {
    return new Response(null, {
      status: 303,
      headers: { location: next, "set-cookie": result.cookie },
    });
  }
  const headers: Record<string, string> = result.retryAfterSeconds
    ? { "retry-after": String(result.retryAfterSeconds) }
    : {};
  return render({ error: result.error, next }, {
    status: result.status,
    headers,
  });
}

/**
 * `/login`: a one-time code from the start-up URL, or a pasted token. Either
 * starts a server-side browser session (see lib/server/sign_in.ts); failed
 * attempts are logged and throttled per client address (429).
 */
export const handler: Handlers<LoginData, AppState> = {
  async GET(req, ctx) {
    const next = safeRedirectPath(ctx.url.searchParams.get("next"));
    const code = ctx.url.searchParams.get("code");
    if (!code) return ctx.render({ error: null, next });
    const { app } = ctx.state;
    const result = await signIn(
      app,
      ctx.remoteAddr.hostname,
      { code },
      { secure: requestIsHttps(req, app.config.trustProxy) },
    );
    return answer(result, next, (data, init) => ctx.render(data, init));
  },
  async POST(req, ctx) {
    const { app } = ctx.state;
    // Login CSRF: a foreign page must not sign this browser in as someone else.
    const refused = refuseCrossOrigin(req, app.config);
    if (refused) {
      app.audit.refusal(originRefusal(req, ctx.remoteAddr.hostname));
      return refused;
    }
    let form;
    try {
      form = await readForm(req, undefined, app.config.bodyTimeoutMs);
    } catch (error) {
      if (error instanceof BodyError) return error.toResponse();
      throw error;
    }
    const token = (form.get("token") ?? "").trim();
    const next = safeRedirectPath(form.get("next") ?? "/");
    const result = await signIn(
      app,
      ctx.remoteAddr.hostname,
      { token },
      { secure: requestIsHttps(req, app.config.trustProxy) },
    );
    return answer(result, next, (data, init) => ctx.render(data, init));
  },
};

export default function Login({ data }: PageProps<LoginData>) {
  return (
    <main class="login">
      <h1>Flightdeck</h1>
      <p>
        Open the sign-in link the server printed at start or an admin sent you,
        or paste a token made with{" "}
        <code>deno task token --role operator --user NAME</code>.
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
