/**
 * The agent's side of a session that ended (Executor with a real PTY running
 * the fake Claude-like CLI): once the program exits, the executor reports
 * no activity (never `waiting`: nothing runs to take a prompt) and has none
 * to send again after a reconnect; an exec `--pty` command still reports
 * `waiting` when it ends (the agent is ready for the next command).
 */
import assert from "node:assert/strict";
import { commandInfo, ptyExecutor, until } from "./test_executor.ts";
import { fakeCliArgv } from "../../tests/fixtures/fake_ai_cli_driver.ts";

Deno.test("Executor: a session that ended reports no activity, not waiting, and has none to send after a reconnect", async () => {
  const cwd = await Deno.makeTempDir({ prefix: "fd-exec-end-" });
  const { executor, activity, ends, sent } = await ptyExecutor("claude", cwd);
  try {
    executor.startSession(
      commandInfo("s1", "fake", "session"),
      fakeCliArgv(["--work-ms", "200", "--exit-after-prompts", "1"]),
    );
    await until(() => activity.at(-1)?.activity === "waiting", "waits");
    executor.prompt(commandInfo("p1", "only", "prompt"));
    await until(() => ends.length === 1, "the session ends");
    const seen = activity.length;
    assert.equal(executor.activity, undefined);
    assert.equal(executor.sessionLive, false);
    // The last report is the screen's, before the exit: none after it.
    await until(
      () =>
        sent.some((m) =>
          m.type === "command:completed" && m.payload.commandId === "s1"
        ),
      "s1 completed",
    );
    assert.equal(activity.length, seen);
    assert.notEqual(activity.at(-1)?.activity, undefined);
  } finally {
    await executor.stop();
    await Deno.remove(cwd, { recursive: true });
  }
});

Deno.test("Executor: an exec --pty command still reports waiting when it ends", async () => {
  const cwd = await Deno.makeTempDir({ prefix: "fd-exec-end-" });
  const { executor, activity, sent } = await ptyExecutor("shell", cwd);
  try {
    executor.execute(commandInfo("c1", "echo hi", "exec"));
    await until(
      () => sent.some((m) => m.type === "command:completed"),
      "c1 completed",
    );
    assert.equal(activity.at(-1)?.activity, "waiting");
    assert.equal(executor.activity?.activity, "waiting");
  } finally {
    await executor.stop();
    await Deno.remove(cwd, { recursive: true });
  }
});
