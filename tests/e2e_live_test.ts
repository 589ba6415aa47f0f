/**
 * End to end in real Chromium, with a real server and a raw agent running a
 * command: an operator takes control of the agent's terminal and types into
 * xterm (the agent gets exactly those keystrokes and the terminal's size);
 * a second operator sees who has control, and its typing is not sent; a
 * needs-input agent stands out in the list (badge, icon, text), the tab
 * title counts it, and a quick answer takes control and types its key; a
 * viewer gets no control button. Screenshots at 1440 and 390 px go to
 * tests/artifacts/.
 */
import assert from "node:assert/strict";
import type { Page } from "puppeteer-core";
import {
  ARTIFACTS,
  eventually,
  launchBrowser,
  openTerminal,
  screenshot,
  signedInPage,
  textOf,
} from "./browser.ts";
import {
  queueCommand,
  RawAgent,
  type RawMessage,
  startTestServer,
  TestClient,
  waitAgentStatus,
  waitStatus,
} from "./helpers.ts";

const AGENT = "live-e2e";
const ROW = `[data-testid="agent-${AGENT}"]`;
const CONTROL = '[data-testid="control-button"]';

/** Record the payloads of WebSocket frames `page` sends. */
async function sentFrames(page: Page): Promise<string[]> {
  const frames: string[] = [];
  const cdp = await page.createCDPSession();
  cdp.on("Network.webSocketFrameSent", (event) => {
    frames.push(event.response.payloadData);
  });
  await cdp.send("Network.enable");
  return frames;
}

function typesIn(frames: string[], type: string): unknown[] {
  return frames.map((f) => JSON.parse(f)).filter((m) => m.type === type)
    .map((m) => m.payload);
}

/** The data-testid of the focused element. */
function focusedTestId(page: Page): Promise<string | null> {
  return page.evaluate(() =>
    document.activeElement?.getAttribute("data-testid") ?? null
  );
}

/** Whether the keyboard focus is inside the terminal. */
function inTerminal(page: Page): Promise<boolean> {
  return page.evaluate(() =>
    document.querySelector('[data-testid="terminal"]')?.contains(
      document.activeElement,
    ) ?? false
  );
}

