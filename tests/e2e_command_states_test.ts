/**
 * End to end in real Chromium, two named operators on one real agent: the
 * command bar answers in words ("Queued 2nd on build-1", "Interrupt sent to
 * build-1"), never a bare id, and resets the priority after each send; the
 * queue shows who asked for each command; the recent list and the history
 * table show who requested, cancelled and interrupted, why, the exit signal,
 * a timeout from the command bar's field, and a re-run as a new command.
 */
import assert from "node:assert/strict";
import type { Page } from "puppeteer-core";
import type { CommandInfo, Role } from "../lib/protocol.ts";
import {
  eventually,
  launchBrowser,
  newPage,
  screenshot,
  textOf,
} from "./browser.ts";
import {
  AgentProcess,
  outputOf,
  startTestServer,
  TestClient,
  type TestServer,
  waitAgentStatus,
  waitFinal,
  waitStatus,
} from "./helpers.ts";

const AGENT = "build-1";
const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/;

/** Sign `page` in with a token of user `name`, as pasted on the login page. */
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

/** The command bar's answer once it reads `expected` (a pattern). */
function barAnswer(page: Page, expected: RegExp): Promise<string> {
  return eventually(async () => {
    const text = (await textOf(page, '[data-testid="command-answer"]')).trim();
    return expected.test(text) ? text : null;
  }, `command bar answer ${expected}`);
}

/** Type `command` (with an optional priority and timeout) and send it. */
async function send(
  page: Page,
  command: string,
  options: { priority?: string; timeoutSeconds?: string } = {},
): Promise<void> {
  await page.waitForSelector('[data-testid="command-input"]:not([disabled])');
  if (options.priority) {
    await page.select('[data-testid="priority-select"]', options.priority);
  }
  if (options.timeoutSeconds) {
    await page.type('[data-testid="timeout-input"]', options.timeoutSeconds);
  }
  await page.type('[data-testid="command-input"]', command);
  await page.click('[data-testid="send-button"]');
}

/** The text of cell `testid` in the recent list's row of `commandId`. */
function recentCell(page: Page, commandId: string, testid: string) {
  return textOf(
    page,
    `[data-testid="recent-commands"] tr[data-command-id="${commandId}"] [data-testid="${testid}"]`,
  );
}

/** The newest command `text` of the watcher's, at `client`. */
function commandOf(client: TestClient, text: string): CommandInfo | undefined {
  return client.of("command:status").map((s) => s.command).findLast((c) =>
    c.command === text
  );
}

