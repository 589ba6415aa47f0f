/**
 * The agent's side of prompts (Executor with a real PTY running the fake
 * Claude-like CLI): a prompt that arrives while the program asks a question
 * is held, never typed into the dialog, and typed once the screen waits;
 * its `command:started.fromSeq` and `command:completed.toSeq` bound its
 * turn; a held prompt is released before a reconnect and typed when sent
 * again; a typed one is reported in `running()`.
 */
import assert from "node:assert/strict";
import { pasteText } from "./executor.ts";
import { commandInfo, ptyExecutor, until } from "./test_executor.ts";
import { fakeCliArgv } from "../../tests/fixtures/fake_ai_cli_driver.ts";

Deno.test("Executor holds a prompt while the program asks a question, types it once the screen waits, and bounds its turn with fromSeq and toSeq", async () => {
  const cwd = await Deno.makeTempDir({ prefix: "fd-exec-prompt-" });
  const { executor, sent, activity } = await ptyExecutor("claude", cwd);
  const now = () => activity.at(-1)?.activity;
  const output = (from = 1, to = Infinity) =>
    sent.filter((m) =>
      m.type === "terminal:output" && m.payload.commandId === "s1" &&
      (m.payload.seq as number) >= from && (m.payload.seq as number) <= to
    ).map((m) => m.payload.data).join("");
  const of = (type: string, id: string) =>
    sent.filter((m) => m.type === type && m.payload.commandId === id);
  try {
    executor.startSession(
      commandInfo("s1", "fake", "session"),
      fakeCliArgv(["--work-ms", "300"]),
    );
    await until(() => now() === "waiting", "the session waits");

    // The operator starts a write: a permission dialog.
    executor.input("s1", "write x.txt\r");
    await until(() => now() === "needs-input", "the dialog");
    executor.prompt(commandInfo("p1", "held-prompt", "prompt"));
    // Held through a reconnect: released, not typed, not in running().
    executor.releaseHeldPrompts();
    assert.deepEqual(of("command:started", "p1"), []);
    assert.deepEqual(executor.running().map((r) => r.commandId), ["s1"]);
    // Sent again while the dialog still shows: held again.
    executor.prompt(commandInfo("p1", "held-prompt", "prompt"));
    assert.deepEqual(of("command:started", "p1"), []);
    executor.input("s1", "1");
    await until(() => of("command:completed", "p1").length === 1, "p1 ends");

    const [started] = of("command:started", "p1");
    const fromSeq = started.payload.fromSeq as number;
    const done = of("command:completed", "p1")[0].payload;
    const toSeq = done.toSeq as number;
    assert.deepEqual(
      [done.status, done.exitCode, done.lastSeq],
      ["completed", 0, 0],
    );
    // Typed only after the answer: the file was written before its turn,
    // and the program took it (its turn shows it done).
    assert.match(output(1, fromSeq - 1), /Wrote x\.txt/);
    assert.doesNotMatch(output(1, fromSeq - 1), /held-prompt/);
    assert.match(output(fromSeq, toSeq), /Done: held-prompt/);
    assert.equal(
      await Deno.readTextFile(`${cwd}/x.txt`),
      "hello from fake cli\n",
    );
    // Typed once.
    assert.equal(output().match(/Done: held-prompt/g)?.length, 1);
    assert.equal(of("command:started", "p1").length, 1);
    assert.ok(executor.running().some((r) => r.commandId === "p1"));
    executor.ack("p1", 0, true);
    assert.ok(!executor.running().some((r) => r.commandId === "p1"));

    // A prompt id seen before is ignored while it is held.
    executor.prompt(commandInfo("p2", "second-one", "prompt"));
    executor.prompt(commandInfo("p2", "second-one", "prompt"));
    await until(() => of("command:completed", "p2").length === 1, "p2 ends");
    const p2 = of("command:started", "p2")[0].payload.fromSeq as number;
    assert.ok(p2 > toSeq);
    assert.equal(output().match(/Done: second-one/g)?.length, 1);
  } finally {
    await executor.stop();
    await Deno.remove(cwd, { recursive: true });
  }
});

Deno.test("pasteText() keeps text, tabs and line breaks and drops every other control character, so a prompt cannot end the paste", () => {
  assert.equal(pasteText("a\tb\r\nc\rd\ne"), "a\tb\nc\nd\ne");
  assert.equal(pasteText("x\x1b[201~\x03\x7fy\x1b[200~"), "x[201~y[200~");
  assert.equal(pasteText("héllo ✻ 世界"), "héllo ✻ 世界");
});
