// deno-lint-ignore-file no-console -- CLI entry point: stdout is its interface
/**
 * README screenshots of a live session: `deno run -A bench/screenshot.ts`
 * (about 15 s). Starts a real server (in-process, in
 * memory), a session agent `build-1` running the fake Claude-like CLI
 * (tests/fixtures/fake_ai_cli.ts), an exec agent `tests-1` that ran a
 * command, `lint-2` whose command failed and `web-3` (tagged, in a git
 * repository with a changed file), then signs an operator in to the
 * dashboard in headless Chromium. Saves the fleet overview (the home page)
 * as docs/screenshot-fleet.png (1440 px) and docs/screenshot-fleet-mobile.png
 * (390 px, the whole page); then, on build-1's page, takes control of its
 * terminal and types a prompt that makes the CLI ask for permission, and
 * saves docs/screenshot-session.png (1440 px wide) and
 * docs/screenshot-session-mobile.png (390 px, another page that takes
 * control, so the CLI redraws at the phone's width), both showing the
 * needs-input badge, the question and its quick answers.
 */
import type { Browser, Page } from "puppeteer-core";
import {
  launchBrowser,
  openTerminal,
  takeControlIn,
} from "../tests/browser.ts";
import { fakeCliArgv } from "../tests/fixtures/fake_ai_cli_driver.ts";
import {
  AgentProcess,
  queueCommand,
  ROOT,
  startTestServer,
  TestClient,
  type TestServer,
  waitAgentStatus,
  waitFinal,
} from "../tests/helpers.ts";
import { dirtyRepo } from "../tests/git_repo.ts";

const SESSION = "build-1";
const EXEC = "tests-1";
const FAILING = "lint-2";
const REPO = "web-3";
const DESKTOP = `${ROOT}docs/screenshot-session.png`;
const MOBILE = `${ROOT}docs/screenshot-session-mobile.png`;
const FLEET = `${ROOT}docs/screenshot-fleet.png`;
const FLEET_MOBILE = `${ROOT}docs/screenshot-fleet-mobile.png`;

/** An operator's page at `width` px, signed in, showing `path`. */
async function operatorPage(
  browser: Browser,
  server: TestServer,
  width: number,
  height: number,
  path: string,
): Promise<Page> {
  const context = await browser.createBrowserContext();
  const page = await context.newPage();
  await page.setViewport({ width, height, deviceScaleFactor: 1 });
  // Signed in as "alice" with a pasted token (a login code's user is "admin").
  const token = await server.services.auth.sign({
    role: "operator",
    subject: "alice",
  });
  await page.goto(`${server.url}/login`, { waitUntil: "domcontentloaded" });
  await page.type('textarea[name="token"]', token);
  await Promise.all([
    page.waitForNavigation({ waitUntil: "domcontentloaded" }),
    page.click('form[action="/login"] button[type="submit"]'),
  ]);
  if (path !== "/") {
    await page.goto(`${server.url}${path}`, { waitUntil: "domcontentloaded" });
  }
  await page.waitForSelector(
    '[data-testid="connection-status"][data-state="connected"]',
  );
  return page;
}

/** An operator's page at `width` px showing build-1's page, in control of it. */
async function controllingPage(
  browser: Browser,
  server: TestServer,
  width: number,
  height: number,
): Promise<Page> {
  const page = await operatorPage(
    browser,
    server,
    width,
    height,
    `/agents/${SESSION}`,
  );
  await openTerminal(page, SESSION);
  await takeControlIn(page);
  return page;
}

/** Wait until every card shows its last lines and the page has settled. */
async function waitFleet(page: Page): Promise<void> {
  await page.waitForSelector(
    `[data-testid="fleet-card-${FAILING}"][data-failed="true"]`,
  );
  await page.waitForSelector(
    `[data-testid="fleet-card-${REPO}"] [data-field="git"]`,
  );
  await page.evaluate(() =>
    new Promise((resolve) =>
      requestAnimationFrame(() => requestAnimationFrame(resolve))
    )
  );
}

