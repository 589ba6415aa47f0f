/**
 * The log page in Chromium: a line opened by link far below the color that
 * was set above it is drawn in that color (the window's `sgr`), and stderr
 * lines are drawn distinctly (red, with a red rule at their left).
 */
import assert from "node:assert/strict";
import type { Page } from "puppeteer-core";
import { launchBrowser } from "./browser.ts";
import {
  queueCommand,
  RawAgent,
  startTestServer,
  TestClient,
  waitAgentStatus,
  waitFinal,
} from "./helpers.ts";

const AGENT = "style-e2e";

const numbered = (from: number, to: number) =>
  Array.from({ length: to - from + 1 }, (_, i) => `line ${from + i}\n`).join(
    "",
  );

/** Line `n`'s row once loaded: its class and its spans' classes and styles. */
async function row(page: Page, n: number) {
  await page.waitForSelector(`[data-line="${n}"][data-loaded="1"]`, {
    timeout: 20_000,
  });
  return await page.$eval(`[data-line="${n}"]`, (el) => ({
    cls: el.className,
    spans: [...el.querySelectorAll(".lt > span")].map((s) => [
      s.textContent,
      s.className,
      s.getAttribute("style") ?? "",
    ]),
    color: getComputedStyle(el.querySelector(".lt")!).color,
    rule: getComputedStyle(el.querySelector(".lt")!).borderLeftStyle,
  }));
}

Deno.test({
  name:
    "Log page in Chromium: a color set 250 lines above a linked line carries into it; stderr lines are distinct",
  sanitizeResources: false, // Chromium's pipes outlive the test's resource scope.
  sanitizeOps: false,
  async fn() {
    await using server = await startTestServer();
    const dash = await TestClient.dashboard(server);
    await using agent = await RawAgent.connect(server, AGENT);
    await using browser = await launchBrowser();
    await waitAgentStatus(dash, AGENT, "online");
    const id = await queueCommand(dash, {
      agentId: AGENT,
      command: "fake output",
    });
    await agent.waitFor((m) => m.type === "command:execute");
    agent.send("command:started", { commandId: id, startedAt: Date.now() });
    const chunks = [
      { stream: "stdout", data: "\x1b[1;31m" + numbered(1, 149) },
      { stream: "stdout", data: "\x1b[48;5;17m" + numbered(150, 600) },
      { stream: "stdout", data: "\x1b[0m" + numbered(601, 700) },
      { stream: "stderr", data: "oops 701\n" },
      { stream: "stdout", data: "line 702\n" },
    ];
    chunks.forEach((chunk, i) =>
      agent.send("terminal:output", { commandId: id, seq: i + 1, ...chunk })
    );
    agent.send("command:completed", {
      commandId: id,
      exitCode: 0,
      status: "completed",
      completedAt: Date.now(),
      lastSeq: chunks.length,
    });
    assert.equal((await waitFinal(dash, id)).status, "completed");

    const page = await browser.newPage();
    await page.setViewport({ width: 1280, height: 900 });
    const code = server.services.loginCodes.create("viewer");
    await page.goto(`${server.url}/login?code=${code}`, {
      waitUntil: "domcontentloaded",
    });
    // Line 450 is in the third block of 200 lines: fetched on its own.
    await page.goto(`${server.url}/agents/${AGENT}/commands/${id}#L450`, {
      waitUntil: "domcontentloaded",
    });
    const red = await row(page, 450);
    assert.deepEqual(red.spans, [[
      "line 450",
      "fg-1 b",
      "background: rgb(0, 0, 95);",
    ]]);
    assert.equal(red.cls, "log-line sel");

    await page.goto(`${server.url}/agents/${AGENT}/commands/${id}#L701`, {
      waitUntil: "domcontentloaded",
    });
    const err = await row(page, 701);
    const out = await row(page, 702);
    assert.deepEqual(
      [err.cls, err.spans, err.color, err.rule],
      [
        "log-line sel log-err",
        [["oops 701", "", ""]],
        "rgb(248, 81, 73)",
        "solid",
      ],
    );
    assert.deepEqual(
      [out.cls, out.spans, out.rule],
      ["log-line", [["line 702", "", ""]], "none"],
    );
    assert.notEqual(out.color, err.color);
  },
});
