/**
 * End to end in real Chromium with a real server and a real session agent
 * (`bash` after 6000 lines of history, so a dashboard opens it from a
 * screen snapshot): the tab in control tells the program its size once, and
 * redrawing the snapshot (Load earlier output) sends no resize; a paste is
 * cleaned before it goes out, so clipboard text cannot end the bracketed
 * paste early or act as keys.
 */
import assert from "node:assert/strict";
import type { Page } from "puppeteer-core";
import {
  eventually,
  launchBrowser,
  selectAgent,
  terminalLines,
} from "./browser.ts";
import { AgentProcess, startTestServer, TestClient } from "./helpers.ts";

const AGENT = "ctl-term";
// deno-lint-ignore no-control-regex -- the bracketed paste's start marker
const PASTE_START = /^\x1b\[200~/;
// deno-lint-ignore no-control-regex -- and its end marker
const PASTE_END = /\x1b\[201~$/;

/** The payloads of `type` frames `page` sends, as they are sent. */
async function sentOf(page: Page, type: string): Promise<unknown[]> {
  const sent: unknown[] = [];
  const cdp = await page.createCDPSession();
  cdp.on("Network.webSocketFrameSent", (event) => {
    const frame = JSON.parse(event.response.payloadData);
    if (frame.type === type) sent.push(frame.payload);
  });
  await cdp.send("Network.enable");
  return sent;
}

Deno.test({
  name:
    "Chromium, in control of a session: one resize, none when the snapshot is drawn again; pastes go out without control characters",
  sanitizeResources: false, // Chromium's pipes outlive the test's resource scope.
  sanitizeOps: false,
  async fn() {
    await using server = await startTestServer();
    const operator = await TestClient.dashboard(server, "operator");
    const pad = "x".repeat(40);
    const agent = await AgentProcess.start(server, AGENT, [
      "--type",
      "shell",
      "--cols",
      "100",
      "--rows",
      "30",
      "--session",
      "--",
      "bash",
      "-c",
      `seq -f 'history line %g ${pad}' 1 6000; exec bash --norc --noprofile -i`,
    ]);
    try {
      const session = await operator.until(
        () =>
          operator.of("command:status").map((m) => m.command).find((c) =>
            c.agentId === AGENT && c.kind === "session"
          ),
        { what: "the session" },
      );
      const { commands } = server.services;
      // The server holds a snapshot covering everything printed so far.
      await eventually(
        async () => {
          const screen = commands.latestScreen(session.id);
          return screen && screen.seq === commands.broadcastSeq(session.id) &&
            (await commands.get(session.id))!.outputBytes > 300_000;
        },
        "a snapshot of the whole history",
        30_000,
      );

      await using browser = await launchBrowser();
      const page = await (await browser.createBrowserContext()).newPage();
      await page.setViewport({ width: 1440, height: 900 });
      const resizes = await sentOf(page, "terminal:resize");
      const inputs = await sentOf(page, "terminal:input");
      const code = server.services.loginCodes.create("operator");
      await page.goto(`${server.url}/login?code=${code}`, {
        waitUntil: "domcontentloaded",
      });
      await page.waitForSelector(
        '[data-testid="connection-status"][data-state="connected"]',
      );
      await selectAgent(page, AGENT, "busy");
      await eventually(
        async () => (await terminalLines(page)).some((l) => l.includes("$")),
        "the shell's prompt on screen",
      );
      await page.click('[data-testid="control-button"]');
      await eventually(
        () => Promise.resolve(resizes.length > 0),
        "the size sent",
      );
      const size = resizes[0] as { cols: number; rows: number };
      assert.notDeepEqual([size.cols, size.rows], [100, 30], "the tab's size");

      // Two pages of earlier output: the snapshot is drawn again each time.
      for (let page_ = 0; page_ < 2; page_++) {
        const lines = (await terminalLines(page)).length;
        await (await page.waitForSelector(
          '[data-testid="load-earlier"]:not([disabled])',
        ))!.click();
        await eventually(
          async () => (await terminalLines(page)).length > lines,
          "an earlier page drawn",
        );
      }
      // Then type: everything sent before this key is in `resizes` by now.
      await page.focus(".xterm-helper-textarea");
      await page.keyboard.type("e");
      await eventually(
        () => Promise.resolve(inputs.length > 0),
        "the key sent",
      );
      assert.equal(resizes.length, 1, JSON.stringify(resizes));

      // A paste holding the paste-end marker and Ctrl-C.
      await page.evaluate(() => {
        const data = new DataTransfer();
        data.setData("text/plain", "cho ok\x1b[201~rm -rf ~\x03\r\nnext");
        document.querySelector(".xterm-helper-textarea")!.dispatchEvent(
          new ClipboardEvent("paste", {
            clipboardData: data,
            bubbles: true,
            cancelable: true,
          }),
        );
      });
      await eventually(
        () => Promise.resolve(inputs.length > 1),
        "the paste sent",
      );
      const pasted = (inputs.slice(1) as { data: string }[])
        .map((p) => p.data).join("");
      // Bracketed if the shell asked for it (bash does), line ends as
      // xterm sends them, nothing else that is a control character.
      assert.equal(
        pasted.replace(PASTE_START, "").replace(PASTE_END, ""),
        "cho ok[201~rm -rf ~\rnext",
      );
    } finally {
      await operator.close();
      await agent.kill();
    }
  },
});
