// deno-lint-ignore-file no-console -- a CLI: stdout is its interface
/**
 * Where the memory of idle dashboard connections goes: a server in this
 * process (in-memory KV; the connection guard on with `G=on`, without the
 * relay with `G=handoff`) or, with the
 * argument `relay`, a bare `Deno.upgradeWebSocket` relay (`relay N` sends
 * each socket one frame of N bytes first), then 50 + 500 idle sockets from
 * client processes. Prints per connection (KiB) the growth of RSS and of
 * V8's heap (used and reserved) between the 50 and the 550, after full
 * GCs. Run (V8 flags as the server's, lib/v8_flags.ts):
 * `deno run -A --v8-flags=--expose-gc,--max-semi-space-size=4 bench/idle_heap.ts [relay [N]]`.
 *
 * @module
 */
import { startTestServer } from "../tests/helpers.ts";
import { startClients } from "./streams.ts";

const gc = (globalThis as unknown as { gc?: () => void }).gc;
if (!gc) throw new Error("Run with --v8-flags=--expose-gc");
const relay = Deno.args[0] === "relay";
const hello = Number(Deno.args[1] ?? 0);
let url: string;
let token: string | undefined;
let stop: () => Promise<void>;
if (relay) {
  const sinks = new Set<WebSocket>();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    (req) => {
      const { socket, response } = Deno.upgradeWebSocket(req);
      socket.onopen = () => {
        sinks.add(socket);
        if (hello) socket.send("x".repeat(hello));
      };
      socket.onclose = () => sinks.delete(socket);
      return response;
    },
  );
  url = `ws://127.0.0.1:${server.addr.port}`;
  stop = () => server.shutdown();
} else {
  const server = await startTestServer({
    connectionGuard: Deno.env.get("G") === "handoff"
      ? "handoff"
      : Deno.env.get("G") === "on",
    maxConnectionsPerUser: 20_000,
    maxConnectionsPerAddress: 20_000,
    maxUnauthenticated: 20_000,
    maxUnauthenticatedPerAddress: 10_000,
    maxTcpConnections: 40_000,
    maxTcpConnectionsPerAddress: 40_000,
  });
  url = server.wsUrl;
  token = await server.token("operator");
  stop = () => server.shutdown();
}
const options = {
  system: relay ? "relay" as const : "flightdeck" as const,
  url,
  token,
  mode: "idle" as const,
};
const settle = () => new Promise((resolve) => setTimeout(resolve, 2000));
const warm = await startClients(options, [50]);
await settle();
gc();
gc();
const before = Deno.memoryUsage();
const main = await startClients(options, [250, 250]);
await settle();
gc();
gc();
const after = Deno.memoryUsage();
const per = (key: keyof Deno.MemoryUsage) =>
  Number(((after[key] - before[key]) / 500 / 1024).toFixed(1));
console.log(JSON.stringify({
  rssKib: per("rss"),
  heapUsedKib: per("heapUsed"),
  heapTotalKib: per("heapTotal"),
  externalKib: per("external"),
}));
await Promise.all([...warm.clients, ...main.clients].map((c) => c.stop()));
await stop();
