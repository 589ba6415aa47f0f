/**
 * End to end in real Chromium: an admin forgets an offline agent from the
 * agent list. The Forget control shows only for admins and only once the
 * agent is offline; it asks "Forget <name>? Yes / No" (keyboard operable);
 * on Yes the agent leaves every open tab, and its own page says it was
 * forgotten. Screenshots at 1440 and 390 px go to tests/artifacts/.
 */
import assert from "node:assert/strict";
import type { Page } from "puppeteer-core";
import { ARTIFACTS, launchBrowser, screenshot } from "./browser.ts";
import { AgentProcess, startTestServer } from "./helpers.ts";

const AGENT = "forget-e2e";
const ROW = `[data-testid="agent-${AGENT}"]`;
const FORGET = `[data-testid="forget-${AGENT}"]`;

/** The data-testid of the focused element. */
function focused(page: Page): Promise<string | null> {
  return page.evaluate(() =>
    document.activeElement?.getAttribute("data-testid") ?? null
  );
}

async function signIn(page: Page, url: string, code: string, path = "/") {
  await page.goto(`${url}/login?code=${code}`, {
    waitUntil: "domcontentloaded",
  });
  if (path !== "/") {
    await page.goto(`${url}${path}`, { waitUntil: "domcontentloaded" });
  }
  await page.waitForSelector(
    '[data-testid="connection-status"][data-state="connected"]',
  );
}

