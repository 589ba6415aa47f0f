/**
 * Sign-ins against a real server process (`deno run -A main.ts`): logout
 * revokes at once (open WebSocket and SSE closed, those of the sessions
 * started from a revoked pasted token too) and the revocation survives a
 * restart; an SSE POST is authorized with its own token; failed sign-ins are
 * throttled per address.
 */
import assert from "node:assert/strict";
import { envelope } from "../../lib/protocol.ts";
import { Auth } from "../../lib/server/auth.ts";
import { TestClient } from "../helpers.ts";
import {
  agentsStatus,
  Events,
  postLogin,
  postLogout,
  signIn,
} from "../session_helpers.ts";
import { FAULT_SECRET, ServerProcess } from "./server_process.ts";

Deno.test("server process: logout closes the session's WebSocket (4401) and SSE at once; after a restart its cookie is still refused and another session still works", async () => {
  await using server = await ServerProcess.start();
  const token = await server.token("operator");
  const cookie = await signIn(server, token);
  const kept = await signIn(server, token);
  const socket = new TestClient(`${server.wsUrl}/ws/dashboard`, { cookie });
  const events = await Events.open(server, { cookie });
  try {
    await socket.waitFor((m) => m.type === "agent:list");
    await events.until(
      () => events.messages.find((m) => m.type === "agent:list"),
      "SSE agent:list",
    );
    const logout = await postLogout(server, { cookie });
    assert.equal(logout.status, 303);
    await logout.body?.cancel();
    assert.deepEqual(await socket.waitClosed(), {
      code: 4401,
      reason: "Signed out",
    });
    await events.until(() => events.ended, "SSE stream end");
    assert.equal(events.messages.at(-1)?.type, "error");
    assert.equal(events.messages.at(-1)?.payload.code, "AUTH_FAILED");

    // A graceful stop (SIGTERM flushes KV), then the same data folder.
    assert.equal((await server.kill("SIGTERM"))?.code, 0);
    await server.restart();
    assert.equal(await agentsStatus(server, cookie), 401);
    assert.equal(await agentsStatus(server, kept), 200);
    const get = await fetch(`${server.url}/logout`, {
      headers: { cookie: kept },
    });
    assert.equal(get.status, 405);
    await get.body?.cancel();
  } finally {
    events.close();
    await socket.close();
  }
});

Deno.test("server process: an SSE POST with a viewer token of the same subject cannot act through an operator's session (403)", async () => {
  await using server = await ServerProcess.start();
  const operator = await server.token("operator");
  // Same subject ("operator" is the default subject of its role): only
  // the role and the sign-in differ.
  const impostor = await new Auth(FAULT_SECRET).sign({
    role: "viewer",
    subject: "operator",
  });
  const events = await Events.open(server, {
    authorization: `Bearer ${operator}`,
  });
  try {
    const ack = await events.until(
      () => events.messages.find((m) => m.type === "connection:ack"),
      "connection:ack",
    );
    const response = await fetch(`${server.url}/api/messages`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${impostor}`,
        "content-type": "application/json",
        "x-flightdeck-connection": String(ack.payload.connectionId),
      },
      body: JSON.stringify(
        envelope("emergency:stop", { reason: "impostor" }, "x-1"),
      ),
    });
    assert.equal(response.status, 403);
    assert.equal((await response.json()).error.code, "FORBIDDEN");
    const own = await fetch(`${server.url}/api/messages`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${operator}`,
        "content-type": "application/json",
        "x-flightdeck-connection": String(ack.payload.connectionId),
      },
      body: JSON.stringify(envelope("heartbeat", { sequence: 5 })),
    });
    assert.equal(own.status, 202);
    await own.body?.cancel();
    await events.until(
      () =>
        events.messages.find((m) =>
          m.type === "heartbeat" && m.payload.sequence === 5
        ),
      "heartbeat echo",
    );
    assert.ok(!server.log.includes("Emergency stop"));
  } finally {
    events.close();
  }
});

Deno.test("server process: ten failed sign-ins from one address are logged, the eleventh gets 429 with Retry-After", async () => {
  await using server = await ServerProcess.start();
  for (let i = 0; i < 10; i++) {
    const response = await postLogin(server, "not-a-token");
    assert.equal(response.status, 401);
    await response.body?.cancel();
  }
  const throttled = await postLogin(server, await server.token("admin"));
  assert.equal(throttled.status, 429);
  assert.ok(Number(throttled.headers.get("retry-after")) > 0);
  await throttled.body?.cancel();
  assert.equal(server.log.split("Sign-in failed").length - 1, 10);
});

Deno.test("server process: revoking a pasted token (Bearer POST /logout) closes the WebSocket (4401) and SSE of the session started from it at once; after a restart its cookie is still refused and a session from another token still works", async () => {
  await using server = await ServerProcess.start();
  const pasted = await server.token("operator");
  const cookie = await signIn(server, pasted);
  const kept = await signIn(server, await server.token("operator"));
  const socket = new TestClient(`${server.wsUrl}/ws/dashboard`, { cookie });
  const events = await Events.open(server, { cookie });
  try {
    await socket.waitFor((m) => m.type === "agent:list");
    await events.until(
      () => events.messages.find((m) => m.type === "agent:list"),
      "SSE agent:list",
    );
    const logout = await postLogout(server, {
      authorization: `Bearer ${pasted}`,
    });
    assert.equal(logout.status, 303);
    await logout.body?.cancel();
    assert.deepEqual(await socket.waitClosed(), {
      code: 4401,
      reason: "Signed out",
    });
    await events.until(() => events.ended, "SSE stream end");
    assert.equal(events.messages.at(-1)?.type, "error");
    assert.equal(events.messages.at(-1)?.payload.code, "AUTH_FAILED");
    const renew = await fetch(`${server.url}/api/session/refresh`, {
      method: "POST",
      headers: { cookie },
    });
    assert.equal(renew.status, 401);
    await renew.body?.cancel();

    assert.equal((await server.kill("SIGTERM"))?.code, 0);
    await server.restart();
    assert.equal(await agentsStatus(server, cookie), 401);
    assert.equal(await agentsStatus(server, kept), 200);
  } finally {
    events.close();
    await socket.close();
  }
});
