/**
 * End to end in real Chromium: a viewer's agent page offers Cast and Text
 * downloads for the running command (terminal title) and for every history
 * entry (the Recent list and the History table); the links download, with
 * the browser's session cookie, the recording of exactly that command.
 * Screenshot: tests/artifacts/recording-links.png.
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
  waitStatus,
} from "./helpers.ts";

const AGENT = "rec-e2e";

/** Download `href` in the page (same origin, its cookie): status, type, text. */
function downloadIn(page: Page, href: string) {
  return page.evaluate(async (href) => {
    const response = await fetch(href);
    return {
      status: response.status,
      type: response.headers.get("content-type"),
      disposition: response.headers.get("content-disposition"),
      text: await response.text(),
    };
  }, href);
}

function hrefs(page: Page, selector: string): Promise<string[]> {
  return page.$$eval(
    selector,
    (links) => links.map((a) => a.getAttribute("href") ?? ""),
  );
}

Deno.test({
  name:
    "Dashboard in Chromium: Cast and Text links download the running command's and each history entry's recording",
  sanitizeResources: false, // Chromium's pipes outlive the test's resource scope.
  sanitizeOps: false,
  async fn() {
    await using server = await startTestServer();
    const dash = await TestClient.dashboard(server);
    const agent = await AgentProcess.start(server, AGENT, ["--pty"]);
    await using browser = await launchBrowser();
    try {
      await waitAgentStatus(dash, AGENT, "online");
      const done = await queueCommand(dash, {
        agentId: AGENT,
        command: "printf '\\033[31mred\\033[0m\\n1%%\\r100%%\\n'",
      });
      await waitFinal(dash, done);
      const running = await queueCommand(dash, {
        agentId: AGENT,
        command: "printf 'working\\n'; sleep 60",
      });
      await waitStatus(dash, running, "running");
      await dash.until(() =>
        dash.of("terminal:output").some((o) => o.commandId === running)
      );

      const page = await browser.newPage();
      await page.setViewport({ width: 1440, height: 900 });
      const errors: string[] = [];
      page.on("pageerror", (error) => errors.push(String(error)));
      const code = server.services.loginCodes.create("viewer");
      await page.goto(`${server.url}/login?code=${code}`, {
        waitUntil: "domcontentloaded",
      });
      await page.goto(`${server.url}/agents/${AGENT}`, {
        waitUntil: "domcontentloaded",
      });
      await page.waitForSelector(
        '[data-testid="connection-status"][data-state="connected"]',
      );

      // The live terminal: links to the running command.
      const title = ".terminal-title [data-testid='recording-links'] a";
      await page.waitForSelector(title);
      assert.deepEqual(await hrefs(page, title), [
        `/commands/${running}`,
        `/api/commands/${running}/recording?format=cast`,
        `/api/commands/${running}/recording?format=txt`,
      ]);
      const live = await downloadIn(
        page,
        `/api/commands/${running}/recording?format=txt`,
      );
      assert.deepEqual(live, {
        status: 200,
        type: "text/plain; charset=utf-8",
        disposition: `attachment; filename="${AGENT}-${running}.txt"`,
        text: "working\n",
      });

      // History: the Recent list and the server-rendered History table.
      for (
        const table of [
          "[data-testid='recent-commands']",
          "[data-testid='command-history']",
        ]
      ) {
        const row = `${table} tr[data-command-id="${done}"] a`;
        await page.waitForSelector(row);
        assert.deepEqual(await hrefs(page, row), [
          `/commands/${done}`,
          `/api/commands/${done}/recording?format=cast`,
          `/api/commands/${done}/recording?format=txt`,
        ], table);
      }
      const text = await downloadIn(
        page,
        `/api/commands/${done}/recording?format=txt`,
      );
      assert.equal(text.text, "red\n100%\n");
      const cast = await downloadIn(
        page,
        `/api/commands/${done}/recording?format=cast`,
      );
      assert.equal(cast.type, "application/x-asciicast");
      const lines = cast.text.trimEnd().split("\n").map((l) => JSON.parse(l));
      assert.equal(lines[0].version, 2);
      assert.equal(
        lines.slice(1).map((e: [number, string, string]) => e[2]).join(""),
        "\x1b[31mred\x1b[0m\r\n1%\r100%\r\n",
      );

      // Showing a history entry's output: the title links follow it.
      await page.click(
        `[data-testid='recent-commands'] tr[data-command-id="${done}"] button`,
      );
      await page.waitForFunction(
        (id) =>
          document.querySelector(
            ".terminal-title [data-testid='recording-cast']",
          )?.getAttribute("href")?.includes(id),
        {},
        done,
      );
      await screenshot(page, "recording-links.png");
      assert.deepEqual(errors, []);
    } finally {
      await agent.kill();
      await dash.close();
    }
  },
});
