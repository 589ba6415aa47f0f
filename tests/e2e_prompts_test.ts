/**
 * End to end in real Chromium, with a real server and a real session agent
 * (`--session -- <fake Claude-like CLI>`): the command bar says it sends a
 * prompt; the prompt is typed into the session and ends completed; the
 * history lists it as a prompt, and opening it shows its turn only (its
 * slice of the session's output), not the session's banner nor another
 * prompt's turn. A screenshot goes to tests/artifacts/.
 */
import assert from "node:assert/strict";
import {
  eventually,
  launchBrowser,
  screenshot,
  selectAgent,
  sendCommand,
  signedInPage,
  terminalLines,
} from "./browser.ts";
import { startTestServer, TestClient, waitFinal } from "./helpers.ts";
import { startSessionAgent } from "./session_agent.ts";

const AGENT = "prompt-e2e";

Deno.test({
  name:
    "Dashboard in Chromium: the command bar sends a prompt to a session agent; history lists prompts and opens each one's own turn",
  sanitizeResources: false, // Chromium's pipes outlive the test's resource scope.
  sanitizeOps: false,
  async fn() {
    await using server = await startTestServer();
    const cwd = await Deno.makeTempDir({ prefix: "fd-prompt-e2e-" });
    const agent = await startSessionAgent(server, AGENT, {
      cwd,
      cliFlags: ["--work-ms", "300"],
    });
    const watcher = await TestClient.dashboard(server, "viewer");
    try {
      await using browser = await launchBrowser();
      const errors: string[] = [];
      const page = await signedInPage(browser, server, { errors });
      await selectAgent(page, AGENT, "busy");
      const button = await page.$eval(
        '[data-testid="send-button"]',
        (el) => el.textContent ?? "",
      );
      assert.equal(button.trim(), "Send prompt");
      const placeholder = await page.$eval(
        '[data-testid="command-input"]',
        (el) => (el as HTMLTextAreaElement).placeholder,
      );
      assert.match(placeholder, /^Prompt for prompt-e2e's session/);

      const finals = [];
      for (const text of ["alpha-prompt", "beta-prompt"]) {
        const from = watcher.messages.length;
        await sendCommand(page, text);
        const queued = await watcher.waitFor(
          (m) =>
            m.type === "command:status" && m.payload.command.command === text,
          { from },
        );
        if (queued.type !== "command:status") throw new Error("unreachable");
        finals.push(await waitFinal(watcher, queued.payload.command.id));
      }
      for (const f of finals) {
        assert.deepEqual([f.kind, f.status], ["prompt", "completed"]);
      }

      // The history lists both as prompts; opening the first shows its turn.
      const row = (id: string) =>
        `[data-testid="recent-commands"] tr[data-command-id="${id}"]`;
      for (const f of finals) {
        await page.waitForSelector(`${row(f.id)} [data-testid="kind-tag"]`);
        const tag = await page.$eval(
          `${row(f.id)} [data-testid="kind-tag"]`,
          (el) => el.textContent ?? "",
        );
        assert.equal(tag.trim(), "prompt");
      }
      await page.click(`${row(finals[0].id)} button.link`);
      const lines = await eventually(async () => {
        const lines = await terminalLines(page);
        const text = lines.join("\n");
        return text.includes("Done: alpha-prompt") &&
          text.includes("[completed (exit 0)]") && lines;
      }, "the first prompt's turn in the terminal");
      const text = lines.join("\n");
      // The slice starts with the program's redraw of its input region
      // (relative cursor moves), which may draw over the header line.
      assert.match(text, /^> alpha-prompt$/m);
      assert.doesNotMatch(text, /Welcome to Fake AI CLI/);
      assert.doesNotMatch(text, /beta-prompt/);
      await screenshot(page, "prompt-slice-1440.png");

      // The agent's own view shows the session, not each prompt again.
      await page.click(`${row(finals[0].id)} button.link`);
      const session = await eventually(async () => {
        const text = (await terminalLines(page)).join("\n");
        return text.includes("Welcome to Fake AI CLI") &&
          text.includes("Done: beta-prompt") && text;
      }, "the session's output");
      // Each turn once: the prompts are not drawn again after the session.
      assert.equal(session.match(/Done: alpha-prompt/g)?.length, 1);
      assert.equal(session.match(/Done: beta-prompt/g)?.length, 1);
      assert.deepEqual(errors, []);
    } finally {
      await watcher.close();
      await agent.kill();
      await Deno.remove(cwd, { recursive: true });
    }
  },
});
