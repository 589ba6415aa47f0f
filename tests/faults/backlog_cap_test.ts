/**
 * The total backlog cap against a real server process: six dashboard
 * sockets that never read join a flood (76 MiB or more) 6 MiB apart, with
 * a per-peer cap (64 MiB) that alone would let each hold most of the flood. The total
 * cap (16 MiB) closes each of them with 4503 (the largest backlog first,
 * checked exactly in lib/server/broadcaster_test.ts; here kernel buffers
 * blur which that is); the reading dashboard is never closed and
 * gets every byte; the server's peak RSS stays under 380 MiB (about 280
 * here; the unfixed server reached 480 MiB on the same run).
 */
import assert from "node:assert/strict";
import { ServerProcess } from "./server_process.ts";
import { RawSocket } from "./raw_socket.ts";
import { assertCompleteOutput, createDashboard } from "./dashboard.ts";
import { figure, killAgent, startAgent, waitUntil } from "./fixtures.ts";

const MIB = 1024 * 1024;
const LINE = "0123456789".repeat(9) + "abcdefghi"; // 100 bytes with "\n"
/** The least output after the gate, and the most in all. */
const AFTER_GATE = 40 * MIB;
const MAX_BYTES = 200 * MIB;
/** Output before the flood waits for the last stuck socket to join. */
const BEFORE_GATE = 36 * MIB;
/**
 * 1 MiB bursts with 60 ms pauses (≤ ~16 MiB/s), as in
 * stuck_consumer_test.ts; after `BEFORE_GATE` it waits for file `gate`, so
 * the last stuck socket joins with at least 40 MiB still to come however far
 * the reader (which paces the joins) lags behind under load. After those 40
 * MiB it goes on until file `stop` exists (up to `MAX_BYTES` in all): how
 * much a socket that never reads absorbs in kernel buffers before the
 * server holds its backlog depends on the machine (loopback buffers grow to
 * tcp_rmem's maximum, 32 MiB on some), so the test stops the flood once
 * every stuck socket was shed rather than guessing a size.
 */
const flood = (gate: string, stop: string) =>
  `f=$(mktemp); yes '${LINE}' | head -c 1048576 > "$f"; ` +
  `for i in $(seq 1 ${BEFORE_GATE / MIB}); do cat "$f"; sleep 0.06; done; ` +
  `while [ ! -e '${gate}' ]; do sleep 0.05; done; ` +
  `for i in $(seq 1 ${AFTER_GATE / MIB}); do cat "$f"; sleep 0.06; done; ` +
  `i=${(BEFORE_GATE + AFTER_GATE) / MIB}; ` +
  `while [ ! -e '${stop}' ] && [ $i -lt ${MAX_BYTES / MIB} ]; do ` +
  `cat "$f"; sleep 0.06; i=$((i + 1)); done; ` +
  `rm -f "$f"`;
const RSS_BOUND = 380 * MIB;
/** Sockets that never read, and the output between their joins. */
const STUCK = 6;
const SPACING = 6 * MIB;

interface LogEntry {
  level: string;
  msg: string;
  fields?: Record<string, unknown>;
}

Deno.test({
  name:
    "faults: non-reading dashboards over the total backlog cap are shed largest first with 4503; the reader is untouched; RSS bounded",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using server = await ServerProcess.start({
      env: {
        FLIGHTDECK_MAX_PEER_BUFFER: String(64 * MIB),
        FLIGHTDECK_MAX_TOTAL_BUFFER: String(16 * MIB),
      },
    });
    const token = await server.token("viewer");
    const operator = await server.token("operator");
    const agent = await startAgent(server, "flood-1");
    const reader = await createDashboard({
      wsUrl: server.wsUrl,
      token: operator,
    });
    const stuck: RawSocket[] = [];
    const gateDir = await Deno.makeTempDir();
    const gate = `${gateDir}/gate`;
    const stop = `${gateDir}/stop`;
    let peak = server.rssBytes();
    const sampler = setInterval(() => {
      peak = Math.max(peak, server.rssBytes());
    }, 20);
    try {
      await waitUntil(
        () => reader.agentStatus("flood-1") === "online",
        15_000,
        "agent online",
      );
      const join = async () => {
        const result = await RawSocket.open(server.port, "/ws/dashboard", {
          authorization: `Bearer ${token}`,
        }, { read: false });
        assert.equal(result.status, 101, result.body);
        stuck.push(result.socket!);
      };
      await join();
      const id = await reader.request("flood-1", flood(gate, stop));
      for (let k = 1; k < STUCK; k++) {
        await waitUntil(
          () => reader.stores.output.receivedBytes(id) >= k * SPACING,
          60_000,
          `${k * SPACING / MIB} MiB of output`,
        );
        await join();
      }
      await Deno.writeTextFile(gate, "");
      await waitUntil(
        () => shedLog(server.log).length >= STUCK,
        120_000,
        "every stuck socket shed",
        () => `${shedLog(server.log).length} shed`,
      );
      await Deno.writeTextFile(stop, "");
      await reader.waitComplete(id, 90_000);
      figure("backlog_cap_peak_rss_mb", Math.round(peak / MIB));
      const block = `${LINE}\n`.repeat(10_486).slice(0, MIB);
      const received = reader.stores.output.receivedBytes(id);
      figure("backlog_cap_output_mib", received / MIB);
      assert.equal(received % MIB, 0, `${received} bytes: whole MiB blocks`);
      assert.ok(
        received >= BEFORE_GATE + AFTER_GATE && received <= MAX_BYTES,
        `${received} bytes`,
      );
      assertCompleteOutput(reader, id, block.repeat(received / MIB), {
        status: "completed",
        exitCode: 0,
      });
      assert.deepEqual(reader.closes, []);
      assert.equal(reader.connected, true);

      // Now read what each stuck socket was sent: its ack, then 4503.
      for (const socket of stuck) socket.read();
      await waitUntil(
        () => stuck.every((s) => s.closeCode !== null),
        30_000,
        "every stuck socket's close frame",
        () => stuck.map((s) => s.closeCode).join(),
      );
      assert.deepEqual(
        stuck.map((s) => s.closeCode),
        Array(STUCK).fill(4503),
      );
      const ids = stuck.map((s) =>
        s.messages().find((m) => m.type === "connection:ack")!.payload
          .connectionId as string
      );
      const shed = shedLog(server.log);
      // Each stuck socket is shed once, the reader never. (Which goes
      // first depends on how much each one's kernel buffers absorbed, up to
      // several MiB on loopback; that the largest server-side backlog goes
      // first is asserted exactly in lib/server/broadcaster_test.ts.)
      assert.deepEqual(
        shed.map((e) => ids.indexOf(String(e.fields!.peer))).sort((a, b) =>
          a - b
        ),
        [...ids.keys()],
      );
      for (const entry of shed) {
        assert.equal(entry.level, "warn");
        assert.ok(Number(entry.fields!.totalBytes) > 16 * MIB);
      }
      assert.ok(peak < RSS_BOUND, `peak RSS ${Math.round(peak / MIB)} MiB`);
    } finally {
      clearInterval(sampler);
      reader.stop();
      await killAgent(agent);
      await Promise.all(stuck.map((s) => s.dispose()));
      await Deno.remove(gateDir, { recursive: true });
    }
  },
});

/** The server's log entries for peers shed for the total backlog cap. */
function shedLog(log: string): LogEntry[] {
  return log.split("\n").filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line) as LogEntry).filter((entry) =>
      entry.msg === "Slow consumer shed for the total backlog cap"
    );
}
