/**
 * Sign-ins against a real server: browser sessions, POST-only logout that
 * revokes and closes open sockets and SSE streams at once, renewal past the
 * short token lifetime, SSE POSTs checked against their own token, and
 * failed sign-ins throttled per address.
 */
import assert from "node:assert/strict";
import { envelope } from "../lib/protocol.ts";
import {
  DashboardClient,
  type SocketConstructor,
} from "../lib/client/socket.ts";
import {
  echoBarrier,
  loggedTestServer,
  RawAgent,
  startTestServer,
  TestClient,
  waitRaw,
} from "./helpers.ts";
import {
  agentsStatus,
  cookieOf,
  Events,
  postLogin,
  postLogout,
  signIn,
} from "./session_helpers.ts";

Deno.test("sessions: POST /logout revokes the session: its WebSocket and SSE close with 4401 / AUTH_FAILED at once, other sign-ins stay", async () => {
  await using server = await startTestServer();
  const operatorToken = await server.token("operator");
  const cookie = await signIn(server, operatorToken);
  const otherCookie = await signIn(server, operatorToken);

  const socket = new TestClient(`${server.wsUrl}/ws/dashboard`, { cookie });
  const other = new TestClient(`${server.wsUrl}/ws/dashboard`, {
    cookie: otherCookie,
  });
  const events = await Events.open(server, { cookie });
  try {
    await socket.waitFor((m) => m.type === "agent:list");
    await other.waitFor((m) => m.type === "agent:list");
    await events.until(
      () => events.messages.find((m) => m.type === "agent:list"),
      "SSE agent:list",
    );

    const logout = await postLogout(server, { cookie });
    assert.equal(logout.status, 303);
    assert.equal(logout.headers.get("location"), "/login");
    assert.match(logout.headers.get("set-cookie") ?? "", /Max-Age=0/);

    assert.deepEqual(await socket.waitClosed(), {
      code: 4401,
      reason: "Signed out",
    });
    const error = socket.of("error").at(-1);
    assert.deepEqual(error, {
      code: "AUTH_FAILED",
      message: "Signed out",
      recoverable: false,
    });
    await events.until(() => events.ended, "SSE stream end");
    assert.deepEqual(events.messages.at(-1), {
      ...events.messages.at(-1),
      type: "error",
      payload: {
        code: "AUTH_FAILED",
        message: "Signed out",
        recoverable: false,
      },
    });

    // Refused everywhere from now on: API, pages, sockets.
    assert.equal(await agentsStatus(server, cookie), 401);
    const page = await fetch(`${server.url}/`, {
      headers: { cookie },
      redirect: "manual",
    });
    assert.equal(page.status, 303);
    assert.match(page.headers.get("location") ?? "", /^\/login/);
    const again = new TestClient(`${server.wsUrl}/ws/dashboard`, { cookie });
    assert.equal((await again.waitClosed()).code, 4401);

    // The other sign-in of the same user is untouched.
    await echoBarrier(other);
    assert.equal(other.closed, null);
  } finally {
    events.close();
    await socket.close();
    await other.close();
  }
});

Deno.test("sessions: GET /logout is 405 (POST only) and signs nobody out", async () => {
  await using server = await startTestServer();
  const cookie = await signIn(server, await server.token("viewer"));
  const response = await fetch(`${server.url}/logout`, {
    headers: { cookie },
    redirect: "manual",
  });
  assert.equal(response.status, 405);
  assert.equal(response.headers.get("allow"), "POST");
  await response.body?.cancel();
  assert.equal(await agentsStatus(server, cookie), 200);
});

Deno.test("sessions: the page's Log out is a POST form", async () => {
  await using server = await startTestServer();
  const cookie = await signIn(server, await server.token("viewer"));
  const page = await (await fetch(`${server.url}/`, { headers: { cookie } }))
    .text();
  assert.match(page, /<form method="post" action="\/logout"/);
  assert.doesNotMatch(page, /href="\/logout"/);
});

Deno.test("sessions: a token revoked through POST /logout (Bearer) closes its open agent socket with 4401 and is refused on reconnect", async () => {
  await using server = await startTestServer();
  const token = await server.token("agent", "rev-1");
  const agent = await RawAgent.connect(server, "rev-1", { token });
  try {
    const logout = await postLogout(server, {
      authorization: `Bearer ${token}`,
    });
    assert.equal(logout.status, 303);
    await logout.body?.cancel();
    assert.deepEqual(await agent.client.waitClosed(), {
      code: 4401,
      reason: "Signed out",
    });
    const again = await RawAgent.open(server, "rev-1");
    again.hello(token);
    const error = await again.waitFor((m) => m.type === "error");
    assert.deepEqual(error.payload, {
      code: "AUTH_FAILED",
      message: "Token revoked",
      recoverable: false,
    });
    assert.equal((await again.client.waitClosed()).code, 4401);
  } finally {
    await agent.close();
  }
});

