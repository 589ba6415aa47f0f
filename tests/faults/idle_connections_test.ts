/**
 * Idle-connection exhaustion against the real server process under
 * `ulimit -n 512` (soft and hard): 480 TCP connections that send nothing or
 * only part of a request head. Before the fix `Deno.serve`'s accept loop
 * died of "Too many open files" and the server stopped answering. Now the
 * per-address cap closes the extras at once (the oldest waiting ones make
 * room), the rest are closed after the head timeout, `/api/health` answers
 * throughout, an open dashboard socket keeps working, and the process
 * stays up.
 */
import assert from "node:assert/strict";
import { ServerProcess } from "./server_process.ts";
import { waitUntil } from "./fixtures.ts";
import { TestClient } from "../helpers.ts";

const FLOOD = 480;
const PARTIAL = 40;
const PER_ADDRESS = 100;
const HEAD_TIMEOUT_MS = 8000;

interface Idle {
  conn: Deno.TcpConn;
  closed: boolean;
}

function watch(conn: Deno.TcpConn): Idle {
  const idle: Idle = { conn, closed: false };
  const buf = new Uint8Array(1);
  (async () => {
    try {
      while (await conn.read(buf) !== null) {
        // The server answers nothing before a complete head.
      }
    } catch {
      // Reset counts as closed.
    }
    idle.closed = true;
  })();
  return idle;
}

async function metrics(server: ServerProcess, token: string) {
  const res = await fetch(`${server.url}/api/metrics`, {
    headers: { authorization: `Bearer ${token}` },
  });
  assert.equal(res.status, 200);
  const text = await res.text();
  const value = (name: string) => {
    const match = new RegExp(`^${name} (\\d+)$`, "m").exec(text);
    assert.ok(match, `${name} missing in:\n${text}`);
    return Number(match[1]);
  };
  return {
    refused: value("flightdeck_tcp_connections_refused_total"),
    headTimeouts: value("flightdeck_connection_head_timeouts_total"),
    pending: value("flightdeck_connections_pending"),
    requestTimeouts: value("flightdeck_connection_request_timeouts_total"),
  };
}

async function health(server: ServerProcess): Promise<number> {
  const res = await fetch(`${server.url}/api/health`);
  await res.body?.cancel();
  return res.status;
}

Deno.test({
  name:
    "faults: 480 idle connections under ulimit -n 512: extras closed early, the rest after the head timeout; health and an open dashboard keep working",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using server = await ServerProcess.start({
      fileLimit: 512,
      env: {
        FLIGHTDECK_HEAD_TIMEOUT_MS: String(HEAD_TIMEOUT_MS),
        FLIGHTDECK_MAX_TCP_PER_ADDRESS: String(PER_ADDRESS),
      },
    });
    const admin = await server.token("admin");
    const dashboard = new TestClient(`${server.wsUrl}/ws/dashboard`, {
      authorization: `Bearer ${await server.token("operator")}`,
    });
    const idle: Idle[] = [];
    try {
      await dashboard.opened();
      await dashboard.waitFor((m) => m.type === "agent:list");
      const partial = new TextEncoder().encode(
        `GET /api/health HTTP/1.1\r\nHost: 127.0.0.1:${server.port}\r\n`,
      );
      for (let i = 0; i < FLOOD; i++) {
        const conn = await Deno.connect({
          hostname: "127.0.0.1",
          port: server.port,
        });
        if (i < PARTIAL) await conn.write(partial);
        idle.push(watch(conn));
        if (i % 100 === 99) {
          assert.equal(await health(server), 200, `health after ${i + 1}`);
        }
      }
      // The cap keeps at most PER_ADDRESS connections of this address: the
      // others are closed at once, long before the head timeout.
      await waitUntil(
        () => idle.filter((c) => c.closed).length >= FLOOD - PER_ADDRESS,
        HEAD_TIMEOUT_MS / 2,
        "extras closed by the per-address cap",
        () => `${idle.filter((c) => c.closed).length} closed\n${server.log}`,
      );
      const early = await metrics(server, admin);
      assert.equal(early.headTimeouts, 0, "closed by the cap, not the timer");
      assert.ok(early.refused >= FLOOD - PER_ADDRESS, `${early.refused}`);
      const survivors = idle.filter((c) => !c.closed).length;
      assert.ok(survivors > 0 && survivors <= PER_ADDRESS, `${survivors}`);
      assert.equal(early.pending, survivors);

      assert.equal(await health(server), 200);
      dashboard.send("heartbeat", { sequence: 42 });
      await dashboard.waitFor((m) =>
        m.type === "heartbeat" && m.payload.sequence === 42
      );

      // The survivors, partial heads included, go at the head timeout.
      await waitUntil(
        () => idle.every((c) => c.closed),
        HEAD_TIMEOUT_MS * 4,
        "every idle connection closed",
        () => `${idle.filter((c) => !c.closed).length} open`,
      );
      const late = await metrics(server, admin);
      assert.ok(late.headTimeouts > 0, "some closed by the head timeout");
      assert.equal(
        late.headTimeouts + (late.refused - early.refused),
        survivors,
        "each survivor closed by the timeout (or evicted for a newer one)",
      );
      assert.equal(late.pending, 0);
      assert.equal(await health(server), 200);
      dashboard.send("heartbeat", { sequence: 43 });
      await dashboard.waitFor((m) =>
        m.type === "heartbeat" && m.payload.sequence === 43
      );
      assert.equal(dashboard.closed, null, "the dashboard socket stayed open");
      assert.equal(server.running, true, server.log);
    } finally {
      for (const c of idle) {
        try {
          c.conn.close();
        } catch {
          // Closed by the server.
        }
      }
      await dashboard.close();
    }
  },
});

