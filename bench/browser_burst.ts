/**
 * A Chromium dashboard during an output burst, part of `deno task bench`:
 * a fresh Flightdeck (server and agent processes, bench/systems.ts), a
 * headless Chromium signed in with a pasted operator token, showing the
 * agent's terminal while `mb` MB (10^6 bytes) of lines are printed. Every
 * 50 ms a key is pressed in the command input through Chromium's input
 * pipeline (CDP); the page notes, per keydown, the time from the event's
 * `timeStamp` to the next animation frame after its handler ran: the input
 * latency a person would feel. Keys are pressed from the request until the
 * command completed and a dashboard socket of the harness received all of
 * its output.
 *
 * @module
 */
import type { Page } from "puppeteer-core";
import { launchBrowser, newPage, openTerminal } from "../tests/browser.ts";
import { percentile } from "./stats.ts";
import { checkNotStopping, onKillAll } from "./proc.ts";
import { AGENT_ID, startSystem } from "./systems.ts";
import { Wire } from "./wire.ts";

/** What the browser burst measured. */
export interface BrowserBurst {
  events: number;
  inputP50Ms: number;
  inputP99Ms: number;
  /** Request → the command's output all received by the harness's socket. */
  seconds: number;
}

const KEY_EVERY_MS = 50;

/** Sign `page` in by pasting `token` on the login page. */
async function signIn(page: Page, url: string, token: string): Promise<void> {
  await page.goto(`${url}/login`, { waitUntil: "domcontentloaded" });
  await page.type('textarea[name="token"]', token);
  await Promise.all([
    page.waitForNavigation({ waitUntil: "domcontentloaded" }),
    page.click('button[type="submit"]'),
  ]);
  await page.waitForSelector(
    '[data-testid="connection-status"][data-state="connected"]',
    { timeout: 30_000 },
  );
}

/** Run the burst of `mb` MB with the dashboard open; input latencies. */
export async function browserBurstRun(mb: number): Promise<BrowserBurst> {
  await using running = await startSystem("flightdeck");
  const url = running.wsUrl.replace(/^ws/, "http");
  await using browser = await launchBrowser();
  // Closed by the harness's teardown too (a watchdog or a signal).
  const forget = onKillAll(() => browser.close());
  using _forget = { [Symbol.dispose]: forget };
  checkNotStopping();
  const page = await newPage(browser);
  await signIn(page, url, running.dashboardToken!);
  const wire = await Wire.open(
    `${running.wsUrl}/ws/dashboard`,
    running.dashboardToken,
  );
  try {
    await wire.waitFor((f) => f.type === "agent:list");
    const bytes = mb * 1e6;
    const t0 = performance.now();
    wire.sendMessage("command:request", {
      agentId: AGENT_ID,
      command: `yes "$(printf '%099d' 0)" | head -c ${bytes}`,
    }, "burst");
    const reply = await wire.waitFor((f) =>
      f.type === "command:status" && f.payload.replyTo === "burst"
    );
    const commandId: string = reply.payload.command.id;
    await openTerminal(page, AGENT_ID);
    await page.evaluate(() => {
      const g = globalThis as unknown as { __input: number[] };
      g.__input = [];
      document.addEventListener("keydown", (event) => {
        const down = event.timeStamp;
        requestAnimationFrame(() => g.__input.push(performance.now() - down));
      }, true);
    });
    await page.focus('[data-testid="command-input"]');
    let received = 0;
    let finished = false;
    const done = (async () => {
      await wire.waitFor((f) => {
        if (
          f.type === "terminal:output" && f.payload.commandId === commandId
        ) {
          received += f.payload.data.length;
        }
        return received >= bytes;
      }, 30_000 + bytes / 1000);
      finished = true;
    })();
    done.catch(() => {});
    while (!finished) {
      await page.keyboard.press("a");
      await new Promise((resolve) => setTimeout(resolve, KEY_EVERY_MS));
      if (performance.now() - t0 > 30_000 + bytes / 1000) break;
    }
    await done;
    const seconds = (performance.now() - t0) / 1000;
    // The frames of the last keys.
    await page.evaluate(() =>
      new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve)))
    );
    const input = await page.evaluate(() =>
      (globalThis as unknown as { __input: number[] }).__input
    );
    if (input.length === 0) throw new Error("No key event reached the page");
    return {
      events: input.length,
      inputP50Ms: percentile(input, 50),
      inputP99Ms: percentile(input, 99),
      seconds,
    };
  } finally {
    await wire.close();
  }
}
