/**
 * End to end in real Chromium: the admin audit page filters by user, and
 * the token page onboards an agent (create, copy the command, a real agent
 * started with exactly that command connects, revoking disconnects it).
 * Screenshots go to tests/artifacts/.
 */
import assert from "node:assert/strict";
import type { Page } from "puppeteer-core";
import { ARTIFACTS, launchBrowser } from "./browser.ts";
import {
  AgentProcess,
  queueCommand,
  ROOT,
  startTestServer,
  TestClient,
  type TestServer,
  waitAgentStatus,
  waitFinal,
} from "./helpers.ts";

async function signInAs(
  page: Page,
  server: TestServer,
  user: string,
): Promise<void> {
  const code = server.services.loginCodes.create("admin", undefined, user);
  await page.goto(`${server.url}/login?code=${code}`, {
    waitUntil: "domcontentloaded",
  });
  await page.waitForSelector(
    '[data-testid="connection-status"][data-state="connected"]',
  );
}

async function operator(server: TestServer, user: string) {
  const token = await server.services.auth.sign({
    role: "operator",
    subject: user,
  });
  const client = new TestClient(`${server.wsUrl}/ws/dashboard`, {
    authorization: `Bearer ${token}`,
  });
  await client.opened();
  await client.waitFor((m) => m.type === "agent:list");
  return client;
}

/** The text of every cell of column `testId` in the audit table. */
function actors(page: Page): Promise<string[]> {
  return page.$$eval(
    '[data-testid="audit-actor"]',
    (cells) => cells.map((c) => c.textContent ?? ""),
  );
}

Deno.test({
  name: "Admin audit page in Chromium: lists who did what and filters by user",
  sanitizeResources: false, // Chromium's pipes outlive the test's resource scope.
  sanitizeOps: false,
  async fn() {
    await Deno.mkdir(ARTIFACTS, { recursive: true });
    await using server = await startTestServer();
    await using browser = await launchBrowser();
    const agent = await AgentProcess.start(server, "audit-e2e");
    const alice = await operator(server, "alice");
    const bob = await operator(server, "bob");
    try {
      await waitAgentStatus(alice, "audit-e2e", "online");
      const a = await queueCommand(alice, {
        agentId: "audit-e2e",
        command: "echo from-alice",
      });
      await waitFinal(alice, a);
      const b = await queueCommand(bob, {
        agentId: "audit-e2e",
        command: "echo from-bob",
      });
      await waitFinal(bob, b);
      await server.services.audit.flush();

      const context = await browser.createBrowserContext();
      const page = await context.newPage();
      await page.setViewport({ width: 1440, height: 900 });
      const errors: string[] = [];
      page.on("pageerror", (error) => errors.push(String(error)));
      await signInAs(page, server, "carol");
      assert.equal(
        await page.$eval('[data-testid="user"] .user-id', (e) => e.textContent),
        "carol",
      );
      await page.click('[data-testid="nav-audit"]');
      await page.waitForSelector('[data-testid="audit"]');
      const everyone = await actors(page);
      for (const who of ["alice", "bob", "agent:audit-e2e", "carol"]) {
        assert.ok(everyone.includes(who), `${who} in ${everyone}`);
      }
      // Each command entry links to its command's page.
      const link = await page.$eval(
        `a[href="/agents/audit-e2e/commands/${b}"]`,
        (e) => e.textContent,
      );
      assert.ok(link?.startsWith("audit-e2e / "));

      await page.type('input[name="actor"]', "bob");
      await Promise.all([
        page.waitForNavigation({ waitUntil: "domcontentloaded" }),
        page.click('[data-testid="audit-filters"] button[type="submit"]'),
      ]);
      assert.equal(new URL(page.url()).searchParams.get("actor"), "bob");
      assert.deepEqual(await actors(page), ["bob"]);
      const rows = await page.$$eval(
        '[data-testid="audit"] tbody tr',
        (trs) => trs.map((tr) => tr.getAttribute("data-action")),
      );
      assert.deepEqual(rows, ["command.request"]);
      assert.equal(
        await page.$eval('input[name="actor"]', (e) => e.value),
        "bob",
      );
      await page.screenshot({ path: `${ARTIFACTS}/audit-filtered.png` });

      // A bad filter is a clear error on the page, not a crash.
      await page.goto(`${server.url}/admin/audit?from=yesterday`, {
        waitUntil: "domcontentloaded",
      });
      assert.match(
        await page.$eval('[role="alert"]', (e) => e.textContent ?? ""),
        /^Invalid from "yesterday"/,
      );
      assert.deepEqual(errors, []);
    } finally {
      await alice.close();
      await bob.close();
      await agent.kill();
    }
  },
});

