import assert from "node:assert/strict";
import { ConnectionGuard, type ConnectionGuardOptions } from "./conn_guard.ts";

const enc = (s: string) => new TextEncoder().encode(s);

/** An upstream that answers with the client address the guard mapped. */
async function withGuard(
  options: Partial<ConnectionGuardOptions>,
  fn: (
    guard: ConnectionGuard,
    upstream: Deno.HttpServer<Deno.NetAddr>,
  ) => Promise<void>,
): Promise<void> {
  let guard: ConnectionGuard | null = null;
  const upstream = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    (req, info) => {
      if (new URL(req.url).pathname === "/ws") {
        const { socket, response } = Deno.upgradeWebSocket(req);
        socket.onmessage = (e) => socket.send(e.data);
        return response;
      }
      const client = guard?.clientOf(info.remoteAddr);
      return Response.json(client ?? null);
    },
  );
  guard = ConnectionGuard.listen({
    hostname: "127.0.0.1",
    port: 0,
    upstream: () => upstream.addr,
    headTimeoutMs: 10_000,
    maxHeadBytes: 1024,
    maxConnections: 100,
    maxConnectionsPerAddress: 100,
    ...options,
  });
  try {
    await fn(guard, upstream);
  } finally {
    await guard.close(0);
    await upstream.shutdown();
  }
}

function connect(guard: ConnectionGuard): Promise<Deno.TcpConn> {
  return Deno.connect({ hostname: "127.0.0.1", port: guard.addr.port });
}

async function readAll(conn: Deno.Conn): Promise<string> {
  const chunks: string[] = [];
  const buf = new Uint8Array(4096);
  const decoder = new TextDecoder();
  try {
    for (;;) {
      const n = await conn.read(buf);
      if (n === null) break;
      chunks.push(decoder.decode(buf.subarray(0, n), { stream: true }));
    }
  } catch {
    // Reset: what came so far.
  }
  return chunks.join("");
}

