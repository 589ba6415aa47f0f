/**
 * End to end in real Chromium: browser notifications. A real server, a real
 * session agent running the fake Claude-like CLI, and a plain agent the page
 * shows. The page's browser context is granted the notifications permission;
 * `window.Notification` is wrapped before load (evaluateOnNewDocument) to
 * record the notifications constructed and the permission requests: the
 * browser's API is observed, nothing of ours is stubbed. Loading asks
 * nothing and shows nothing; "Notify me" turns them on and is remembered
 * across a reload; the agent's permission dialog (needs-input) fires exactly
 * one notification with the agent's name and the question; the answer does
 * not fire another, the next question does; clicking the notification opens
 * the agent, whose next question then fires none (the tab shows it).
 */
import assert from "node:assert/strict";
import {
  eventually,
  launchBrowser,
  newPage,
  selectAgent,
  signInPage,
} from "./browser.ts";
import {
  AgentProcess,
  sendOk,
  startTestServer,
  takeControl,
  TestClient,
} from "./helpers.ts";
import { startSessionAgent } from "./session_agent.ts";

const ASKER = "build-1";
const OTHER = "idle-1";

/** What the wrapped `Notification` recorded in the page. */
interface Recorded {
  shown: { title: string; body?: string; tag?: string }[];
  asked: number;
}

Deno.test({
  name:
    "Chromium: Notify me on a click, then a needs-input transition of a real session agent fires exactly one notification; clicking it opens the agent",
  sanitizeResources: false, // Chromium's pipes outlive the test's resource scope.
  sanitizeOps: false,
  async fn() {
    await using server = await startTestServer();
    const cwd = await Deno.makeTempDir({ prefix: "fd-notify-" });
    const asker = await startSessionAgent(server, ASKER, {
      cwd,
      cliFlags: ["--work-ms", "200"],
    });
    const other = await AgentProcess.start(server, OTHER);
    const operator = await TestClient.dashboard(server, "operator");
    try {
      await using browser = await launchBrowser();
      const context = await browser.createBrowserContext();
      await context.overridePermissions(server.url, ["notifications"]);
      const errors: string[] = [];
      const page = await newPage(browser, { context, errors });
      await page.evaluateOnNewDocument(() => {
        const Real = globalThis.Notification;
        const recorded = { shown: [] as unknown[], asked: 0, instances: [] };
        class Recording extends Real {
          constructor(title: string, options?: NotificationOptions) {
            super(title, options);
            recorded.shown.push({
              title,
              body: options?.body,
              tag: options?.tag,
            });
            (recorded.instances as Notification[]).push(this);
          }
          static override get permission() {
            return Real.permission;
          }
          static override requestPermission() {
            recorded.asked++;
            return Real.requestPermission();
          }
        }
        globalThis.Notification = Recording;
        (globalThis as unknown as { __notifications: unknown })
          .__notifications = recorded;
      });
      const recorded = () =>
        page.evaluate(() => {
          const r = (globalThis as unknown as { __notifications: Recorded })
            .__notifications;
          return { shown: r.shown, asked: r.asked };
        });
      await signInPage(page, server);
      // The page shows the other agent: the asker is not in view.
      await selectAgent(page, OTHER);
      await page.waitForSelector(`[data-testid="agent-${ASKER}"]`);

      // Loading asked nothing and showed nothing; the switch is off.
      await page.waitForSelector('[data-testid="notify-toggle"]');
      assert.equal(
        await page.$eval('[data-testid="notify-toggle"]', (b) => b.textContent),
        "Notify me",
      );
      assert.deepEqual(await recorded(), { shown: [], asked: 0 });
      await page.click('[data-testid="notify-toggle"]');
      await page.waitForSelector(
        '[data-testid="notify-toggle"][data-state="on"]',
      );
      // Remembered: a reload starts on, without asking.
      await page.reload({ waitUntil: "domcontentloaded" });
      await page.waitForSelector(
        '[data-testid="notify-toggle"][data-state="on"]',
      );
      await page.waitForSelector(
        '[data-testid="connection-status"][data-state="connected"]',
      );
      await selectAgent(page, OTHER);
      assert.deepEqual(await recorded(), { shown: [], asked: 0 });

      // The session asks for permission: one notification.
      const activity = () =>
        operator.of("agent:status").findLast((m) => m.agent.id === ASKER)
          ?.agent;
      await operator.until(() => activity()?.activity === "waiting", {
        what: `${ASKER} waiting`,
      });
      await takeControl(operator, ASKER);
      await sendOk(operator, "terminal:input", {
        agentId: ASKER,
        data: "write hello.txt\r",
      });
      await operator.until(() => activity()?.activity === "needs-input", {
        what: `${ASKER} needs input`,
      });
      const question = activity()!.attention!;
      assert.match(question, /create hello\.txt\?/);
      await page.waitForSelector(
        `[data-testid="agent-${ASKER}"][data-activity="needs-input"]`,
      );
      await eventually(
        async () => (await recorded()).shown.length > 0,
        "a notification",
      );
      assert.deepEqual(await recorded(), {
        shown: [{
          title: `${ASKER} needs you`,
          body: question,
          tag: `flightdeck-agent-${ASKER}`,
        }],
        asked: 0,
      });

      // Answered: working, then waiting again; nothing more fires.
      await sendOk(operator, "terminal:input", { agentId: ASKER, data: "1" });
      await operator.until(
        () =>
          operator.of("agent:status").filter((m) => m.agent.id === ASKER)
            .map((m) => m.agent.activity).join().endsWith("working,waiting"),
        { what: `${ASKER} waiting again` },
      );
      await page.waitForSelector(
        `[data-testid="agent-${ASKER}"][data-activity="waiting"]`,
      );
      assert.equal((await recorded()).shown.length, 1);

      // The next question is a new transition: a second notification.
      await sendOk(operator, "terminal:input", {
        agentId: ASKER,
        data: "write again.txt\r",
      });
      await eventually(
        async () => (await recorded()).shown.length === 2,
        "a second notification",
      );
      assert.match(
        (await recorded()).shown[1].body ?? "",
        /create again\.txt\?/,
      );

      // Clicking it (the event the browser fires) opens the agent.
      await page.evaluate(() => {
        const r = (globalThis as unknown as {
          __notifications: { instances: Notification[] };
        }).__notifications;
        r.instances[1].dispatchEvent(new Event("click"));
      });
      await page.waitForSelector(
        `[data-testid="agent-${ASKER}"][aria-current="true"]`,
      );
      assert.equal((await recorded()).shown.length, 2);

      // The tab now shows the asker, visible and focused: its next question
      // shows on the page and fires no notification.
      assert.deepEqual(
        await page.evaluate(() => [
          document.visibilityState,
          document.hasFocus(),
        ]),
        ["visible", true],
      );
      await sendOk(operator, "terminal:input", { agentId: ASKER, data: "1" });
      await page.waitForSelector(
        `[data-testid="agent-${ASKER}"][data-activity="waiting"]`,
      );
      await sendOk(operator, "terminal:input", {
        agentId: ASKER,
        data: "write third.txt\r",
      });
      await page.waitForFunction(
        () =>
          document.querySelector('[data-testid="attention-text"]')?.textContent
            ?.includes("third.txt"),
      );
      assert.equal((await recorded()).shown.length, 2);
      assert.deepEqual(errors, []);
    } finally {
      await operator.close();
      await asker.kill();
      await other.kill();
      await Deno.remove(cwd, { recursive: true });
    }
  },
});
