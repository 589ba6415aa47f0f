/**
 * The per-command output cap (`FLIGHTDECK_MAX_COMMAND_OUTPUT`) against a real
 * server process: a running command produces five times the cap; the store
 * keeps only the newest output (at most the cap, plus one chunk), a resume
 * from seq 0 gets `terminal:gap` for the dropped span followed by exactly the
 * newest output, and a dashboard watching live got every byte.
 */
import assert from "node:assert/strict";
import { byteLength } from "../../lib/protocol.ts";
import { FileOutputStore } from "../../lib/server/file_output.ts";
import { ServerProcess } from "./server_process.ts";
import { figure, killAgent, startAgent } from "./fixtures.ts";
import {
  outputOf,
  queueCommand,
  TestClient,
  waitAgentStatus,
  waitFinal,
} from "../helpers.ts";

const CAP = 64 * 1024;
const LINES = 60_000;
const EXPECTED = Array.from({ length: LINES }, (_, i) => `${i + 1}\n`).join("");

Deno.test({
  name:
    "faults: output past FLIGHTDECK_MAX_COMMAND_OUTPUT keeps the newest; a resume from 0 gets terminal:gap, then exactly the stored tail",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using server = await ServerProcess.start({
      env: { FLIGHTDECK_MAX_COMMAND_OUTPUT: String(CAP) },
    });
    const agent = await startAgent(server, "cap-1");
    const live = new TestClient(`${server.wsUrl}/ws/dashboard`, {
      authorization: `Bearer ${await server.token("operator")}`,
    });
    let late: TestClient | null = null;
    try {
      await live.opened();
      await waitAgentStatus(live, "cap-1", "online");
      // Five times the cap, then it keeps running until interrupted.
      const id = await queueCommand(live, {
        agentId: "cap-1",
        command: `seq 1 ${LINES}; exec sleep 600`,
      });
      await live.until(
        () => outputOf(live, id).text.length >= EXPECTED.length,
        {
          timeoutMs: 60_000,
          what: "all output live",
        },
      );
      const liveChunks = live.of("terminal:output").filter((c) =>
        c.commandId === id
      );
      // Live: every byte, seqs 1..n without a hole, no gap.
      assert.equal(outputOf(live, id).text, EXPECTED);
      const lastSeq = liveChunks.length;
      assert.deepEqual(
        liveChunks.map((c) => c.seq),
        Array.from({ length: lastSeq }, (_, i) => i + 1),
      );
      assert.equal(live.of("terminal:gap").length, 0);
      assert.ok(byteLength(EXPECTED) > 5 * CAP);

      late = new TestClient(`${server.wsUrl}/ws/dashboard`, {
        authorization: `Bearer ${await server.token("viewer")}`,
      });
      await late.opened();
      await late.waitFor((m) => m.type === "agent:list");
      // Output reaches dashboards before it is stored (and trimmed to the
      // cap): an earlier page is answered once everything received so far
      // is stored, so after it the store holds only the tail.
      late.send("terminal:earlier", { commandId: id, beforeSeq: lastSeq + 1 });
      await late.waitFor((m) =>
        m.type === "terminal:earlier" && m.payload.commandId === id
      );
      const from = late.messages.length;
      late.send("terminal:resume", { commandId: id, afterSeq: 0 });
      await late.waitFor(
        (m) =>
          m.type === "terminal:output" && m.payload.commandId === id &&
          m.payload.seq === lastSeq,
        { from, timeoutMs: 20_000 },
      );
      const replay = late.messages.slice(from).filter((m) =>
        (m.type === "terminal:gap" || m.type === "terminal:output") &&
        m.payload.commandId === id
      );
      // First the gap for the dropped span, then the newest chunks in order.
      const [gap, ...rest] = replay;
      assert.equal(gap.type, "terminal:gap");
      const chunks = rest.flatMap((m) =>
        m.type === "terminal:output" ? [m.payload] : []
      );
      assert.equal(chunks.length, rest.length, "one gap, then only output");
      const firstKept = chunks[0].seq;
      assert.deepEqual(gap.payload, {
        agentId: "cap-1",
        commandId: id,
        fromSeq: 1,
        toSeq: firstKept - 1,
      });
      assert.deepEqual(
        chunks.map((c) => c.seq),
        Array.from(
          { length: lastSeq - firstKept + 1 },
          (_, i) => firstKept + i,
        ),
      );
      const tail = liveChunks.slice(firstKept - 1);
      const stored = tail.map((c) => c.data).join("");
      assert.equal(
        chunks.map((c) => c.data).join(""),
        stored,
        "the replay is exactly the newest output",
      );
      // The newest that fits: at most the cap (or the newest chunk alone).
      // A trim goes down to 7/8 of the cap, so one more chunk would have
      // been over that.
      const storedBytes = byteLength(stored);
      const newest = byteLength(liveChunks[lastSeq - 1].data);
      assert.ok(
        storedBytes <= CAP || tail.length === 1,
        `${storedBytes} bytes stored over ${tail.length} chunks`,
      );
      assert.ok(storedBytes <= CAP + newest);
      assert.ok(
        storedBytes + byteLength(liveChunks[firstKept - 2].data) >
          CAP - CAP / 8,
        "no more was dropped than needed",
      );

      figure("output_cap_produced_bytes", byteLength(EXPECTED));
      figure("output_cap_stored_bytes", storedBytes);
      live.send("command:interrupt", { commandId: id });
      const final = await waitFinal(live, id);
      // The running count is exact: every byte produced, not only the kept.
      assert.equal(final.outputBytes, byteLength(EXPECTED));

      // The store itself (read after the server stopped) holds only the
      // tail: in output files (the default for a KV file), where disk space
      // lags the drops by at most a segment of 4 MiB.
      await server.kill("SIGTERM");
      const kv = await Deno.openKv(`${server.dataDir}/flightdeck.kv`);
      try {
        const store = new FileOutputStore(kv, `${server.dataDir}/output`);
        const seqs = new Set<number>();
        let bytes = 0;
        for await (const chunk of store.read(id, 0)) {
          seqs.add(chunk.seq);
          bytes += byteLength(chunk.data);
        }
        assert.equal(bytes, storedBytes);
        assert.equal(Math.min(...seqs), firstKept);
        assert.equal(seqs.size, lastSeq - firstKept + 1);
        assert.deepEqual(await store.meta(id), {
          lastSeq,
          outputBytes: byteLength(EXPECTED),
          storedBytes,
        });
        assert.equal((await kv.get(["out", id, lastSeq, 0])).value, null);
        let disk = 0;
        for await (const file of Deno.readDir(`${store.dir}/${id}`)) {
          disk += (await Deno.stat(`${store.dir}/${id}/${file.name}`)).size;
        }
        assert.ok(disk > storedBytes, "output in files");
        assert.ok(disk <= storedBytes + 4 * 1024 * 1024 + 64 * 1024);
      } finally {
        kv.close();
      }
    } finally {
      await late?.close();
      await live.close();
      await killAgent(agent);
    }
  },
});
