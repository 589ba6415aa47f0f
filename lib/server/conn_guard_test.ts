import assert from "node:assert/strict";
import {
  BufferPool,
  ConnectionGuard,
  type ConnectionGuardOptions,
  isStreamHead,
  LARGE_PIPE_BUFFER,
  nextPipeBuffer,
  PIPE_BUFFER,
  PIPE_BUFFER_MIN,
  writeAll,
} from "./conn_guard.ts";

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
      if (new URL(req.url).pathname === "/big") {
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
      if (new URL(req.url).pathname === "/slow") {
        // Answers once the whole body is in.
        return req.text().then(
          (text) => new Response(text),
          () => new Response(null, { status: 400 }),
        );
      }
      if (new URL(req.url).pathname === "/events") {
        // One event, then quiet: a stream the guard must not time out.
        const body = new ReadableStream<Uint8Array>({
          start(controller) {
            controller.enqueue(enc("data: hello\n\n"));
          },
        });
        return new Response(body, {
          headers: { "content-type": "text/event-stream" },
        });
      }
      const client = guard?.clientOf(info.remoteAddr);
      return Response.json(client ?? null);
    },
  );
  guard = guardBefore(upstream.addr, options);
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

/**
 * A guard on a free loopback port before `upstream`, with the limits most
 * tests use (10 s head timeout, 1 KiB heads, 100 connections) and `options`
 * over them.
 */
