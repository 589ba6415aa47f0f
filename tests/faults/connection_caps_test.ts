/**
 * Connection caps against a real server process: dashboard sockets and SSE
 * sessions count together per user (FLIGHTDECK_MAX_CONNECTIONS_PER_USER)
 * and per client address (FLIGHTDECK_MAX_CONNECTIONS_PER_ADDRESS); one over
 * a cap gets HTTP 429 with a RATE_LIMIT error naming it, before any socket
 * exists. A socket that authenticates in-band over its user's cap gets
 * RATE_LIMIT and 4429. Agents count per agent, not per address.
 */
import assert from "node:assert/strict";
import { Auth } from "../../lib/server/auth.ts";
import { envelope, type Role } from "../../lib/protocol.ts";
import { FAULT_SECRET, ServerProcess } from "./server_process.ts";
import { RawSocket } from "./raw_socket.ts";
import { waitUntil } from "./fixtures.ts";

const auth = new Auth(FAULT_SECRET);
const tokenOf = (subject: string, role: Role = "viewer") =>
  auth.sign({ role, subject });

/** A raw dashboard socket for `subject`, after its `connection:ack`. */
async function dashboard(
  server: ServerProcess,
  subject: string,
): Promise<RawSocket> {
  const result = await RawSocket.open(server.port, "/ws/dashboard", {
    authorization: `Bearer ${await tokenOf(subject)}`,
  });
  assert.equal(result.status, 101, result.body);
  const socket = result.socket!;
  await socket.until(() =>
    socket.messages().some((m) => m.type === "connection:ack")
  );
  return socket;
}

/** The refusal of a socket upgrade for `subject` (status and error). */
async function refusedSocket(server: ServerProcess, subject: string) {
  const result = await RawSocket.open(server.port, "/ws/dashboard", {
    authorization: `Bearer ${await tokenOf(subject)}`,
  });
  await result.socket?.dispose();
  return { status: result.status, body: JSON.parse(result.body || "null") };
}

/** `GET /api/events` for `subject`: its status, and the stream if opened. */
async function events(server: ServerProcess, subject: string) {
  const controller = new AbortController();
  const response = await fetch(`${server.url}/api/events`, {
    headers: { authorization: `Bearer ${await tokenOf(subject)}` },
    signal: controller.signal,
  });
  if (response.status !== 200) {
    return { status: response.status, body: await response.json(), close() {} };
  }
  const reader = response.body!.getReader();
  await reader.read(); // "retry: 1000": the session exists.
  return {
    status: 200,
    body: null,
    close: () => {
      controller.abort();
      reader.cancel().catch(() => {});
    },
  };
}

function refusal(message: string) {
  return {
    status: 429,
    body: { error: { code: "RATE_LIMIT", message, recoverable: true } },
  };
}

async function metric(server: ServerProcess, name: string): Promise<number> {
  const response = await fetch(`${server.url}/api/metrics`, {
    headers: { authorization: `Bearer ${await tokenOf("metrics-reader")}` },
  });
  const match = new RegExp(`^${name} (\\d+)$`, "m").exec(
    await response.text(),
  );
  return match ? Number(match[1]) : -1;
}

Deno.test({
  name:
    "faults: sockets and SSE sessions share the per-user and per-address caps; over them, 429 (or 4429 in-band)",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using server = await ServerProcess.start({
      env: {
        FLIGHTDECK_MAX_CONNECTIONS_PER_USER: "3",
        // The metrics reader's requests hold no connection.
        FLIGHTDECK_MAX_CONNECTIONS_PER_ADDRESS: "5",
      },
    });
    const open: RawSocket[] = [];
    const streams: { close(): void }[] = [];
    try {
      // Per user: three of alice's sockets, then 429 for a socket or SSE.
      for (let i = 0; i < 3; i++) open.push(await dashboard(server, "alice"));
      const aliceFull = 'Too many connections for user "alice" (limit 3)';
      assert.deepEqual(
        await refusedSocket(server, "alice"),
        refusal(aliceFull),
      );
      const sse = await events(server, "alice");
      assert.deepEqual(
        { status: sse.status, body: sse.body },
        refusal(aliceFull),
      );

      // In-band: an unauthenticated socket that signs in as alice.
      const inBand = (await RawSocket.open(server.port, "/ws/dashboard"))
        .socket!;
      open.push(inBand);
      await inBand.sendText(JSON.stringify(
        envelope("dashboard:connect", { token: await tokenOf("alice") }),
      ));
      await inBand.until(() => inBand.closeCode !== null);
      assert.equal(inBand.closeCode, 4429);
      assert.deepEqual(
        inBand.messages().map((m) => [m.type, m.payload.code]),
        [["error", "RATE_LIMIT"]],
      );
      assert.equal(inBand.messages()[0].payload.message, aliceFull);
      await inBand.dispose();

      // A closed socket frees a place; an SSE session takes it.
      await open.shift()!.dispose();
      await waitUntil(
        async () =>
          await metric(
            server,
            'flightdeck_connections{authenticated="true"}',
          ) === 2,
        10_000,
        "alice's socket released",
      );
      const aliceSse = await events(server, "alice");
      streams.push(aliceSse);
      assert.equal(aliceSse.status, 200);
      assert.deepEqual(
        await refusedSocket(server, "alice"),
        refusal(aliceFull),
      );

      // Per address: alice's 3 plus bob and carol make 5 from 127.0.0.1.
      open.push(await dashboard(server, "bob"));
      const carol = await events(server, "carol");
      streams.push(carol);
      assert.equal(carol.status, 200);
      const addressFull = 'Too many connections from "127.0.0.1" (limit 5)';
      assert.deepEqual(
        await refusedSocket(server, "dave"),
        refusal(addressFull),
      );
      const daveSse = await events(server, "dave");
      assert.deepEqual(
        { status: daveSse.status, body: daveSse.body },
        refusal(addressFull),
      );
      // Unauthenticated sockets count at the address too.
      const anonymous = await RawSocket.open(server.port, "/ws/dashboard");
      await anonymous.socket?.dispose();
      assert.deepEqual(
        { status: anonymous.status, body: JSON.parse(anonymous.body) },
        refusal(addressFull),
      );

      // Agents count per agent, not per address.
      const agentToken = await auth.sign({ role: "agent", agentId: "a-1" });
      const agent = await RawSocket.open(server.port, "/ws/agent", {
        authorization: `Bearer ${agentToken}`,
      });
      assert.equal(agent.status, 101);
      open.push(agent.socket!);
      // alice ×3 (socket, SSE, socket), in-band alice, dave ×2, anonymous.
      assert.equal(
        await metric(server, "flightdeck_connections_refused_total"),
        7,
      );
    } finally {
      for (const stream of streams) stream.close();
      await Promise.all(open.map((s) => s.dispose()));
    }
  },
});
