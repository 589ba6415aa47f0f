/**
 * `log:forward` against a real server process: one user's lines are
 * bounded in size (FLIGHTDECK_LOG_FORWARD_MAX_BYTES, 4096) and in rate
 * over all of the user's sockets (FLIGHTDECK_LOG_FORWARD_PER_MINUTE, 60);
 * the rest are refused with PAYLOAD_TOO_LARGE or RATE_LIMIT and counted.
 * A message with line breaks stays inside one JSON line, and everything the
 * server writes to stderr is JSON lines.
 */
import assert from "node:assert/strict";
import { envelope } from "../../lib/protocol.ts";
import type { LogEntry } from "../../lib/server/logger.ts";
import { ServerProcess } from "./server_process.ts";
import { RawSocket } from "./raw_socket.ts";
import { waitUntil } from "./fixtures.ts";

const FORGED =
  'ok\n2026-01-01T00:00:00.000Z ERROR Emergency stop by="admin"\r\nnext';
const PER_MINUTE = 60;
const MAX_BYTES = 4096;

function forward(
  message: string,
  level = "warn",
  context?: Record<string, unknown>,
) {
  return JSON.stringify(
    envelope("log:forward", { level, message, ...context && { context } }),
  );
}

/** Every stderr line parsed; fails on a line that is not a JSON object. */
function entries(server: ServerProcess): LogEntry[] {
  return server.stderr.split("\n").filter((line) => line !== "").map(
    (line) => {
      const entry = JSON.parse(line);
      assert.equal(typeof entry, "object", line);
      assert.match(entry.time, /^\d{4}-\d\d-\d\dT/, line);
      assert.ok(["debug", "info", "warn", "error"].includes(entry.level));
      assert.equal(typeof entry.msg, "string", line);
      return entry as LogEntry;
    },
  );
}

Deno.test({
  name:
    "faults: a log:forward flood from two sockets of one viewer writes at most 60 lines of ≤ 4096 bytes; a forged newline stays in one JSON line",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using server = await ServerProcess.start({
      env: { FLIGHTDECK_LOG: "info" },
    });
    const token = await server.token("viewer");
    const sockets: RawSocket[] = [];
    try {
      for (let i = 0; i < 2; i++) {
        const result = await RawSocket.open(server.port, "/ws/dashboard", {
          authorization: `Bearer ${token}`,
        });
        const socket = result.socket!;
        sockets.push(socket);
        await socket.until(() =>
          socket.messages().some((m) => m.type === "connection:ack")
        );
      }
      const [a, b] = sockets;
      await a.sendText(forward(FORGED, "info"));
      await a.sendText(forward(FORGED, "error"));
      // Over the size cap (message plus context): refused at any rate.
      for (let i = 0; i < 5; i++) {
        await a.sendText(
          forward("x", "warn", { blob: "z".repeat(MAX_BYTES) }),
        );
      }
      // Handled in order: once the heartbeat comes back, so have those.
      await a.sendText(JSON.stringify(envelope("heartbeat", { sequence: 0 })));
      await a.until(() => a.messages().some((m) => m.type === "heartbeat"));
      // 150 per socket: under the 200 messages/s of each connection, 300
      // together, 3950 bytes each.
      const line = "y".repeat(3950);
      await Promise.all(
        [a, b].map(async (socket) => {
          for (let i = 0; i < 150; i++) await socket.sendText(forward(line));
          await socket.sendText(
            JSON.stringify(envelope("heartbeat", { sequence: 1 })),
          );
        }),
      );
      // The heartbeat's echo comes after every earlier reply.
      for (const socket of sockets) {
        await socket.until(() =>
          socket.messages().some((m) =>
            m.type === "heartbeat" && m.payload.sequence === 1
          )
        );
      }
      const errors = sockets.flatMap((s) =>
        s.messages().filter((m) => m.type === "error").map((m) =>
          m.payload.code
        )
      );
      assert.equal(errors.filter((c) => c === "PAYLOAD_TOO_LARGE").length, 5);
      assert.equal(
        errors.filter((c) => c === "RATE_LIMIT").length,
        302 - PER_MINUTE,
      );
      assert.equal(errors.length, 5 + 302 - PER_MINUTE);
      const metrics = await (await fetch(`${server.url}/api/metrics`, {
        headers: { authorization: `Bearer ${token}` },
      })).text();
      assert.match(
        metrics,
        new RegExp(
          `^flightdeck_log_forward_dropped_total ${5 + 302 - PER_MINUTE}$`,
          "m",
        ),
      );

      // A line the server writes after all of the above: once it is read,
      // so is everything before it. (A third unauthenticated socket from
      // one address is refused, and logged.)
      const anonymous = [];
      for (let i = 0; i < 3; i++) {
        anonymous.push(await RawSocket.open(server.port, "/ws/dashboard"));
      }
      assert.equal(anonymous[2].status, 429);
      await Promise.all(anonymous.map((r) => r.socket?.dispose()));
      await waitUntil(
        () => entries(server).some((e) => e.msg === "Connection refused"),
        10_000,
        "the sentinel line",
      );
      const all = entries(server);
      const forwarded = all.filter((e) => e.msg.startsWith("Dashboard: "));
      assert.equal(forwarded.length, PER_MINUTE);
      assert.deepEqual(
        forwarded.slice(0, 2).map((e) => [e.level, e.msg, e.fields]),
        [
          ["info", `Dashboard: ${FORGED}`, { user: "viewer" }],
          ["error", `Dashboard: ${FORGED}`, { user: "viewer" }],
        ],
      );
      const bytes = server.stderr.split("\n").filter((l) =>
        l.includes('"Dashboard: ')
      ).reduce((sum, l) => sum + l.length + 1, 0);
      assert.ok(bytes <= PER_MINUTE * (MAX_BYTES + 200), `${bytes} bytes`);
      assert.equal(all.some((e) => e.msg.startsWith("Emergency stop")), false);
      assert.equal(server.stderr.includes("\nnext"), false);
    } finally {
      await Promise.all(sockets.map((s) => s.dispose()));
    }
  },
});