Deno.test({
  name:
    "Chromium: two operators' command bar feedback, queue, recent list and history show who requested, cancelled and interrupted; timeout field; re-run",
  sanitizeResources: false, // Chromium's pipes outlive the test's resource scope.
  sanitizeOps: false,
  async fn() {
    await using server = await startTestServer();
    await using browser = await launchBrowser();
    const errors: string[] = [];
    const watcher = await TestClient.dashboard(server, "viewer");
    const agent = await AgentProcess.start(server, AGENT);
    try {
      await waitAgentStatus(watcher, AGENT, "online", 20_000);
      const bob = await newPage(browser, { errors });
      await signInAs(bob, server, "bob", "operator");
      const alice = await newPage(browser, { errors });
      await signInAs(alice, server, "alice", "operator");

      // Bob: one runs, two wait; the answers say where, in words.
      // It prints first, so it is past its shell's start-up when
      // interrupted (and dies of SIGINT).
      await send(bob, "echo started; sleep 30");
      await barAnswer(bob, /^Running on build-1$/);
      const running = await waitStatus(
        watcher,
        commandOf(watcher, "echo started; sleep 30")!.id,
        "running",
      );
      await watcher.until(
        () => outputOf(watcher, running.id).text.includes("started"),
        { timeoutMs: 20_000, what: "the running command's output" },
      );
      await send(bob, "echo second-$((1+1))", { priority: "high" });
      assert.equal(await barAnswer(bob, /Queued/), "Queued 1st on build-1");
      assert.equal(
        await bob.$eval(
          '[data-testid="priority-select"]',
          (el) => (el as HTMLSelectElement).value,
        ),
        "normal",
        "the priority resets to normal after a send",
      );
      await send(bob, "echo third");
      assert.equal(
        await barAnswer(bob, /Queued 2nd/),
        "Queued 2nd on build-1",
      );
      const second = commandOf(watcher, "echo second-$((1+1))")!;
      const third = commandOf(watcher, "echo third")!;
      assert.equal(second.priority, "high");
      // The id is there on hover, not in the text.
      assert.match(
        await bob.$eval(
          '[data-testid="command-answer"] span',
          (el) => el.getAttribute("title") ?? "",
        ),
        new RegExp(`^Command ${third.id}$`),
      );

      // Alice sees who asked for each queued command, and cancels one.
      const queueItem = (id: string) =>
        `[data-testid="queue-list"] [data-command-id="${id}"]`;
      await alice.waitForSelector(queueItem(third.id));
      assert.equal(
        (await textOf(alice, `${queueItem(third.id)} [data-testid="queue-by"]`))
          .trim(),
        "by bob",
      );
      await alice.click(`${queueItem(third.id)} [data-testid="cancel-button"]`);
      const cancelled = await waitFinal(watcher, third.id);
      assert.deepEqual([cancelled.status, cancelled.endedBy], ["cancelled", {
        actor: "alice",
        role: "operator",
        reason: "cancelled from queue",
      }]);
      await eventually(
        async () =>
          (await textOf(alice, '[data-testid="queue-answer"]')).trim() ===
            "echo third: Cancelled on build-1 by alice",
        "the cancel's answer",
      );

      // Alice interrupts Bob's running command from the command bar.
      await alice.waitForSelector(
        '[data-testid="interrupt-button"]:not([disabled])',
      );
      await alice.click('[data-testid="interrupt-button"]');
      const interruptAnswer = await barAnswer(
        alice,
        /^(Interrupt sent to build-1|Interrupted on build-1 by alice \(SIGINT\))$/,
      );
      const interrupted = await waitFinal(watcher, running.id, 20_000);
      assert.deepEqual(
        [interrupted.status, interrupted.endedBy, interrupted.exitSignal],
        ["interrupted", {
          actor: "alice",
          role: "operator",
          reason: "interrupted from dashboard",
        }, "SIGINT"],
      );
      await waitFinal(watcher, second.id, 20_000);

      // Both pages' recent lists say who requested and who ended what.
      for (const page of [alice, bob]) {
        const ended = async (id: string, text: string) =>
          await eventually(
            async () =>
              (await recentCell(page, id, "ended-by")).trim() === text,
            `ended-by of ${id} reads ${text}`,
          );
        await ended(running.id, "by alice: interrupted from dashboard");
        await ended(third.id, "by alice: cancelled from queue");
        assert.equal(
          (await recentCell(page, running.id, "requested-by")).trim(),
          "bob",
        );
        assert.equal(
          await textOf(
            page,
            `[data-testid="recent-commands"] tr[data-command-id="${running.id}"] .badge`,
          ),
          "interrupted",
        );
      }
      assert.match(
        await textOf(
          alice,
          `[data-testid="recent-commands"] tr[data-command-id="${running.id}"]`,
        ),
        /SIGINT/,
      );

      // The command bar's timeout field: 1 s, then "timed out" by the server.
      await send(bob, "sleep 30", { timeoutSeconds: "1" });
      await eventually(async () =>
        (await bob.$eval(
          '[data-testid="timeout-input"]',
          (el) => (el as HTMLInputElement).value,
        )) === "", "the timeout field resets after a send");
      const timed = await eventually(
        () =>
          Promise.resolve(
            watcher.of("command:status").map((s) => s.command).find((c) =>
              c.command === "sleep 30" && c.id !== running.id
            ),
          ),
        "the timed command",
      );
      const timedOut = await waitFinal(watcher, timed.id, 20_000);
      assert.deepEqual(
        [timedOut.status, timedOut.timeoutMs, timedOut.endedBy],
        ["timeout", 1000, {
          actor: "server",
          role: "system",
          reason: "timed out after 1 s",
        }],
      );
      await eventually(
        async () =>
          (await textOf(
            bob,
            `[data-testid="recent-commands"] tr[data-command-id="${timed.id}"] .badge`,
          )) === "timed out",
        "timed out in the recent list",
      );

      // Re-run Bob's second command: a new command, same text, agent,
      // priority; requested by Alice.
      await alice.click(
        `[data-testid="recent-commands"] tr[data-command-id="${second.id}"] [data-testid="rerun-button"]`,
      );
      const rerunAnswer = await eventually(async () => {
        const text = (await textOf(alice, '[data-testid="queue-answer"]'))
          .trim();
        return /^Re-run completed on build-1$/.test(text) ? text : null;
      }, "the re-run's answer");
      const again = watcher.of("command:status").map((s) => s.command)
        .findLast((c) => c.command === second.command)!;
      assert.notEqual(again.id, second.id);
      assert.deepEqual(
        [again.agentId, again.priority, again.requestedBy],
        [AGENT, "high", "alice"],
      );
      assert.equal((await waitFinal(watcher, again.id)).status, "completed");

      // The details of a command, with its id, on selecting it.
      await alice.click(
        `[data-testid="recent-commands"] tr[data-command-id="${running.id}"] button.link`,
      );
      // The terminal's title names the command by its text, the id on hover.
      const title = await eventually(async () => {
        const text = await textOf(alice, ".terminal-title > span");
        return text.startsWith("Command ") ? text : null;
      }, "the terminal title of the shown command");
      assert.equal(title, 'Command "echo started; sleep 30"');
      assert.equal(
        await alice.$eval(
          ".terminal-title > span",
          (el) => el.getAttribute("title") ?? "",
        ),
        `Command ${running.id}`,
      );
      const detail = await textOf(alice, '[data-testid="command-detail"]');
      for (
        const part of [
          running.id,
          "by bob",
          "alice (operator)",
          "interrupted from dashboard",
          "SIGINT",
        ]
      ) {
        assert.ok(detail.includes(part), `detail shows ${part}: ${detail}`);
      }
      await screenshot(alice, "command-states.png");

      // The server-rendered history (a fresh load) says the same.
      await alice.reload({ waitUntil: "domcontentloaded" });
      const row = (id: string) =>
        `[data-testid="command-history"] tr[data-command-id="${id}"]`;
      const cell = async (id: string, testid: string) =>
        (await textOf(alice, `${row(id)} [data-testid="${testid}"]`)).trim();
      assert.deepEqual(
        [
          await cell(running.id, "requested-by"),
          await cell(running.id, "ended-by"),
        ],
        ["bob", "alice: interrupted from dashboard"],
      );
      assert.deepEqual(
        [
          await cell(third.id, "requested-by"),
          await cell(third.id, "ended-by"),
        ],
        ["bob", "alice: cancelled from queue"],
      );
      assert.deepEqual(
        [
          await cell(again.id, "requested-by"),
          await cell(again.id, "ended-by"),
        ],
        ["alice", ""],
      );
      assert.match(
        await alice.$eval(
          row(running.id),
          (el) => el.getAttribute("title") ?? "",
        ),
        new RegExp(`^Command ${running.id}\\n`),
      );

      // No answer was a bare id.
      for (const text of [interruptAnswer, rerunAnswer]) {
        assert.doesNotMatch(text, UUID);
      }
      assert.deepEqual(errors, []);
    } finally {
      await agent.kill();
      await watcher.close();
    }
  },
});
