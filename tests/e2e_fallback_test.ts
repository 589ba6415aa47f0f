/**
 * Fault test 6, in Chromium: behind a proxy that blocks WebSocket upgrades the
 * dashboard falls back to SSE + POST, says so, runs a command and shows its
 * output, then returns to WebSocket once upgrades pass again.
 */
import assert from "node:assert/strict";
import {
  eventually,
  launchBrowser,
  selectAgent,
  sendCommand,
  terminalColorOf,
  terminalLines,
} from "./browser.ts";
import { AgentProcess, startTestServer } from "./helpers.ts";
import { startHttpProxy } from "./http_proxy.ts";

Deno.test({
  name:
    "Dashboard behind an upgrade-blocking proxy falls back to SSE, runs a command, returns to WebSocket",
  sanitizeResources: false, // Chromium's pipes outlive the test's resource scope.
  sanitizeOps: false,
  async fn() {
    await using server = await startTestServer();
    await using proxy = await startHttpProxy(server.url, true);
    await using browser = await launchBrowser();
    const page = await browser.newPage();
    await page.setViewport({ width: 1280, height: 800 });
    const errors: string[] = [];
    page.on("pageerror", (error) => errors.push(String(error)));
    // Probe for the WebSocket every 2 s instead of 30 s, so the test is short.
    await page.evaluateOnNewDocument(() => {
      (globalThis as { __FLIGHTDECK_CLIENT__?: unknown })
        .__FLIGHTDECK_CLIENT__ = {
          probeIntervalMs: 2000,
        };
    });
    const agent = await AgentProcess.start(server, "fb-1");
    try {
      const code = server.services.loginCodes.create("admin");
      await page.goto(`${proxy.url}/login?code=${code}`, {
        waitUntil: "domcontentloaded",
      });
      const status = '[data-testid="connection-status"]';
      await page.waitForSelector(
        `${status}[data-state="connected"][data-transport="sse"]`,
        {
          timeout: 20_000,
        },
      );
      assert.ok(
        proxy.upgradeAttempts >= 3,
        `tried the WebSocket first (${proxy.upgradeAttempts})`,
      );
      assert.match(
        await page.$eval(status, (el) => el.textContent ?? ""),
        /SSE/,
        "the status says the fallback is in use",
      );

      await selectAgent(page, "fb-1");
      await sendCommand(
        page,
        "printf 'via \\033[33msse-path\\033[0m\\n'; echo fb-$((6*7))",
      );
      const lines = await eventually(async () => {
        const text = await terminalLines(page);
        return text.includes("fb-42") ? text : null;
      }, "the command output over SSE");
      assert.ok(lines.includes("via sse-path"), JSON.stringify(lines));
      assert.equal(
        await terminalColorOf(page, "sse-path"),
        3,
        "yellow is kept",
      );

      // Upgrades pass again: the dashboard returns to the WebSocket by itself.
      proxy.blockUpgrades = false;
      await page.waitForSelector(
        `${status}[data-state="connected"][data-transport="websocket"]`,
        { timeout: 20_000 },
      );
      // And it still works: a second command over the socket.
      await sendCommand(page, "echo ws-$((5*5))");
      await eventually(
        async () => (await terminalLines(page)).includes("ws-25"),
        "output over the socket",
      );
      assert.deepEqual(errors, [], "no uncaught errors in the page");
    } finally {
      await agent.kill("SIGKILL");
    }
  },
});
