// deno-lint-ignore-file no-console -- CLI entry point: stdout is its interface
/**
 * Time to first paint of a big command's log page:
 * `deno run -A bench/log_page.ts [MiB]` (default 1024).
 *
 * Starts a real server with its KV in a temporary directory on disk (the
 * per-command cap and retention raised above the size), a real agent that
 * prints MiB of 80-byte lines, then opens the command's log page in headless
 * Chromium at a line in the middle and reports: the server's time for the
 * page, first contentful paint, and when the linked line is on screen (from
 * navigation start); and the line window request at the start, middle and
 * end. Loopback only; bounded by the size given.
 */
import { launchBrowser } from "../tests/browser.ts";
import {
  AgentProcess,
  queueCommand,
  startTestServer,
  TestClient,
  waitAgentStatus,
} from "../tests/helpers.ts";

const MIB = Number(Deno.args[0] ?? 1024);
if (!(MIB > 0 && MIB <= 4096)) throw new RangeError(`Bad size "${MIB}" MiB`);
const LINE =
  "the quick brown fox jumps over the lazy dog 0123456789 abcdefghijklmnopqrstuv";
const bytes = MIB * 1024 * 1024;
const dir = await Deno.makeTempDir({ prefix: "flightdeck-logbench-" });
try {
  await using server = await startTestServer({
    dataDir: dir,
    kvPath: `${dir}/bench.kv`,
    maxCommandOutputBytes: 8 * 1024 ** 3,
    retentionBytes: 8 * 1024 ** 3,
    searchIndexIntervalMs: 86400_000,
  });
  const dash = await TestClient.dashboard(server);
  const agent = await AgentProcess.start(server, "bench-log");
  try {
    await waitAgentStatus(dash, "bench-log", "online");
    const t0 = performance.now();
    const id = await queueCommand(dash, {
      agentId: "bench-log",
      command: `yes '${LINE}' | head -c ${bytes}`,
    });
    // No dashboard holds the output: wait on the stored record.
    await dash.close();
    let final = await server.services.commands.get(id);
    while (!final || final.status === "queued" || final.status === "running") {
      await new Promise((resolve) => setTimeout(resolve, 500));
      final = await server.services.commands.get(id);
    }
    const stored = (performance.now() - t0) / 1000;
    console.log(
      `Stored ${final.outputBytes} bytes in ${stored.toFixed(1)} s (${
        (final.outputBytes / 1024 / 1024 / stored).toFixed(1)
      } MiB/s)`,
    );
    const token = await server.token("viewer");
    const lines = Math.ceil(bytes / (LINE.length + 1));
    for (
      const [name, from] of [["start", 1], ["middle", Math.floor(lines / 2)], [
        "end",
        lines - 100,
      ]] as const
    ) {
      const t = performance.now();
      const res = await fetch(
        `${server.url}/api/commands/${id}/lines?from=${from}&count=200`,
        { headers: { authorization: `Bearer ${token}` } },
      );
      const body = await res.json();
      console.log(
        `lines window at ${name} (line ${from}): ${
          (performance.now() - t).toFixed(1)
        } ms, ${body.lines.length} lines of ${body.lastLine}`,
      );
    }
    await using browser = await launchBrowser();
    const page = await browser.newPage();
    await page.setViewport({ width: 1280, height: 900 });
    const code = server.services.loginCodes.create("viewer");
    await page.goto(`${server.url}/login?code=${code}`, { waitUntil: "load" });
    const target = Math.floor(lines / 2);
    const url = `${server.url}/agents/bench-log/commands/${id}#L${target}`;
    for (let round = 1; round <= 3; round++) {
      await page.goto("about:blank");
      await page.goto(url, { waitUntil: "domcontentloaded" });
      await page.waitForSelector(`[data-line="${target}"][data-loaded="1"]`, {
        timeout: 60_000,
      });
      const times = await page.evaluate((n) => {
        const nav = performance.getEntriesByType(
          "navigation",
        )[0] as PerformanceNavigationTiming;
        const fcp = performance.getEntriesByName("first-contentful-paint")[0];
        return {
          response: nav.responseEnd - nav.startTime,
          fcp: fcp?.startTime ?? -1,
          line: performance.now(),
          text: document.querySelector(`[data-line="${n}"] .lt`)?.textContent,
        };
      }, target);
      console.log(
        `page round ${round}: HTML ${
          times.response.toFixed(0)
        } ms, first contentful paint ${
          times.fcp.toFixed(0)
        } ms, line ${target} on screen by ${times.line.toFixed(0)} ms ("${
          times.text?.slice(0, 20)
        }…")`,
      );
    }
  } finally {
    await agent.kill();
  }
} finally {
  await Deno.remove(dir, { recursive: true }).catch(() => {});
}
