import assert from "node:assert/strict";
import {
  refuseCrossOrigin,
  requestIsHttps,
  requestOrigin,
  SECURITY_HEADERS,
  withSecurityHeaders,
} from "./http_security.ts";

const req = (headers: Record<string, string>) =>
  new Request("http://dash.example:8000/login", { method: "POST", headers });
const policy = { allowedOrigins: [] as string[], trustProxy: false };

Deno.test("requestIsHttps() trusts X-Forwarded-Proto (first value) only when configured", () => {
  const forwarded = req({ "x-forwarded-proto": "HTTPS, http" });
  assert.equal(requestIsHttps(forwarded, false), false);
  assert.equal(requestIsHttps(forwarded, true), true);
  assert.equal(
    requestIsHttps(req({ "x-forwarded-proto": "http" }), true),
    false,
  );
  assert.equal(requestIsHttps(req({}), true), false);
  assert.equal(
    requestOrigin(
      req({ "x-forwarded-proto": "https", host: "dash.example" }),
      true,
    ),
    "https://dash.example",
  );
});

Deno.test("refuseCrossOrigin() passes the own origin, listed origins and requests without Origin", () => {
  assert.equal(
    refuseCrossOrigin(req({ origin: "http://dash.example:8000" }), policy),
    null,
  );
  assert.equal(refuseCrossOrigin(req({}), policy), null);
  assert.equal(
    refuseCrossOrigin(req({ "sec-fetch-site": "same-origin" }), policy),
    null,
  );
  // Origin hidden by a referrer policy: the browser's Sec-Fetch-Site tells.
  assert.equal(
    refuseCrossOrigin(
      req({ origin: "null", "sec-fetch-site": "same-origin" }),
      policy,
    ),
    null,
  );
  assert.equal(
    refuseCrossOrigin(req({ origin: "https://other.example" }), {
      ...policy,
      allowedOrigins: ["https://other.example/"],
    }),
    null,
  );
});

Deno.test("refuseCrossOrigin() refuses other hosts, ports, opaque origins and cross-site fetches with 403", async () => {
  for (
    const headers of <Record<string, string>[]> [
      { origin: "http://evil.example" },
      { origin: "http://dash.example:9000" },
      { origin: "null" },
      { origin: "null", "sec-fetch-site": "same-site" },
      { origin: "null", "sec-fetch-site": "cross-site" },
      { origin: "file://" },
      { "sec-fetch-site": "cross-site" },
    ]
  ) {
    const refused = refuseCrossOrigin(req(headers), policy);
    assert.equal(refused?.status, 403, JSON.stringify(headers));
    await refused?.body?.cancel();
  }
});

Deno.test("withSecurityHeaders() adds every header, and keeps a route's own", async () => {
  const wrapped = withSecurityHeaders((_req: Request, kind: string) => {
    if (kind === "own") {
      return new Response("x", {
        headers: { "referrer-policy": "no-referrer" },
      });
    }
    if (kind === "redirect") return Response.redirect("http://x/a", 303);
    return new Response("x");
  });
  const plain = await wrapped(new Request("http://x/"), "plain");
  for (const [name, value] of Object.entries(SECURITY_HEADERS)) {
    assert.equal(plain.headers.get(name), value, name);
  }
  const own = await wrapped(new Request("http://x/"), "own");
  assert.equal(own.headers.get("referrer-policy"), "no-referrer");
  assert.equal(own.headers.get("x-frame-options"), "DENY");
  // Response.redirect() has immutable headers: they are copied.
  const redirect = await wrapped(new Request("http://x/"), "redirect");
  assert.equal(redirect.status, 303);
  assert.equal(redirect.headers.get("location"), "http://x/a");
  assert.equal(redirect.headers.get("x-frame-options"), "DENY");
  await Promise.all([plain.body?.cancel(), own.body?.cancel()]);
});