Deno.test("sessions: an open dashboard renews its session and stays connected past the token's short lifetime", async () => {
  await using server = await startTestServer({ accessTtlSeconds: 3 });
  let cookie = await signIn(server, await server.token("operator"));
  const firstCookie = cookie;
  // Deno's WebSocket takes headers: send the current cookie like a browser.
  const WebSocketWithHeaders = WebSocket as unknown as new (
    url: string,
    options: { headers: Record<string, string> },
  ) => WebSocket;
  class CookieSocket {
    constructor(url: string) {
      return new WebSocketWithHeaders(url, { headers: { cookie } });
    }
  }
  const renewals: number[] = [];
  const client = new DashboardClient({
    url: `${server.wsUrl}/ws/dashboard`,
    WebSocket: CookieSocket as unknown as SocketConstructor,
    EventSource: null,
    refreshSession: async () => {
      const response = await fetch(`${server.url}/api/session/refresh`, {
        method: "POST",
        headers: { cookie },
      });
      assert.equal(response.status, 200);
      renewals.push((await response.json()).expiresAt);
      cookie = cookieOf(response) ?? cookie;
    },
  });
  const acks: number[] = [];
  const refreshed: number[] = [];
  const changed = new Set<() => void>();
  const wake = () => changed.forEach((fn) => fn());
  client.on("connection:ack", (m) => {
    acks.push(m.payload.expiresAt!);
    wake();
  });
  client.on("auth:refreshed", (m) => {
    refreshed.push(m.payload.expiresAt);
    wake();
  });
  const until = (check: () => boolean, what: string) =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(what)), 15_000);
      const attempt = () => {
        if (!check()) return;
        clearTimeout(timer);
        changed.delete(attempt);
        resolve();
      };
      changed.add(attempt);
      attempt();
    });
  // A second socket of the first token that never renews: it marks the
  // original expiry by being closed then.
  const control = new TestClient(`${server.wsUrl}/ws/dashboard`, {
    cookie: firstCookie,
  });
  client.start();
  try {
    await until(() => acks.length === 1, "connection:ack");
    const original = acks[0];
    assert.equal(
      await control.waitFor((m) => m.type === "agent:list").then(() =>
        control.closed
      ),
      null,
    );
    assert.deepEqual(await control.waitClosed(15_000), {
      code: 4401,
      reason: "Token expired",
    });
    // Past the original expiry: renewed at least once, still connected.
    await until(() => refreshed.length >= 1, "auth:refreshed");
    assert.ok(refreshed[0] > original, `${refreshed[0]} > ${original}`);
    assert.equal(refreshed[0], renewals[0]);
    assert.equal(client.connection.value.state, "connected");
    assert.equal(acks.length, 1, "no reconnect happened");
    // And past the first renewal's expiry too.
    const second = new TestClient(`${server.wsUrl}/ws/dashboard`, { cookie });
    await second.waitFor((m) => m.type === "agent:list");
    const secondExpiry = second.of("connection:ack")[0].expiresAt!;
    assert.equal((await second.waitClosed(15_000)).code, 4401);
    assert.ok(Date.now() >= secondExpiry);
    await until(
      () => refreshed.some((at) => at > secondExpiry),
      "a later auth:refreshed",
    );
    assert.equal(client.connection.value.state, "connected");
    assert.equal(acks.length, 1, "no reconnect happened");
  } finally {
    client.stop();
    await control.close();
  }
});

Deno.test("sessions: auth:refresh on a revoked session closes with AUTH_FAILED and 4401", async () => {
  await using server = await startTestServer();
  const cookie = await signIn(server, await server.token("operator"));
  const socket = new TestClient(`${server.wsUrl}/ws/dashboard`, { cookie });
  try {
    await socket.waitFor((m) => m.type === "agent:list");
    const principal = await server.services.sessions.verify(
      decodeURIComponent(cookie.slice(cookie.indexOf("=") + 1)),
    );
    // Revoked without the tracked close (as another server process would).
    const key = ["auth", "revoked", principal.sessionId];
    await server.services.kv.set(key, { revokedAt: Date.now() });
    socket.send("auth:refresh", {});
    assert.deepEqual(await socket.waitClosed(), {
      code: 4401,
      reason: "Token revoked",
    });
    assert.equal(socket.of("error").at(-1)?.code, "AUTH_FAILED");
  } finally {
    await socket.close();
  }
});

