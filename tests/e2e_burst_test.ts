/**
 * A huge burst of output in Chromium: the terminal writes through xterm's
 * callbacks, so the tab stays responsive and ends with the last line.
 */
import assert from "node:assert/strict";
import {
  eventually,
  launchBrowser,
  selectAgent,
  sendCommand,
  terminalLines,
} from "./browser.ts";
import { AgentProcess, startTestServer } from "./helpers.ts";

Deno.test({
  name:
    "Dashboard in Chromium stays responsive through a 200,000-line burst and shows its end",
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
      await sendCommand(page, "seq 1 200000; echo burst-$((2*21))");
      // While the burst is written, the page keeps answering.
      let answers = 0;
      const lines = await eventually(
        async () => {
          answers += await page.evaluate(() => 1);
          const text = await terminalLines(page);
          return text.includes("burst-42") ? text : null;
        },
        "the end of the burst",
        60_000,
      );
      assert.ok(answers > 0);
      const tail = lines.slice(
        lines.indexOf("burst-42") - 3,
        lines.indexOf("burst-42") + 1,
      );
      assert.deepEqual(tail, ["199998", "199999", "200000", "burst-42"]);
      assert.deepEqual(errors, [], "no uncaught errors in the page");
    } finally {
      await agent.kill("SIGKILL");
    }
  },
});
