import assert from "node:assert/strict";
import {
  handoffAvailable,
  HandoffFront,
  type HandoffOptions,
} from "./conn_handoff.ts";
import { loadConfig } from "./config.ts";
import { listen } from "./listen.ts";
import { createLogger } from "./logger.ts";

const enc = (s: string) => new TextEncoder().encode(s);

/** Answers like the guard's test upstream: the client address, a socket… */
function handler(
  req: Request,
  info: Deno.ServeHandlerInfo<Deno.NetAddr>,
): Response | Promise<Response> {
  const path = new URL(req.url).pathname;
  if (path === "/ws") {
    const { socket, response } = Deno.upgradeWebSocket(req);
    socket.onmessage = (e) => socket.send(e.data);
    return response;
  }
  if (path === "/big") {
    // 256 MiB, made as the reader pulls: more than the socket buffers.
    let left = 4096;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (left-- === 0) controller.close();
        else controller.enqueue(new Uint8Array(64 * 1024));
      },
    });
    return new Response(body);
  }
  if (path === "/bytes") return new Response(new Uint8Array(100_000));
  if (path === "/stream") {
    // A chunk now, the end later: not a body in memory.
    return new Response(
      new ReadableStream({
        start(controller) {
          controller.enqueue(enc("streamed"));
          setTimeout(() => controller.close(), 10);
        },
      }),
    );
  }
  if (path === "/events") {
    // One event, then quiet: a stream that must not time out.
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(enc("data: hello\n\n"));
      },
    });
    return new Response(body, {
      headers: { "content-type": "text/event-stream" },
    });
  }
  if (path === "/never") return new Promise<Response>(() => {});
  if (path === "/throw") throw new Error("handler failed");
  return Response.json(info.remoteAddr);
}

async function withFront(
  options: Partial<HandoffOptions>,
  fn: (front: HandoffFront) => Promise<void>,
): Promise<void> {
  const front = HandoffFront.listen({
    hostname: "127.0.0.1",
    port: 0,
    handler,
    headTimeoutMs: 10_000,
    maxHeadBytes: 1024,
    maxConnections: 100,
    maxConnectionsPerAddress: 100,
    ...options,
  });
  try {
    await fn(front);
  } finally {
    await front.close(0);
  }
}

function connect(front: HandoffFront): Promise<Deno.TcpConn> {
  return Deno.connect({ hostname: "127.0.0.1", port: front.addr.port });
}

/** Everything until the connection ends. */
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

/** One response framed by content-length (or chunked, to its last chunk). */
async function readResponse(conn: Deno.Conn): Promise<string> {
  const buf = new Uint8Array(65536);
  let text = "";
  for (;;) {
    const end = text.indexOf("\r\n\r\n");
    if (end >= 0) {
      const length = /content-length: *(\d+)/i.exec(text.slice(0, end));
      if (length && text.length >= end + 4 + Number(length[1])) return text;
      if (!length && text.endsWith("0\r\n\r\n")) return text;
    }
    const n = await conn.read(buf);
    if (n === null) throw new Error(`Closed after ${JSON.stringify(text)}`);
    text += new TextDecoder("latin1").decode(buf.subarray(0, n));
  }
}

async function until(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((resolve) => setTimeout(resolve, 10));
}

Deno.test("handoffAvailable() is true on this Deno (Deno.serveHttp)", () => {
  // If a Deno upgrade drops it, listen() relays instead (tested below).
  assert.equal(handoffAvailable(), true, Deno.version.deno);
});

