/**
 * The local terminal stays in the loop: the wrapper runs `--session` in a
 * tmux pane (a real TTY) against a real server, with the fake Claude-like
 * CLI as its program. Keys typed into the pane (`send-keys`) reach the
 * session and the dashboard sees them; the controller's `terminal:input`
 * appears in the pane (`capture-pane`); a pane resize and a controller
 * resize both reach the program (`[size CxR]`), the last one winning; log
 * lines go to the log file, not over the session; Ctrl-] quits the wrapper
 * cleanly (exit 0, the session ends interrupted).
 */
import assert from "node:assert/strict";
import type { CommandInfo } from "../lib/protocol.ts";
import { fakeCliArgv } from "./fixtures/fake_ai_cli_driver.ts";
import {
  outputOf,
  ROOT,
  sendOk,
  startTestServer,
  takeControl,
  TestClient,
  type TestServer,
  waitFinal,
} from "./helpers.ts";
import { TmuxPane } from "./tmux.ts";

const quote = (word: string) => `'${word.replaceAll("'", `'\\''`)}'`;

/**
 * A shell line running `argv` between two `stty -g` (the terminal's modes
 * before and after, in `dir`), exiting with its status.
 */
function withModes(argv: string[], dir: string): string {
  return `stty -g > ${quote(`${dir}/stty-before`)}; ${
    argv.map(quote).join(" ")
  }; code=$?; stty -g > ${quote(`${dir}/stty-after`)}; exit $code`;
}

/** The terminal modes saved by {@link withModes}: [before, after]. */
async function modes(dir: string): Promise<[string, string]> {
  return [
    await Deno.readTextFile(`${dir}/stty-before`),
    await Deno.readTextFile(`${dir}/stty-after`),
  ];
}

/** The last activity `client` was told for `agentId`. */
function activityOf(client: TestClient, agentId: string) {
  return client.of("agent:status").findLast((m) => m.agent.id === agentId)
    ?.agent;
}

function waitActivity(client: TestClient, agentId: string, activity: string) {
  return client.until(
    () => activityOf(client, agentId)?.activity === activity,
    { what: `${agentId} ${activity}`, timeoutMs: 20_000 },
  );
}

/**
 * The wrapper's command line (`deno run -A agent.ts`) as agent `name` of
 * `server`, its token read from `tokenFile`, then `args`.
 */
function wrapperArgv(
  server: TestServer,
  tokenFile: string,
  name: string,
  args: string[],
): string[] {
  return [
    Deno.execPath(),
    "run",
    "-A",
    `${ROOT}agent.ts`,
    "--server",
    server.url,
    "--token-file",
    tokenFile,
    "--name",
    name,
    ...args,
  ];
}

/** The `[size CxR]` lines in `text`. */
function sizesIn(text: string): string[] {
  return [...text.matchAll(/\[size (\d+x\d+)\]/g)].map((m) => m[1]);
}

Deno.test("the wrapper in a tmux pane: local keys reach the session, the controller's input shows locally, resizes from both sides reach the program, Ctrl-] quits", async () => {
  const server = await startTestServer();
  const dir = await Deno.makeTempDir({ prefix: "fd-local-" });
  const tokenFile = `${dir}/agent.token`;
  await Deno.writeTextFile(tokenFile, await server.token("agent", "lt-1"), {
    mode: 0o600,
  });
  const logFile = `${dir}/agent.log`;
  const argv = wrapperArgv(server, tokenFile, "lt-1", [
    "--type",
    "claude",
    "--cwd",
    dir,
    "--log-file",
    logFile,
    "--session",
    "--",
    ...fakeCliArgv(["--work-ms", "300"]),
  ]);
  const operator = await TestClient.dashboard(server, "operator");
  const pane = await TmuxPane.start(withModes(argv, dir), {
    cols: 100,
    rows: 30,
    env: { NO_PROXY: "127.0.0.1,localhost" },
  });
  try {
    const session = await operator.until(
      () =>
        operator.of("command:status").map((m) => m.command).find((c) =>
          c.agentId === "lt-1" && c.kind === "session" &&
          c.status === "running"
        ),
      { what: "the session of lt-1", timeoutMs: 20_000 },
    ) as CommandInfo;
    await waitActivity(operator, "lt-1", "waiting");
    // The session shows in the pane, at the pane's size.
    await pane.waitScreen(
      (s) => s.includes("? for shortcuts"),
      "the fake CLI's prompt in the pane",
    );
    const first = await pane.capture();
    assert.match(first, /│ > +│/);
    assert.equal(
      first.split("\n").find((l) => l.includes("│ >"))?.length,
      100,
      "the input box spans the pane's 100 columns",
    );

    // Typed into the pane: the session gets it, the dashboard sees it.
    await pane.type("write hello.txt");
    await pane.keys("Enter");
    await waitActivity(operator, "lt-1", "needs-input");
    assert.match(
      activityOf(operator, "lt-1")?.attention ?? "",
      /create hello\.txt\?/,
    );
    assert.match(outputOf(operator, session.id).text, /write hello\.txt/);
    await pane.waitScreen(
      (s) => s.includes("Do you want to create hello.txt?"),
      "the permission dialog in the pane",
    );

    // Answered from the browser: the file appears, the pane shows it.
    await takeControl(operator, "lt-1");
    await sendOk(operator, "terminal:input", { agentId: "lt-1", data: "1" });
    await waitActivity(operator, "lt-1", "waiting");
    assert.equal(
      await Deno.readTextFile(`${dir}/hello.txt`),
      "hello from fake cli\n",
    );
    await pane.waitScreen((s) => s.includes("Wrote hello.txt"), "Wrote");
    // Typed in the browser, shown in the pane's input box.
    await sendOk(operator, "terminal:input", {
      agentId: "lt-1",
      data: "from the browser",
    });
    await pane.waitScreen(
      (s) => /│ > from the browser +│/.test(s),
      "the browser's keys in the pane",
    );

    // Resizes: the pane's, then the controller's, then the pane's again;
    // the program sees each, the last one wins.
    await pane.resize(90, 25);
    await pane.waitScreen((s) => s.includes("[size 90x25]"), "size 90x25");
    await sendOk(operator, "terminal:resize", {
      agentId: "lt-1",
      cols: 70,
      rows: 20,
    });
    await pane.waitScreen((s) => s.includes("[size 70x20]"), "size 70x20");
    await pane.resize(100, 30);
    await pane.waitScreen((s) => s.includes("[size 100x30]"), "size 100x30");
    // A key typed after the last resize comes back after every SIGWINCH it
    // caused: the program's transcript (redrawn on each SIGWINCH) lists
    // exactly the three resizes, no echo loop.
    await pane.type("!");
    const resized = await pane.waitScreen(
      (s) => /│ > from the browser! +│/.test(s),
      "the key typed after the resizes",
    );
    assert.deepEqual(sizesIn(resized), ["90x25", "70x20", "100x30"]);
    assert.deepEqual(sizesIn(await pane.capture()), [
      "90x25",
      "70x20",
      "100x30",
    ]);

    // Log lines went to the file, never over the session.
    const screen = await pane.capture();
    assert.doesNotMatch(screen, /flightdeck-agent: (connected|running)/);
    const log = await Deno.readTextFile(logFile);
    assert.match(log, /flightdeck-agent: connected to /);
    assert.match(log, /flightdeck-agent: running /);

    // Ctrl-C goes to the program, not to the wrapper: at the prompt it
    // clears the input and warns; the wrapper keeps running.
    await pane.keys("C-c");
    await pane.waitScreen(
      (s) => s.includes("Press Ctrl-C again to exit") && /│ > +│/.test(s),
      "the program's answer to Ctrl-C",
    );
    assert.equal((await pane.dead()).dead, false);
    // Ctrl-] quits the wrapper: exit 0, the session ends interrupted, the
    // pane says where the log is.
    await pane.keys("C-]");
    assert.equal(await pane.waitDead(), 0);
    const final = await waitFinal(operator, session.id);
    assert.equal(final.status, "interrupted");
    const after = await pane.capture();
    assert.match(after, /flightdeck-agent: stopped \(exit code 0\); log in /);
    // The terminal is back in the modes it had (cooked, echo on).
    const [before, restored] = await modes(dir);
    assert.equal(restored, before);
    assert.match(
      await Deno.readTextFile(logFile),
      /stopping \(Ctrl-\] pressed\)/,
    );
  } finally {
    await pane.kill();
    await operator.close();
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the wrapper in a tmux pane exiting on an error (token rejected) restores the terminal and prints why", async () => {
  const server = await startTestServer();
  const dir = await Deno.makeTempDir({ prefix: "fd-local-" });
  const tokenFile = `${dir}/agent.token`;
  await Deno.writeTextFile(tokenFile, "not-a-valid-token", { mode: 0o600 });
  const argv = wrapperArgv(server, tokenFile, "lt-2", [
    "--log-file",
    `${dir}/agent.log`,
    "--session",
    "--",
    "bash",
  ]);
  const pane = await TmuxPane.start(withModes(argv, dir), {
    cols: 100,
    rows: 30,
    env: { NO_PROXY: "127.0.0.1,localhost" },
  });
  try {
    assert.equal(await pane.waitDead(), 3);
    const screen = await pane.capture();
    // The reason, printed once the terminal was restored, then the summary.
    assert.match(
      screen,
      /flightdeck-agent: the server rejected the token \(AUTH_FAILED\)/,
    );
    assert.match(screen, /flightdeck-agent: stopped \(exit code 3\); log in /);
    const [before, after] = await modes(dir);
    assert.equal(after, before);
  } finally {
    await pane.kill();
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});
