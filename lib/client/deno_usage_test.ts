import assert from "node:assert/strict";
import { envelope } from "../protocol.ts";
import { DashboardClient, type SocketConstructor } from "./socket.ts";
import { bindStores, createStores, resumeMap } from "./stores.ts";

/** Deno's WebSocket accepts headers; the DOM typings here do not say so. */
const WebSocketWithHeaders = WebSocket as unknown as new (
  url: string,
  options: { headers: Record<string, string> },
) => WebSocket;

Deno.test("DashboardClient runs under Deno with a real WebSocket and Bearer auth", async () => {
  const received: { type: string; payload: unknown }[] = [];
  const serverClosed = Promise.withResolvers<void>();
  const connected = Promise.withResolvers<void>();
  const server = Deno.serve({ port: 0, onListen() {} }, (req) => {
    assert.equal(req.headers.get("authorization"), "Bearer t0k");
    const { socket, response } = Deno.upgradeWebSocket(req);
    socket.onopen = () => {
      socket.send(JSON.stringify(envelope("connection:ack", {
        connectionId: "k-1",
        serverVersion: "1.0.0",
        heartbeatIntervalMs: 1500,
        user: { id: "u", role: "viewer" },
      })));
      for (let seq = 1; seq <= 3; seq++) {
        socket.send(JSON.stringify(envelope("terminal:output", {
          agentId: "a-1",
          commandId: "c-1",
          seq,
          stream: "stdout",
          data: `line ${seq}\n`,
        })));
      }
    };
    socket.onmessage = (e) => {
      received.push(JSON.parse(e.data));
      connected.resolve();
    };
    socket.onclose = () => serverClosed.resolve();
    return response;
  });
  const token = "t0k";
  class BearerSocket {
    constructor(url: string) {
      return new WebSocketWithHeaders(url, {
        headers: { authorization: `Bearer ${token}` },
      });
    }
  }
  const stores = createStores({ maxCachedBytesPerCommand: Infinity });
  const client = new DashboardClient({
    url: `ws://127.0.0.1:${server.addr.port}/ws/dashboard`,
    WebSocket: BearerSocket as unknown as SocketConstructor,
    resume: () => resumeMap(stores),
  });
  bindStores(stores, client);
  let messages = 0;
  const allOutput = Promise.withResolvers<void>();
  client.onMessage(() => {
    if (++messages === 4) allOutput.resolve();
  });
  client.start();
  await Promise.all([connected.promise, allOutput.promise]);
  assert.equal(client.connection.value.state, "connected");
  assert.equal(client.connection.value.transport, "websocket");
  assert.equal(received[0].type, "dashboard:connect");
  assert.deepEqual(stores.user.value, { id: "u", role: "viewer" });
  assert.equal(
    stores.output.fullText("c-1"),
    "line 1\nline 2\nline 3\n",
  );
  client.stop();
  await serverClosed.promise;
  await server.shutdown();
});