Deno.test({
  name:
    "faults: serving directly (guard off), an accept loop killed by EMFILE is restarted in process",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using server = await ServerProcess.start({
      fileLimit: 512,
      env: { FLIGHTDECK_CONN_GUARD: "off" },
    });
    const conns: Deno.TcpConn[] = [];
    try {
      // Without the guard nothing stops these: the listener runs out of
      // descriptors and its accept loop dies. How many descriptors the
      // server already holds varies, so connect until it does (at most the
      // limit itself, which must exhaust it).
      const stopped = () => server.log.includes("HTTP server stopped");
      for (let i = 0; i < 512 && !stopped(); i++) {
        try {
          conns.push(
            await Deno.connect({ hostname: "127.0.0.1", port: server.port }),
          );
        } catch {
          break; // Refused: the listener is gone.
        }
        // Let the server accept what is pending before checking its log.
        if (i >= FLOOD && i % 8 === 0) {
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      }
      await waitUntil(
        () => server.log.includes("HTTP server stopped; restarting it"),
        10_000,
        "the accept loop to die",
        () => server.log,
      );
    } finally {
      for (const conn of conns) conn.close();
    }
    await waitUntil(
      () => server.log.includes("HTTP server serving again"),
      10_000,
      "the restart",
      () => server.log,
    );
    assert.equal(await health(server), 200);
    assert.equal(server.running, true);
  },
});

Deno.test({
  name:
    "faults: a keep-alive connection that drips its second request head one line at a time is closed after the request timeout",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const REQUEST_TIMEOUT_MS = 1000;
    await using server = await ServerProcess.start({
      env: {
        FLIGHTDECK_REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS),
        FLIGHTDECK_KEEP_ALIVE_TIMEOUT_MS: "5000",
      },
    });
    const admin = await server.token("admin");
    const conn = await Deno.connect({
      hostname: "127.0.0.1",
      port: server.port,
    });
    const enc = new TextEncoder();
    const host = `Host: 127.0.0.1:${server.port}\r\n`;
    try {
      await conn.write(enc.encode(`GET /api/health HTTP/1.1\r\n${host}\r\n`));
      const buf = new Uint8Array(4096);
      let first = "";
      while (!/\r\n\r\n[^]*\}/.test(first)) {
        const n = await conn.read(buf);
        assert.notEqual(n, null, `closed after ${first}`);
        first += new TextDecoder().decode(buf.subarray(0, n!));
      }
      assert.match(first, /^HTTP\/1\.1 200 /);
      // Then one header line every 200 ms, well within the keep-alive time,
      // for up to ten times the request time; the head never completes.
      const idle = watch(conn);
      await conn.write(enc.encode(`GET /api/health HTTP/1.1\r\n${host}`));
      for (let i = 0; i < 50 && !idle.closed; i++) {
        try {
          await conn.write(enc.encode(`X-Drip-${i}: a\r\n`));
        } catch {
          break; // Closed by the server.
        }
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      await waitUntil(
        () => idle.closed,
        5000,
        "the dripping connection closed",
        () => server.log,
      );
      const after = await metrics(server, admin);
      assert.equal(after.requestTimeouts, 1);
      assert.equal(after.headTimeouts, 0);
      assert.equal(await health(server), 200);
      assert.equal(server.running, true, server.log);
    } finally {
      try {
        conn.close();
      } catch {
        // Closed by the server.
      }
    }
  },
});