function guardBefore(
  upstream: Deno.NetAddr,
  options: Partial<ConnectionGuardOptions> = {},
): ConnectionGuard {
  return ConnectionGuard.listen({
    hostname: "127.0.0.1",
    port: 0,
    upstream: () => upstream,
    headTimeoutMs: 10_000,
    maxHeadBytes: 1024,
    maxConnections: 100,
    maxConnectionsPerAddress: 100,
    ...options,
  });
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

Deno.test("BufferPool lends at most max buffers and reuses the ones given back", () => {
  const pool = new BufferPool(1024, 2);
  const a = pool.take()!;
  const b = pool.take()!;
  assert.equal(a.length, 1024);
  assert.notEqual(a, b);
  assert.equal(pool.take(), null);
  assert.deepEqual([pool.lent, pool.peak], [2, 2]);
  pool.give(a);
  assert.equal(pool.take(), a);
  pool.give(a);
  pool.give(b);
  assert.deepEqual([pool.lent, pool.peak], [0, 2]);
  assert.equal(new BufferPool(1024, 0).take(), null);
  assert.throws(() => new BufferPool(0, 1), RangeError);
  assert.throws(() => new BufferPool(1024, -1), RangeError);
});

Deno.test("ConnectionGuard reads a sustained stream into a pooled large buffer and gives it back when the burst ends", async () => {
  const SIZE = 4 * 1024 * 1024;
  const body = new Uint8Array(SIZE).map((_, i) => i % 251);
  const raw = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const upstream = Promise.withResolvers<Deno.Conn>();
  const accepted = raw.accept().then((conn) => {
    upstream.resolve(conn);
    return conn;
  });
  const guard = guardBefore(raw.addr as Deno.NetAddr, { largeBuffers: 1 });
  const conn = await connect(guard);
  try {
    assert.equal(LARGE_PIPE_BUFFER, 256 * 1024);
    await conn.write(enc("GET /big HTTP/1.1\r\nHost: x\r\n\r\n"));
    const up = await upstream.promise;
    await up.read(new Uint8Array(1024)); // The head.
    const head = enc(`HTTP/1.1 200 OK\r\ncontent-length: ${SIZE + 3}\r\n\r\n`);
    const writing = writeAll(up, head).then(() => writeAll(up, body));
    const got = new Uint8Array(head.length + SIZE);
    let at = 0;
    const buf = new Uint8Array(64 * 1024);
    while (at < got.length) {
      const n = await conn.read(buf);
      assert.notEqual(n, null);
      got.set(buf.subarray(0, n!), at);
      at += n!;
    }
    await writing;
    assert.deepEqual(got.subarray(head.length), body);
    // The burst borrowed the pool's one buffer.
    assert.equal(guard.largeBuffers.peak, 1);
    // Everything sent was read, so the next read takes only these 3 bytes:
    // a read of at most a quarter gives the buffer back.
    await writeAll(up, enc("end"));
    let tail = "";
    while (tail.length < 3) {
      const n = await conn.read(buf);
      tail += new TextDecoder().decode(buf.subarray(0, n!));
    }
    assert.equal(tail, "end");
    assert.deepEqual(guard.largeBuffers, { lent: 0, peak: 1 });
  } finally {
    conn.close();
    await guard.close(0);
    (await accepted).close();
    raw.close();
  }
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

Deno.test("ConnectionGuard.listen() throws RangeError for a cap below 1 or a negative largeBuffers", () => {
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
  assert.throws(
    () =>
      ConnectionGuard.listen({
        hostname: "127.0.0.1",
        port: 0,
        upstream: () => ({ transport: "tcp", hostname: "127.0.0.1", port: 1 }),
        headTimeoutMs: 1000,
        maxHeadBytes: 1024,
        maxConnections: 1,
        maxConnectionsPerAddress: 1,
        largeBuffers: -1,
      }),
    /Invalid largeBuffers "-1"/,
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
        requestTimeouts: 0,
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

/** `promise`, or a failure naming `what` when it takes over `ms` (a guard against hanging, not a timing check). */
async function within<T>(promise: Promise<T>, ms: number, what: string) {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) =>
        timer = setTimeout(() => reject(new Error(`gave up on ${what}`)), ms)
      ),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Read one whole response (it has a Content-Length) off a keep-alive connection. */
async function readResponse(conn: Deno.Conn): Promise<string> {
  const buf = new Uint8Array(4096);
  let text = "";
  for (;;) {
    const head = text.indexOf("\r\n\r\n");
    const length = /content-length: *(\d+)/i.exec(text);
    if (head >= 0 && length && text.length >= head + 4 + +length[1]) {
      return text;
    }
    const n = await conn.read(buf);
    if (n === null) throw new Error(`closed after ${JSON.stringify(text)}`);
    text += new TextDecoder().decode(buf.subarray(0, n));
  }
}

/** Write `lines` one every `everyMs` until the connection is closed; true when it was. */
async function drip(
  conn: Deno.Conn,
  lines: string[],
  everyMs: number,
): Promise<boolean> {
  const closed = readAll(conn);
  let ended = false;
  closed.then(() => ended = true);
  for (const line of lines) {
    if (ended) break;
    try {
      await conn.write(enc(line));
    } catch {
      break; // Closed by the guard.
    }
    await Promise.race([
      closed,
      new Promise((resolve) => setTimeout(resolve, everyMs)),
    ]);
  }
  // Whatever the client did, the guard must have closed by now or soon.
  return await within(closed.then(() => true), 5000, "the close")
    .catch(() => false);
}

Deno.test("ConnectionGuard closes a keep-alive connection that drips its second request head, and counts it", async () => {
  await withGuard(
    { requestTimeoutMs: 300, keepAliveTimeoutMs: 1000, idleTimeoutMs: 0 },
    async (guard) => {
      const conn = await connect(guard);
      await conn.write(enc("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
      assert.match(await readResponse(conn), /^HTTP\/1\.1 200 /);
      // One header line every 50 ms: always within the keep-alive time,
      // never a complete head (60 lines: 3 s, ten times the request time).
      const lines = ["GET / HTTP/1.1\r\n"];
      for (let i = 0; i < 60; i++) lines.push(`X-Drip-${i}: a\r\n`);
      assert.equal(await drip(conn, lines, 50), true, "closed by the guard");
      conn.close();
      assert.equal(guard.stats.requestTimeouts, 1);
      assert.equal(guard.stats.idleTimeouts, 0);
      assert.equal(guard.stats.open, 0);
    },
  );
});

Deno.test("ConnectionGuard closes a connection that drips a request body and gets no answer in the request time", async () => {
  await withGuard(
    { requestTimeoutMs: 300, keepAliveTimeoutMs: 1000, idleTimeoutMs: 0 },
    async (guard) => {
      const conn = await connect(guard);
      // /slow answers once the whole body is in, after the request time.
      await conn.write(
        enc("POST /slow HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n"),
      );
      const bytes = Array.from({ length: 100 }, () => "a");
      assert.equal(await drip(conn, bytes, 50), true, "closed by the guard");
      conn.close();
      assert.equal(guard.stats.requestTimeouts, 1);
    },
  );
});

Deno.test("ConnectionGuard closes a plain keep-alive connection quiet for keepAliveTimeoutMs but keeps WebSockets and event streams", async () => {
  await withGuard(
    { requestTimeoutMs: 100, keepAliveTimeoutMs: 100, idleTimeoutMs: 0 },
    async (guard) => {
      const ws = new WebSocket(`ws://127.0.0.1:${guard.addr.port}/ws`);
      await new Promise((r) => ws.onopen = r);
      const sse = await connect(guard);
      await sse.write(enc("GET /events HTTP/1.1\r\nHost: x\r\n\r\n"));
      const buf = new Uint8Array(4096);
      let events = "";
      while (!events.includes("data: hello")) {
        const n = await sse.read(buf);
        assert.notEqual(n, null, "the event stream ended");
        events += new TextDecoder().decode(buf.subarray(0, n!));
      }
      // A plain keep-alive connection opened after both and left quiet:
      // once it is closed, the older, quieter streams were checked too.
      const plain = await connect(guard);
      await plain.write(enc("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
      assert.match(await readResponse(plain), /^HTTP\/1\.1 200 /);
      assert.equal(
        await within(readAll(plain), 10_000, "the keep-alive close"),
        "",
      );
      plain.close();
      assert.equal(guard.stats.idleTimeouts, 1);
      assert.equal(guard.stats.requestTimeouts, 0);
      assert.equal(guard.stats.open, 2, "the socket and the stream");
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

Deno.test("ConnectionGuard over the global cap evicts the oldest idle keep-alive connection, never a WebSocket", async () => {
  await withGuard(
    { maxConnections: 3, maxConnectionsPerAddress: 100 },
    async (guard) => {
      const ws = new WebSocket(`ws://127.0.0.1:${guard.addr.port}/ws`);
      await new Promise((r) => ws.onopen = r);
      const idle: Deno.TcpConn[] = [];
      for (let i = 0; i < 2; i++) {
        const conn = await connect(guard);
        await conn.write(enc("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
        assert.match(await readResponse(conn), /^HTTP\/1\.1 200 /);
        idle.push(conn);
      }
      const oldestEnded = readAll(idle[0]);
      const fresh = await connect(guard);
      assert.equal(
        await within(oldestEnded, 10_000, "the eviction"),
        "",
        "the oldest idle one was closed",
      );
      assert.equal(guard.stats.refused, 1);
      await fresh.write(
        enc("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
      );
      assert.match(await readAll(fresh), /^HTTP\/1\.1 200 /);
      // The newer idle one still works.
      await idle[1].write(enc("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
      assert.match(await readResponse(idle[1]), /^HTTP\/1\.1 200 /);
      const echoed = new Promise((r) => ws.onmessage = (e) => r(e.data));
      ws.send("still here");
      assert.equal(await echoed, "still here");
      const closed = new Promise((r) => ws.onclose = r);
      ws.close();
      await closed;
      for (const conn of [...idle, fresh]) conn.close();
    },
  );
});

Deno.test("isStreamHead() recognizes an upgrade and an event stream, nothing else", () => {
  const yes = [
    "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\n\r\n",
    "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\n\r\n",
    "HTTP/1.1 200 OK\r\nvary: x\r\ncontent-type:text/event-stream\r\n\r\n",
  ];
  const no = [
    "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\n",
    "HTTP/1.1 100 Continue\r\n\r\n",
    "HTTP/1.1 200 OK\r\nx-note: content-type: text/event-stream\r\n\r\n",
  ];
  for (const head of yes) assert.equal(isStreamHead(enc(head)), true, head);
  for (const head of no) assert.equal(isStreamHead(enc(head)), false, head);
});

Deno.test("ConnectionGuard closes a plain HTTP connection whose client stops reading a large response", async () => {
  await withGuard(
    { requestTimeoutMs: 300, keepAliveTimeoutMs: 300, idleTimeoutMs: 0 },
    async (guard) => {
      const conn = await connect(guard);
      // Never read: the guard's write to this client blocks.
      await conn.write(enc("GET /big HTTP/1.1\r\nHost: x\r\n\r\n"));
      await within(
        (async () => {
          while (guard.stats.requestTimeouts === 0) {
            await new Promise((resolve) => setTimeout(resolve, 20));
          }
        })(),
        10_000,
        "the close",
      );
      assert.equal(guard.stats.requestTimeouts, 1);
      assert.equal(guard.stats.idleTimeouts, 0);
      assert.equal(guard.stats.open, 0);
      conn.close();
    },
  );
});

Deno.test("nextPipeBuffer() grows a full buffer 4x up to PIPE_BUFFER and keeps one that was not filled", () => {
  // An idle proxied socket holds the small buffer only.
  let buf = new Uint8Array(PIPE_BUFFER_MIN);
  assert.equal(PIPE_BUFFER_MIN, 2048);
  assert.equal(nextPipeBuffer(buf, 100), buf);
  const sizes = [];
  for (let i = 0; i < 4; i++) {
    buf = nextPipeBuffer(buf, buf.length);
    sizes.push(buf.length);
  }
  assert.deepEqual(sizes, [8192, PIPE_BUFFER, PIPE_BUFFER, PIPE_BUFFER]);
  assert.equal(PIPE_BUFFER, 32768);
  assert.equal(nextPipeBuffer(buf, buf.length), buf);
});

/**
 * `rounds` times: a raw upstream reads the head, writes `N` bytes, then
 * ends: `"reset"` closes with the client's flood unread (so its kernel
 * resets the connection to the guard; `N` must fit the socket buffers, or
 * the upstream's own kernel drops the rest), `"fin"` shuts its write side
 * and reads until the guard closes. The client, flooding all along and
 * reading `readSize` bytes at a time, must get all `N` bytes.
 */
async function lastBytesReachAFloodingClient(
  N: number,
  readSize: number,
  rounds: number,
  end: "reset" | "fin",
  paced = false,
): Promise<void> {
  const last = new Uint8Array(N).map((_, i) => i % 251);
  const raw = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const served = (async () => {
    for await (const conn of raw) {
      (async () => {
        const buf = new Uint8Array(1024);
        try {
          // The head, then until some flood is in (unread bytes remain).
          let got = 0;
          while (got < 2048) got += (await conn.read(buf)) ?? Infinity;
          await writeAll(conn, last);
          if (end === "fin") {
            await conn.closeWrite();
            while (await conn.read(buf) !== null);
          }
        } catch {
          // The test reports what the client got.
        }
        conn.close();
      })();
    }
  })();
  const guard = guardBefore(
    raw.addr as Deno.NetAddr,
    // Paced, the client sends about as much as it reads: bounds that load
    // cannot reach (a slow reader under load takes seconds), so the test
    // checks the half-close and the drain, not the bounds (tested below).
    paced ? { lingerMs: 120_000, lingerBytes: 4 * N } : {},
  );
  try {
    for (let round = 0; round < rounds; round++) {
      const conn = await connect(guard);
      await conn.write(enc("GET /ws HTTP/1.1\r\nHost: x\r\n\r\n"));
      let flooding = true;
      const chunk = new Uint8Array(16 * 1024);
      // Paced: 64 KiB at first, then one chunk per chunk's worth read.
      let allowance = paced ? 64 * 1024 : Infinity;
      const waker: { wake: (() => void) | null } = { wake: null };
      const flood = (async () => {
        try {
          while (flooding) {
            if (allowance < chunk.length) {
              await new Promise<void>((resolve) => waker.wake = resolve);
              continue;
            }
            allowance -= chunk.length;
            await conn.write(chunk);
          }
        } catch {
          // The guard ended the connection.
        }
      })();
      const received: Uint8Array[] = [];
      let total = 0;
      const buf = new Uint8Array(readSize);
      try {
        for (;;) {
          const n = await conn.read(buf);
          if (n === null) break;
          received.push(buf.slice(0, n));
          total += n;
          allowance += n;
          waker.wake?.();
          waker.wake = null;
        }
      } catch {
        // A reset ends the read; the count below says what came first.
      }
      flooding = false;
      waker.wake?.();
      conn.close();
      await flood;
      assert.equal(total, N, `round ${round}`);
      const all = new Uint8Array(total);
      let at = 0;
      for (const part of received) {
        all.set(part, (at += part.length) - part.length);
      }
      assert.deepEqual(all, last);
    }
  } finally {
    await guard.close(0);
    raw.close();
    await served;
  }
}

Deno.test("ConnectionGuard delivers an upstream's last bytes to a client that floods it when the upstream closes", async () => {
  await lastBytesReachAFloodingClient(64 * 1024, 64 * 1024, 20, "reset");
});

Deno.test("ConnectionGuard delivers an upstream's last bytes to a flooding client that reads slowly", async () => {
  // More than the socket buffers hold, read in small pieces: when the
  // upstream ends, the last bytes still wait in the guard's send queue.
  await lastBytesReachAFloodingClient(4 * 1024 * 1024, 1024, 3, "fin", true);
});

/**
 * A guard before an upstream that sends `reply` and ends at once, and a
 * client connected through it that has sent a request head.
 */
async function endedUpstream(
  options: { lingerMs?: number; lingerBytes?: number },
): Promise<{ conn: Deno.TcpConn; [Symbol.asyncDispose](): Promise<void> }> {
  const raw = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const served = (async () => {
    for await (const conn of raw) {
      (async () => {
        try {
          await conn.read(new Uint8Array(1024));
          await writeAll(conn, enc("bye"));
        } catch {
          // Gone.
        }
        conn.close();
      })();
    }
  })();
  const guard = guardBefore(raw.addr as Deno.NetAddr, options);
  const conn = await connect(guard);
  await conn.write(enc("GET /ws HTTP/1.1\r\nHost: x\r\n\r\n"));
  return {
    conn,
    async [Symbol.asyncDispose]() {
      conn.close();
      await guard.close(0);
      raw.close();
      await served;
    },
  };
}

/** Read `conn` to its end (EOF or reset); the bytes read. */
async function readToEnd(conn: Deno.Conn): Promise<string> {
  let text = "";
  const decoder = new TextDecoder();
  const buf = new Uint8Array(64 * 1024);
  try {
    for (let n; (n = await conn.read(buf)) !== null;) {
      text += decoder.decode(buf.subarray(0, n), { stream: true });
    }
  } catch {
    // A reset ends it too.
  }
  return text;
}

Deno.test("ConnectionGuard closes a client that keeps sending after the upstream ended once lingerBytes are dropped", async () => {
  await using t = await endedUpstream({
    lingerMs: 600_000,
    lingerBytes: 256 * 1024,
  });
  assert.equal(await readToEnd(t.conn), "bye");
  // The client's write side stays open: only the guard's close ends this.
  const chunk = new Uint8Array(16 * 1024);
  let sent = 0;
  try {
    for (;;) sent += await t.conn.write(chunk);
  } catch {
    // Reset or broken pipe: the guard closed.
  }
  assert.ok(sent > 256 * 1024, `sent ${sent}`);
});

Deno.test("ConnectionGuard closes a client that neither sends nor closes after the upstream ended once lingerMs passed", async () => {
  await using t = await endedUpstream({ lingerMs: 200 });
  assert.equal(await readToEnd(t.conn), "bye");
  // The guard's close (not ours) ends the connection: a write fails.
  const closed = Promise.withResolvers<void>();
  const probe = setInterval(() => {
    t.conn.write(new Uint8Array(1)).catch(() => closed.resolve());
  }, 50);
  try {
    await closed.promise;
  } finally {
    clearInterval(probe);
  }
});
