import assert from "node:assert/strict";
import { envelope } from "../lib/protocol.ts";
import { startTestServer, type TestServer } from "./helpers.ts";
import { waitUntil } from "./faults/dashboard.ts";
import { UPGRADE_OPEN_TIMEOUT_MS } from "../lib/server/services.ts";
import { RawSocket } from "./faults/raw_socket.ts";

const portOf = (server: TestServer) => Number(new URL(server.url).port);

async function upgrade(
  server: TestServer,
  path: string,
  headers: Record<string, string> = {},
) {
  return await RawSocket.open(portOf(server), path, headers);
}

function frame(type: string, payload: unknown): string {
  return JSON.stringify(envelope(type, payload));
}

Deno.test("/ws/agent: a cross-site Origin is refused with 403 before the upgrade; none, or the own origin, is upgraded", async () => {
  await using server = await startTestServer();
  const authorization = `Bearer ${await server.token("agent", "a-1")}`;
  const evil = await upgrade(server, "/ws/agent", {
    authorization,
    origin: "http://evil.example",
  });
  assert.equal(evil.status, 403);
  assert.equal(evil.body, 'Origin "http://evil.example" is not allowed\n');
  assert.equal(evil.socket, null);
  for (
    const headers of [{}, { origin: server.url }] as Record<string, string>[]
  ) {
    const ok = await upgrade(server, "/ws/agent", {
      authorization,
      ...headers,
    });
    assert.equal(ok.status, 101);
    await ok.socket!.dispose();
  }
});

Deno.test("sockets: before authentication a frame over maxUnauthenticatedFrameBytes closes 1009", async () => {
  await using server = await startTestServer({
    maxUnauthenticatedFrameBytes: 1024,
  });
  for (const path of ["/ws/dashboard", "/ws/agent"]) {
    const socket = (await upgrade(server, path)).socket!;
    try {
      await socket.sendText(frame("heartbeat", { pad: "x".repeat(1024) }));
      await socket.until(() => socket.closeCode !== null);
      assert.equal(socket.closeCode, 1009);
      assert.deepEqual(socket.texts, []);
    } finally {
      await socket.dispose();
    }
  }
});

Deno.test("sockets: authenticated at the upgrade or by message, frames over maxUnauthenticatedFrameBytes are fine", async () => {
  await using server = await startTestServer({
    maxUnauthenticatedFrameBytes: 1024,
  });
  const big = "y".repeat(2000);
  // A Bearer dashboard, at once: before its connection:ack.
  const bearer = (await upgrade(server, "/ws/dashboard", {
    authorization: `Bearer ${await server.token("viewer")}`,
  })).socket!;
  // Signed in by dashboard:connect (small), then a large frame.
  const inBand = (await upgrade(server, "/ws/dashboard")).socket!;
  // An agent with its token in the header: a large agent:connect.
  const agent = (await upgrade(server, "/ws/agent", {
    authorization: `Bearer ${await server.token("agent", "big-1")}`,
  })).socket!;
  try {
    await bearer.sendText(
      frame("log:forward", { level: "info", message: big }),
    );
    await bearer.sendText(frame("heartbeat", { sequence: 7 }));
    await inBand.sendText(frame("dashboard:connect", {
      token: await server.token("viewer"),
    }));
    await inBand.until(() =>
      inBand.messages().some((m) => m.type === "connection:ack")
    );
    await inBand.sendText(
      frame("log:forward", { level: "info", message: big }),
    );
    await inBand.sendText(frame("heartbeat", { sequence: 8 }));
    await agent.sendText(frame("agent:connect", {
      agentId: "big-1",
      name: "big-1",
      type: "shell",
      capabilities: ["shell"],
      hostname: "h",
      version: "1",
      running: Array.from({ length: 20 }, (_, i) => ({
        commandId: `${"c".repeat(60)}-${i}`,
        lastSeq: 0,
      })),
    }));
    for (const [socket, sequence] of [[bearer, 7], [inBand, 8]] as const) {
      await socket.until(() =>
        socket.messages().some((m) =>
          m.type === "heartbeat" && m.payload.sequence === sequence
        )
      );
      assert.equal(socket.closeCode, null);
      assert.deepEqual(
        socket.messages().filter((m) => m.type === "error"),
        [],
      );
    }
    await agent.until(() =>
      agent.messages().some((m) => m.type === "connection:ack")
    );
    assert.equal(agent.closeCode, null);
  } finally {
    await Promise.all([bearer, inBand, agent].map((s) => s.dispose()));
  }
});

Deno.test({
  name:
    "sockets: upgrades whose client left before the 101 give their places back (the user's count too) once they cannot open any more",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using server = await startTestServer();
    const token = await server.token("viewer");
    const port = Number(new URL(server.url).port);
    const { connections, config } = server.services;
    // More than the user's cap: the leaked places would refuse the rest.
    const attempts = config.maxConnectionsPerUser + 8;
    const refusedBefore = connections.counts.refused;
    for (let i = 0; i < attempts; i++) {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      await conn.write(new TextEncoder().encode(
        `GET /ws/dashboard HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n` +
          "Upgrade: websocket\r\nConnection: Upgrade\r\n" +
          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
          "Sec-WebSocket-Version: 13\r\n" +
          `Authorization: Bearer ${token}\r\n\r\n`,
      ));
      conn.close();
    }
    // Once the server took up the attempts (a place, or a refusal over the
    // cap; or, should every one have opened and closed at once, after 5 s),
    // the places come back: before the fix 32 stayed taken (the user's
    // whole cap, so every later dashboard got 429) until restart.
    const sent = performance.now();
    await waitUntil(
      () =>
        connections.counts.total > 0 ||
        connections.counts.refused > refusedBefore ||
        performance.now() - sent > 5_000,
      30_000,
      "the abandoned upgrades handled",
    );
    await waitUntil(
      () => connections.counts.total === 0,
      UPGRADE_OPEN_TIMEOUT_MS + 20_000,
      "every abandoned upgrade released",
      () => JSON.stringify(connections.counts),
    );
  },
});
