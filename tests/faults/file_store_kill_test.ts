/**
 * Output in files (the default for a KV file on disk) across crashes: the
 * real server is SIGKILLed three times while output floods in at full
 * speed (no delay before commits, so kills land in every phase: encoding,
 * the file write, its sync, the KV commit) and restarted on the same data
 * dir. Acknowledged output is durable: the agent drops what was
 * acknowledged and resends the rest, so any acknowledged chunk lost would
 * be a hole. The command ends with its whole output stored once, in order,
 * in segment files (none in KV), whose sizes are exactly the committed ends
 * (bytes a kill left past them were truncated by the next append).
 */
import assert from "node:assert/strict";
import { ServerProcess } from "./server_process.ts";
import {
  assertCompleteOutput,
  createDashboard,
  numberedLines,
  sha256,
} from "./dashboard.ts";
import { TestClient } from "../helpers.ts";
import { figure, killAgent, startAgent, waitUntil } from "./fixtures.ts";
import type { FileState } from "../../lib/server/file_output.ts";

const LINES = 2_000_000;

Deno.test({
  name:
    "faults: server with output in files SIGKILLed three times mid-flood: nothing acknowledged lost, stored once in order, files cut to the committed ends",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using server = await ServerProcess.start();
    const operator = await server.token("operator");
    const agent = await startAgent(server, "file-kill");
    const d = await createDashboard({
      wsUrl: server.wsUrl,
      token: operator,
      name: "d",
    });
    let replay: TestClient | null = null;
    try {
      await waitUntil(
        () => d.agentStatus("file-kill") === "online",
        15_000,
        "agent online",
      );
      // 2,000,000 lines (about 25 MB) as fast as they go.
      const id = await d.request("file-kill", `seq -f 'line %.0f' 1 ${LINES}`);
      const expected = numberedLines(LINES);
      for (const share of [0.1, 0.35, 0.6]) {
        await waitUntil(
          () => d.stores.output.receivedBytes(id) >= share * expected.length,
          30_000,
          `${share * 100} % of the output before a kill`,
        );
        await server.kill("SIGKILL");
        await server.restart();
      }
      const final = await d.waitComplete(id, 60_000);
      assert.equal(final.status, "completed");
      const live = assertCompleteOutput(d, id, expected, {
        status: "completed",
        exitCode: 0,
      }, { allowWireDuplicates: true });
      figure("file-kill-resent-chunks", live.wireDuplicates);
      const lastSeq = d.stores.output.lastSeq(id)!;
      replay = new TestClient(`${server.wsUrl}/ws/dashboard`, {
        authorization: `Bearer ${operator}`,
      });
      await replay.waitFor((m) => m.type === "agent:list");
      replay.send("terminal:resume", { commandId: id, afterSeq: 0 });
      await replay.waitFor((m) =>
        m.type === "terminal:output" && m.payload.seq === lastSeq
      );
      const chunks = replay.of("terminal:output");
      assert.deepEqual(
        chunks.map((c) => c.seq),
        Array.from({ length: lastSeq }, (_, i) => i + 1),
        "each seq replayed once, in order",
      );
      assert.deepEqual(replay.of("terminal:gap"), [], "nothing lost");
      assert.equal(
        await sha256(chunks.map((c) => c.data).join("")),
        await sha256(expected),
        "stored output bytes",
      );
      // The store on disk, read after the server stopped.
      await replay.close();
      replay = null;
      await server.kill("SIGTERM");
      const kv = await Deno.openKv(`${server.dataDir}/flightdeck.kv`);
      try {
        const state = (await kv.get<FileState>(["out_file", id])).value;
        assert.ok(state, "the output is in files");
        for await (const _ of kv.list({ prefix: ["out", id] })) {
          assert.fail("output chunks in KV");
        }
        const folder = `${server.dataDir}/output/${id}`;
        let segments = 0;
        for await (const entry of Deno.readDir(folder)) {
          const seg = Number(entry.name.replace(/\.seg$/, ""));
          const { size } = await Deno.stat(`${folder}/${entry.name}`);
          if (seg === state.seg) assert.equal(size, state.end, entry.name);
          segments++;
        }
        assert.equal(segments, state.seg - state.firstSeg + 1);
      } finally {
        kv.close();
      }
    } finally {
      d.stop();
      await replay?.close();
      await killAgent(agent);
    }
  },
});
