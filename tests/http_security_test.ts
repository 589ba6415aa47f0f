/**
 * Item 12 of the hardening issue against a real server: security headers on
 * every kind of response, login CSRF (Origin), the open redirect, Origin on
 * `/api/events`, and the `Secure` cookie behind a trusted TLS proxy.
 */
import assert from "node:assert/strict";
import { startTestServer, type TestServer } from "./helpers.ts";
import { safeRedirectPath, SESSION_COOKIE } from "../lib/server/auth.ts";
import {
  CONTENT_SECURITY_POLICY,
  SECURITY_HEADERS,
} from "../lib/server/http_security.ts";

function assertSecurityHeaders(res: Response, what: string): void {
  assert.equal(
    res.headers.get("content-security-policy"),
    CONTENT_SECURITY_POLICY,
    what,
  );
  assert.match(CONTENT_SECURITY_POLICY, /frame-ancestors 'none'/);
  assert.match(CONTENT_SECURITY_POLICY, /script-src 'self'(;|$)/);
  assert.equal(res.headers.get("x-frame-options"), "DENY", what);
  assert.equal(res.headers.get("x-content-type-options"), "nosniff", what);
  assert.equal(res.headers.get("referrer-policy"), "same-origin", what);
}

function login(
  server: TestServer,
  fields: Record<string, string>,
  headers: Record<string, string> = {},
): Promise<Response> {
  return fetch(`${server.url}/login`, {
    method: "POST",
    body: new URLSearchParams(fields),
    headers,
    redirect: "manual",
  });
}

Deno.test("every response carries the security headers: pages, API, static files, bundles, 404s, errors", async () => {
  await using server = await startTestServer();
  const token = await server.token("operator");
  const auth = { authorization: `Bearer ${token}` };
  const cases: [string, RequestInit, number][] = [
    ["/", { headers: auth }, 200],
    ["/login", {}, 200],
    ["/", {}, 303],
    ["/api/health", {}, 200],
    ["/api/agents", { headers: auth }, 200],
    ["/api/agents", {}, 401],
    ["/styles.css", {}, 200],
    ["/_frsh/boot.js", {}, 200],
    ["/no-such-page", { headers: auth }, 404],
    ["/ws/dashboard", {}, 400],
    ["/login", {
      method: "POST",
      headers: { "content-type": "text/plain" },
      body: "x",
    }, 415],
  ];
  for (const [path, init, status] of cases) {
    const res = await fetch(`${server.url}${path}`, {
      redirect: "manual",
      ...init,
    });
    await res.body?.cancel();
    assert.equal(res.status, status, path);
    assertSecurityHeaders(res, `${init.method ?? "GET"} ${path}`);
  }
  assert.ok(Object.keys(SECURITY_HEADERS).length >= 4);
});

Deno.test("POST /login with a foreign Origin is refused with 403 and sets no cookie", async () => {
  await using server = await startTestServer();
  const token = await server.token("viewer");
  for (
    const headers of <Record<string, string>[]> [
      { origin: "https://evil.example" },
      { origin: "null" },
      // Same scheme, other port: another origin.
      { origin: "http://127.0.0.1:1" },
      // No Origin, but the browser says cross-site.
      { "sec-fetch-site": "cross-site" },
    ]
  ) {
    const res = await login(server, { token, next: "/" }, headers);
    assert.equal(res.status, 403, JSON.stringify(headers));
    assert.equal(res.headers.get("set-cookie"), null);
    assert.match(await res.text(), /not allowed|refused/);
  }
  // Same origin, and scripts without Origin, still sign in.
  const allowed: Record<string, string>[] = [{ origin: server.url }, {}];
  for (const headers of allowed) {
    const res = await login(server, { token, next: "/" }, headers);
    await res.body?.cancel();
    assert.equal(res.status, 303, JSON.stringify(headers));
    assert.match(res.headers.get("set-cookie") ?? "", /^flightdeck_session=/);
  }
});

