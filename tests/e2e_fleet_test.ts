/**
 * End to end in real Chromium with a real server and eight real agents
 * (tags, one in a git repository with a changed file, one session): the
 * fleet overview shows each agent's fields and last lines, four failed
 * commands mark their cards red (not "online" green), the order stays put
 * when statuses change, filters work and live in the URL (also after a
 * reload), a keyboard-only walk reaches every control with a visible focus
 * (the Tab order is recorded), Esc then Tab leaves a controlled terminal,
 * and at 390 px no page scrolls sideways while the session's PTY, wider
 * than the phone, scrolls in its terminal. Screenshots of each view are saved.
 */
import assert from "node:assert/strict";
import type { Page } from "puppeteer-core";
import {
  ARTIFACTS,
  eventually,
  launchBrowser,
  screenshot,
  signedInPage,
} from "./browser.ts";
import {
  AgentProcess,
  queueCommand,
  startTestServer,
  TestClient,
  waitAgentStatus,
  waitFinal,
} from "./helpers.ts";
import { dirtyRepo } from "./git_repo.ts";

const FAILING = ["b-fail", "c-fail", "d-fail", "e-fail"];
const ALL = [
  "a-web",
  ...FAILING,
  "f-busy",
  "g-term",
  "h-claude",
];

/** Ids of the fleet cards shown, in page order. */
function cardIds(page: Page): Promise<string[]> {
  return page.$$eval(
    '[data-testid="fleet-grid"] > li',
    (els) =>
      els.map((el) =>
        (el.getAttribute("data-testid") ?? "").replace("fleet-card-", "")
      ),
  );
}

/** Ids of the sidebar's agent rows, in page order. */
function listIds(page: Page): Promise<string[]> {
  return page.$$eval(
    '[data-testid="agent-list"] > li',
    (els) =>
      els.map((el) =>
        (el.getAttribute("data-testid") ?? "").replace("agent-", "")
      ),
  );
}

/** Text of field `field` of agent `id`'s card. */
function field(page: Page, id: string, field: string): Promise<string> {
  return page.$eval(
    `[data-testid="fleet-card-${id}"] [data-field="${field}"]`,
    (el) => el.textContent ?? "",
  );
}

/** Wait until the cards shown are exactly `ids`. */
async function waitCards(page: Page, ids: string[], what: string) {
  await eventually(async () => {
    const shown = await cardIds(page);
    return JSON.stringify(shown) === JSON.stringify(ids);
  }, `${what}: cards ${ids.join(", ")}`);
}

/** Whether the page scrolls sideways (its content wider than the window). */
function pageOverflow(page: Page): Promise<{ scroll: number; inner: number }> {
  return page.evaluate(() => ({
    scroll: document.scrollingElement!.scrollWidth,
    inner: globalThis.innerWidth,
  }));
}

/** The page at 390 px does not scroll sideways. */
async function noPageScroll(page: Page): Promise<void> {
  const { scroll, inner } = await pageOverflow(page);
  assert.equal(inner, 390);
  if (scroll <= inner) return;
  // Name what sticks out (right edge past the window), to say what to fix.
  const wide = await page.evaluate(() =>
    [...document.querySelectorAll("body *")].filter((el) =>
      el.getBoundingClientRect().right > globalThis.innerWidth + 1
    ).slice(-12).map((el) =>
      `${el.tagName.toLowerCase()}.${el.className} ` +
      `(${Math.round(el.getBoundingClientRect().right)} px)`
    )
  );
  await screenshot(page, "fleet-overflow.png");
  assert.fail(
    `scrollWidth ${scroll} > innerWidth ${inner}: ${wide.join(", ")}`,
  );
}

/**
 * Tab through the page from its top `count` times; each stop described as
 * `testid` (or tag and text) with whether its focus is visible (an outline
 * on it, or on the fleet card around it).
 */
