/**
 * Bodies of `POST /api/messages` go through the bounded reader: over the
 * frame limit is 413 PAYLOAD_TOO_LARGE, a chunked body without length is
 * 411, and neither reaches the session.
 */
import assert from "node:assert/strict";
import { startTestServer } from "./helpers.ts";

Deno.test("POST /api/messages: a body over the frame limit is 413 and a chunked one 411", async () => {
  await using server = await startTestServer({ maxFrameBytes: 1024 });
  const token = await server.token("operator");
  const controller = new AbortController();
  const events = await fetch(`${server.url}/api/events`, {
    headers: { authorization: `Bearer ${token}` },
    signal: controller.signal,
  });
  const reader = events.body!.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  let connectionId: string | undefined;
  while (!connectionId) {
    const { value, done } = await reader.read();
    if (done) throw new Error("stream ended before connection:ack");
    text += value;
    connectionId = /"connectionId":"([^"]+)"/.exec(text)?.[1];
  }
  const headers = {
    authorization: `Bearer ${token}`,
    "content-type": "application/json",
    "x-flightdeck-connection": connectionId,
  };
  try {
    const big = await fetch(`${server.url}/api/messages`, {
      method: "POST",
      headers,
      body: JSON.stringify({ pad: "x".repeat(2000) }),
    });
    assert.equal(big.status, 413);
    assert.deepEqual((await big.json()).error, {
      code: "PAYLOAD_TOO_LARGE",
      message: "Body over 1024 bytes",
      recoverable: true,
    });
    const chunked = await fetch(`${server.url}/api/messages`, {
      method: "POST",
      headers,
      body: ReadableStream.from([new TextEncoder().encode("{}")]),
    });
    assert.equal(chunked.status, 411);
    assert.equal((await chunked.json()).error.code, "INVALID_MESSAGE");
  } finally {
    controller.abort();
    await reader.cancel().catch(() => {});
  }
});
