/**
 * The agent's side of a session that ended (Executor with a real PTY running
 * the fake Claude-like CLI): once the program exits, the executor reports
 * no activity (never `waiting`: nothing runs to take a prompt) and has none
 * to send again after a reconnect; an exec `--pty` command still reports
 * `waiting` when it ends (the agent is ready for the next command).
 */
import assert from "node:assert/strict";
import type { CommandInfo } from "../protocol.ts";
import type { ActivityState } from "./activity.ts";
import { Executor } from "./executor.ts";
import { createMemoryLogger } from "./logger.ts";
import { loadPty } from "./pty_runner.ts";
import { fakeCliArgv } from "../../tests/fixtures/fake_ai_cli_driver.ts";

const info = (id: string, text: string, kind: CommandInfo["kind"]) => ({
  id,
  agentId: "a1",
  command: text,
  priority: "normal" as const,
  status: "running" as const,
  requestedBy: "u1",
  requestedAt: 1,
  startedAt: null,
  completedAt: null,
  exitCode: null,
  outputBytes: 0,
  kind,
});

/** Poll `check` every 10 ms until true; fail after `ms`. */
async function until(check: () => boolean, what: string, ms = 30_000) {
  const deadline = performance.now() + ms;
  while (!check()) {
    if (performance.now() > deadline) throw new Error(`Timed out: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function executorWith(type: string, cwd: string) {
  const sent: { type: string; payload: Record<string, unknown> }[] = [];
  const activity: ActivityState[] = [];
  const ends: unknown[] = [];
  const executor = new Executor({
    type,
    cwd,
    graceMs: 500,
    maxBufferBytes: 1 << 20,
    templates: {},
    pty: { api: await loadPty(), cols: 100, rows: 30 },
    logger: createMemoryLogger(),
    send: ({ type, payload }) => {
      sent.push({ type, payload: payload as Record<string, unknown> });
      return 1;
    },
    onActivity: (state) => activity.push(state),
    onSessionEnd: (completion) => ends.push(completion),
  });
  return { executor, sent, activity, ends };
}

Deno.test("Executor: a session that ended reports no activity, not waiting, and has none to send after a reconnect", async () => {
  const cwd = await Deno.makeTempDir({ prefix: "fd-exec-end-" });
  const { executor, activity, ends, sent } = await executorWith("claude", cwd);
  try {
    executor.startSession(
      info("s1", "fake", "session"),
      fakeCliArgv(["--work-ms", "200", "--exit-after-prompts", "1"]),
    );
    await until(() => activity.at(-1)?.activity === "waiting", "waits");
    executor.prompt(info("p1", "only", "prompt"));
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
  const { executor, activity, sent } = await executorWith("shell", cwd);
  try {
    executor.execute(info("c1", "echo hi", "exec"));
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