/** Wait until the page shows the question with its quick answers. */
async function waitQuestion(page: Page): Promise<void> {
  await page.waitForSelector(
    `[data-testid="agent-${SESSION}"][data-activity="needs-input"]`,
    { timeout: 20_000 },
  );
  await page.waitForSelector('[data-testid="quick-answers"] button');
  // The dialog's last option is drawn (the CLI redraws after a resize).
  await page.waitForFunction(() => {
    const term = (globalThis as unknown as {
      __flightdeckTerminal: {
        buffer: {
          active: {
            length: number;
            getLine(i: number): { translateToString(t: boolean): string };
          };
        };
      };
    }).__flightdeckTerminal;
    const b = term.buffer.active;
    let text = "";
    for (let i = 0; i < b.length; i++) {
      text += b.getLine(i).translateToString(true);
    }
    return text.includes("3. No");
  }, { timeout: 20_000 });
  // Let the layout settle (fonts, fit) before the picture.
  await page.evaluate(() =>
    new Promise((resolve) =>
      requestAnimationFrame(() => requestAnimationFrame(resolve))
    )
  );
}

if (import.meta.main) {
  await using server = await startTestServer();
  const cwd = await Deno.makeTempDir({ prefix: "fd-screenshot-" });
  const repo = await dirtyRepo();
  // The fake CLI on PATH under a short name, so the session's command reads
  // "fake-ai-cli" rather than a long deno command line.
  const bin = await Deno.makeTempDir({ prefix: "fd-screenshot-bin-" });
  await Deno.writeTextFile(
    `${bin}/fake-ai-cli`,
    `#!/bin/sh\nexec ${fakeCliArgv().map((a) => `'${a}'`).join(" ")} "$@"\n`,
    { mode: 0o755 },
  );
  const agents = [
    new AgentProcess([
      "--server",
      server.url,
      "--token",
      await server.token("agent", SESSION),
      "--name",
      SESSION,
      "--type",
      "claude",
      "--cwd",
      cwd,
      "--session",
      "--",
      "fake-ai-cli",
      "--work-ms",
      "400",
    ], { PATH: `${bin}:${Deno.env.get("PATH") ?? ""}` }),
    await AgentProcess.start(server, EXEC, ["--cwd", cwd, "--tag", "ci"]),
    await AgentProcess.start(server, FAILING, ["--cwd", cwd, "--tag", "ci"]),
    await AgentProcess.start(server, REPO, [
      "--cwd",
      repo,
      "--tag",
      "web",
      "--tag",
      "team:ui",
    ]),
  ];
  const operator = await TestClient.dashboard(server, "operator");
  try {
    // The exec agent has a finished command in its history.
    await waitAgentStatus(operator, EXEC, "online");
    await waitFinal(
      operator,
      await queueCommand(operator, {
        agentId: EXEC,
        command: "echo 'all 42 tests passed'",
      }),
    );
    await waitAgentStatus(operator, FAILING, "online");
    await waitFinal(
      operator,
      await queueCommand(operator, {
        agentId: FAILING,
        command: "echo 'src/app.ts:12 unused variable' >&2; exit 1",
      }),
    );
    await waitAgentStatus(operator, REPO, "online");
    await waitFinal(
      operator,
      await queueCommand(operator, {
        agentId: REPO,
        command: "git log --oneline -1",
      }),
    );
    await operator.until(
      () =>
        operator.of("agent:status").some((m) =>
          m.agent.id === SESSION && m.agent.activity === "waiting"
        ),
      { what: `${SESSION} waiting at its prompt` },
    );

    await using browser = await launchBrowser();
    for (
      const [width, height, path] of [[1440, 900, FLEET], [
        390,
        844,
        FLEET_MOBILE,
      ]] as const
    ) {
      const fleet = await operatorPage(browser, server, width, height, "/");
      await waitFleet(fleet);
      await fleet.screenshot({ path, fullPage: width < 500 });
      console.log(`Saved ${path}`);
      await fleet.browserContext().close();
    }
    const desktop = await controllingPage(browser, server, 1440, 900);
    await desktop.keyboard.type("write hello.txt");
    await desktop.keyboard.press("Enter");
    await waitQuestion(desktop);
    await desktop.screenshot({ path: DESKTOP });
    console.log(`Saved ${DESKTOP}`);
    // Closing the page releases control for the phone-sized one.
    await desktop.browserContext().close();

    const mobile = await controllingPage(browser, server, 390, 844);
    await waitQuestion(mobile);
    await mobile.screenshot({ path: MOBILE, fullPage: true });
    console.log(`Saved ${MOBILE}`);
  } finally {
    await operator.close();
    for (const agent of agents) await agent.kill();
    await Deno.remove(cwd, { recursive: true });
    await Deno.remove(repo, { recursive: true });
    await Deno.remove(bin, { recursive: true });
  }
}