Deno.test("POST /login compares schemes exactly behind a trusted proxy", async () => {
  const status = async (
    trustProxy: boolean,
    headers: Record<string, string>,
  ): Promise<number> => {
    await using server = await startTestServer({ trustProxy });
    const host = new URL(server.url).host;
    const res = await login(server, { token: await server.token("viewer") }, {
      ...headers,
      origin: headers.origin.replace("HOST", host),
    });
    await res.body?.cancel();
    return res.status;
  };
  // Not configured: the server cannot know a TLS proxy is in front, so the
  // https origin of its own host passes.
  assert.equal(await status(false, { origin: "https://HOST" }), 303);
  // Configured and the proxy says https: only the https origin passes.
  const https = { "x-forwarded-proto": "https" };
  assert.equal(await status(true, { ...https, origin: "https://HOST" }), 303);
  assert.equal(await status(true, { ...https, origin: "http://HOST" }), 403);
  // Configured and the proxy says http: an https origin is another site.
  assert.equal(
    await status(true, { "x-forwarded-proto": "http", origin: "https://HOST" }),
    403,
  );
});

Deno.test("POST /login with an allowed extra origin signs in", async () => {
  await using server = await startTestServer({
    allowedOrigins: ["https://dash.example"],
  });
  const res = await login(server, {
    token: await server.token("viewer"),
  }, { origin: "https://dash.example" });
  await res.body?.cancel();
  assert.equal(res.status, 303);
});

Deno.test("safeRedirectPath() closes /.//host and keeps local paths", () => {
  const cases: [string | null, string][] = [
    ["/.//evil.com", "/"],
    ["/././/evil.com/x", "/"],
    ["/a/..//evil.com", "/"],
    ["//evil.com", "/"],
    ["/\\evil.com", "/"],
    ["/.\\/evil.com", "/"],
    ["https://evil.com", "/"],
    ["evil.com", "/"],
    [null, "/"],
    ["/agents/a-1?tab=log#end", "/agents/a-1?tab=log#end"],
    ["/a//b", "/a//b"],
  ];
  for (const [input, expected] of cases) {
    assert.equal(safeRedirectPath(input), expected, String(input));
  }
});

Deno.test("sign-in redirects never leave the site (/.//evil.com goes to /)", async () => {
  await using server = await startTestServer();
  const token = await server.token("operator");
  for (
    const [next, location] of [
      ["/.//evil.com", "/"],
      ["//evil.com", "/"],
      ["/agents/a-1", "/agents/a-1"],
    ]
  ) {
    const posted = await login(server, { token, next });
    await posted.body?.cancel();
    assert.equal(posted.headers.get("location"), location, `POST ${next}`);
    const code = server.services.loginCodes.create("admin");
    const got = await fetch(
      `${server.url}/login?code=${code}&next=${encodeURIComponent(next)}`,
      { redirect: "manual" },
    );
    await got.body?.cancel();
    assert.equal(got.status, 303);
    assert.equal(got.headers.get("location"), location, `GET ${next}`);
  }
  const page = await fetch(
    `${server.url}/login?next=${encodeURIComponent("/.//evil.com")}`,
  );
  assert.match(await page.text(), /name="next" value="\/"/);
});

Deno.test("GET /api/events with a foreign Origin is refused with 403; the own origin is served", async () => {
  await using server = await startTestServer();
  const auth = `Bearer ${await server.token("operator")}`;
  for (
    const origin of [
      "https://evil.example",
      "http://127.0.0.1:1",
      "null",
    ]
  ) {
    const res = await fetch(`${server.url}/api/events`, {
      headers: { authorization: auth, origin },
    });
    assert.equal(res.status, 403, origin);
    assert.equal(await res.text(), `Origin "${origin}" is not allowed\n`);
  }
  const controller = new AbortController();
  const own = await fetch(`${server.url}/api/events`, {
    headers: { authorization: auth, origin: server.url },
    signal: controller.signal,
  });
  assert.equal(own.status, 200);
  assertSecurityHeaders(own, "GET /api/events");
  controller.abort();
  await own.body?.cancel().catch(() => {});
});

