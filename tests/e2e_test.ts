/**
 * End to end in real Chromium: the dashboard shows a live agent, runs a
 * command with colored output, shows the same output in a second tab, and
 * marks the agent offline when its process dies.
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
import { AgentProcess, ROOT, startTestServer } from "./helpers.ts";

const SCREENSHOT = Deno.env.get("FLIGHTDECK_SCREENSHOT") ??
  `${ROOT}tests/artifacts/dashboard.png`;

Deno.test({
  name:
    "Dashboard in Chromium runs a command, streams colors to two tabs, sees the agent die",
  sanitizeResources: false, // Chromium's pipes outlive the test's resource scope.
  sanitizeOps: false,
  async fn() {
    await using server = await startTestServer();
    await using browser = await launchBrowser();
    const page = await browser.newPage();
    await page.setViewport({ width: 1280, height: 800 });
    const errors: string[] = [];
    page.on("pageerror", (error) => errors.push(String(error)));

    // Sign in with a one-time link, as an operator would.
    const code = server.services.loginCodes.create("admin");
    await page.goto(`${server.url}/login?code=${code}`, {
      waitUntil: "domcontentloaded",
    });
    assert.equal(new URL(page.url()).pathname, "/");
    await page.waitForSelector(
      '[data-testid="connection-status"][data-state="connected"]',
    );

    // An agent appears without reloading.
    const agent = await AgentProcess.start(server, "e2e-1");
    try {
      const row = '[data-testid="agent-e2e-1"]';
      await selectAgent(page, "e2e-1");

      // Run a command with colored, multi-byte output.
      const command =
        "printf 'plain \\033[31mred-text\\033[0m \\033[1;32mgreen-text\\033[0m é€\\n'; echo done-$((40+2))";
      await sendCommand(page, command);
      const lines = await eventually(async () => {
        const text = await terminalLines(page);
        return text.includes("done-42") ? text : null;
      }, "the command output in the terminal");
      assert.ok(
        lines.some((l) => l === "plain red-text green-text é€"),
        `terminal shows the text with escapes applied: ${
          JSON.stringify(lines)
        }`,
      );
      assert.ok(
        !lines.some((l) => !l.startsWith("$ ") && l.includes("[31m")),
        "escape codes are not printed raw",
      );
      assert.equal(
        await terminalColorOf(page, "red-text"),
        1,
        "red text keeps ANSI color 1",
      );
      assert.equal(
        await terminalColorOf(page, "green-text"),
        2,
        "green text keeps ANSI color 2",
      );
      assert.equal(
        await terminalColorOf(page, "plain"),
        -1,
        "plain text has the default color",
      );

      // A second tab shows the same output.
      const second = await browser.newPage();
      await second.setViewport({ width: 1280, height: 800 });
      await second.goto(server.url, { waitUntil: "domcontentloaded" });
      await second.waitForSelector(
        '[data-testid="connection-status"][data-state="connected"]',
      );
      await second.click(row);
      const secondLines = await eventually(async () => {
        const text = await terminalLines(second);
        return text.includes("done-42") ? text : null;
      }, "the output in the second tab");
      const pick = (all: string[]) =>
        all.filter((l) => l.startsWith("plain ") || l === "done-42");
      assert.deepEqual(pick(secondLines), pick(lines));
      assert.equal(await terminalColorOf(second, "red-text"), 1);

      await Deno.mkdir(SCREENSHOT.slice(0, SCREENSHOT.lastIndexOf("/")), {
        recursive: true,
      });
      // A background tab paints no frames: a screenshot of it would wait.
      await page.bringToFront();
      await page.screenshot({ path: SCREENSHOT });
      // deno-lint-ignore no-console -- the test prints where the screenshot is
      console.log(`Screenshot saved to ${SCREENSHOT}`);

      // Kill the agent: both tabs show it offline.
      await agent.kill("SIGKILL");
      for (const tab of [page, second]) {
        await tab.waitForSelector(`${row}[data-status="offline"]`, {
          timeout: 5_000,
        });
      }
      assert.deepEqual(errors, [], "no uncaught errors in the page");
    } finally {
      await agent.kill("SIGKILL");
    }
  },
});
