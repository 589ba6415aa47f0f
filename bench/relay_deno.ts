// deno-lint-ignore-file no-console -- a bench process: stdout is its interface
/**
 * The reference of `deno task bench`: a trivial Deno WebSocket relay.
 * Every text frame a socket on `/src` sends goes to every socket on
 * `/sink`, as it is. Prints `LISTENING <port>` once it listens on
 * 127.0.0.1 (port 0 = a free one; `deno run -A bench/relay_deno.ts [port]`).
 *
 * @module
 */
const sinks = new Set<WebSocket>();

Deno.serve({
  hostname: "127.0.0.1",
  port: Number(Deno.args[0] ?? 0),
  onListen: ({ port }) => console.log(`LISTENING ${port}`),
}, (req) => {
  const path = new URL(req.url).pathname;
  if (req.headers.get("upgrade") !== "websocket") {
    return new Response("relay\n");
  }
  const { socket, response } = Deno.upgradeWebSocket(req);
  if (path === "/sink") {
    socket.onopen = () => sinks.add(socket);
    socket.onclose = () => sinks.delete(socket);
  } else {
    socket.onmessage = (event) => {
      for (const sink of sinks) sink.send(event.data);
    };
  }
  return response;
});