Deno.test("the session cookie is Secure only behind a trusted proxy that forwarded https", async () => {
  const cookieFor = async (
    trustProxy: boolean,
    proto: string | null,
  ): Promise<string> => {
    await using server = await startTestServer({ trustProxy });
    const headers: Record<string, string> = {};
    if (proto) headers["x-forwarded-proto"] = proto;
    // A browser behind the proxy sends its own (https) origin.
    if (proto) headers.origin = server.url.replace("http:", `${proto}:`);
    const res = await login(
      server,
      { token: await server.token("viewer") },
      headers,
    );
    await res.body?.cancel();
    assert.equal(res.status, 303, `${trustProxy} ${proto}`);
    return res.headers.get("set-cookie") ?? "";
  };
  const secure = /; Secure(;|$)/;
  assert.match(await cookieFor(true, "https"), secure);
  assert.doesNotMatch(await cookieFor(true, "http"), secure);
  assert.doesNotMatch(await cookieFor(true, null), secure);
  // Untrusted: the header is ignored, and the https Origin does not match.
  await using server = await startTestServer();
  const res = await login(server, { token: await server.token("viewer") }, {
    "x-forwarded-proto": "https",
  });
  await res.body?.cancel();
  assert.doesNotMatch(res.headers.get("set-cookie") ?? "", secure);
  assert.ok(
    (res.headers.get("set-cookie") ?? "").startsWith(`${SESSION_COOKIE}=`),
  );
});

Deno.test("a renewed session cookie is Secure behind a trusted proxy that forwarded https, as at sign-in", async () => {
  const secure = /; Secure(;|$)/;
  for (const [trustProxy, expectSecure] of [[true, true], [false, false]]) {
    await using server = await startTestServer({ trustProxy });
    const forwarded = { "x-forwarded-proto": "https" };
    const res = await login(server, { token: await server.token("viewer") }, {
      ...forwarded,
      origin: server.url.replace("http:", "https:"),
    });
    await res.body?.cancel();
    assert.equal(res.status, 303);
    const cookie = (res.headers.get("set-cookie") ?? "").split(";")[0];
    const renewed = await fetch(`${server.url}/api/session/refresh`, {
      method: "POST",
      headers: { ...forwarded, cookie },
    });
    await renewed.body?.cancel();
    assert.equal(renewed.status, 200, `trustProxy ${trustProxy}`);
    const setCookie = renewed.headers.get("set-cookie") ?? "";
    assert.ok(setCookie.startsWith(`${SESSION_COOKIE}=`), setCookie);
    if (expectSecure) assert.match(setCookie, secure);
    else assert.doesNotMatch(setCookie, secure);
  }
});

Deno.test("POST /logout and POST /api/session/refresh refuse a foreign Origin and change nothing", async () => {
  await using server = await startTestServer();
  const res = await login(server, { token: await server.token("operator") });
  await res.body?.cancel();
  assert.equal(res.status, 303);
  const cookie = (res.headers.get("set-cookie") ?? "").split(";")[0];
  const signedIn = async () => {
    const r = await fetch(`${server.url}/api/agents`, { headers: { cookie } });
    await r.body?.cancel();
    return r.status;
  };
  for (const path of ["/logout", "/api/session/refresh"]) {
    for (
      const headers of [
        { origin: "http://evil.example" },
        { "sec-fetch-site": "cross-site" },
      ] as Record<string, string>[]
    ) {
      const refused = await fetch(`${server.url}${path}`, {
        method: "POST",
        headers: { cookie, ...headers },
        redirect: "manual",
      });
      assert.equal(refused.status, 403, `${path} ${JSON.stringify(headers)}`);
      assertSecurityHeaders(refused, path);
      assert.equal(refused.headers.get("set-cookie"), null, path);
      await refused.body?.cancel();
      assert.equal(await signedIn(), 200, `${path}: still signed in`);
    }
  }
  // Same origin: signs out.
  const out = await fetch(`${server.url}/logout`, {
    method: "POST",
    headers: { cookie, origin: server.url },
    redirect: "manual",
  });
  await out.body?.cancel();
  assert.equal(out.status, 303);
  assert.equal(await signedIn(), 401);
});