Deno.test("sessions: auth:refresh with another user's token closes 4401", async () => {
  await using server = await startTestServer();
  const socket = await TestClient.dashboard(server, "viewer");
  try {
    socket.send("auth:refresh", { token: await server.token("admin") });
    assert.deepEqual(await socket.waitClosed(), {
      code: 4401,
      reason: 'Token is for "admin" (admin), not "viewer" (viewer)',
    });
  } finally {
    await socket.close();
  }
});

Deno.test("sessions: POST /api/messages is authorized with the POST's own token, not the SSE session's", async () => {
  await using server = await startTestServer();
  const auth = server.services.auth;
  const operator = await auth.sign({ role: "operator", subject: "alice" });
  const viewer = await auth.sign({ role: "viewer", subject: "alice" });
  const otherOperator = await auth.sign({ role: "operator", subject: "alice" });
  const agent = await RawAgent.connect(server, "a-1");
  const events = await Events.open(server, {
    authorization: `Bearer ${operator}`,
  });
  try {
    const ack = await events.until(
      () => events.messages.find((m) => m.type === "connection:ack"),
      "SSE connection:ack",
    );
    const connectionId = String(ack.payload.connectionId);
    const post = (token: string, id: string) =>
      fetch(`${server.url}/api/messages`, {
        method: "POST",
        headers: {
          authorization: `Bearer ${token}`,
          "content-type": "application/json",
          "x-flightdeck-connection": connectionId,
        },
        body: JSON.stringify(
          envelope("command:request", { agentId: "a-1", command: "ls" }, id),
        ),
      });
    for (
      const [token, label] of [[viewer, "viewer"], [
        otherOperator,
        "other sign-in",
      ]]
    ) {
      const refused = await post(token, `r-${label}`);
      assert.equal(refused.status, 403, label);
      assert.deepEqual((await refused.json()).error, {
        code: "FORBIDDEN",
        message:
          "This connection belongs to another sign-in; open /api/events with your own",
        recoverable: true,
      });
    }
    assert.equal(
      (await server.services.commands.listRecent({ limit: 10 })).length,
      0,
      "nothing was queued",
    );
    const accepted = await post(operator, "ok-1");
    assert.equal(accepted.status, 202);
    await accepted.body?.cancel();
    await events.until(
      () =>
        events.messages.find((m) =>
          m.type === "command:status" && m.payload.replyTo === "ok-1"
        ),
      "command:status for ok-1",
    );
  } finally {
    events.close();
    await agent.close();
  }
});

Deno.test("sessions: 10 failed sign-ins from an address are logged, then 429 with Retry-After even for a valid token", async () => {
  await using server = await loggedTestServer();
  const valid = await server.services.auth.sign({ role: "admin" });
  for (let i = 0; i < 10; i++) {
    const response = await postLogin(server, `wrong-${i}`);
    assert.equal(response.status, 401, `attempt ${i + 1}`);
    await response.body?.cancel();
  }
  const failures = server.lines.filter((l) => l.includes("Sign-in failed"));
  assert.equal(failures.length, 10);
  for (const line of failures) assert.match(line, /127\.0\.0\.1/);
  assert.ok(
    !failures.some((l) => l.includes("wrong-")),
    "the attempted token is not logged",
  );

  const throttled = await postLogin(server, valid);
  assert.equal(throttled.status, 429);
  const retryAfter = Number(throttled.headers.get("retry-after"));
  assert.ok(retryAfter > 0 && retryAfter <= 600, `Retry-After ${retryAfter}`);
  assert.equal(cookieOf(throttled), null);
  assert.match(await throttled.text(), /Too many failed sign-ins/);

  const code = server.services.loginCodes.create("admin");
  const byCode = await fetch(`${server.url}/login?code=${code}`, {
    redirect: "manual",
  });
  assert.equal(byCode.status, 429);
  await byCode.body?.cancel();
  // The code was not spent by the refused attempt.
  assert.equal(await server.services.loginCodes.redeem(code), "admin");
});

