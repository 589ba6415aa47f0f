/**
 * "Restart session" in real Chromium, with a real server and a real agent
 * process in session mode whose program exits at once (`--restart never`):
 * the terminal view and the agent list say the session failed with its exit
 * code (the list not as a waiting agent), the terminal view offers
 * Restart session to an operator (not to a viewer); a click starts a new
 * session record, which the page shows ending in turn. Screenshot in
 * tests/artifacts/.
 */
import assert from "node:assert/strict";
import type { CommandInfo } from "../lib/protocol.ts";
import {
  launchBrowser,
  screenshot,
  selectAgent,
  signedInPage,
} from "./browser.ts";
import {
  AgentProcess,
  startTestServer,
  TestClient,
  waitAgentStatus,
} from "./helpers.ts";

const AGENT = "restart-e2e";
const ENDED = '[data-testid="session-ended"]';
const BUTTON = '[data-testid="restart-session"]';

function sessionsOf(client: TestClient): CommandInfo[] {
  const byId = new Map<string, CommandInfo>();
  for (const { command } of client.of("command:status")) {
    if (command.agentId === AGENT && command.kind === "session") {
      byId.set(command.id, command);
    }
  }
  return [...byId.values()];
}

Deno.test({
  name:
    "Dashboard in Chromium: an ended session shows its exit code and Restart session; a click starts a new session record",
  sanitizeResources: false, // Chromium's pipes outlive the test's resource scope.
  sanitizeOps: false,
  async fn() {
    await using server = await startTestServer();
    const agent = await AgentProcess.start(server, AGENT, [
      "--session",
      "--",
      "bash",
      "-c",
      "echo run; exit 3",
    ]);
    const admin = await TestClient.dashboard(server, "admin");
    try {
      await waitAgentStatus(admin, AGENT, "online");
      await admin.until(
        () => sessionsOf(admin).some((c) => c.status === "failed"),
        { what: "the first session ended" },
      );
      await using browser = await launchBrowser();
      const errors: string[] = [];
      const operator = await signedInPage(browser, server, { errors });
      const viewer = await signedInPage(browser, server, {
        role: "viewer",
        errors,
      });
      for (const page of [operator, viewer]) {
        await selectAgent(page, AGENT, "online");
        await page.waitForSelector(ENDED);
        assert.equal(
          await page.$eval(
            '[data-testid="session-ended-text"]',
            (el) => el.textContent,
          ),
          "Session failed (exit 3)",
        );
        // The agent list says it too, in words, and not as a waiting agent.
        const card = `[data-testid="agent-${AGENT}"]`;
        await page.waitForSelector(`${card}[data-session-end="failed"]`);
        assert.deepEqual(
          await page.$eval(card, (el) => [
            el.getAttribute("data-activity"),
            el.querySelector('[data-testid="session-end-restart-e2e"]')
              ?.textContent,
          ]),
          [null, "✕Session failed (exit 3)"],
        );
      }
      // No prompt can be sent to it: the command bar says why.
      assert.deepEqual(
        await operator.$eval('[data-testid="command-input"]', (el) => [
          (el as HTMLTextAreaElement).disabled,
          (el as HTMLTextAreaElement).placeholder,
        ]),
        [true, `${AGENT}'s session ended: restart it to send prompts`],
      );
      assert.equal(await viewer.$(BUTTON), null, "no button for a viewer");
      assert.equal(
        await operator.$eval(BUTTON, (el) => el.textContent),
        "Restart session",
      );
      await screenshot(operator, "restart-session-1440.png");

      await operator.click(BUTTON);
      const restarted = await admin.until(
        () => {
          const all = sessionsOf(admin);
          return all.length === 2 && all.every((c) => c.status === "failed") &&
            all;
        },
        { what: "a second session, ended too" },
      );
      assert.notEqual(restarted[0].id, restarted[1].id);
      assert.equal(restarted[1].exitCode, 3);
      // The page offers it again for the new record.
      await operator.waitForSelector(ENDED);
      assert.deepEqual(errors, []);
    } finally {
      await admin.close();
      await agent.kill();
    }
  },
});