async function tabWalk(
  page: Page,
  count: number,
): Promise<{ stop: string; visible: boolean }[]> {
  const stops: { stop: string; visible: boolean }[] = [];
  for (let i = 0; i < count; i++) {
    await page.keyboard.press("Tab");
    stops.push(
      await page.evaluate(() => {
        const el = document.activeElement as HTMLElement | null;
        if (!el || el === document.body) {
          return { stop: "body", visible: false };
        }
        const id = el.closest('[data-testid="terminal"]')
          ? "terminal"
          : el.getAttribute("data-testid");
        const stop = id ??
          `${el.tagName.toLowerCase()}:${
            (el.textContent ?? "").trim().slice(0, 24)
          }`;
        const outlined = (node: Element | null) => {
          if (!node) return false;
          const cs = getComputedStyle(node);
          return cs.outlineStyle !== "none" && parseFloat(cs.outlineWidth) > 0;
        };
        return {
          stop,
          visible: outlined(el) || outlined(el.closest(".fleet-card")) ||
            outlined(el.closest(".terminal")),
        };
      }),
    );
  }
  return stops;
}

Deno.test({
  name:
    "Chromium fleet overview with 8 agents: fields, failed cards, stable order, filters in the URL, keyboard walk, Esc then Tab, phone layout",
  sanitizeResources: false, // Chromium's pipes outlive the test's resource scope.
  sanitizeOps: false,
  async fn() {
    const repo = await dirtyRepo();
    await using server = await startTestServer();
    const operator = await TestClient.dashboard(server, "operator");
    const tags: Record<string, string[]> = {
      "a-web": ["--tag", "web", "--cwd", repo],
      "b-fail": ["--tag", "ci"],
      "c-fail": ["--tag", "ci"],
      "d-fail": ["--tag", "gpu"],
      "e-fail": ["--tag", "gpu", "--tag", "ci"],
      "f-busy": [],
      "g-term": [
        "--tag",
        "term",
        "--cols",
        "120",
        "--rows",
        "30",
        "--session",
        "--",
        "bash",
        "--norc",
        "--noprofile",
        "-i",
      ],
      "h-claude": ["--type", "claude"],
    };
    const agents = new Map<string, AgentProcess>();
    try {
      for (const id of ALL) {
        agents.set(id, await AgentProcess.start(server, id, tags[id]));
      }
      for (const id of ALL) {
        await waitAgentStatus(
          operator,
          id,
          id === "g-term" ? "busy" : "online",
        );
      }
      await using browser = await launchBrowser();
      const errors: string[] = [];
      const page = await signedInPage(browser, server, {
        role: "admin",
        errors,
      });
      await waitCards(page, ALL, "every agent, by name");

      // Commands run while the page is open: their output arrives live.
      // One at a time: each runs `bash -l`, and shells starting together
      // can wait on each other's profile (pyenv's rehash lock).
      const commands: [string, string][] = [
        ["a-web", "echo ok-a-web"],
        ...FAILING.map((id): [string, string] => [
          id,
          `echo step-${id}; echo oops-${id} >&2; exit 3`,
        ]),
      ];
      const ids = new Map<string, string>();
      for (const [agentId, command] of commands) {
        const id = await queueCommand(operator, { agentId, command });
        ids.set(agentId, id);
        await waitFinal(operator, id, 60_000);
      }
      const failedId = ids.get("b-fail")!;

      // Each card's fields.
      const host = Deno.hostname();
      await eventually(
        async () =>
          (await field(page, "a-web", "tail")).includes("ok-a-web") &&
          (await field(page, "a-web", "result")).includes("Succeeded"),
        "a-web's last line and result",
      );
      assert.equal(await field(page, "a-web", "meta"), `shell · ${host}web`);
      assert.equal(await field(page, "a-web", "tag"), "web");
      assert.equal(
        await page.$eval(
          '[data-testid="fleet-card-a-web"] [data-field="cwd"]',
          (el) => el.getAttribute("title"),
        ),
        repo,
      );
      const git = await page.$eval(
        '[data-testid="fleet-card-a-web"] [data-field="git"]',
        (el) => ({
          branch: el.getAttribute("data-branch"),
          dirty: el.getAttribute("data-dirty"),
          text: el.textContent,
        }),
      );
      assert.deepEqual(git, {
        branch: "feature/x",
        dirty: "true",
        text: "⎇branch feature/x● modified",
      });
      assert.match(await field(page, "a-web", "since"), /^Online for \d+ s$/);
      assert.equal(await field(page, "h-claude", "meta"), `claude · ${host}`);
      for (const id of FAILING) {
        await eventually(
          async () =>
            (await field(page, id, "result")).startsWith(
              "✕ Last command:Failed (exit 3)",
            ) && (await field(page, id, "tail")).endsWith(`oops-${id}\n`),
          `${id} shows its failure`,
        );
        const card = await page.$eval(
          `[data-testid="fleet-card-${id}"]`,
          (el) => ({
            failed: el.getAttribute("data-failed"),
            edge: getComputedStyle(el).borderLeftColor,
            lines: [...el.querySelectorAll('[data-field="tail"] > span')].map(
              (e) => [e.textContent, e.classList.contains("tail-err")],
            ),
          }),
        );
        assert.equal(card.failed, "true");
        assert.equal(card.edge, "rgb(248, 81, 73)", "a red edge, not green");
        // (The shell may print warnings of its own first.)
        assert.deepEqual(card.lines.slice(-2), [
          [`step-${id}\n`, false],
          [`oops-${id}\n`, true],
        ], "the last lines, stderr marked");
      }
      assert.equal(
        await page.$eval(
          '[data-testid="fleet-card-a-web"]',
          (el) => getComputedStyle(el).borderLeftColor,
        ),
        "rgb(63, 185, 80)",
        "a succeeded agent's edge is green",
      );
      await screenshot(page, "fleet-1440.png");
      // Status words carry a label for screen readers.
      const spoken = async (selector: string) => {
        const handle = await page.$(selector);
        assert.ok(handle, selector);
        const node = await page.accessibility.snapshot({
          root: handle,
          interestingOnly: false,
        });
        const names: string[] = [];
        const walk = (n: typeof node) => {
          if (!n) return;
          if (n.name) names.push(n.name);
          n.children?.forEach(walk);
        };
        walk(node);
        return names.join(" ");
      };
      assert.match(
        await spoken('[data-testid="fleet-card-b-fail"] [data-field="state"]'),
        /Status: ?Online/,
      );
      assert.match(
        await spoken('[data-testid="agent-b-fail"] .agent-status'),
        /Status: ?online/,
      );
      assert.match(
        await spoken('[data-testid="recent-commands"] .badge'),
        /Status: ?\w+/,
      );

      // Statuses change: f-busy busy with live output, h-claude offline.
      await queueCommand(operator, {
        agentId: "f-busy",
        command:
          "for i in 1 2 3 4 5 6; do echo tick-$i; sleep 0.2; done; sleep 60",
      });
      await agents.get("h-claude")!.kill();
      await page.waitForSelector(
        '[data-testid="fleet-card-f-busy"][data-status="busy"]',
      );
      await page.waitForSelector(
        '[data-testid="fleet-card-h-claude"][data-status="offline"]',
      );
      await eventually(
        async () => (await field(page, "f-busy", "tail")).includes("tick-6"),
        "f-busy's live last lines",
      );
      assert.equal(
        await field(page, "f-busy", "tail"),
        "tick-3\ntick-4\ntick-5\ntick-6\n",
      );
      assert.match(
        await field(page, "f-busy", "current"),
        /^Running:\$ for i in/,
      );
      assert.deepEqual(await cardIds(page), ALL, "cards never move");
      assert.deepEqual(await listIds(page), ALL, "the agent list never moves");

      // Filters, in the URL.
      await page.click('[data-testid="fleet-filter-failed"]');
      await waitCards(page, FAILING, "failed");
      assert.equal(new URL(page.url()).search, "?state=failed");
      await page.select('[data-testid="fleet-filter-tag"]', "gpu");
      await waitCards(page, ["d-fail", "e-fail"], "failed, tag gpu");
      assert.equal(new URL(page.url()).search, "?state=failed&tag=gpu");
      await page.reload({ waitUntil: "domcontentloaded" });
      await waitCards(page, ["d-fail", "e-fail"], "the same after a reload");
      assert.equal(
        await page.$eval(
          '[data-testid="fleet-filter-failed"]',
          (el) => el.getAttribute("aria-current"),
        ),
        "true",
      );
      await page.waitForSelector(
        '[data-testid="connection-status"][data-state="connected"]',
      );
      await page.click('[data-testid="fleet-filter-busy"]');
      await page.select('[data-testid="fleet-filter-tag"]', "");
      await waitCards(page, ["f-busy", "g-term"], "busy");
      await page.click('[data-testid="fleet-filter-offline"]');
      await waitCards(page, ["h-claude"], "offline");
      await page.click('[data-testid="fleet-filter-all"]');
      await page.select('[data-testid="fleet-filter-type"]', "claude");
      await waitCards(page, ["h-claude"], "type claude");
      assert.equal(new URL(page.url()).search, "?type=claude");
      await page.select('[data-testid="fleet-filter-type"]', "");
      await waitCards(page, ALL, "no filter");
      assert.equal(new URL(page.url()).search, "");

      // Keyboard only: every filter, then each card's link and pin in order.
      // (From the top of a fresh load: a click moves where Tab starts.)
      await page.reload({ waitUntil: "domcontentloaded" });
      await page.waitForSelector(
        '[data-testid="connection-status"][data-state="connected"]',
      );
      await waitCards(page, ALL, "no filter after a reload");
      const walk = await tabWalk(page, 80);
      await Deno.writeTextFile(
        `${ARTIFACTS}/fleet-tab-order.json`,
        JSON.stringify(walk, null, 2) + "\n",
      );
      const stops = walk.map((s) => s.stop);
      const expected = [
        "fleet-filter-all",
        "fleet-filter-attention",
        "fleet-filter-busy",
        "fleet-filter-failed",
        "fleet-filter-offline",
        "fleet-filter-type",
        "fleet-filter-tag",
        ...ALL.flatMap((id) => [
          `fleet-open-${id}`,
          `fleet-pin-${id}`,
          ...(id === "h-claude" ? [`fleet-forget-${id}`] : []),
        ]),
      ];
      const start = stops.indexOf("fleet-filter-all");
      assert.ok(start >= 0, `the walk reaches the filters: ${stops}`);
      assert.deepEqual(stops.slice(start, start + expected.length), expected);
      assert.deepEqual(
        // (After the last control the focus leaves the page: "body".)
        walk.filter((s) => !s.visible && s.stop !== "body").map((s) => s.stop),
        [],
        "every stop shows its focus",
      );
      // On through the agent list to the console's controls and terminal.
      for (
        const stop of [
          "notify-toggle",
          "command-input",
          "priority-select",
          "emergency-stop-button",
          "terminal",
        ]
      ) {
        assert.ok(stops.includes(stop), `the walk reaches ${stop}: ${stops}`);
      }
      // Pin with the keyboard: the card moves to the top, and stays there.
      await page.focus('[data-testid="fleet-pin-e-fail"]');
      await page.keyboard.press("Enter");
      await waitCards(
        page,
        ["e-fail", ...ALL.filter((id) => id !== "e-fail")],
        "pinned first",
      );
      // Enter on a card's link opens the agent.
      await page.focus('[data-testid="fleet-open-g-term"]');
      await Promise.all([
        page.waitForNavigation({ waitUntil: "domcontentloaded" }),
        page.keyboard.press("Enter"),
      ]);
      assert.equal(new URL(page.url()).pathname, "/agents/g-term");

      // The session's terminal: take control, Tab goes to the program, Esc
      // then Tab leaves.
      await page.waitForSelector(
        '[data-testid="terminal"][data-state="ready"]',
      );
      await page.waitForSelector(
        '[data-testid="control-line"][data-state="free"]',
      );
      await page.focus('[data-testid="control-button"]');
      await page.keyboard.press("Enter");
      await page.waitForSelector(
        '[data-testid="control-line"][data-state="mine"]',
      );
      const inTerminal = () =>
        page.evaluate(() =>
          document.querySelector('[data-testid="terminal"]')!.contains(
            document.activeElement,
          )
        );
      await eventually(
        inTerminal,
        "the terminal has the focus once in control",
      );
      await page.keyboard.press("Tab");
      assert.equal(await inTerminal(), true, "Tab is typed into the program");
      await page.keyboard.press("Escape");
      assert.equal(await inTerminal(), true, "Esc is typed into the program");
      await page.keyboard.press("Tab");
      assert.equal(await inTerminal(), false, "Esc then Tab leaves");
      await screenshot(page, "fleet-agent-1440.png");
      // Leave control: the phone page below only watches.
      await page.click('[data-testid="control-button"]');
      await page.waitForSelector(
        '[data-testid="control-line"][data-state="free"]',
      );
      await page.browserContext().close();

      // Phone: no page scrolls sideways; the 120-column PTY scrolls inside.
      const phone = await signedInPage(browser, server, {
        width: 390,
        errors,
      });
      await waitCards(phone, ALL, "every agent at 390 px");
      await noPageScroll(phone);
      await screenshot(phone, "fleet-390.png");
      await phone.goto(`${server.url}/agents/g-term`, {
        waitUntil: "domcontentloaded",
      });
      await phone.waitForSelector(
        '[data-testid="terminal"][data-state="ready"]',
      );
      // The PTY's width now (the desktop page in control resized it).
      const ptyCols = server.services.registry.get("g-term")?.pty?.cols;
      assert.ok(
        ptyCols && ptyCols > 60,
        `g-term's PTY size is known: ${ptyCols}`,
      );
      await eventually(
        () =>
          phone.evaluate((cols) =>
            (globalThis as unknown as {
              __flightdeckTerminal?: { cols: number };
            }).__flightdeckTerminal?.cols === cols, ptyCols),
        `the phone's terminal at the PTY's ${ptyCols} columns`,
      );
      const box = await phone.$eval('[data-testid="terminal"]', (el) => ({
        wide: el.getAttribute("data-wide"),
        scrolls: el.scrollWidth > el.clientWidth,
      }));
      assert.deepEqual(box, { wide: "true", scrolls: true });
      await noPageScroll(phone);
      await screenshot(phone, "fleet-agent-390.png");
      // An exec agent's page, with its history table.
      await phone.goto(`${server.url}/agents/b-fail`, {
        waitUntil: "domcontentloaded",
      });
      await phone.waitForSelector('[data-testid="command-history"]');
      await noPageScroll(phone);
      // Its failed command's log page.
      await phone.goto(`${server.url}/agents/b-fail/commands/${failedId}`, {
        waitUntil: "domcontentloaded",
      });
      await phone.waitForSelector('[data-testid="log-view"]');
      await noPageScroll(phone);
      await screenshot(phone, "fleet-log-390.png");
      // An admin forgets the offline agent from its card.
      const admin = await signedInPage(browser, server, {
        role: "admin",
        errors,
      });
      await admin.click('[data-testid="fleet-forget-h-claude"]');
      await admin.click('[data-testid="fleet-forget-yes-h-claude"]');
      await waitCards(
        admin,
        ALL.filter((id) => id !== "h-claude"),
        "h-claude forgotten",
      );
      await admin.waitForSelector('[data-testid="fleet-forget-done"]');
      assert.equal(server.services.registry.get("h-claude"), undefined);
      assert.deepEqual(errors, [], "no uncaught errors in the pages");
    } finally {
      for (const agent of agents.values()) await agent.kill();
      await operator.close();
      await Deno.remove(repo, { recursive: true });
    }
  },
});
