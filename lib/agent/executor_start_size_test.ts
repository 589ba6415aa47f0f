/**
 * `command:started.cols/rows` of a session is the size its PTY started at
 * (a restarted session's last size, the local terminal's), not the
 * configured `--cols`/`--rows`; an exec `--pty` command starts at the
 * configured size.
 */
import assert from "node:assert/strict";
import type { CommandInfo } from "../protocol.ts";
import { Executor } from "./executor.ts";
import { createMemoryLogger } from "./logger.ts";
import { loadPty } from "./pty_runner.ts";

const info = (id: string, kind?: CommandInfo["kind"]): CommandInfo => ({
  id,
  agentId: "a1",
  command: "stty size",
  priority: "normal",
  status: "running",
  requestedBy: "u1",
  requestedAt: 1,
  startedAt: null,
  completedAt: null,
  exitCode: null,
  outputBytes: 0,
  ...(kind ? { kind } : {}),
});

/** Poll `check` every 10 ms until true; fail after `ms`. */
async function until(check: () => boolean, what: string, ms = 30_000) {
  const deadline = performance.now() + ms;
  while (!check()) {
    if (performance.now() > deadline) throw new Error(`Timed out: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

Deno.test("Executor: a session's command:started reports the size its PTY started at", async () => {
  const sent: { type: string; payload: Record<string, unknown> }[] = [];
  const executor = new Executor({
    type: "shell",
    cwd: Deno.cwd(),
    graceMs: 500,
    maxBufferBytes: 1 << 20,
    templates: {},
    pty: { api: await loadPty(), cols: 100, rows: 30 },
    logger: createMemoryLogger(),
    send: ({ type, payload }) => {
      sent.push({ type, payload: payload as Record<string, unknown> });
      return 1;
    },
  });
  const done = (id: string) =>
    sent.some((m) =>
      m.type === "command:completed" && m.payload.commandId === id
    );
  const startedOf = (id: string) =>
    sent.find((m) => m.type === "command:started" && m.payload.commandId === id)
      ?.payload;
  const outputOf = (id: string) =>
    sent.filter((m) =>
      m.type === "terminal:output" && m.payload.commandId === id
    ).map((m) => m.payload.data).join("");
  try {
    executor.startSession(info("s1", "session"), ["sh", "-c", "stty size"], {
      cols: 50,
      rows: 12,
    });
    await until(() => done("s1"), "the session ends");
    // What the program saw, and what the record says.
    assert.match(outputOf("s1"), /^12 50\r\n$/);
    assert.equal(startedOf("s1")?.cols, 50);
    assert.equal(startedOf("s1")?.rows, 12);
    // An exec command starts at the configured size.
    executor.execute(info("c1"));
    await until(() => done("c1"), "the command ends");
    assert.match(outputOf("c1"), /^30 100\r\n$/);
    assert.equal(startedOf("c1")?.cols, 100);
    assert.equal(startedOf("c1")?.rows, 30);
  } finally {
    await executor.stop();
  }
});
