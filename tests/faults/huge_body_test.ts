/**
 * A 600 MiB `POST /login` body against the real server process: before the
 * fix Deno buffered the whole body and panicked converting it (the process
 * died). Now the announced length is refused with 413 before the body is
 * read, a chunked body without length with 411, and the server keeps
 * answering.
 */
import assert from "node:assert/strict";
import { ServerProcess } from "./server_process.ts";

const MIB = 1024 * 1024;

/** Send `head`, then up to `bodyBytes` of filler; return the response head. */
async function post(
  port: number,
  head: string,
  bodyBytes: number,
): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const chunk = new Uint8Array(MIB).fill(0x61); // "aaaa…"
  let response = "";
  const reading = (async () => {
    const buf = new Uint8Array(4096);
    try {
      while (!response.includes("\r\n\r\n")) {
        const n = await conn.read(buf);
        if (n === null) break;
        response += new TextDecoder().decode(buf.subarray(0, n));
      }
    } catch {
      // Reset by the server after its answer.
    }
  })();
  try {
    await conn.write(new TextEncoder().encode(head));
    for (let sent = 0; sent < bodyBytes && !response; sent += MIB) {
      let off = 0;
      while (off < chunk.length) off += await conn.write(chunk.subarray(off));
    }
  } catch {
    // The server closed the connection after refusing the body.
  }
  await reading;
  try {
    conn.close();
  } catch {
    // Already closed.
  }
  return response;
}

Deno.test({
  name:
    "faults: a 600 MiB POST /login is refused with 413 (and a chunked one with 411); the server stays up",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using server = await ServerProcess.start();
    const size = 600 * MIB;
    const refused = await post(
      server.port,
      `POST /login HTTP/1.1\r\nHost: 127.0.0.1:${server.port}\r\n` +
        `Content-Type: application/x-www-form-urlencoded\r\n` +
        `Content-Length: ${size}\r\n\r\ntoken=`,
      size,
    );
    assert.match(refused, /^HTTP\/1\.1 413 /, refused || server.log);
    const chunked = await post(
      server.port,
      `POST /login HTTP/1.1\r\nHost: 127.0.0.1:${server.port}\r\n` +
        `Content-Type: application/x-www-form-urlencoded\r\n` +
        `Transfer-Encoding: chunked\r\n\r\n100000\r\n`,
      MIB,
    );
    assert.match(chunked, /^HTTP\/1\.1 411 /, chunked || server.log);
    assert.equal(server.running, true, server.log);
    const health = await fetch(`${server.url}/api/health`);
    assert.equal(health.status, 200);
    await health.body?.cancel();
  },
});
