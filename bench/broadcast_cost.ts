// deno-lint-ignore-file no-console -- CLI entry point: stdout is its interface
/**
 * What the broadcaster's slow-consumer rules cost per peer:
 * `deno run -A bench/broadcast_cost.ts [peers] [bytes]` (defaults 1000 and
 * 200; raise `ulimit -n` for many peers) opens `peers` real WebSockets to
 * an in-process `Deno.serve` on 127.0.0.1 and times, 20 times each and
 * alternated, the synchronous part of {@link Broadcaster.broadcastFrame}
 * of one frame of about `bytes` characters to all of them against a bare
 * loop of `socket.send(frame)` (the writes themselves run afterwards, off
 * this timing, in both). Prints the medians and the difference per peer.
 *
 * @module
 */
import { Broadcaster } from "../lib/server/broadcaster.ts";
import { WebSocketPeer } from "../lib/server/peer.ts";

const ROUNDS = 20;

async function main(): Promise<void> {
  const count = Number(Deno.args[0] ?? 1000);
  const size = Number(Deno.args[1] ?? 200);
  const sockets: WebSocket[] = [];
  const allOpen = Promise.withResolvers<void>();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    (req) => {
      const { socket, response } = Deno.upgradeWebSocket(req);
      socket.onopen = () => {
        sockets.push(socket);
        if (sockets.length === count) allOpen.resolve();
      };
      return response;
    },
  );
  const clients: WebSocket[] = [];
  for (let i = 0; i < count; i++) {
    const ws = new WebSocket(`ws://127.0.0.1:${server.addr.port}/`);
    ws.onmessage = () => {};
    clients.push(ws);
  }
  await allOpen.promise;
  const broadcaster = new Broadcaster({
    maxBufferedBytes: 8 * 1024 * 1024,
    maxTotalBufferedBytes: 64 * 1024 * 1024,
  });
  sockets.forEach((s, i) => broadcaster.add(new WebSocketPeer(s, String(i))));
  const frame = JSON.stringify({
    type: "agent:status",
    payload: { data: "y".repeat(size) },
  });
  // Each round starts with the previous round's writes done.
  const settle = () => new Promise((resolve) => setTimeout(resolve, 50));
  const timed = { broadcaster: [] as number[], bare: [] as number[] };
  for (let round = 0; round < ROUNDS; round++) {
    await settle();
    let t0 = performance.now();
    broadcaster.broadcastFrame(frame);
    timed.broadcaster.push(performance.now() - t0);
    await settle();
    t0 = performance.now();
    for (const socket of sockets) socket.send(frame);
    timed.bare.push(performance.now() - t0);
  }
  const median = (list: number[]) =>
    list.sort((a, b) => a - b)[Math.floor(list.length / 2)];
  const a = median(timed.broadcaster);
  const b = median(timed.bare);
  console.log(
    `${count} peers, frame of ${frame.length} characters: broadcastFrame ${
      a.toFixed(2)
    } ms, bare send loop ${b.toFixed(2)} ms, difference ${
      ((a - b) / count * 1000).toFixed(2)
    } µs per peer`,
  );
  for (const ws of clients) ws.close();
  await server.shutdown();
}

if (import.meta.main) {
  await main();
  Deno.exit(0);
}