Deno.test({
  name:
    "Dashboard in Chromium: take control, type into xterm, see the holder elsewhere, answer a needs-input agent with a quick answer",
  sanitizeResources: false, // Chromium's pipes outlive the test's resource scope.
  sanitizeOps: false,
  async fn() {
    await Deno.mkdir(ARTIFACTS, { recursive: true });
    await using server = await startTestServer();
    await using agent = await RawAgent.connect(server, AGENT);
    const admin = await TestClient.dashboard(server, "admin");
    await waitAgentStatus(admin, AGENT, "online");
    const commandId = await queueCommand(admin, {
      agentId: AGENT,
      command: "claude",
    });
    await agent.waitFor((m) => m.type === "command:execute");
    agent.send("command:started", { commandId, startedAt: Date.now() });
    await waitStatus(admin, commandId, "running");
    await admin.close();
    const inputs = () =>
      (agent.raw as RawMessage[]).filter((m) => m.type === "terminal:input")
        .map((m) => m.payload.data);

    await using browser = await launchBrowser();
    const errors: string[] = [];
    const op1 = await signedInPage(browser, server, { errors });
    const op2 = await signedInPage(browser, server, { errors });
    const viewer = await signedInPage(browser, server, {
      role: "viewer",
      errors,
    });
    const op1Frames = await sentFrames(op1);
    const op2Frames = await sentFrames(op2);
    for (const page of [op1, op2, viewer]) {
      await openTerminal(page, AGENT);
      await page.waitForSelector(
        '[data-testid="control-line"][data-state="free"]',
      );
    }
    const op1User = await textOf(op1, ".user-id");

    // The operator takes control: the agent gets the terminal's size.
    assert.equal(await textOf(op1, CONTROL), "Take control");
    await op1.click(CONTROL);
    await op1.waitForSelector(
      '[data-testid="control-line"][data-state="mine"]',
    );
    assert.equal(
      await textOf(op1, '[data-testid="control-text"]'),
      "You have control",
    );
    assert.equal(await textOf(op1, CONTROL), "Release");
    const resize = await agent.waitFor((m) => m.type === "terminal:resize");
    const size = await op1.evaluate(() => {
      const t = (globalThis as unknown as {
        __flightdeckTerminal: { cols: number; rows: number };
      }).__flightdeckTerminal;
      return { cols: t.cols, rows: t.rows };
    });
    assert.deepEqual(resize.payload, { commandId, ...size });

    // The terminal has the focus: typing goes to the agent, key by key.
    await op1.keyboard.type("hi");
    await eventually(
      () => Promise.resolve(inputs().length >= 2),
      "the keystrokes at the agent",
    );
    assert.deepEqual(inputs(), ["h", "i"]);
    // Ctrl+] leaves the terminal for the control button.
    await op1.keyboard.down("Control");
    await op1.keyboard.press("BracketRight");
    await op1.keyboard.up("Control");
    assert.equal(await focusedTestId(op1), "control-button");
    assert.equal(await inTerminal(op1), false);

    // The second operator sees who has control and has no button; its
    // typing is not sent.
    await op2.waitForSelector(
      '[data-testid="control-line"][data-state="other"]',
    );
    assert.equal(
      await textOf(op2, '[data-testid="control-text"]'),
      `${op1User} has control`,
    );
    assert.equal(await op2.$(CONTROL), null);
    await op2.click('[data-testid="terminal"]');
    await op2.keyboard.type("zz");
    // Without control the terminal keeps no keys: Tab leaves it.
    assert.equal(await inTerminal(op2), true);
    await op2.keyboard.press("Tab");
    assert.equal(await inTerminal(op2), false);
    await op1.click('[data-testid="terminal"]');
    await op1.keyboard.type("!");
    await eventually(
      () => Promise.resolve(inputs().length >= 3),
      "the third keystroke",
    );
    assert.deepEqual(inputs(), ["h", "i", "!"]);
    // The recorder hears of a sent frame through DevTools, which may come
    // after the agent already got it.
    await eventually(
      () => Promise.resolve(typesIn(op1Frames, "terminal:input").length >= 3),
      "the recorder's third input frame",
    );
    assert.deepEqual(typesIn(op2Frames, "terminal:input"), []);
    assert.deepEqual(
      typesIn(op1Frames, "terminal:input"),
      ["h", "i", "!"].map((data) => ({ agentId: AGENT, data })),
      "the frame recorder sees input frames",
    );

    // The viewer sees the holder, no button.
    await viewer.waitForSelector(
      '[data-testid="control-line"][data-state="other"]',
    );
    assert.equal(await viewer.$(CONTROL), null);

    // The agent needs input: every list shows it, the title counts it.
    agent.send("agent:activity", {
      activity: "needs-input",
      attention: "Proceed?",
      options: [{ key: "1", label: "Yes" }, { key: "2", label: "No" }],
    });
    for (const page of [op1, op2, viewer]) {
      await page.waitForSelector(`${ROW}[data-activity="needs-input"]`);
      const badge = `[data-testid="activity-${AGENT}"]`;
      assert.equal(await textOf(page, badge), "?needs input");
      assert.equal(await textOf(page, `${badge} .activity-icon`), "?");
      await eventually(
        async () => (await page.title()) === "(1) Flightdeck",
        "the counted title",
      );
      assert.equal(
        await textOf(page, '[data-testid="attention-text"]'),
        "Proceed?",
      );
    }
    // Only a tab that may take control gets quick answers.
    assert.equal(await viewer.$('[data-testid="quick-answers"]'), null);
    assert.equal(await op2.$('[data-testid="quick-answers"]'), null);

    // Released, one click on "1. Yes" takes control and types "1".
    await op1.click(CONTROL);
    await op1.waitForSelector(
      '[data-testid="control-line"][data-state="free"]',
    );
    const answers = await op1.$$eval(
      '[data-testid="quick-answers"] button',
      (buttons) => buttons.map((b) => b.textContent),
    );
    assert.deepEqual(answers, [
      "1. Yes",
      "2. No",
      "Enter",
      "Esc",
      "Ctrl-C",
      "y",
      "n",
    ]);
    const [yes] = await op1.$$('[data-testid="quick-answers"] button');
    await yes.click();
    await op1.waitForSelector(
      '[data-testid="control-line"][data-state="mine"]',
    );
    await eventually(
      () => Promise.resolve(inputs().length >= 4),
      "the quick answer at the agent",
    );
    assert.deepEqual(inputs(), ["h", "i", "!", "1"]);

    // Screenshots: the operator in control at 1440 px, and at 390 px.
    await screenshot(op1, "live-1440.png");
    await op1.setViewport({ width: 390, height: 844 });
    await screenshot(op1, "live-390.png");

    // The answered question goes: no count in the title.
    agent.send("agent:activity", { activity: "working" });
    await eventually(
      async () => (await op1.title()) === "Flightdeck",
      "the title without a count",
    );
    assert.equal(await op1.$(`${ROW}[data-activity]`), null);

    // The command ends: typing now gets a short human error, not a code.
    agent.send("command:completed", {
      commandId,
      exitCode: 0,
      status: "completed",
      completedAt: Date.now(),
      lastSeq: 0,
    });
    await op1.waitForSelector(`${ROW}[data-status="online"]`);
    await op1.setViewport({ width: 1440, height: 900 });
    await op1.click('[data-testid="terminal"]');
    await op1.keyboard.type("q");
    await op1.waitForSelector('[data-testid="control-error"]');
    assert.equal(
      await textOf(op1, '[data-testid="control-error"]'),
      "The agent runs no command to type into.",
    );
    assert.deepEqual(inputs(), ["h", "i", "!", "1"]);
    assert.deepEqual(errors, [], "no uncaught errors in the page");
  },
});
