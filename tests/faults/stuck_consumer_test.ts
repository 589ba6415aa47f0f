/**
 * A dashboard that never reads (its process SIGSTOPped while a command
 * floods 50 MiB of output) must not slow the others down or blow up the
 * server: the others finish within 2× (+3 s) of a run where it reads, the
 * server's RSS stays under 400 MB, the stuck one is closed with 4503, and
 * after SIGCONT it reconnects with resume to the complete stream.
 */
import assert from "node:assert/strict";
import { ServerProcess } from "./server_process.ts";
import {
  assertCompleteOutput,
  createDashboard,
  now,
  type RealDashboard,
  sha256,
} from "./dashboard.ts";
import { ProbeProcess } from "./probe_process.ts";
import { figure, killAgent, startAgent, waitUntil } from "./fixtures.ts";

const LINE = "0123456789".repeat(9) + "abcdefghi"; // 99 chars + "\n" = 100 bytes
const BYTES = 50 * 1024 * 1024;
// 1 MiB bursts with 60 ms pauses (≤ ~16 MiB/s): under the agent message
// rate limit, which loses output when exceeded (see agent_flood_test.ts).
const FLOOD = `f=$(mktemp); yes '${LINE}' | head -c 1048576 > "$f"; ` +
  `for i in $(seq 1 ${
    BYTES / 1048576
  }); do cat "$f"; sleep 0.06; done; rm -f "$f"`;
const RSS_BOUND = 400 * 1024 * 1024;

async function flood(
  dashboards: RealDashboard[],
  probe: ProbeProcess,
  stopProbe: boolean,
  server: ServerProcess,
): Promise<{ id: string; ms: number; peakRss: number }> {
  let peakRss = server.rssBytes();
  const sampler = setInterval(() => {
    peakRss = Math.max(peakRss, server.rssBytes());
  }, 50);
  try {
    const started = now();
    const id = await dashboards[0].request("flood-1", FLOOD);
    await probe.follow(id);
    if (stopProbe) {
      // Let it take its first frames, then freeze it.
      await waitUntil(
        () => (dashboards[0].stores.output.lastSeq(id) ?? 0) >= 2,
        10_000,
        "flood started",
      );
      probe.signal("SIGSTOP");
    }
    for (const d of dashboards) await d.waitComplete(id, 90_000);
    return { id, ms: now() - started, peakRss };
  } finally {
    clearInterval(sampler);
  }
}

Deno.test({
  name:
    "faults: a SIGSTOPped dashboard during a 50 MiB flood: others at full speed, RSS bounded, 4503, then a complete resume",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using server = await ServerProcess.start();
    const operator = await server.token("operator");
    const agent = await startAgent(server, "flood-1");
    const dashboards = await Promise.all(
      ["d1", "d2"].map((name) =>
        createDashboard({ wsUrl: server.wsUrl, token: operator, name })
      ),
    );
    const probes: ProbeProcess[] = [];
    try {
      await waitUntil(
        () => dashboards.every((d) => d.agentStatus("flood-1") === "online"),
        15_000,
        "agent online",
      );
      const block = `${LINE}\n`.repeat(10_486).slice(0, 1_048_576);
      const expected = block.repeat(BYTES / 1_048_576);
      const expectedSha = await sha256(expected);
      const check = (d: RealDashboard, id: string) =>
        assertCompleteOutput(d, id, expected, {
          status: "completed",
          exitCode: 0,
        });

      // Baseline: the probe reads.
      const reader = new ProbeProcess(server.wsUrl, operator);
      probes.push(reader);
      await reader.ready();
      const base = await flood(dashboards, reader, false, server);
      for (const d of dashboards) check(d, base.id);
      const readerReport = await reader.report(60_000);
      assert.equal(readerReport.sha256, expectedSha, "baseline probe bytes");

      // The probe is frozen during the flood.
      const stuck = new ProbeProcess(server.wsUrl, operator);
      probes.push(stuck);
      await stuck.ready();
      const run = await flood(dashboards, stuck, true, server);
      for (const d of dashboards) check(d, run.id);
      figure("flood-baseline-ms", Math.round(base.ms));
      figure("flood-with-stuck-consumer-ms", Math.round(run.ms));
      figure(
        "peak-rss-stuck-consumer-mb",
        (run.peakRss / 1024 / 1024).toFixed(1),
      );
      figure("peak-rss-baseline-mb", (base.peakRss / 1024 / 1024).toFixed(1));
      assert.ok(
        run.ms <= 2 * base.ms + 3_000,
        `others slowed down: ${Math.round(run.ms)} ms vs ${
          Math.round(base.ms)
        } ms`,
      );
      assert.ok(run.peakRss > 0, "RSS sampled");
      assert.ok(
        run.peakRss < RSS_BOUND,
        `server RSS peaked at ${run.peakRss} bytes`,
      );

      // Thaw: it learns it was closed with 4503, reconnects, resumes.
      stuck.signal("SIGCONT");
      const report = await stuck.report(60_000);
      assert.ok(
        stuck.closeCodes.includes(4503),
        `close codes: ${stuck.closeCodes}`,
      );
      assert.ok(report.acks >= 2, "the stuck probe reconnected");
      assert.deepEqual(report.handlerErrors, []);
      assert.equal(report.ok, true);
      assert.equal(report.status, "completed");
      assert.equal(report.exitCode, 0);
      assert.equal(report.hasGap, false);
      assert.equal(report.inOrder, true);
      assert.equal(report.renderedTwice, 0);
      assert.equal(report.missingOnWire, 0);
      assert.equal(report.length, expected.length);
      assert.equal(report.sha256, expectedSha, "stuck probe bytes");
      // deno-lint-ignore no-console
      console.log(
        `stuck consumer: ${report.chunks} chunks, ${report.wireDuplicates} wire duplicates dropped, closes ${stuck.closeCodes}`,
      );
    } finally {
      for (const d of dashboards) d.stop();
      for (const p of probes) await p.dispose();
      await killAgent(agent);
    }
  },
});
