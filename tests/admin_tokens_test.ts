/**
 * `/admin/tokens` through a real server: minting sign-ins for people (a
 * one-time link whose session belongs to the token), revocation that
 * closes what the token opened, bad input, and refusals, all audited.
 */
import assert from "node:assert/strict";
import { startTestServer, TestClient, type TestServer } from "./helpers.ts";

function post(
  server: TestServer,
  token: string,
  form: Record<string, string>,
  headers: Record<string, string> = {},
) {
  return fetch(`${server.url}/admin/tokens`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${token}`,
      "content-type": "application/x-www-form-urlencoded",
      ...headers,
    },
    body: new URLSearchParams(form).toString(),
  });
}

Deno.test("/admin/tokens mints a named sign-in whose link and sessions end when it is revoked", async () => {
  await using server = await startTestServer();
  const admin = await server.services.auth.sign({
    role: "admin",
    subject: "carol",
  });
  const created = await post(server, admin, {
    action: "create-user",
    user: "dave",
    role: "operator",
    ttl: "2h",
  });
  assert.equal(created.status, 201);
  const html = await created.text();
  const link = /data-testid="user-link">([^<]+)</.exec(html)?.[1];
  assert.ok(link?.startsWith(`${server.url}/login?code=`), html);
  const [record] = await server.services.tokens.list();
  assert.deepEqual(
    [record.subject, record.role, record.mintedBy],
    ["dave", "operator", "carol"],
  );
  assert.ok(Math.abs(record.expiresAt - Date.now() - 2 * 3600_000) < 60_000);

  const signIn = await fetch(link!, { redirect: "manual" });
  await signIn.body?.cancel();
  assert.equal(signIn.status, 303);
  const cookie = signIn.headers.get("set-cookie")!.split(";")[0];
  const dashboard = new TestClient(`${server.wsUrl}/ws/dashboard`, {
    cookie,
  });
  await dashboard.waitFor((m) => m.type === "connection:ack");
  const ack = dashboard.of("connection:ack")[0];
  assert.deepEqual(ack.user, { id: "dave", role: "operator" });

  const revoked = await post(server, admin, {
    action: "revoke",
    id: record.id,
  });
  assert.equal(revoked.status, 200);
  await revoked.body?.cancel();
  assert.equal((await dashboard.waitClosed()).code, 4401);
  const after = await fetch(`${server.url}/api/agents`, {
    headers: { cookie },
  });
  await after.body?.cancel();
  assert.equal(after.status, 401);
  const listed = await server.services.tokens.list();
  assert.equal(listed[0].revokedBy, "carol");

  await server.services.audit.flush();
  const { entries } = await server.services.audit.store.list({ limit: 100 });
  assert.deepEqual(
    entries.map((e) => [e.action, e.actor, e.outcome, e.target.tokenId]),
    [
      ["token.revoke", "carol", "ok", record.id],
      ["auth.sign-in", "dave", "ok", undefined],
      ["token.mint", "carol", "ok", record.id],
    ],
  );
});

Deno.test("/admin/tokens refuses bad input with 400/404 and mints nothing; other roles and foreign origins get 403, audited", async () => {
  await using server = await startTestServer();
  const admin = await server.services.auth.sign({
    role: "admin",
    subject: "carol",
  });
  const operator = await server.services.auth.sign({
    role: "operator",
    subject: "olga",
  });
  for (
    const [form, status, message] of [
      [{ action: "explode" }, 400, 'Unknown action "explode"'],
      [
        { action: "create-agent", name: "bad name!" },
        400,
        "agentId: agent name",
      ],
      [{ action: "create-agent", name: "" }, 400, "agentId: agent name"],
      [
        { action: "create-agent", name: "ok-1", ttl: "forever" },
        400,
        'Invalid duration "forever"',
      ],
      [
        { action: "create-agent", name: "ok-1", ttl: "1000d" },
        400,
        "Token lifetime",
      ],
      [
        { action: "create-user", user: "x", role: "root" },
        400,
        "role:",
      ],
      [{ action: "create-user", user: "", role: "viewer" }, 400, "user:"],
      [{ action: "revoke", id: "nope" }, 404, 'Unknown token "nope"'],
    ] as const
  ) {
    const response = await post(server, admin, form);
    assert.equal(response.status, status, JSON.stringify(form));
    const html = await response.text();
    const alert = /role="alert">([^<]*)</.exec(html)?.[1] ?? "";
    assert.ok(
      alert.replaceAll("&quot;", '"').startsWith(message),
      `${JSON.stringify(form)}: ${alert}`,
    );
  }
  assert.deepEqual(await server.services.tokens.list(), []);

  const forbidden = await post(server, operator, {
    action: "create-user",
    user: "eve",
    role: "admin",
  });
  await forbidden.body?.cancel();
  assert.equal(forbidden.status, 403);
  const page = await fetch(`${server.url}/admin/tokens`, {
    headers: { authorization: `Bearer ${operator}` },
  });
  await page.body?.cancel();
  assert.equal(page.status, 403);
  const foreign = await post(server, admin, {
    action: "create-user",
    user: "eve",
    role: "admin",
  }, { origin: "https://evil.example" });
  await foreign.body?.cancel();
  assert.equal(foreign.status, 403);
  assert.deepEqual(await server.services.tokens.list(), []);

  await server.services.audit.flush();
  const { entries } = await server.services.audit.store.list({ limit: 100 });
  assert.deepEqual(
    entries.map((e) => [e.action, e.actor, e.outcome, e.detail?.reason]),
    [
      ["access.refused", "carol", "refused", "origin"],
      ["access.refused", "olga", "refused", "role"],
      ["access.refused", "olga", "refused", "role"],
    ],
  );
});
