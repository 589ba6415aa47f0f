import assert from "node:assert/strict";
import { WebSocketPeer } from "./peer.ts";

const enc = (s: string) => new TextEncoder().encode(s);

/** A masked client text frame (payload under 126 bytes). */
function textFrame(text: string): Uint8Array {
  const payload = enc(text);
  const mask = [1, 2, 3, 4];
  return new Uint8Array([
    0x81,
    0x80 | payload.length,
    ...mask,
    ...payload.map((b, i) => b ^ mask[i % 4]),
  ]);
}

Deno.test("WebSocketPeer.close() from a message handler sends the close frame though the client's next frames are already in", async () => {
  // Each round: the server answers the first message with an error frame
  // and closes 4429; the client sent further frames in the same write, so
  // they are buffered when the handler runs.
  await using server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    (req) => {
      const { socket, response } = Deno.upgradeWebSocket(req);
      const peer = new WebSocketPeer(socket);
      socket.onmessage = () => {
        if (!peer.isOpen) return;
        peer.send("error");
        peer.close(4429, "Backlog over its limit");
        assert.equal(peer.isOpen, false);
      };
      return response;
    },
  );
  for (let round = 0; round < 10; round++) {
    const conn = await Deno.connect({
      hostname: "127.0.0.1",
      port: server.addr.port,
    });
    await conn.write(enc(
      "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n" +
        "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n" +
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
    ));
    // The error text frame, then the close frame 4429 with its reason.
    const reason = "Backlog over its limit";
    const expected = "\x81\x05error" + "\x88" +
      String.fromCharCode(2 + reason.length) + "\x11\x4d" + reason;
    const chunks: number[] = [];
    const buf = new Uint8Array(4096);
    let sent = false;
    const body = () => {
      const text = String.fromCharCode(...chunks);
      return text.slice(text.indexOf("\r\n\r\n") + 4);
    };
    try {
      // Until the server ends the connection or all expected bytes came
      // (the server then waits for the client's close frame).
      while (!sent || body().length < expected.length) {
        const n = await conn.read(buf);
        if (n === null) break;
        chunks.push(...buf.subarray(0, n));
        if (!sent && new TextDecoder().decode(buf).includes("\r\n\r\n")) {
          sent = true;
          const frames = [1, 2, 3, 4].map((i) => textFrame(`frame ${i}`));
          await conn.write(new Uint8Array(frames.flatMap((f) => [...f])));
        }
      }
    } catch {
      // A reset: what came before counts.
    }
    conn.close();
    assert.equal(body(), expected, `round ${round}`);
  }
});
