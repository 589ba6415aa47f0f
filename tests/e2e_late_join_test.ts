/**
 * End to end in real Chromium, with a real server and a real session agent
 * whose program prints 6,000 lines of history and then runs the fake AI
 * CLI (which clears the screen and scrollback, then asks for permission):
 * a dashboard opened afterwards shows the current screen (the dialog) from
 * the agent's snapshot without the history coming over the wire, and "Load
 * earlier output", clicked until it reaches the start, brings the history
 * into the terminal's scrollback above the screen. A screenshot goes to
 * tests/artifacts/.
 */
import assert from "node:assert/strict";
import type { Page } from "puppeteer-core";
import {
  eventually,
  launchBrowser,
  newPage,
  screenshot,
  selectAgent,
  signInPage,
  terminalLines,
} from "./browser.ts";
import { FAKE_CLI } from "./fixtures/fake_ai_cli_driver.ts";
import { sendOk, startTestServer, takeControl, TestClient } from "./helpers.ts";
import {
  startSessionAgent,
  waitSession,
  waitSnapshotCurrent,
} from "./session_agent.ts";

const AGENT = "late-e2e";

/** Payloads of the WebSocket frames `page` receives, by type. */
async function receivedFrames(
  page: Page,
): Promise<{ type: string; payload: Record<string, unknown> }[]> {
  const frames: { type: string; payload: Record<string, unknown> }[] = [];
  const cdp = await page.createCDPSession();
  cdp.on("Network.webSocketFrameReceived", (event) => {
    frames.push(JSON.parse(event.response.payloadData));
  });
  await cdp.send("Network.enable");
  return frames;
}

Deno.test({
  name:
    "Dashboard in Chromium: a late joiner sees the current screen of a long session at once, and loads earlier output on demand",
  sanitizeResources: false, // Chromium's pipes outlive the test's resource scope.
  sanitizeOps: false,
  async fn() {
    await using server = await startTestServer();
    const cwd = await Deno.makeTempDir({ prefix: "fd-late-e2e-" });
    const operator = await TestClient.dashboard(server, "operator");
    // 6000 lines of 60 bytes: over snapshotMinBytes (256 KiB), and within
    // the page terminal's 10,000 lines of scrollback once loaded.
    const pad = "x".repeat(40);
    const program = `seq -f 'history line %g ${pad}' 1 6000; ` +
      `exec '${Deno.execPath()}' run -A '${FAKE_CLI}' --work-ms 200`;
    const agent = await startSessionAgent(server, AGENT, {
      cwd,
      cols: 100,
      rows: 30,
      program: ["bash", "-c", program],
    });
    try {
      const session = await waitSession(operator, AGENT);
      await operator.until(
        () =>
          operator.of("agent:status").some((m) =>
            m.agent.id === AGENT && m.agent.activity === "waiting"
          ),
        { what: "the fake CLI at its prompt", timeoutMs: 30_000 },
      );
      await takeControl(operator, AGENT);
      await sendOk(operator, "terminal:input", {
        agentId: AGENT,
        data: "write e2e.txt\r",
      });
      await operator.until(
        () =>
          operator.of("agent:status").some((m) =>
            m.agent.id === AGENT && m.agent.activity === "needs-input"
          ),
        { what: "the permission dialog", timeoutMs: 30_000 },
      );
      const { commands } = server.services;
      await waitSnapshotCurrent(server, session.id, "a snapshot of the dialog");
      const total = (await commands.get(session.id))!.outputBytes;
      assert.ok(total > 300_000, `a long history (${total} bytes)`);

      await using browser = await launchBrowser();
      const errors: string[] = [];
      const page = await newPage(browser, { errors });
      const frames = await receivedFrames(page);
      await signInPage(page, server, "viewer");
      await selectAgent(page, AGENT, "busy");

      // The current screen: the dialog, drawn from the snapshot.
      await eventually(
        async () =>
          (await terminalLines(page)).some((l) =>
            l.includes("Do you want to create e2e.txt?")
          ),
        "the dialog in the late joiner's terminal",
      );
      // The CLI cleared the screen and scrollback when it started: the
      // history is not part of the current screen.
      const lines = await terminalLines(page);
      assert.ok(!lines.some((l) => l.startsWith("history line")));
      const mine = frames.filter((f) => f.payload.commandId === session.id);
      const snapshots = mine.filter((f) => f.type === "terminal:snapshot");
      assert.equal(snapshots.length, 1);
      const replayed = mine.filter((f) => f.type === "terminal:output")
        .reduce((n, f) => n + String(f.payload.data).length, 0);
      assert.ok(
        replayed + String(snapshots[0].payload.data).length < total / 2,
        `far less than the history came over the wire (${replayed} bytes of output)`,
      );
      await screenshot(page, "late-join-1440.png");

      // Older output on demand, page by page, until the first line.
      await eventually(async () => {
        const lines = await terminalLines(page);
        if (lines.includes(`history line 5 ${pad}`)) return true;
        await page.click('[data-testid="load-earlier"]:not([disabled])')
          .catch(() => {}); // loading: disabled for now
        return false;
      }, "the oldest history after Load earlier output");
      const after = await terminalLines(page);
      assert.ok(after.some((l) => l.includes("[earlier output from seq")));
      assert.ok(after.includes(`history line 6000 ${pad}`));
      // The current screen is still drawn below the older output.
      assert.ok(
        after.slice(-30).some((l) =>
          l.includes("Do you want to create e2e.txt?")
        ),
      );
      assert.deepEqual(errors, []);
    } finally {
      await operator.close();
      await agent.kill();
      await Deno.remove(cwd, { recursive: true });
    }
  },
});