Deno.test({
  name:
    "Token page in Chromium: create an agent, copy its command, the agent started with it connects, revoking disconnects it",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await Deno.mkdir(ARTIFACTS, { recursive: true });
    await using server = await startTestServer();
    await using browser = await launchBrowser();
    const context = await browser.createBrowserContext();
    await context.overridePermissions(server.url, [
      "clipboard-read",
      "clipboard-write",
      "clipboard-sanitized-write",
    ]);
    const page = await context.newPage();
    await page.setViewport({ width: 1440, height: 900 });
    const errors: string[] = [];
    page.on("pageerror", (error) => errors.push(String(error)));
    await signInAs(page, server, "carol");
    await page.click('[data-testid="nav-tokens"]');
    await page.waitForSelector('[data-testid="create-agent-form"]');
    await page.type(
      '[data-testid="create-agent-form"] input[name="name"]',
      "edge-1",
    );
    await Promise.all([
      page.waitForNavigation({ waitUntil: "domcontentloaded" }),
      page.click('[data-testid="create-agent-form"] button[type="submit"]'),
    ]);
    await page.waitForSelector(
      '[data-testid="agent-command-copy"]:not([disabled])',
    );
    await page.click('[data-testid="agent-command-copy"]');
    await page.waitForSelector(
      '[data-testid="agent-command-copy"][data-state="copied"]',
    );
    const copied = await page.evaluate(() => navigator.clipboard.readText());
    const shown = await page.$eval(
      '[data-testid="agent-command"]',
      (e) => e.textContent ?? "",
    );
    assert.equal(copied, shown);
    // The token is passed through the environment, never as a flag.
    assert.match(copied, /^export FLIGHTDECK_TOKEN='[\w.-]+'\n/);
    assert.ok(!copied.includes("--token"));
    await page.screenshot({ path: `${ARTIFACTS}/tokens-created.png` });
    // The listing shows the new token, not its secret.
    const token = /FLIGHTDECK_TOKEN='([\w.-]+)'/.exec(copied)![1];
    const listing = await page.$eval(
      '[data-testid="tokens"]',
      (e) => e.textContent ?? "",
    );
    assert.ok(listing.includes("agent:edge-1"));
    assert.ok(listing.includes("carol"));
    assert.ok(!listing.includes(token));

    const watcher = await TestClient.dashboard(server, "viewer");
    // Exactly the copied command, run by a shell in a checkout.
    const agent = new Deno.Command("bash", {
      args: ["-c", copied],
      cwd: ROOT,
      stdin: "null",
      stdout: "null",
      stderr: "piped",
      env: { NO_PROXY: "127.0.0.1,localhost" },
    }).spawn();
    const stderr = agent.stderr.pipeThrough(new TextDecoderStream());
    let log = "";
    const draining = (async () => {
      for await (const chunk of stderr) log += chunk;
    })();
    try {
      await waitAgentStatus(watcher, "edge-1", "online", 30_000);
      // Revoke from the page: the agent is disconnected and exits (3).
      await page.goto(`${server.url}/admin/tokens`, {
        waitUntil: "domcontentloaded",
      });
      await Promise.all([
        page.waitForNavigation({ waitUntil: "domcontentloaded" }),
        page.click('[data-testid="revoke"]'),
      ]);
      assert.match(
        await page.$eval('[role="status"]', (e) => e.textContent ?? ""),
        /^Revoked the token of agent:edge-1/,
      );
      await waitAgentStatus(watcher, "edge-1", "offline");
      const status = await agent.status;
      await draining;
      assert.equal(status.code, 3, log);
      await server.services.audit.flush();
      const page2 = await server.services.audit.store.list({ limit: 100 });
      const tokenEntries = page2.entries.filter((e) =>
        e.action.startsWith("token.")
      );
      assert.deepEqual(
        tokenEntries.map((e) => [e.action, e.actor, e.target.agentId]),
        [["token.revoke", "carol", "edge-1"], [
          "token.mint",
          "carol",
          "edge-1",
        ]],
      );
      assert.deepEqual(errors, []);
    } finally {
      try {
        agent.kill("SIGTERM");
      } catch {
        // Already gone.
      }
      await agent.status;
      await watcher.close();
    }
  },
});
