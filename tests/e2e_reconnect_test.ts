/**
 * End to end in real Chromium: when the server goes away the dashboard
 * keeps reconnecting with a visible countdown and "Retry now", greys out
 * the agents (their states are no longer live), and recovers by itself
 * when a server comes back on the same port.
 */
import assert from "node:assert/strict";
import { launchBrowser, selectAgent } from "./browser.ts";
import { AgentProcess, startTestServer } from "./helpers.ts";

const STATUS = '[data-testid="connection-status"]';
const PANEL = '[data-testid="agent-panel"]';

Deno.test({
  name:
    "Dashboard in Chromium counts down while the server is away, greys out agents, and recovers",
  sanitizeResources: false, // Chromium's pipes outlive the test's resource scope.
  sanitizeOps: false,
  async fn() {
    // One data folder for both servers: the browser's sign-in is a session
    // stored there, so it holds across the restart as it does in production.
    const dataDir = await Deno.makeTempDir({ prefix: "fd-reconnect-" });
    const first = await startTestServer({ dataDir });
    const port = Number(new URL(first.url).port);
    let second: Awaited<ReturnType<typeof startTestServer>> | null = null;
    await using browser = await launchBrowser();
    const page = await browser.newPage();
    await page.setViewport({ width: 1280, height: 800 });
    const errors: string[] = [];
    page.on("pageerror", (error) => errors.push(String(error)));
    const agent = await AgentProcess.start(first, "rc-1");
    try {
      const code = first.services.loginCodes.create("admin");
      await page.goto(`${first.url}/login?code=${code}`, {
        waitUntil: "domcontentloaded",
      });
      await page.waitForSelector(`${STATUS}[data-state="connected"]`);
      await selectAgent(page, "rc-1");
      assert.equal(
        await page.$eval(PANEL, (el) => el.getAttribute("data-stale")),
        "false",
        "live while connected",
      );

      // The server goes away (sockets closed with 1001, port closed).
      await first.shutdown();
      await page.waitForSelector(`${PANEL}[data-stale="true"]`);
      const countdown = await page.waitForFunction(
        (sel: string) => {
          const text = document.querySelector(`${sel} .conn-label`)
            ?.textContent ?? "";
          return /^Reconnecting in \d+ s…$/.test(text) ? text : null;
        },
        { timeout: 10_000 },
        STATUS,
      );
      const label = String(await countdown.jsonValue());
      assert.match(label, /^Reconnecting in \d+ s…$/);
      await page.waitForSelector('[data-testid="retry-now-button"]');
      assert.equal(
        await page.$eval(
          '[data-testid="agent-rc-1"]',
          (el) => getComputedStyle(el).filter,
        ),
        "grayscale(1)",
        "the agent row is greyed out",
      );
      await page.waitForSelector('[data-testid="agents-stale"]');

      // Still retrying after several attempts (the old client gave up after 5).
      await page.waitForFunction(
        (sel: string) =>
          Number(
            document.querySelector(`${sel} .conn-label`)?.getAttribute(
              "title",
            )?.replace("Attempt ", "") ?? 0,
          ) >= 3,
        { timeout: 20_000 },
        STATUS,
      );
      assert.equal(
        await page.$eval(STATUS, (el) => el.getAttribute("data-state")),
        "reconnecting",
      );

      // A server comes back on the same port and data (the cookie holds).
      second = await startTestServer({ port, dataDir });
      // "Retry now" connects without waiting out the countdown (unless the
      // scheduled attempt got there first).
      const ready = await page.waitForFunction(
        (sel: string) =>
          document.querySelector(
              '[data-testid="retry-now-button"]:not([disabled])',
            )
            ? "button"
            : document.querySelector(`${sel}[data-state="connected"]`)
            ? "connected"
            : null,
        { timeout: 35_000 },
        STATUS,
      );
      if (await ready.jsonValue() === "button") {
        await page.click('[data-testid="retry-now-button"]').catch(() => {
          // Gone between the check and the click: an attempt is under way.
        });
      }
      await page.waitForSelector(`${STATUS}[data-state="connected"]`, {
        timeout: 35_000,
      });
      await page.waitForSelector(`${PANEL}[data-stale="false"]`);
      // The agent reconnects to the new server; the list is live again.
      await page.waitForSelector(
        '[data-testid="agent-rc-1"][data-status="online"]',
        { timeout: 35_000 },
      );
      assert.equal(await page.$('[data-testid="agents-stale"]'), null);
      assert.deepEqual(errors, [], "no uncaught errors in the page");
    } finally {
      await agent.kill("SIGKILL");
      await first.shutdown();
      await second?.shutdown();
      await Deno.remove(dataDir, { recursive: true });
    }
  },
});