Deno.test("sessions: 100 failed sign-ins sent at once are checked at most 10 times; successful ones never count", async () => {
  await using server = await loggedTestServer();
  const valid = await server.services.auth.sign({ role: "admin" });
  // Successful sign-ins, even many, leave the address free.
  for (let i = 0; i < 12; i++) {
    const ok = await postLogin(server, valid);
    assert.equal(ok.status, 303, `sign-in ${i + 1}`);
    await ok.body?.cancel();
  }
  const responses = await Promise.all(
    Array.from({ length: 100 }, (_, i) => postLogin(server, `wrong-${i}`)),
  );
  const statuses = responses.map((r) => r.status);
  await Promise.all(responses.map((r) => r.body?.cancel()));
  assert.equal(statuses.filter((s) => s === 401).length, 10, `${statuses}`);
  assert.equal(statuses.filter((s) => s === 429).length, 90, `${statuses}`);
  assert.equal(
    server.lines.filter((l) => l.includes("Sign-in failed")).length,
    10,
  );
});

Deno.test("sessions: a sign-in link that fails counts as a failed sign-in", async () => {
  await using server = await loggedTestServer({ loginFailureLimit: 1 });
  const bad = await fetch(`${server.url}/login?code=nope`, {
    redirect: "manual",
  });
  assert.equal(bad.status, 401);
  await bad.body?.cancel();
  const next = await fetch(`${server.url}/login?code=nope`, {
    redirect: "manual",
  });
  assert.equal(next.status, 429);
  await next.body?.cancel();
  assert.equal(
    server.lines.filter((l) => l.includes("Sign-in failed")).length,
    1,
  );
});

Deno.test("sessions: the server refuses a token living longer than the maximum", async () => {
  await using server = await startTestServer({ maxTokenTtlSeconds: 3600 });
  const { Auth } = await import("../lib/server/auth.ts");
  const long = await new Auth(
    "test-secret-test-secret-test-secret-0123456789",
    { maxTtlSeconds: 7200 },
  ).sign({ role: "admin", ttlSeconds: 7200 });
  const socket = new TestClient(`${server.wsUrl}/ws/dashboard`, {
    authorization: `Bearer ${long}`,
  });
  const error = await waitRaw(socket, (m) => m.type === "error");
  assert.equal(
    error.payload.message,
    "Token lifetime is over the maximum of 1h",
  );
  assert.equal((await socket.waitClosed()).code, 4401);
});

Deno.test("sessions: a browser session and a revocation both survive a server restart (KV on disk)", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "flightdeck-sessions-" });
  try {
    let kept: string;
    let revoked: string;
    {
      await using server = await startTestServer({ dataDir });
      const token = await server.token("operator");
      kept = await signIn(server, token);
      revoked = await signIn(server, token);
      const logout = await postLogout(server, { cookie: revoked });
      assert.equal(logout.status, 303);
      await logout.body?.cancel();
    }
    await using server = await startTestServer({ dataDir });
    assert.equal(await agentsStatus(server, kept), 200);
    assert.equal(await agentsStatus(server, revoked), 401);
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});

/** The session records (`["auth", "session", id]`) in the server's KV. */
async function sessionRecords(server: { services: { kv: Deno.Kv } }) {
  const records = [];
  for await (
    const entry of server.services.kv.list({ prefix: ["auth", "session"] })
  ) records.push(entry);
  return records;
}

function bearerLogout(server: { url: string }, token: string) {
  return postLogout(server, { authorization: `Bearer ${token}` });
}

Deno.test("sessions: revoking a pasted token (Bearer POST /logout) ends the browser sessions started from it: socket and SSE close with 4401 / AUTH_FAILED at once, API and renewal refused; a session from another token stays", async () => {
  await using server = await startTestServer();
  const pasted = await server.token("operator");
  const otherToken = await server.token("operator");
  const cookie = await signIn(server, pasted);
  const otherCookie = await signIn(server, otherToken);

  const socket = new TestClient(`${server.wsUrl}/ws/dashboard`, { cookie });
  const other = new TestClient(`${server.wsUrl}/ws/dashboard`, {
    cookie: otherCookie,
  });
  const events = await Events.open(server, { cookie });
  try {
    await socket.waitFor((m) => m.type === "agent:list");
    await other.waitFor((m) => m.type === "agent:list");
    await events.until(
      () => events.messages.find((m) => m.type === "agent:list"),
      "SSE agent:list",
    );

    const logout = await bearerLogout(server, pasted);
    assert.equal(logout.status, 303);
    await logout.body?.cancel();

    assert.deepEqual(await socket.waitClosed(), {
      code: 4401,
      reason: "Signed out",
    });
    assert.deepEqual(socket.of("error").at(-1), {
      code: "AUTH_FAILED",
      message: "Signed out",
      recoverable: false,
    });
    await events.until(() => events.ended, "SSE stream end");
    assert.equal(events.messages.at(-1)?.type, "error");
    assert.equal(events.messages.at(-1)?.payload.code, "AUTH_FAILED");

    assert.equal(await agentsStatus(server, cookie), 401);
    const renew = await fetch(`${server.url}/api/session/refresh`, {
      method: "POST",
      headers: { cookie },
    });
    assert.equal(renew.status, 401);
    assert.equal(cookieOf(renew), null);
    await renew.body?.cancel();
    const again = new TestClient(`${server.wsUrl}/ws/dashboard`, { cookie });
    assert.equal((await again.waitClosed()).code, 4401);

    // The session started from another token is untouched.
    await echoBarrier(other);
    assert.equal(other.closed, null);
    assert.equal(await agentsStatus(server, otherCookie), 200);
  } finally {
    events.close();
    await socket.close();
    await other.close();
  }
});

