/**
 * The Node reference of `deno task bench`: a trivial relay on the npm `ws`
 * package, run with `node bench/relay_node.mjs <path of the ws package>
 * [port]`. Every frame a socket on `/src` sends goes to every socket on
 * `/sink`, as it is. Prints `LISTENING <port>` once it listens on 127.0.0.1.
 *
 * @module
 */
import { createRequire } from "node:module";
import process from "node:process";

const { WebSocketServer } = createRequire(import.meta.url)(process.argv[2]);
const sinks = new Set();
const server = new WebSocketServer({
  host: "127.0.0.1",
  port: Number(process.argv[3] ?? 0),
  perMessageDeflate: false,
});
server.on("listening", () => {
  process.stdout.write(`LISTENING ${server.address().port}\n`);
});
server.on("connection", (socket, req) => {
  if (req.url === "/sink") {
    sinks.add(socket);
    socket.on("close", () => sinks.delete(socket));
  } else {
    socket.on("message", (data, isBinary) => {
      for (const sink of sinks) sink.send(data, { binary: isBinary });
    });
  }
});