Deno.test("ConnectionGuard proxies a request and maps its internal connection to the real client", async () => {
  await withGuard({}, async (guard, upstream) => {
    const conn = await connect(guard);
    await conn.write(
      enc("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
    );
    const response = await readAll(conn);
    conn.close();
    assert.match(response, /^HTTP\/1\.1 200 /);
    const body = JSON.parse(response.slice(response.indexOf("\r\n\r\n") + 4));
    assert.deepEqual(body, {
      transport: "tcp",
      hostname: "127.0.0.1",
      port: conn.localAddr.port,
    });
    // A connection that bypasses the guard is not mapped.
    const direct = await fetch(`http://127.0.0.1:${upstream.addr.port}/`);
    assert.equal(await direct.json(), null);
  });
});

Deno.test("ConnectionGuard passes a client half-close on and still delivers the response", async () => {
  await withGuard({}, async (guard) => {
    const conn = await connect(guard);
    await conn.write(enc("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
    await conn.closeWrite();
    const response = await readAll(conn);
    conn.close();
    assert.match(response, /^HTTP\/1\.1 200 /);
  });
});

Deno.test("ConnectionGuard carries WebSockets, large frames included", async () => {
  await withGuard({}, async (guard) => {
    const ws = new WebSocket(`ws://127.0.0.1:${guard.addr.port}/ws`);
    const big = "x".repeat(4 * 1024 * 1024);
    const echoes: string[] = [];
    const { promise: done, resolve } = Promise.withResolvers<void>();
    ws.onmessage = (e) => {
      echoes.push(e.data);
      if (echoes.length === 2) resolve();
    };
    await new Promise((r) => ws.onopen = r);
    ws.send("hello");
    ws.send(big);
    await done;
    assert.equal(echoes[0], "hello");
    assert.equal(echoes[1].length, big.length);
    const closed = new Promise((r) => ws.onclose = r);
    ws.close();
    await closed;
  });
});

Deno.test("ConnectionGuard over the per-address cap closes the oldest connection still waiting for its head", async () => {
  await withGuard({ maxConnectionsPerAddress: 2 }, async (guard) => {
    const first = await connect(guard);
    const firstEnded = readAll(first);
    const second = await connect(guard);
    const third = await connect(guard);
    assert.equal(await firstEnded, "", "the oldest one was closed");
    assert.equal(guard.stats.refused, 1);
    // The newer ones still get served.
    for (const conn of [second, third]) {
      await conn.write(
        enc("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
      );
      assert.match(await readAll(conn), /^HTTP\/1\.1 200 /);
    }
    for (const conn of [first, second, third]) conn.close();
  });
});

Deno.test("ConnectionGuard over the cap with nothing waiting closes the new connection", async () => {
  await withGuard({ maxConnections: 1 }, async (guard) => {
    const ws = new WebSocket(`ws://127.0.0.1:${guard.addr.port}/ws`);
    await new Promise((r) => ws.onopen = r);
    const extra = await connect(guard);
    assert.equal(await readAll(extra), "");
    extra.close();
    assert.equal(guard.stats.refused, 1);
    assert.equal(guard.stats.open, 1);
    const echoed = new Promise((r) => ws.onmessage = (e) => r(e.data));
    ws.send("still here");
    assert.equal(await echoed, "still here");
    const closed = new Promise((r) => ws.onclose = r);
    ws.close();
    await closed;
  });
});

Deno.test("ConnectionGuard closes a connection whose head exceeds the cap", async () => {
  await withGuard({ maxHeadBytes: 1024 }, async (guard) => {
    const conn = await connect(guard);
    await conn.write(
      enc(`GET / HTTP/1.1\r\nHost: x\r\nX-Pad: ${"a".repeat(2000)}\r\n\r\n`),
    );
    assert.equal(await readAll(conn), "");
    conn.close();
    assert.equal(guard.stats.headTooLarge, 1);
    assert.equal(guard.stats.open, 0);
  });
});

Deno.test("ConnectionGuard closes a connection that sends no complete head in time", async () => {
  await withGuard({ headTimeoutMs: 100 }, async (guard) => {
    const conn = await connect(guard);
    await conn.write(enc("GET / HTTP/1.1\r\nHost: x\r\n"));
    assert.equal(await readAll(conn), "");
    conn.close();
    assert.equal(guard.stats.headTimeouts, 1);
    assert.equal(guard.stats.pending, 0);
  });
});

Deno.test("ConnectionGuard.listen() throws RangeError for a cap below 1", () => {
  assert.throws(
    () =>
      ConnectionGuard.listen({
        hostname: "127.0.0.1",
        port: 0,
        upstream: () => ({ transport: "tcp", hostname: "127.0.0.1", port: 1 }),
        headTimeoutMs: 1000,
        maxHeadBytes: 1024,
        maxConnections: 0,
        maxConnectionsPerAddress: 1,
      }),
    RangeError,
  );
});

Deno.test("ConnectionGuard counts a client that leaves mid-head as neither timed out nor too large", async () => {
  await withGuard({}, async (guard) => {
    const conn = await connect(guard);
    await conn.write(enc("GET / HTTP/1.1\r\n"));
    await conn.closeWrite();
    assert.equal(await readAll(conn), "");
    conn.close();
    assert.deepEqual(
      guard.stats,
      {
        open: 0,
        pending: 0,
        refused: 0,
        headTimeouts: 0,
        headTooLarge: 0,
        acceptErrors: 0,
        idleTimeouts: 0,
      },
    );
  });
});

Deno.test("ConnectionGuard closes a proxied connection idle for idleTimeoutMs", async () => {
  await withGuard({ idleTimeoutMs: 100 }, async (guard) => {
    const conn = await connect(guard);
    // Keep-alive: after the response nothing moves either way.
    await conn.write(enc("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
    const response = await readAll(conn);
    conn.close();
    assert.match(response, /^HTTP\/1\.1 200 /);
    assert.equal(guard.stats.idleTimeouts, 1);
    assert.equal(guard.stats.headTimeouts, 0);
    assert.equal(guard.stats.open, 0);
  });
});