Deno.test("sessions: a session token pasted at /login is refused (403) and starts no session", async () => {
  await using server = await startTestServer();
  const cookie = await signIn(server, await server.token("operator"));
  const sessionToken = cookie.slice(cookie.indexOf("=") + 1);
  const before = (await sessionRecords(server)).length;
  const response = await postLogin(server, sessionToken);
  assert.equal(response.status, 403);
  assert.equal(cookieOf(response), null);
  await response.body?.cancel();
  assert.equal((await sessionRecords(server)).length, before);
});

Deno.test("sessions: 25 sign-ins with one token keep its 20 newest sessions; the oldest cookie is refused and its socket closed (4401)", async () => {
  await using server = await startTestServer();
  const token = await server.token("viewer");
  const other = await signIn(server, await server.token("viewer"));
  const cookies = [await signIn(server, token)];
  const oldest = new TestClient(`${server.wsUrl}/ws/dashboard`, {
    cookie: cookies[0],
  });
  try {
    await oldest.waitFor((m) => m.type === "agent:list");
    for (let i = 1; i < 25; i++) cookies.push(await signIn(server, token));
    assert.deepEqual(await oldest.waitClosed(), {
      code: 4401,
      reason: "Session ended",
    });
    // 20 of this token plus the other token's one.
    assert.equal((await sessionRecords(server)).length, 21);
    for (const [i, cookie] of cookies.entries()) {
      assert.equal(
        await agentsStatus(server, cookie),
        i < 5 ? 401 : 200,
        `sign-in ${i}`,
      );
    }
    assert.equal(await agentsStatus(server, other), 200);
  } finally {
    await oldest.close();
  }
});

Deno.test("sessions: the cap of sign-ins per token is configurable (FLIGHTDECK_MAX_SESSIONS_PER_TOKEN)", async () => {
  await using server = await startTestServer({ maxSessionsPerToken: 2 });
  const token = await server.token("viewer");
  const cookies = [];
  for (let i = 0; i < 3; i++) cookies.push(await signIn(server, token));
  assert.equal((await sessionRecords(server)).length, 2);
  const statuses = [];
  for (const cookie of cookies) {
    statuses.push(await agentsStatus(server, cookie));
  }
  assert.deepEqual(statuses, [401, 200, 200]);
});

Deno.test("sessions: revoking a pasted token after a restart still closes the sessions started from it before the restart, and stays refused after another (KV on disk)", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "flightdeck-sessions-" });
  try {
    const secret = "test-secret-test-secret-test-secret-0123456789";
    let pasted: string;
    let cookie: string;
    let kept: string;
    {
      await using server = await startTestServer({ dataDir, secret });
      pasted = await server.token("operator");
      cookie = await signIn(server, pasted);
      kept = await signIn(server, await server.token("operator"));
    }
    {
      await using server = await startTestServer({ dataDir, secret });
      const socket = new TestClient(`${server.wsUrl}/ws/dashboard`, {
        cookie,
      });
      try {
        await socket.waitFor((m) => m.type === "agent:list");
        const logout = await bearerLogout(server, pasted);
        assert.equal(logout.status, 303);
        await logout.body?.cancel();
        assert.deepEqual(await socket.waitClosed(), {
          code: 4401,
          reason: "Signed out",
        });
      } finally {
        await socket.close();
      }
    }
    await using server = await startTestServer({ dataDir, secret });
    assert.equal(await agentsStatus(server, cookie), 401);
    assert.equal(await agentsStatus(server, kept), 200);
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});
