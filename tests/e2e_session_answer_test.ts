/**
 * End to end in real Chromium with a real server and a real session agent
 * (`--type claude --session -- <fake Claude-like CLI>`): an operator takes
 * control, types a prompt into xterm, the program asks for permission, the
 * list shows the badge and the tab title counts it; the quick answer
 * "1. Yes" (parsed from the program's screen) approves, the file appears,
 * and the badge and count go. Screenshot in tests/artifacts/.
 */
import assert from "node:assert/strict";
import {
  ARTIFACTS,
  eventually,
  launchBrowser,
  openTerminal,
  screenshot,
  signedInPage,
  takeControlIn,
  textOf,
} from "./browser.ts";
import { startTestServer } from "./helpers.ts";
import { startSessionAgent } from "./session_agent.ts";

const AGENT = "answer-e2e";
const ROW = `[data-testid="agent-${AGENT}"]`;

Deno.test({
  name:
    "Dashboard in Chromium, real session agent: take control, type a prompt into xterm, see the badge and counted title, approve with the quick answer, the file appears",
  sanitizeResources: false, // Chromium's pipes outlive the test's resource scope.
  sanitizeOps: false,
  async fn() {
    await Deno.mkdir(ARTIFACTS, { recursive: true });
    await using server = await startTestServer();
    const cwd = await Deno.makeTempDir({ prefix: "fd-e2e-answer-" });
    const agent = await startSessionAgent(server, AGENT, {
      cwd,
      cliFlags: ["--work-ms", "300"],
    });
    try {
      await using browser = await launchBrowser();
      const errors: string[] = [];
      const page = await signedInPage(browser, server, { errors });
      await openTerminal(page, AGENT);
      // The session waits at its prompt (the list says so).
      await page.waitForSelector(`${ROW}[data-activity="waiting"]`);

      await takeControlIn(page);
      await page.keyboard.type("write x.txt");
      await page.keyboard.press("Enter");

      // The permission dialog: badge, icon and text; the title counts it.
      await page.waitForSelector(`${ROW}[data-activity="needs-input"]`, {
        timeout: 20_000,
      });
      assert.equal(
        await textOf(page, `[data-testid="activity-${AGENT}"]`),
        "?needs input",
      );
      await eventually(
        async () => (await page.title()) === "(1) Flightdeck",
        "the counted title",
      );
      assert.match(
        await textOf(page, '[data-testid="attention-text"]'),
        /create x\.txt\?/,
      );
      const answers = await page.$$eval(
        '[data-testid="quick-answers"] button',
        (buttons) => buttons.map((b) => b.textContent ?? ""),
      );
      assert.deepEqual(answers.slice(0, 3), [
        "1. Yes",
        "2. Yes, and don't ask again this session",
        "3. No, and tell Claude what to do differently (esc)",
      ]);
      await assert.rejects(Deno.stat(`${cwd}/x.txt`), Deno.errors.NotFound);
      await screenshot(page, "session-answer-1440.png");

      const [yes] = await page.$$('[data-testid="quick-answers"] button');
      await yes.click();
      await eventually(
        () => Deno.readTextFile(`${cwd}/x.txt`).then((t) => t, () => null),
        "the approved file",
        20_000,
      ).then((content) => assert.equal(content, "hello from fake cli\n"));
      // Answered: the session works, then waits; no count in the title.
      await page.waitForSelector(`${ROW}[data-activity="waiting"]`, {
        timeout: 20_000,
      });
      await eventually(
        async () => (await page.title()) === "Flightdeck",
        "the title without a count",
      );
      assert.deepEqual(errors, []);
    } finally {
      await agent.kill();
      await Deno.remove(cwd, { recursive: true });
    }
  },
});