Deno.test({
  name:
    "Dashboard in Chromium: an admin forgets an offline agent; it leaves every tab, operators get no Forget",
  sanitizeResources: false, // Chromium's pipes outlive the test's resource scope.
  sanitizeOps: false,
  async fn() {
    await Deno.mkdir(ARTIFACTS, { recursive: true });
    await using server = await startTestServer();
    await using browser = await launchBrowser();
    const errors: string[] = [];

    // Admin tab 1: the dashboard at desktop width.
    const wide = await browser.newPage();
    await wide.setViewport({ width: 1440, height: 900 });
    wide.on("pageerror", (error) => errors.push(String(error)));
    await signIn(wide, server.url, server.services.loginCodes.create("admin"));

    // An operator in a separate profile (its own session cookie).
    const operatorContext = await browser.createBrowserContext();
    const operator = await operatorContext.newPage();
    await operator.setViewport({ width: 1440, height: 900 });
    operator.on("pageerror", (error) => errors.push(String(error)));
    await signIn(
      operator,
      server.url,
      server.services.loginCodes.create("operator"),
    );

    const agent = await AgentProcess.start(server, AGENT);
    try {
      await wide.waitForSelector(`${ROW}[data-status="online"]`, {
        timeout: 20_000,
      });
      // Admin tab 2: the agent's own page at phone width (same session).
      const narrow = await browser.newPage();
      await narrow.setViewport({ width: 390, height: 844 });
      narrow.on("pageerror", (error) => errors.push(String(error)));
      await narrow.goto(`${server.url}/agents/${AGENT}`, {
        waitUntil: "domcontentloaded",
      });
      await narrow.waitForSelector(
        '[data-testid="connection-status"][data-state="connected"]',
      );
      for (const tab of [narrow, operator]) {
        await tab.waitForSelector(`${ROW}[data-status="online"]`);
      }
      // Online: nobody may forget it.
      for (const tab of [wide, narrow, operator]) {
        assert.equal(await tab.$(FORGET), null, "no Forget while online");
      }

      await agent.kill("SIGKILL");
      for (const tab of [wide, narrow, operator]) {
        await tab.waitForSelector(`${ROW}[data-status="offline"]`, {
          timeout: 10_000,
        });
      }
      // Offline: admins get Forget, the operator does not.
      await wide.waitForSelector(`${FORGET}:not([disabled])`);
      await narrow.waitForSelector(`${FORGET}:not([disabled])`);
      assert.equal(await operator.$(FORGET), null, "no Forget for operators");
      assert.equal(
        await operator.$eval(ROW, (el) => el.getAttribute("data-status")),
        "offline",
      );
      await screenshot(narrow, "forget-390-offline.png");
      // The phone-width tab asks too (by click).
      await narrow.click(FORGET);
      await narrow.waitForSelector(`[data-testid="forget-confirm-${AGENT}"]`);
      await screenshot(narrow, "forget-390-confirm.png");

      // The agent connects again while the question is open and Yes is
      // pressed before the tab hears of it: the server refuses, the tab says
      // why. (The tab's main thread is held by a synchronous poll of
      // /api/agents, so it handles no socket message until it has clicked.)
      const clicked = narrow.evaluate(
        (yes: string, id: string) => {
          const deadline = Date.now() + 30_000;
          while (Date.now() < deadline) {
            const xhr = new XMLHttpRequest();
            xhr.open("GET", "/api/agents", false);
            xhr.send();
            const agents: { id: string; status: string }[] =
              JSON.parse(xhr.responseText).agents;
            if (agents.some((a) => a.id === id && a.status !== "offline")) {
              document.querySelector<HTMLElement>(yes)!.click();
              return true;
            }
            const pause = Date.now() + 20;
            while (Date.now() < pause) { /* poll about 50 times a second */ }
          }
          return false;
        },
        `[data-testid="forget-yes-${AGENT}"]`,
        AGENT,
      );
      const again = await AgentProcess.start(server, AGENT);
      try {
        assert.equal(
          await clicked,
          true,
          "Yes clicked once the agent was back",
        );
        const refusal = `[data-testid="forget-error-${AGENT}"]`;
        await narrow.waitForSelector(refusal);
        assert.equal(
          await narrow.$eval(refusal, (el) => el.textContent),
          `${AGENT} is connected again; stop it before forgetting it` +
            "Dismiss",
        );
        await narrow.waitForSelector(`${ROW}[data-status="online"]`);
        assert.equal(await narrow.$(FORGET), null, "no Forget while online");
        assert.notEqual(server.services.registry.get(AGENT), undefined);
        await screenshot(narrow, "forget-390-refused.png");
      } finally {
        await again.kill("SIGKILL");
      }
      for (const tab of [wide, narrow, operator]) {
        await tab.waitForSelector(`${ROW}[data-status="offline"]`, {
          timeout: 10_000,
        });
      }
      // Dismiss gives the focus back to Forget; ask again and leave the
      // question open: the removal below must close it.
      await narrow.click(`[data-testid="forget-dismiss-${AGENT}"]`);
      await narrow.waitForSelector(`[data-testid="forget-error-${AGENT}"]`, {
        hidden: true,
      });
      assert.equal(await focused(narrow), `forget-${AGENT}`);
      await narrow.click(FORGET);
      await narrow.waitForSelector(`[data-testid="forget-confirm-${AGENT}"]`);

      // Keyboard: Enter asks, focus goes to No; Escape cancels and gives the
      // focus back to Forget.
      await wide.bringToFront();
      await wide.focus(FORGET);
      await wide.keyboard.press("Enter");
      const confirm = `[data-testid="forget-confirm-${AGENT}"]`;
      await wide.waitForSelector(confirm);
      assert.equal(
        await wide.$eval(confirm, (el) => el.textContent),
        `Forget ${AGENT}?YesNo`,
      );
      assert.equal(await focused(wide), `forget-no-${AGENT}`);
      await wide.keyboard.press("Escape");
      await wide.waitForSelector(confirm, { hidden: true });
      assert.equal(await focused(wide), `forget-${AGENT}`);
      // Nothing was sent: the agent is still listed everywhere.
      for (const tab of [wide, narrow, operator]) {
        assert.notEqual(await tab.$(ROW), null);
      }

      // Ask again, screenshot the question, then Shift+Tab to Yes, Enter.
      await wide.keyboard.press("Enter");
      await wide.waitForSelector(confirm);
      await screenshot(wide, "forget-1440-confirm.png");
      await wide.keyboard.down("Shift");
      await wide.keyboard.press("Tab");
      await wide.keyboard.up("Shift");
      assert.equal(await focused(wide), `forget-yes-${AGENT}`);
      await wide.keyboard.press("Enter");

      // Gone from every tab; its own page says so and links back.
      for (const tab of [wide, narrow, operator]) {
        await tab.waitForSelector(ROW, { hidden: true, timeout: 10_000 });
      }
      await narrow.waitForSelector('[data-testid="agent-forgotten"]');
      assert.equal(
        await narrow.$eval(
          '[data-testid="agent-forgotten"]',
          (el) => el.textContent,
        ),
        "This agent was forgotten. Back to all agents",
      );
      assert.equal(
        await narrow.$eval(
          '[data-testid="agent-forgotten-back"]',
          (el) => el.getAttribute("href"),
        ),
        "/",
      );
      assert.equal(await wide.$('[data-testid="agent-forgotten"]'), null);
      // The tab that asked says so, focused; the other tab's open question
      // just closed.
      await wide.waitForSelector('[data-testid="forget-done"]');
      assert.equal(
        await wide.$eval('[data-testid="forget-done"]', (el) => el.textContent),
        `${AGENT} was forgotten.OK`,
      );
      assert.equal(await focused(wide), "forget-done-ok");
      assert.equal(await narrow.$('[data-testid="forget-done"]'), null);
      assert.equal(
        await narrow.$(`[data-testid="forget-confirm-${AGENT}"]`),
        null,
      );
      assert.equal(server.services.registry.get(AGENT), undefined);
      await screenshot(narrow, "forget-390-forgotten.png");
      await screenshot(wide, "forget-1440-after.png");
      assert.deepEqual(errors, [], "no uncaught errors in the pages");
    } finally {
      await agent.kill("SIGKILL");
    }
  },
});
