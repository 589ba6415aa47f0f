/**
 * The wrapper in a real terminal (a tmux pane) with a real server and
 * dashboard: when its terminal hangs up (the tmux server goes away: SIGHUP,
 * input ends, writes fail) the agent goes on headless, its session still
 * shared with the dashboards; and with no `--log-file` it logs in a private
 * directory of its user, not in /tmp.
 */
import assert from "node:assert/strict";
import type { CommandInfo } from "../lib/protocol.ts";
import {
  outputOf,
  processAlive,
  ROOT,
  sendOk,
  startTestServer,
  takeControl,
  TestClient,
  waitFinal,
} from "./helpers.ts";
import { TmuxPane } from "./tmux.ts";
import { waitUntil } from "./faults/dashboard.ts";

const quote = (word: string) => `'${word.replaceAll("'", `'\\''`)}'`;

/** `argv` run by `sh`, which writes its pid (the agent's, by exec) to `pidFile`. */
function withPid(argv: string[], pidFile: string, env = ""): string {
  const inner = `echo $$ > ${quote(pidFile)}; exec ${env}${
    argv.map(quote).join(" ")
  }`;
  return `sh -c ${quote(inner)}`;
}

async function agentArgv(
  server: Awaited<ReturnType<typeof startTestServer>>,
  dir: string,
  id: string,
  extra: string[],
): Promise<string[]> {
  const tokenFile = `${dir}/agent.token`;
  await Deno.writeTextFile(tokenFile, await server.token("agent", id), {
    mode: 0o600,
  });
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
    id,
    "--type",
    "shell",
    "--cwd",
    dir,
    ...extra,
    "--session",
    "--",
    "bash",
    "--norc",
    "--noprofile",
    "-i",
  ];
}

Deno.test("the wrapper whose terminal hangs up goes on headless: the session stays shared and online", async () => {
  const server = await startTestServer();
  const dir = await Deno.makeTempDir({ prefix: "fd-hup-" });
  const logFile = `${dir}/agent.log`;
  const pidFile = `${dir}/agent.pid`;
  const argv = await agentArgv(server, dir, "hup-1", ["--log-file", logFile]);
  const operator = await TestClient.dashboard(server, "operator");
  const pane = await TmuxPane.start(withPid(argv, pidFile), {
    cols: 100,
    rows: 30,
    env: { NO_PROXY: "127.0.0.1,localhost" },
  });
  let pid: number | undefined;
  try {
    const session = await operator.until(
      () =>
        operator.of("command:status").map((m) => m.command).find((c) =>
          c.agentId === "hup-1" && c.kind === "session" &&
          c.status === "running"
        ),
      { what: "the session of hup-1", timeoutMs: 20_000 },
    ) as CommandInfo;
    pid = Number((await Deno.readTextFile(pidFile)).trim());
    await pane.waitScreen(
      (s) => /bash-[\d.]+[#$]/.test(s),
      "bash's prompt in the pane",
    );
    // The terminal goes away (as when its window is closed).
    await pane.kill();
    await waitUntil(
      async () =>
        (await Deno.readTextFile(logFile)).includes(
          "the local terminal is gone",
        ),
      20_000,
      "the agent logs that its terminal is gone",
    );
    assert.ok(processAlive(pid), "the agent still runs");
    // The session is still shared: typed from the browser, it answers.
    await takeControl(operator, "hup-1");
    await sendOk(operator, "terminal:input", {
      agentId: "hup-1",
      data: "echo alive-$((6*7))\r",
    });
    await operator.until(
      () => outputOf(operator, session.id).text.includes("alive-42"),
      { what: "the session's answer", timeoutMs: 20_000 },
    );
    assert.deepEqual(
      operator.of("agent:status").filter((m) =>
        m.agent.id === "hup-1" && m.agent.status === "offline"
      ),
      [],
    );
    assert.equal(
      operator.of("command:status").some((m) =>
        m.command.id === session.id && m.command.status !== "running"
      ),
      false,
    );
    // Stopped headless by a signal, as the log says.
    Deno.kill(pid, "SIGTERM");
    assert.equal((await waitFinal(operator, session.id)).status, "interrupted");
    await waitUntil(() => !processAlive(pid!), 20_000, "the agent exits");
  } finally {
    if (pid !== undefined && processAlive(pid)) Deno.kill(pid, "SIGKILL");
    await pane.kill();
    await operator.close();
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the wrapper in a terminal without --log-file logs in $XDG_STATE_HOME/flightdeck (mode 700), file mode 600", async () => {
  const server = await startTestServer();
  const dir = await Deno.makeTempDir({ prefix: "fd-logdir-" });
  const pidFile = `${dir}/agent.pid`;
  const state = `${dir}/state`;
  const argv = await agentArgv(server, dir, "log-1", []);
  const pane = await TmuxPane.start(
    withPid(argv, pidFile, `env XDG_STATE_HOME=${quote(state)} `),
    { cols: 200, rows: 30, env: { NO_PROXY: "127.0.0.1,localhost" } },
  );
  const logFile = `${state}/flightdeck/agent-log-1.log`;
  try {
    await waitUntil(
      async () => (await Deno.stat(logFile).catch(() => null)) !== null,
      20_000,
      `the log at ${logFile}`,
    );
    assert.equal((await Deno.stat(`${state}/flightdeck`)).mode! & 0o777, 0o700);
    assert.equal((await Deno.stat(logFile)).mode! & 0o777, 0o600);
    await waitUntil(
      async () => (await Deno.readTextFile(logFile)).includes("connected to"),
      20_000,
      "the agent logs there",
    );
    await pane.waitScreen(
      (s) => /bash-[\d.]+[#$]/.test(s),
      "bash's prompt in the pane",
    );
    await pane.keys("C-]");
    assert.equal(await pane.waitDead(), 0);
    assert.ok(
      (await pane.capture()).includes(`log in ${logFile}`),
      await pane.capture(),
    );
  } finally {
    const pid = Number(
      (await Deno.readTextFile(pidFile).catch(() => "")).trim(),
    );
    if (pid && processAlive(pid)) Deno.kill(pid, "SIGKILL");
    await pane.kill();
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});
