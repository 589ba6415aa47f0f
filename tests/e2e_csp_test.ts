/**
 * The dashboard runs under its Content-Security-Policy in real Chromium:
 * islands hydrate from the external boot module, the socket connects, a
 * command's output reaches xterm, and the browser reports no CSP violation.
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
import { CONTENT_SECURITY_POLICY } from "../lib/server/http_security.ts";

Deno.test({
  name:
    "Dashboard in Chromium works under the CSP (no inline script) and reports no violation",
  sanitizeResources: false, // Chromium's pipes outlive the test's resource scope.
  sanitizeOps: false,
  async fn() {
    await using server = await startTestServer();
    await using browser = await launchBrowser();
    const page = await browser.newPage();
    const errors: string[] = [];
    const cspConsole: string[] = [];
    page.on("pageerror", (error) => errors.push(String(error)));
    page.on("console", (message) => {
      if (/Content Security Policy/i.test(message.text())) {
        cspConsole.push(message.text());
      }
    });
    // Runs before any page script (DevTools injects it past the CSP).
    await page.evaluateOnNewDocument(() => {
      const seen: string[] = [];
      Object.assign(globalThis, { __cspViolations: seen });
      document.addEventListener("securitypolicyviolation", (e) => {
        seen.push(`${e.violatedDirective} ${e.blockedURI}`);
      });
    });
    const code = server.services.loginCodes.create("admin");
    const response = await page.goto(`${server.url}/login?code=${code}`, {
      waitUntil: "domcontentloaded",
    });
    assert.equal(
      response?.headers()["content-security-policy"],
      CONTENT_SECURITY_POLICY,
    );
    assert.equal(new URL(page.url()).pathname, "/");
    await page.waitForSelector(
      '[data-testid="connection-status"][data-state="connected"]',
    );
    const inline = await page.$$eval(
      "script:not([src])",
      (scripts) =>
        scripts.filter((s) => s.getAttribute("type") !== "application/json")
          .length,
    );
    assert.equal(inline, 0, "no inline executable script on the page");

    const agent = await AgentProcess.start(server, "csp-1");
    try {
      await selectAgent(page, "csp-1");
      await sendCommand(page, "echo csp-$((40+2))");
      await eventually(async () => {
        const lines = await terminalLines(page);
        return lines.includes("csp-42") ? lines : null;
      }, "the command output in the terminal");
    } finally {
      await agent.kill("SIGKILL").catch(() => {});
    }
    const violations = await page.evaluate(() =>
      (globalThis as unknown as { __cspViolations: string[] }).__cspViolations
    );
    assert.deepEqual(violations, []);
    assert.deepEqual(cspConsole, []);
    assert.deepEqual(errors, []);
  },
});
