/**
 * End to end in real Chromium: the agent page's server-rendered history
 * table re-runs a command (a new command, same text, agent and priority,
 * requested by whoever clicked) and says what became of it; a viewer's
 * button is disabled and says why.
 */
import assert from "node:assert/strict";
import type { Page } from "puppeteer-core";
import type { Role } from "../lib/protocol.ts";
import { eventually, launchBrowser, newPage, textOf } from "./browser.ts";
import {
  AgentProcess,
  queueCommand,
  startTestServer,
  TestClient,
  type TestServer,
  waitAgentStatus,
  waitFinal,
} from "./helpers.ts";

const AGENT = "hist-1";

async function signInAs(
  page: Page,
  server: TestServer,
  name: string,
  role: Role,
): Promise<void> {
  const token = await server.services.auth.sign({ role, subject: name });
  await page.goto(`${server.url}/login?next=/agents/${AGENT}`, {
    waitUntil: "domcontentloaded",
  });
  await page.type('textarea[name="token"]', token);
  await Promise.all([
    page.waitForNavigation({ waitUntil: "domcontentloaded" }),
    page.click('button[type="submit"]'),
  ]);
  assert.equal(new URL(page.url()).pathname, `/agents/${AGENT}`);
  await page.waitForSelector(
    '[data-testid="connection-status"][data-state="connected"]',
  );
}

Deno.test("The history table re-runs a command as a new one requested by the clicker; a viewer cannot", async () => {
  await using server = await startTestServer();
  const agent = await AgentProcess.start(server, AGENT);
  const watcher = await TestClient.dashboard(server);
  await using browser = await launchBrowser();
  try {
    await waitAgentStatus(watcher, AGENT, "online");
    const first = await queueCommand(watcher, {
      agentId: AGENT,
      command: "echo history-rerun",
      priority: "low",
    });
    assert.equal((await waitFinal(watcher, first)).status, "completed");

    const alice = await newPage(browser);
    await signInAs(alice, server, "alice", "operator");
    const button =
      `[data-testid="command-history"] tr[data-command-id="${first}"] [data-testid="history-rerun"]`;
    await alice.waitForSelector(`${button}:not([disabled])`);
    await alice.click(button);
    const answer = await eventually(async () => {
      const text = (await textOf(
        alice,
        `[data-testid="command-history"] tr[data-command-id="${first}"] [data-testid="history-rerun-answer"]`,
      )).trim();
      return /^Re-run completed on hist-1$/.test(text) ? text : null;
    }, "the re-run's answer");
    assert.equal(answer, "Re-run completed on hist-1");
    const again = watcher.of("command:status").map((s) => s.command)
      .findLast((c) => c.command === "echo history-rerun")!;
    assert.notEqual(again.id, first);
    assert.deepEqual(
      [again.agentId, again.priority, again.requestedBy],
      [AGENT, "low", "alice"],
    );
    assert.equal((await waitFinal(watcher, again.id)).status, "completed");

    const vic = await newPage(browser);
    await signInAs(vic, server, "vic", "viewer");
    await vic.waitForSelector(
      `[data-testid="command-history"] tr[data-command-id="${first}"] [data-testid="history-rerun"][disabled][title="Viewers cannot run commands"]`,
    );
  } finally {
    await watcher.close();
    await agent.kill();
  }
});
