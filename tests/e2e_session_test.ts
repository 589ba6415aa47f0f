/**
 * End to end in real Chromium: the dashboard renews its short-lived session
 * by itself (the HttpOnly cookie through `POST /api/session/refresh`, the
 * socket through `auth:refresh`), and "Log out" (a POST form) ends the
 * session in every tab at once.
 */
import assert from "node:assert/strict";
import { eventually, launchBrowser } from "./browser.ts";
import { startTestServer, TestClient } from "./helpers.ts";

const CONNECTED = '[data-testid="connection-status"][data-state="connected"]';

Deno.test({
  name:
    "Dashboard in Chromium stays signed in past its token lifetime; Log out signs every tab out",
  sanitizeResources: false, // Chromium's pipes outlive the test's resource scope.
  sanitizeOps: false,
  async fn() {
    await using server = await startTestServer({ accessTtlSeconds: 8 });
    await using browser = await launchBrowser();
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on("pageerror", (error) => errors.push(String(error)));
    const code = server.services.loginCodes.create("admin");
    await page.goto(`${server.url}/login?code=${code}`, {
      waitUntil: "domcontentloaded",
    });
    assert.equal(new URL(page.url()).pathname, "/");
    await page.waitForSelector(CONNECTED);
    const cookieValue = async () =>
      (await page.cookies()).find((c) => c.name === "flightdeck_session")
        ?.value;
    const first = await cookieValue();
    assert.ok(first);

    // A socket with the first cookie that never renews: closed at the
    // original expiry, which marks that moment.
    const control = new TestClient(`${server.wsUrl}/ws/dashboard`, {
      cookie: `flightdeck_session=${first}`,
    });
    assert.deepEqual(await control.waitClosed(15_000), {
      code: 4401,
      reason: "Token expired",
    });
    // The page renewed its cookie and its socket by itself.
    assert.notEqual(await cookieValue(), first);
    assert.ok(await page.$(CONNECTED), "still connected past the expiry");

    // A second tab of the same session; Log out in the first ends both.
    const second = await browser.newPage();
    await second.goto(server.url, { waitUntil: "domcontentloaded" });
    await second.waitForSelector(CONNECTED);
    await page.bringToFront(); // A background tab handles no clicks.
    await Promise.all([
      page.waitForNavigation({ waitUntil: "domcontentloaded" }),
      page.click("form.logout button"),
    ]);
    assert.equal(new URL(page.url()).pathname, "/login");
    await second.waitForSelector(
      '[data-testid="connection-status"][data-state="offline"]',
    );
    await eventually(
      async () =>
        (await second.$eval(
          '[data-testid="connection-status"]',
          (el) => el.textContent ?? "",
        )).toLowerCase().includes("signed out"),
      "the second tab says why",
    );
    await second.reload({ waitUntil: "domcontentloaded" });
    assert.equal(new URL(second.url()).pathname, "/login");
    assert.deepEqual(errors, []);
  },
});

Deno.test({
  name:
    "Signing in by pasting a token into the /login form works in Chromium under the page's referrer policy",
  sanitizeResources: false, // Chromium's pipes outlive the test's resource scope.
  sanitizeOps: false,
  async fn() {
    await using server = await startTestServer();
    await using browser = await launchBrowser();
    const page = await browser.newPage();
    await page.goto(`${server.url}/login`, { waitUntil: "domcontentloaded" });
    await page.type('textarea[name="token"]', await server.token("operator"));
    await Promise.all([
      page.waitForNavigation({ waitUntil: "domcontentloaded" }),
      page.click('form[action="/login"] button[type="submit"]'),
    ]);
    // The form's POST carried this page's origin, so it was not refused.
    assert.equal(new URL(page.url()).pathname, "/");
    await page.waitForSelector(CONNECTED);
  },
});
