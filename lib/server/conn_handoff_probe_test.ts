/**
 * What lib/server/conn_handoff.ts relies on (or avoids) in Deno's internal
 * per-connection HTTP APIs, pinned so that a Deno upgrade that changes it
 * fails here first (checked with Deno 2.9.6).
 */
import assert from "node:assert/strict";
import { denoServeHttp } from "./conn_handoff.ts";

type ServeOnConnection = (
  conn: Deno.Conn,
  signal: AbortSignal | undefined,
  handler: (req: Request) => Response,
  onError: (error: unknown) => Response,
  onListen: () => void,
) => { finished: Promise<void> };

/** A listener, its first connection (once accepted), and its port. */
function pair() {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted = listener.accept();
  return { listener, accepted, port: listener.addr.port };
}

/**
 * Open a WebSocket and, once `after` settles (the HTTP connection that
 * carried the upgrade has ended), echo one message through it; or say how
 * it ended.
 */
async function echoOnce(
  port: number,
  after: Promise<unknown>,
): Promise<string> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/`);
  const closed = new Promise<string>((resolve) =>
    ws.onclose = (e) => resolve(`closed ${e.code}`)
  );
  const opened = new Promise<string>((resolve) =>
    ws.onopen = () => resolve("open")
  );
  if (await Promise.race([opened, closed]) !== "open") return await closed;
  await Promise.race([after, closed]);
  const echoed = new Promise<string>((resolve) =>
    ws.onmessage = (e) => resolve(e.data)
  );
  try {
    ws.send("ping");
  } catch {
    // Closed meanwhile.
  }
  const result = await Promise.race([echoed, closed]);
  if (ws.readyState !== WebSocket.CLOSED) {
    ws.close();
    await closed;
  }
  return result;
}

function upgrade(req: Request): Response {
  const { socket, response } = Deno.upgradeWebSocket(req);
  socket.onmessage = (e) => socket.send(e.data);
  return response;
}

Deno.test("serveHttpOnConnection closes an upgraded WebSocket at once (why the handoff does not use it)", async () => {
  const internal = (Deno as unknown as Record<symbol, unknown>)[
    (Deno as unknown as { internal: symbol }).internal
  ] as { serveHttpOnConnection?: ServeOnConnection };
  const serveOn = internal.serveHttpOnConnection;
  assert.equal(typeof serveOn, "function", Deno.version.deno);
  const { listener, accepted, port } = pair();
  const ended = Promise.withResolvers<void>();
  const client = echoOnce(port, ended.promise);
  const server = serveOn!(
    await accepted,
    undefined,
    upgrade,
    () => new Response(null, { status: 500 }),
    () => {},
  );
  server.finished.then(ended.resolve, ended.resolve);
  // The per-connection server ends with the upgrade, and its socket too.
  assert.match(await client, /^closed /);
  await server.finished;
  listener.close();
});

Deno.test("Deno.serveHttp carries a WebSocket past the end of its HTTP connection and its close()", async () => {
  const serveHttp = denoServeHttp();
  assert.ok(serveHttp, Deno.version.deno);
  const { listener, accepted, port } = pair();
  const ended = Promise.withResolvers<void>();
  const client = echoOnce(port, ended.promise);
  const conn = await accepted;
  const http = serveHttp(conn);
  const event = await http.nextRequest();
  assert.ok(event);
  await event.respondWith(upgrade(event.request));
  assert.equal(await http.nextRequest(), null, "no more HTTP on it");
  http.close();
  ended.resolve();
  assert.equal(await client, "ping");
  // The connection's resource belongs to the HTTP server now.
  assert.throws(() => conn.close(), Deno.errors.BadResource);
  listener.close();
});

Deno.test("Deno.serveHttp's respondWith() settles before a body in memory is read (why the handoff hands large bodies over in chunks)", async () => {
  const serveHttp = denoServeHttp()!;
  const { listener, accepted, port } = pair();
  const client = await Deno.connect({ hostname: "127.0.0.1", port });
  const http = serveHttp(await accepted);
  await client.write(
    new TextEncoder().encode("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
  );
  const event = await http.nextRequest();
  assert.ok(event);
  // 64 MiB: far more than the socket buffers, and the client reads nothing.
  await event.respondWith(new Response(new Uint8Array(64 << 20)));
  const buf = new Uint8Array(64 * 1024);
  let total = 0;
  while (total < 64 << 20) {
    const n = await client.read(buf);
    assert.notEqual(n, null);
    total += n!;
  }
  client.close();
  http.close();
  listener.close();
});
