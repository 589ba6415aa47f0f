import assert from "node:assert/strict";
import { BodyError, readBody, readForm, readText } from "./body.ts";

/** Serve `handler` on loopback, send `raw` over TCP, return the response head line. */
async function exchange(
  handler: (req: Request) => Promise<Response>,
  raw: string,
): Promise<string> {
  await using server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    handler,
  );
  const conn = await Deno.connect({
    hostname: "127.0.0.1",
    port: server.addr.port,
  });
  try {
    await conn.write(new TextEncoder().encode(raw));
    const buf = new Uint8Array(4096);
    let text = "";
    while (!text.includes("\r\n\r\n")) {
      const n = await conn.read(buf);
      if (n === null) break;
      text += new TextDecoder().decode(buf.subarray(0, n));
    }
    return text;
  } finally {
    conn.close();
  }
}

const capped = (max: number) => async (req: Request) => {
  try {
    const body = await readText(req, max);
    return new Response(`ok ${body}`);
  } catch (error) {
    if (error instanceof BodyError) return error.toResponse();
    throw error;
  }
};

Deno.test("readBody() returns a body within its cap", async () => {
  const head = await exchange(
    capped(16),
    "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
  );
  assert.match(head, /^HTTP\/1\.1 200 /);
});

Deno.test("readBody() refuses an announced length over the cap with 413 before the body arrives", async () => {
  // Only the head is sent: the answer proves nothing waited for the body.
  const head = await exchange(
    capped(16),
    "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 629145600\r\n\r\n",
  );
  assert.match(head, /^HTTP\/1\.1 413 /);
});

Deno.test("readBody() refuses a chunked body without Content-Length with 411", async () => {
  const head = await exchange(
    capped(16),
    "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
  );
  assert.match(head, /^HTTP\/1\.1 411 /);
});

Deno.test("readBody() returns an empty body for a request without one", async () => {
  const req = new Request("http://x/", { method: "POST" });
  assert.deepEqual(await readBody(req, 0), new Uint8Array(0));
});

Deno.test("readBody() stops a stream that runs past its Content-Length with 413", async () => {
  let pulled = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      pulled++;
      controller.enqueue(new Uint8Array(4));
    },
  });
  const req = new Request("http://x/", {
    method: "POST",
    body,
    headers: { "content-length": "6" },
  });
  await assert.rejects(
    readBody(req, 16),
    (e) => e instanceof BodyError && e.status === 413,
  );
  assert.ok(pulled <= 3, `pulled ${pulled} chunks`);
});

Deno.test("readBody() refuses a malformed Content-Length with 400", async () => {
  const req = new Request("http://x/", {
    method: "POST",
    body: "abc",
    headers: { "content-length": "3x" },
  });
  await assert.rejects(
    readBody(req, 16),
    (e) => e instanceof BodyError && e.status === 400,
  );
});

Deno.test("readBody() throws RangeError for a negative cap", async () => {
  await assert.rejects(readBody(new Request("http://x/"), -1), RangeError);
});

Deno.test("readForm() parses a urlencoded form and refuses other types with 415", async () => {
  const form = await readForm(
    new Request("http://x/", {
      method: "POST",
      body: "token=a%20b&next=%2Fx",
      headers: {
        "content-type": "application/x-www-form-urlencoded",
        "content-length": "21",
      },
    }),
  );
  assert.equal(form.get("token"), "a b");
  assert.equal(form.get("next"), "/x");
  await assert.rejects(
    readForm(
      new Request("http://x/", {
        method: "POST",
        body: "{}",
        headers: { "content-type": "application/json", "content-length": "2" },
      }),
    ),
    (e) => e instanceof BodyError && e.status === 415,
  );
});

Deno.test("readBody() answers 408 and asks to close when a dripped body misses its deadline", async () => {
  await using server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (req) => {
      try {
        await readBody(req, 1000, 200);
        return new Response("read it all");
      } catch (error) {
        if (error instanceof BodyError) return error.toResponse();
        throw error;
      }
    },
  );
  const conn = await Deno.connect({
    hostname: "127.0.0.1",
    port: server.addr.port,
  });
  const enc = new TextEncoder();
  await conn.write(
    enc.encode("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\n"),
  );
  // Drip the body one byte at a time while reading what comes back.
  let answered = false;
  const dripping = (async () => {
    for (let i = 0; i < 500 && !answered; i++) {
      try {
        await conn.write(enc.encode("a"));
      } catch {
        return; // Closed by the server.
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  })();
  const buf = new Uint8Array(4096);
  let text = "";
  try {
    // Until the answer's body: the server need not close at once.
    for (;;) {
      const head = text.indexOf("\r\n\r\n");
      const length = /content-length: *(\d+)/i.exec(text);
      if (head >= 0 && length && text.length >= head + 4 + +length[1]) break;
      const n = await conn.read(buf);
      if (n === null) break;
      text += new TextDecoder().decode(buf.subarray(0, n));
    }
  } catch {
    // Reset after the answer: what came is enough.
  }
  answered = true;
  await dripping;
  conn.close();
  assert.match(text, /^HTTP\/1\.1 408 /);
  assert.match(text, /\r\nconnection: close\r\n/i);
  assert.match(text, /Body not received within 200 ms/);
});
