/**
 * `command:started.cols/rows` of a session is the size its PTY started at
 * (a restarted session's last size, the local terminal's), not the
 * configured `--cols`/`--rows`; an exec `--pty` command starts at the
 * configured size.
 */
import assert from "node:assert/strict";
import { commandInfo, ptyExecutor, until } from "./test_executor.ts";

Deno.test("Executor: a session's command:started reports the size its PTY started at", async () => {
  const { executor, sent } = await ptyExecutor("shell", Deno.cwd());
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
    executor.startSession(commandInfo("s1", "stty size", "session"), [
      "sh",
      "-c",
      "stty size",
    ], {
      cols: 50,
      rows: 12,
    });
    await until(() => done("s1"), "the session ends");
    // What the program saw, and what the record says.
    assert.match(outputOf("s1"), /^12 50\r\n$/);
    assert.equal(startedOf("s1")?.cols, 50);
    assert.equal(startedOf("s1")?.rows, 12);
    // An exec command starts at the configured size.
    executor.execute(commandInfo("c1", "stty size", undefined));
    await until(() => done("c1"), "the command ends");
    assert.match(outputOf("c1"), /^30 100\r\n$/);
    assert.equal(startedOf("c1")?.cols, 100);
    assert.equal(startedOf("c1")?.rows, 30);
  } finally {
    await executor.stop();
  }
});
