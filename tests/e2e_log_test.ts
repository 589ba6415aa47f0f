/**
 * The command log page in Chromium: a real server and agent print 200,000
 * lines; the page opens, a `#L150000` link shows that line (colors kept),
 * scrolling reaches the last line, search highlights the hit, and line
 * numbers select ranges.
 *
 * Screenshot: tests/artifacts/log-page.png.
 */
import assert from "node:assert/strict";
import type { Page } from "puppeteer-core";
import { launchBrowser, screenshot } from "./browser.ts";
import {
  AgentProcess,
  queueCommand,
  startTestServer,
  TestClient,
  waitAgentStatus,
  waitFinal,
} from "./helpers.ts";

const AGENT = "log-e2e";
const COMMAND =
  `awk 'BEGIN { for (i = 1; i <= 200000; i++) { if (i == 150000) printf "\\033[32mNEEDLE-y\\033[0m at %d\\n", i; else print "line " i } }'`;

/** The text of line `n` once rendered. */
async function lineText(page: Page, n: number): Promise<string> {
  const el = await page.waitForSelector(
    `[data-line="${n}"][data-loaded="1"] .lt`,
    {
      timeout: 20_000,
    },
  );
  return await el!.evaluate((e) => e.textContent ?? "");
}

/** Whether line `n` is inside the visible part of the scroll area. */
function lineVisible(page: Page, n: number): Promise<boolean> {
  return page.$eval(`[data-line="${n}"]`, (el) => {
    const box = el.getBoundingClientRect();
    const view = document.querySelector('[data-testid="log-scroll"]')!
      .getBoundingClientRect();
    return box.top >= view.top && box.bottom <= view.bottom;
  });
}

Deno.test({
  name:
    "Log page in Chromium: a 200,000-line log opens, #L150000 shows that line, scrolling reaches the end, search highlights the hit",
  sanitizeResources: false, // Chromium's pipes outlive the test's resource scope.
  sanitizeOps: false,
  async fn() {
    await using server = await startTestServer();
    const dash = await TestClient.dashboard(server);
    const agent = await AgentProcess.start(server, AGENT);
    await using browser = await launchBrowser();
    try {
      await waitAgentStatus(dash, AGENT, "online");
      const id = await queueCommand(dash, { agentId: AGENT, command: COMMAND });
      assert.equal((await waitFinal(dash, id, 60_000)).status, "completed");

      const page = await browser.newPage();
      await page.setViewport({ width: 1280, height: 900 });
      const errors: string[] = [];
      page.on("pageerror", (error) => errors.push(String(error)));
      const code = server.services.loginCodes.create("viewer");
      await page.goto(`${server.url}/login?code=${code}`, {
        waitUntil: "domcontentloaded",
      });
      // The link from a command's output links (`/commands/:id`) redirects.
      await page.goto(`${server.url}/commands/${id}`, {
        waitUntil: "domcontentloaded",
      });
      assert.equal(
        new URL(page.url()).pathname,
        `/agents/${AGENT}/commands/${id}`,
      );
      assert.equal(await lineText(page, 1), "line 1");
      assert.equal(
        await page.$eval('[data-testid="log-total"]', (e) => e.textContent),
        "200000 lines",
      );

      // A line link, opened as a new page.
      await page.goto(`${server.url}/agents/${AGENT}/commands/${id}#L150000`, {
        waitUntil: "domcontentloaded",
      });
      assert.equal(await lineText(page, 150000), "NEEDLE-y at 150000");
      assert.ok(await lineVisible(page, 150000), "line 150000 is in view");
      assert.equal(
        await page.$eval('[data-line="150000"]', (e) => e.className),
        "log-line sel",
      );
      assert.equal(
        await page.$eval('[data-line="150000"] .lt span', (e) => e.className),
        "fg-2",
      );
      assert.equal(await lineText(page, 149999), "line 149999");

      // Scrolling to the bottom reaches the last line.
      await page.$eval('[data-testid="log-scroll"]', (e) => {
        e.scrollTop = e.scrollHeight;
      });
      assert.equal(await lineText(page, 200000), "line 200000");
      assert.ok(await lineVisible(page, 200000), "the last line is in view");

      // Search runs on the server and jumps to the hit, highlighted.
      await page.type('[data-testid="log-search-input"]', "needle-Y");
      await page.keyboard.press("Enter");
      await page.waitForFunction(() =>
        document.querySelector('[data-testid="log-search-count"]')
          ?.textContent === "1 of 1"
      );
      assert.equal(
        await page.$eval('[data-line="150000"] mark', (e) => e.textContent),
        "NEEDLE-y",
      );
      assert.ok(await lineVisible(page, 150000), "the hit is in view");
      assert.equal(new URL(page.url()).hash, "#L150000");

      // Click a line number, shift-click another: a range link.
      await page.click('[data-line="150001"] .ln');
      await page.keyboard.down("Shift");
      await page.click('[data-line="150003"] .ln');
      await page.keyboard.up("Shift");
      assert.equal(new URL(page.url()).hash, "#L150001-L150003");
      assert.deepEqual(
        await page.$$eval(
          ".log-line.sel",
          (els) => els.map((e) => e.getAttribute("data-line")),
        ),
        ["150001", "150002", "150003"],
      );
      await screenshot(page, "log-page.png");
      assert.deepEqual(errors, []);
    } finally {
      await agent.kill();
      await dash.close();
    }
  },
});
