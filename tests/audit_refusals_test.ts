/**
 * Refusals the audit trail records through a real server: frames refused for
 * the message rate (dashboard socket, SSE POSTs; agent sockets are
 * flow-controlled by the output window instead) and POSTs into
 * an SSE session opened by another sign-in, each bounded per source.
 */
import assert from "node:assert/strict";
import { envelope } from "../lib/protocol.ts";
import type { AuditEntry } from "../lib/server/audit.ts";
import {
  rawOf,
  startTestServer,
  TestClient,
  type TestServer,
} from "./helpers.ts";

async function refusedEntries(server: TestServer): Promise<AuditEntry[]> {
  await server.services.audit.flush();
  const admin = await server.services.auth.sign({
    role: "admin",
    subject: "root",
  });
  const response = await fetch(
    `${server.url}/api/audit?action=access.refused&limit=1000`,
    { headers: { authorization: `Bearer ${admin}` } },
  );
  assert.equal(response.status, 200, await response.clone().text());
  const { entries } = await response.json() as { entries: AuditEntry[] };
  return entries.reverse(); // Oldest first.
}

async function dashboardAs(server: TestServer, user: string) {
  const token = await server.services.auth.sign({
    role: "operator",
    subject: user,
  });
  const client = new TestClient(`${server.wsUrl}/ws/dashboard`, {
    authorization: `Bearer ${token}`,
  });
  await client.opened();
  await client.waitFor((m) => m.type === "agent:list");
  const connectionId = rawOf(client, "connection:ack")[0].payload
    .connectionId as string;
  return { client, connectionId };
}

/** Errors received by `client` from index `from` on, by code. */
function errorCodes(client: TestClient, from: number): string[] {
  return (client.raw.slice(from) as {
    type: string;
    payload: { code?: string };
  }[]).filter((m) => m.type === "error").map((m) => String(m.payload.code));
}

const RATE = { reason: "rate", message: "Over 1 messages per second" };

Deno.test("Frames a dashboard socket sends over the message rate are audited as refused, per user", async () => {
  await using server = await startTestServer({ messageRatePerSecond: 1 });
  const { client, connectionId } = await dashboardAs(server, "alice");
  try {
    const from = client.raw.length;
    // Every frame gets one error: INVALID_MESSAGE when let through,
    // RATE_LIMIT when refused for the rate.
    for (let i = 0; i < 20; i++) client.sendRaw("x");
    await client.until(() => errorCodes(client, from).length === 20);
    const refused = errorCodes(client, from).filter((c) => c === "RATE_LIMIT");
    assert.ok(refused.length > 0, "some frames were over the rate");
    const entries = await refusedEntries(server);
    assert.deepEqual(
      entries.map((e) => ({ ...e, id: undefined, time: undefined })),
      refused.map(() => ({
        id: undefined,
        time: undefined,
        actor: "alice",
        role: "operator",
        address: "127.0.0.1",
        connectionId,
        action: "access.refused",
        target: {},
        outcome: "refused",
        detail: RATE,
      })),
    );
  } finally {
    await client.close();
  }
});

Deno.test("Message-rate refusals are written at most auditRefusalsPerMinute per source; the rest are counted", async () => {
  await using server = await startTestServer({
    messageRatePerSecond: 1,
    auditRefusalsPerMinute: 3,
  });
  const { client } = await dashboardAs(server, "alice");
  try {
    const from = client.raw.length;
    for (let i = 0; i < 20; i++) client.sendRaw("x");
    await client.until(() => errorCodes(client, from).length === 20);
    const refused = errorCodes(client, from).filter((c) => c === "RATE_LIMIT");
    assert.ok(refused.length > 3, "more refusals than the cap");
    const entries = await refusedEntries(server);
    assert.deepEqual(
      entries.map((e) => [e.actor, e.detail?.reason]),
      [["alice", "rate"], ["alice", "rate"], ["alice", "rate"]],
    );
    assert.equal(server.services.audit.suppressed, refused.length - 3);
  } finally {
    await client.close();
  }
});

/** Open `/api/events` as `token`; returns its connection id and a closer. */
async function openEvents(server: TestServer, token: string) {
  const controller = new AbortController();
  const response = await fetch(`${server.url}/api/events`, {
    headers: { authorization: `Bearer ${token}`, accept: "text/event-stream" },
    signal: controller.signal,
  });
  assert.equal(response.status, 200);
  const reader = response.body!.pipeThrough(new TextDecoderStream())
    .getReader();
  let text = "";
  let match: RegExpExecArray | null = null;
  while (!(match = /"connectionId":"([^"]+)"/.exec(text))) {
    const { value, done } = await reader.read();
    if (done) throw new Error("The event stream ended before its ack");
    text += value;
  }
  return {
    connectionId: match[1],
    async close() {
      controller.abort();
      await reader.cancel().catch(() => {});
    },
  };
}

function post(
  server: TestServer,
  token: string,
  connectionId: string,
  body: string,
): Promise<Response> {
  return fetch(`${server.url}/api/messages`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${token}`,
      "content-type": "application/json",
      "x-flightdeck-connection": connectionId,
    },
    body,
  });
}

Deno.test("POST /api/messages into another sign-in's SSE session is refused 403 and audited; over the rate too", async () => {
  await using server = await startTestServer({ messageRatePerSecond: 1 });
  const alice = await server.services.auth.sign({
    role: "operator",
    subject: "alice",
  });
  const bob = await server.services.auth.sign({
    role: "admin",
    subject: "bob",
  });
  const events = await openEvents(server, alice);
  try {
    const heartbeat = JSON.stringify(envelope("heartbeat", { sequence: 1 }));
    const foreign = await post(server, bob, events.connectionId, heartbeat);
    assert.equal(foreign.status, 403);
    assert.equal((await foreign.json()).error.code, "FORBIDDEN");
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) {
      const response = await post(server, alice, events.connectionId, "x");
      statuses.push(response.status);
      await response.body?.cancel();
    }
    const overRate = statuses.filter((s) => s === 429).length;
    assert.ok(overRate > 0, `some POSTs were over the rate: ${statuses}`);
    const entries = await refusedEntries(server);
    assert.deepEqual(
      entries.map((e) => ({ ...e, id: undefined, time: undefined })),
      [
        {
          id: undefined,
          time: undefined,
          actor: "bob",
          role: "admin",
          address: "127.0.0.1",
          connectionId: null,
          action: "access.refused",
          target: { path: "/api/messages" },
          outcome: "refused",
          detail: {
            reason: "sign-in",
            message:
              "This connection belongs to another sign-in; open /api/events with your own",
            connection: events.connectionId,
          },
        },
        ...statuses.filter((s) => s === 429).map(() => ({
          id: undefined,
          time: undefined,
          actor: "alice",
          role: "operator",
          address: "127.0.0.1",
          connectionId: events.connectionId,
          action: "access.refused",
          target: {},
          outcome: "refused",
          detail: RATE,
        })),
      ],
    );
  } finally {
    await events.close();
  }
});