Deno.test("HandoffFront serves keep-alive requests and gives routes the real client address", async () => {
  await withFront({}, async (front) => {
    const conn = await connect(front);
    for (let i = 0; i < 3; i++) {
      await conn.write(enc("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
      const response = await readResponse(conn);
      assert.match(response, /^HTTP\/1\.1 200 /);
      const body = JSON.parse(response.slice(response.indexOf("\r\n\r\n") + 4));
      assert.deepEqual(body, {
        transport: "tcp",
        hostname: "127.0.0.1",
        port: conn.localAddr.port,
      });
    }
    assert.equal(front.stats.open, 1, "one connection for all three");
    conn.close();
  });
});

Deno.test("HandoffFront keeps a body's length when it is in memory and streams the others", async () => {
  await withFront({}, async (front) => {
    const conn = await connect(front);
    await conn.write(enc("GET /bytes HTTP/1.1\r\nHost: x\r\n\r\n"));
    const bytes = await readResponse(conn);
    assert.match(bytes, /\r\ncontent-length: 100000\r\n/i);
    assert.equal(bytes.length - bytes.indexOf("\r\n\r\n") - 4, 100_000);
    await conn.write(enc("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
    assert.match(await readResponse(conn), /\r\ncontent-length: \d+\r\n/i);
    await conn.write(enc("GET /stream HTTP/1.1\r\nHost: x\r\n\r\n"));
    const streamed = await readResponse(conn);
    assert.match(streamed, /\r\ntransfer-encoding: chunked\r\n/i);
    assert.match(streamed, /\r\n8\r\nstreamed\r\n0\r\n\r\n$/);
    conn.close();
  });
});

Deno.test("HandoffFront answers 500 when the handler throws and keeps serving", async () => {
  const events: string[] = [];
  await withFront(
    { onEvent: (message) => events.push(message) },
    async (front) => {
      const conn = await connect(front);
      await conn.write(enc("GET /throw HTTP/1.1\r\nHost: x\r\n\r\n"));
      assert.match(await readResponse(conn), /^HTTP\/1\.1 500 /);
      await conn.write(enc("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
      assert.match(await readResponse(conn), /^HTTP\/1\.1 200 /);
      conn.close();
    },
  );
  assert.deepEqual(events, ["Handler failed"]);
});

Deno.test("HandoffFront carries WebSockets past the HTTP connection's end", async () => {
  await withFront({ keepAliveTimeoutMs: 100 }, async (front) => {
    const ws = new WebSocket(`ws://127.0.0.1:${front.addr.port}/ws`);
    await new Promise((r) => ws.onopen = r);
    const big = "x".repeat(4 * 1024 * 1024);
    const echoes: string[] = [];
    const { promise: done, resolve } = Promise.withResolvers<void>();
    ws.onmessage = (e) => {
      echoes.push(e.data);
      if (echoes.length === 2) resolve();
    };
    ws.send("hello");
    ws.send(big);
    await done;
    assert.equal(echoes[0], "hello");
    assert.equal(echoes[1].length, big.length);
    assert.equal(front.stats.open, 1, "counted while open");
    const closed = new Promise((r) => ws.onclose = r);
    ws.close();
    await closed;
    await until(() => front.stats.open === 0);
  });
});

Deno.test("HandoffFront over the per-address cap closes the oldest connection still waiting for its head", async () => {
  await withFront({ maxConnectionsPerAddress: 2 }, async (front) => {
    const first = await connect(front);
    const firstEnded = readAll(first);
    const second = await connect(front);
    const third = await connect(front);
    assert.equal(await firstEnded, "", "the oldest one was closed");
    assert.equal(front.stats.refused, 1);
    for (const conn of [second, third]) {
      await conn.write(
        enc("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
      );
      assert.match(await readAll(conn), /^HTTP\/1\.1 200 /);
    }
    for (const conn of [first, second, third]) conn.close();
  });
});

Deno.test("HandoffFront over the global cap evicts the oldest idle keep-alive connection, never a WebSocket, else refuses the new one", async () => {
  await withFront(
    { maxConnections: 3, maxConnectionsPerAddress: 100 },
    async (front) => {
      const ws = new WebSocket(`ws://127.0.0.1:${front.addr.port}/ws`);
      await new Promise((r) => ws.onopen = r);
      const idle: Deno.TcpConn[] = [];
      for (let i = 0; i < 2; i++) {
        const conn = await connect(front);
        await conn.write(enc("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
        assert.match(await readResponse(conn), /^HTTP\/1\.1 200 /);
        idle.push(conn);
      }
      const oldestEnded = readAll(idle[0]);
      const fresh = await connect(front);
      assert.equal(await oldestEnded, "", "the oldest idle one was closed");
      assert.equal(front.stats.refused, 1);
      // A request in flight is not idle: with it, nothing can be evicted.
      await fresh.write(enc("GET /never HTTP/1.1\r\nHost: x\r\n\r\n"));
      await idle[1].write(enc("GET /never HTTP/1.1\r\nHost: x\r\n\r\n"));
      await until(() => front.stats.pending === 0);
      const extra = await connect(front);
      assert.equal(await readAll(extra), "", "the new one was refused");
      assert.equal(front.stats.refused, 2);
      assert.equal(front.stats.open, 3);
      const echoed = new Promise((r) => ws.onmessage = (e) => r(e.data));
      ws.send("still here");
      assert.equal(await echoed, "still here");
      const closed = new Promise((r) => ws.onclose = r);
      ws.close();
      await closed;
      for (const conn of [...idle, fresh, extra]) conn.close();
    },
  );
});

Deno.test("HandoffFront closes a connection whose first head does not reach the handler in time", async () => {
  await withFront({ headTimeoutMs: 100 }, async (front) => {
    const silent = await connect(front);
    const partial = await connect(front);
    await partial.write(enc("GET / HTTP/1.1\r\nHost: x\r\n"));
    assert.equal(await readAll(silent), "");
    assert.equal(await readAll(partial), "");
    for (const conn of [silent, partial]) conn.close();
    assert.equal(front.stats.headTimeouts, 2);
    assert.equal(front.stats.pending, 0);
    assert.equal(front.stats.open, 0);
  });
});

Deno.test("HandoffFront answers 431 to a head over maxHeadBytes and closes", async () => {
  await withFront({ maxHeadBytes: 1024 }, async (front) => {
    const conn = await connect(front);
    await conn.write(
      enc(`GET / HTTP/1.1\r\nHost: x\r\nX-Pad: ${"a".repeat(2000)}\r\n\r\n`),
    );
    assert.match(await readAll(conn), /^HTTP\/1\.1 431 /);
    conn.close();
    assert.equal(front.stats.headTooLarge, 1);
    await until(() => front.stats.open === 0);
  });
});

Deno.test("HandoffFront closes a keep-alive connection idle for keepAliveTimeoutMs (a dripped second head too) but keeps WebSockets and event streams", async () => {
  await withFront(
    { keepAliveTimeoutMs: 200, requestTimeoutMs: 60_000 },
    async (front) => {
      const ws = new WebSocket(`ws://127.0.0.1:${front.addr.port}/ws`);
      await new Promise((r) => ws.onopen = r);
      const sse = await connect(front);
      await sse.write(enc("GET /events HTTP/1.1\r\nHost: x\r\n\r\n"));
      const buf = new Uint8Array(4096);
      let events = "";
      while (!events.includes("data: hello")) {
        const n = await sse.read(buf);
        assert.notEqual(n, null, "the event stream ended");
        events += new TextDecoder().decode(buf.subarray(0, n!));
      }
      // Opened after both: once it is closed, the streams were checked too.
      const plain = await connect(front);
      await plain.write(enc("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
      assert.match(await readResponse(plain), /^HTTP\/1\.1 200 /);
      // The next head is dripped: the front cannot see it.
      await plain.write(enc("GET / HTTP/1.1\r\n"));
      assert.equal(await readAll(plain), "");
      plain.close();
      assert.equal(front.stats.idleTimeouts, 1);
      assert.equal(front.stats.requestTimeouts, 0);
      assert.equal(front.stats.open, 2, "the socket and the stream");
      const echoed = new Promise((r) => ws.onmessage = (e) => r(e.data));
      ws.send("still here");
      assert.equal(await echoed, "still here");
      const closed = new Promise((r) => ws.onclose = r);
      ws.close();
      await closed;
      sse.close();
    },
  );
});

Deno.test("HandoffFront closes a request the handler does not answer within requestTimeoutMs", async () => {
  await withFront(
    { requestTimeoutMs: 200, keepAliveTimeoutMs: 0 },
    async (front) => {
      const conn = await connect(front);
      await conn.write(enc("GET /never HTTP/1.1\r\nHost: x\r\n\r\n"));
      assert.equal(await readAll(conn), "");
      conn.close();
      assert.equal(front.stats.requestTimeouts, 1);
      assert.equal(front.stats.open, 0);
    },
  );
});

Deno.test("HandoffFront closes a plain HTTP connection whose client stops reading a large response", async () => {
  await withFront(
    { requestTimeoutMs: 300, keepAliveTimeoutMs: 300 },
    async (front) => {
      const conn = await connect(front);
      // Never read: the HTTP server stops taking the body on.
      await conn.write(enc("GET /big HTTP/1.1\r\nHost: x\r\n\r\n"));
      await until(() => front.stats.requestTimeouts > 0);
      assert.equal(front.stats.requestTimeouts, 1);
      assert.equal(front.stats.idleTimeouts, 0);
      assert.equal(front.stats.open, 0);
      conn.close();
    },
  );
});

Deno.test("HandoffFront.listen() throws RangeError for a cap below 1, TypeError without serveHttp", () => {
  assert.throws(
    () =>
      HandoffFront.listen({
        hostname: "127.0.0.1",
        port: 0,
        handler,
        headTimeoutMs: 100,
        maxHeadBytes: 1024,
        maxConnections: 0,
        maxConnectionsPerAddress: 1,
      }),
    RangeError,
  );
});

Deno.test("listen() with connectionGuard handoff serves through the front: real client address, no internal port", async () => {
  const config = loadConfig(
    { port: 0, connectionGuard: "handoff" },
    () => undefined,
  );
  const server = await listen(handler, config, createLogger("error"));
  try {
    assert.equal(server.mode, "handoff");
    assert.equal(server.internalAddr, null);
    const conn = await Deno.connect({
      hostname: "127.0.0.1",
      port: server.addr.port,
    });
    await conn.write(
      enc("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
    );
    const response = await readAll(conn);
    conn.close();
    assert.deepEqual(
      JSON.parse(response.slice(response.indexOf("\r\n\r\n") + 4)),
      { transport: "tcp", hostname: "127.0.0.1", port: conn.localAddr.port },
    );
    assert.equal(server.connections()?.refused, 0);
  } finally {
    await server.close();
  }
});

Deno.test("listen() with connectionGuard handoff relays, with a warning, where Deno.serveHttp is missing", async () => {
  const original = Object.getOwnPropertyDescriptor(Deno, "serveHttp");
  assert.ok(original, "Deno.serveHttp exists to be hidden");
  Object.defineProperty(Deno, "serveHttp", {
    value: undefined,
    configurable: true,
    writable: true,
  });
  const lines: string[] = [];
  try {
    assert.equal(handoffAvailable(), false);
    const config = loadConfig(
      { port: 0, connectionGuard: "handoff" },
      () => undefined,
    );
    const server = await listen(
      handler,
      config,
      createLogger("warn", (line) => lines.push(line)),
    );
    try {
      assert.equal(server.mode, "relay");
      assert.notEqual(server.internalAddr, null);
      const res = await fetch(`http://127.0.0.1:${server.addr.port}/`);
      assert.equal(res.status, 200);
      assert.equal((await res.json()).hostname, "127.0.0.1");
    } finally {
      await server.close();
    }
  } finally {
    Object.defineProperty(Deno, "serveHttp", original);
  }
  assert.equal(lines.length, 1, lines.join("\n"));
  assert.match(lines[0], /Connection handoff unavailable here; relaying/);
  assert.equal(handoffAvailable(), true);
});

Deno.test("loadConfig() reads FLIGHTDECK_CONN_GUARD as on/relay, handoff or off", () => {
  const of = (value: string) =>
    loadConfig(
      {},
      (name) => name === "FLIGHTDECK_CONN_GUARD" ? value : undefined,
    )
      .connectionGuard;
  assert.equal(loadConfig({}, () => undefined).connectionGuard, true);
  for (const value of ["1", "true", "on", "yes", "relay"]) {
    assert.equal(of(value), true, value);
  }
  for (const value of ["0", "false", "off", "no"]) {
    assert.equal(of(value), false, value);
  }
  assert.equal(of("handoff"), "handoff");
  assert.throws(
    () => of("Handoff"),
    /Invalid configuration "FLIGHTDECK_CONN_GUARD"/,
  );
});
