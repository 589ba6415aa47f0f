import assert from "node:assert/strict";
import { loadConfig } from "./config.ts";
import { listen } from "./listen.ts";
import { createLogger } from "./logger.ts";

const silent = createLogger("error", () => {});

async function get(
  port: number,
): Promise<{ status: number; body: string; local: number }> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(
    new TextEncoder().encode(
      "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    ),
  );
  let text = "";
  const buf = new Uint8Array(4096);
  for (;;) {
    const n = await conn.read(buf);
    if (n === null) break;
    text += new TextDecoder().decode(buf.subarray(0, n));
  }
  conn.close();
  return {
    status: Number(text.slice(9, 12)),
    body: text.slice(text.indexOf("\r\n\r\n") + 4),
    local: conn.localAddr.port,
  };
}

const echoAddr = (_req: Request, info: Deno.ServeHandlerInfo<Deno.NetAddr>) =>
  Response.json(info.remoteAddr);

for (const connectionGuard of [true, false]) {
  Deno.test(`listen() hands routes the real client address (guard ${connectionGuard ? "on" : "off"})`, async () => {
    const config = loadConfig({ port: 0, connectionGuard }, () => undefined);
    const server = await listen(echoAddr, config, silent);
    try {
      const { status, body, local } = await get(server.addr.port);
      assert.equal(status, 200);
      assert.deepEqual(JSON.parse(body), {
        transport: "tcp",
        hostname: "127.0.0.1",
        port: local,
      });
      assert.equal(server.internalAddr === null, !connectionGuard);
    } finally {
      await server.close();
    }
  });
}

Deno.test("listen() with the guard refuses connections to the internal server that bypass it", async () => {
  const config = loadConfig({ port: 0 }, () => undefined);
  const server = await listen(echoAddr, config, silent);
  try {
    const direct = await get(server.internalAddr!.port);
    assert.equal(direct.status, 403);
    assert.equal(direct.body, "Forbidden\n");
  } finally {
    await server.close();
  }
});
