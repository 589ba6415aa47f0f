import assert from "node:assert/strict";
import { GuardWorker } from "./guard_worker_client.ts";

const options = {
  hostname: "127.0.0.1",
  port: 0,
  headTimeoutMs: 10_000,
  maxHeadBytes: 4096,
  maxConnections: 10,
  maxConnectionsPerAddress: 10,
};

Deno.test("GuardWorker proxies from its worker and maps internal connections to the real client", async () => {
  let guard: GuardWorker | null = null;
  const upstream = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (_req, info) =>
      Response.json(await guard?.clientOf(info.remoteAddr) ?? null),
  );
  guard = await GuardWorker.start(options, upstream.addr, () => {});
  try {
    const conn = await Deno.connect({
      hostname: "127.0.0.1",
      port: guard.addr.port,
    });
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
    const body = JSON.parse(text.slice(text.indexOf("\r\n\r\n") + 4));
    assert.deepEqual(body, {
      transport: "tcp",
      hostname: "127.0.0.1",
      port: conn.localAddr.port,
    });
    assert.equal(guard.stats.refused, 0);
  } finally {
    await guard.close(0);
    await upstream.shutdown();
  }
});

Deno.test("GuardWorker.start() throws Deno.errors.AddrInUse for a taken port", async () => {
  const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    await assert.rejects(
      GuardWorker.start(
        { ...options, port: taken.addr.port },
        { transport: "tcp", hostname: "127.0.0.1", port: 1 },
        () => {},
      ),
      Deno.errors.AddrInUse,
    );
  } finally {
    taken.close();
  }
});
