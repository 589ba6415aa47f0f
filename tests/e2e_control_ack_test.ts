/**
 * End to end in real Chromium with a real server and a real session agent:
 * the control line of a live terminal appears only once the connection is
 * acknowledged (the ack says who the user is, so which button it offers),
 * and then with its button at once. The page holds the `connection:ack`
 * frame back until the test lets it through, so the window between the
 * socket's opening (the page shows "connected") and the ack is as long as
 * the test needs, not as long as the machine's load makes it.
 */
import assert from "node:assert/strict";
import type { Page } from "puppeteer-core";
import { launchBrowser, newPage, signInPage } from "./browser.ts";
import {
  AgentProcess,
  startTestServer,
  TestClient,
  waitAgentStatus,
} from "./helpers.ts";

const AGENT = "ctl-ack";

/**
 * Runs in the page before its own scripts: WebSockets hold back each
 * `connection:ack` (counted in `__heldAcks`), and every frame after it, in
 * order, until `__releaseAcks()`.
 */
function holdAcks(): void {
  const g = globalThis as unknown as {
    WebSocket: typeof WebSocket;
    __heldAcks: number;
    __releaseAcks: () => void;
  };
  const release = Promise.withResolvers<void>();
  g.__heldAcks = 0;
  g.__releaseAcks = () => release.resolve();
  const Native = g.WebSocket;
  g.WebSocket = class extends Native {
    override set onmessage(handler: ((event: MessageEvent) => void) | null) {
      let held = false;
      super.onmessage = handler && ((event: MessageEvent) => {
        if (String(event.data).includes('"type":"connection:ack"')) {
          g.__heldAcks++;
          held = true;
        }
        // Callbacks of one promise run in the order they were added.
        if (held) void release.promise.then(() => handler.call(this, event));
        else handler.call(this, event);
      });
    }
    override get onmessage() {
      return super.onmessage;
    }
  };
}

/** Let the page finish what it is rendering: two frames. */
function settle(page: Page): Promise<void> {
  return page.evaluate(() =>
    new Promise<void>((resolve) =>
      requestAnimationFrame(() => requestAnimationFrame(() => resolve()))
    )
  );
}

Deno.test({
  name:
    "Chromium: a live terminal's control line waits for the connection's acknowledgement, then offers its button at once",
  sanitizeResources: false, // Chromium's pipes outlive the test's resource scope.
  sanitizeOps: false,
  async fn() {
    await using server = await startTestServer();
    const operator = await TestClient.dashboard(server, "operator");
    const agent = await AgentProcess.start(server, AGENT, [
      "--session",
      "--",
      "bash",
      "--norc",
      "--noprofile",
      "-i",
    ]);
    try {
      await waitAgentStatus(operator, AGENT, "busy");
      await using browser = await launchBrowser();
      const errors: string[] = [];
      const page = await newPage(browser, { errors });
      await signInPage(page, server, "operator");
      await page.evaluateOnNewDocument(holdAcks);
      await page.goto(`${server.url}/agents/${AGENT}`, {
        waitUntil: "domcontentloaded",
      });
      await page.waitForSelector(
        '[data-testid="connection-status"][data-state="connected"]',
      );
      await page.waitForSelector(
        '[data-testid="terminal"][data-state="ready"]',
      );
      await page.waitForFunction(() =>
        (globalThis as unknown as { __heldAcks: number }).__heldAcks === 1
      );
      await settle(page);
      // Connected, the ack here but not handled: who the user is, and so
      // which button to offer, is not known yet.
      assert.equal(
        await page.evaluate(() =>
          document.querySelector('[data-testid="control-line"]')?.textContent ??
            null
        ),
        null,
        "no control line before the ack",
      );

      await page.evaluate(() =>
        (globalThis as unknown as { __releaseAcks: () => void })
          .__releaseAcks()
      );
      await page.waitForSelector(
        '[data-testid="control-line"][data-state="free"]',
      );
      // The line came with its button, in the same render.
      const button = await page.$eval(
        '[data-testid="control-line"] [data-testid="control-button"]',
        (el) => el.textContent,
      );
      assert.equal(button, "Take control");
      assert.deepEqual(errors, []);
    } finally {
      await operator.close();
      await agent.kill();
    }
  },
});
