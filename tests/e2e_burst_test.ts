/**
 * A huge burst of output in Chromium: while 200,000 lines stream into the
 * terminal, the tab keeps reacting to input quickly, and the terminal ends
 * with the last line.
 *
 * Input latency is measured inside the page, as browsers define it for
 * responsiveness: from a key event's timestamp (when the browser received
 * the key press) to the next animation frame after its handlers ran. It
 * covers the wait for the main thread, the handlers (the command bar
 * echoes the key), and the wait for the frame. Keys are pressed one after
 * another for as long as the burst lasts.
 *
 * Bound: p95 at most 500 ms. A tab that writes the burst in long blocking
 * tasks freezes for seconds and fails; a frame is 16 ms, and 100 ms is the
 * usual target for feeling instant, but this machine has 2 cores shared by
 * the server, the agent, Chromium and other test runs, so a generous bound
 * keeps the test about freezing, not about load on the machine. At least 5
 * presses must fall within the burst (with 5, p95 is the worst of them).
 */
import assert from "node:assert/strict";
import type { Page } from "puppeteer-core";
import { launchBrowser, selectAgent, sendCommand } from "./browser.ts";
import { AgentProcess, startTestServer } from "./helpers.ts";

const P95_BOUND_MS = 500;
const MIN_SAMPLES = 5;
const INPUT = '[data-testid="command-input"]';

/** Start recording key-to-next-frame latencies in the page. */
function recordLatency(page: Page): Promise<void> {
  return page.evaluate(() => {
    const samples: number[] = [];
    (globalThis as unknown as { __latency: number[] }).__latency = samples;
    document.addEventListener("keydown", (event) => {
      const at = event.timeStamp;
      requestAnimationFrame(() => samples.push(performance.now() - at));
    }, { capture: true });
  });
}

/** Last `n` lines of the terminal (cheap: does not read the whole buffer). */
function tail(page: Page, n: number): Promise<string[]> {
  return page.evaluate((count: number) => {
    const term = (globalThis as unknown as {
      __flightdeckTerminal?: {
        buffer: {
          active: {
            length: number;
            getLine(
              i: number,
            ): { translateToString(trim: boolean): string } | undefined;
          };
        };
      };
    }).__flightdeckTerminal;
    if (!term) return [];
    const buffer = term.buffer.active;
    const lines: string[] = [];
    for (let i = Math.max(0, buffer.length - count); i < buffer.length; i++) {
      lines.push(buffer.getLine(i)?.translateToString(true) ?? "");
    }
    while (lines.length && lines[lines.length - 1] === "") lines.pop();
    return lines;
  }, n);
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)];
}

Deno.test({
  name:
    "Dashboard in Chromium answers input within 500 ms (p95) through a 200,000-line burst and shows its end",
  sanitizeResources: false, // Chromium's pipes outlive the test's resource scope.
  sanitizeOps: false,
  async fn() {
    await using server = await startTestServer();
    await using browser = await launchBrowser();
    const page = await browser.newPage();
    await page.setViewport({ width: 1280, height: 800 });
    const errors: string[] = [];
    page.on("pageerror", (error) => errors.push(String(error)));
    const agent = await AgentProcess.start(server, "burst-1");
    try {
      const code = server.services.loginCodes.create("admin");
      await page.goto(`${server.url}/login?code=${code}`, {
        waitUntil: "domcontentloaded",
      });
      await selectAgent(page, "burst-1");
      await recordLatency(page);
      await sendCommand(page, "seq 1 200000; echo burst-$((2*21))");
      const sent = performance.now();
      await page.focus(INPUT);
      // Keys typed by sendCommand were measured too; count from here.
      const base = await page.evaluate(() =>
        (globalThis as unknown as { __latency: number[] }).__latency.length
      );
      const typedBefore = await page.$eval(
        INPUT,
        (el) => (el as HTMLInputElement).value,
      );

      // Press a key (the press returns once the page took the event), then
      // check whether the burst has ended; again until it has. Every key is
      // pressed while the burst is still being written (the check before it
      // said so).
      const deadline = sent + 90_000;
      let lines: string[] = [];
      let presses = 0;
      while (performance.now() < deadline) {
        await page.keyboard.press("x");
        presses++;
        lines = await tail(page, 6);
        if (lines.includes("burst-42")) break;
      }
      // Every press measured (at the frame after it).
      await page.waitForFunction(
        (n: number) =>
          (globalThis as unknown as { __latency: number[] }).__latency
            .length >= n,
        { timeout: 30_000 },
        base + presses,
      );
      const burstMs = performance.now() - sent;
      const all = await page.evaluate(() =>
        (globalThis as unknown as { __latency: number[] }).__latency
      );
      const samples = all.slice(base).sort((a, b) => a - b);
      const p50 = percentile(samples, 0.5);
      const p95 = percentile(samples, 0.95);
      const max = samples.at(-1);
      // deno-lint-ignore no-console -- the test reports what it measured
      console.log(
        `Input latency during a 200,000-line burst (${
          (burstMs / 1000).toFixed(1)
        } s, ${samples.length} key presses): p50 ${p50?.toFixed(0)} ms, ` +
          `p95 ${p95?.toFixed(0)} ms, max ${max?.toFixed(0)} ms`,
      );
      assert.ok(
        lines.includes("burst-42"),
        `the burst ended within 90 s: ${JSON.stringify(lines)}`,
      );
      assert.ok(
        p95 <= P95_BOUND_MS,
        `p95 input latency ${p95.toFixed(0)} ms is over ${P95_BOUND_MS} ms`,
      );
      assert.ok(
        samples.length >= MIN_SAMPLES,
        `at least ${MIN_SAMPLES} key presses measured during the burst, got ${samples.length}`,
      );
      const end = lines.indexOf("burst-42");
      assert.deepEqual(lines.slice(end - 3, end + 1), [
        "199998",
        "199999",
        "200000",
        "burst-42",
      ]);
      // The keys reached the command bar: the page really handled them.
      const typed = await page.$eval(
        INPUT,
        (el) => (el as HTMLInputElement).value,
      );
      assert.equal(typed, typedBefore + "x".repeat(all.length - base));
      assert.deepEqual(errors, [], "no uncaught errors in the page");
    } finally {
      await agent.kill("SIGKILL");
    }
  },
});
