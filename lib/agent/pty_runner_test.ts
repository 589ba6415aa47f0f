import assert from "node:assert/strict";
import FakeTimers from "@sinonjs/fake-timers";
import {
  loadPty,
  platformName,
  PtyUnavailableError,
  startPtyProcess,
} from "./pty_runner.ts";
import { type RunningProcess, SpawnError, startProcess } from "./runner.ts";
import { blockedOnTerminal, isAlive } from "./test_procs.ts";
import { within } from "./test_timing.ts";

const pty = await loadPty();

function run(script: string, graceMs = 2000) {
  let output = "";
  const waiters = new Set<() => void>();
  const proc: RunningProcess = startPtyProcess({
    pty,
    argv: ["bash", "-lc", script],
    cwd: Deno.cwd(),
    cols: 100,
    rows: 30,
    graceMs,
    onOutput: (text) => {
      output += text;
      for (const wake of [...waiters]) wake();
    },
  });
  /** Resolves once the output contains `needle` (checked on every chunk). */
  const outputHas = (needle: string) =>
    new Promise<void>((resolve) => {
      const check = () => {
        if (!output.includes(needle)) return;
        waiters.delete(check);
        resolve();
      };
      waiters.add(check);
      check();
    });
  const firstLine = outputHas("\n").then(() => output.split(/\r?\n/)[0]);
  let settled = false;
  proc.done.then(() => settled = true, () => settled = true);
  return {
    proc,
    output: () => output,
    firstLine,
    outputHas,
    settled: () => settled,
  };
}

Deno.test("startPtyProcess() gives the program a TTY and keeps its colors", async () => {
  const { proc, output } = run(
    `test -t 0 && test -t 1 && test -t 2 && echo is-tty; echo "$TERM"; ` +
      `tput cols; printf '\\033[31mred\\033[0m\\n'; echo err >&2`,
  );
  const result = await proc.done;
  assert.deepEqual(result, {
    code: 0,
    signal: null,
    interrupted: false,
    reason: undefined,
  });
  // The terminal turns \n into \r\n and merges stderr, as a human sees it.
  assert.equal(
    output(),
    "is-tty\r\nxterm-256color\r\n100\r\n\x1b[31mred\x1b[0m\r\nerr\r\n",
  );
});

Deno.test("startPtyProcess() lets tools colorize on their own (ls --color=auto)", async () => {
  const script = "ls --color=auto -d /";
  const { proc, output } = run(script);
  assert.equal((await proc.done).code, 0);
  // e.g. "\x1b[0m\x1b[01;34m/\x1b[0m\r\n": a colored directory name.
  assert.ok(output().includes("m/\x1b[0m"), JSON.stringify(output()));
  // Through pipes the same command stays plain.
  let piped = "";
  const plain = startProcess({
    argv: ["bash", "-lc", script],
    cwd: Deno.cwd(),
    graceMs: 1000,
    onOutput: (_stream, bytes) => piped += new TextDecoder().decode(bytes),
  });
  assert.equal((await plain.done).code, 0);
  assert.equal(piped, "/\n");
});

Deno.test("startPtyProcess() reports exit codes", async () => {
  assert.equal((await run("exit 3").proc.done).code, 3);
  assert.equal((await run("true").proc.done).code, 0);
});

Deno.test("startPtyProcess() reports a signal exit as 128 + signal", async () => {
  const result = await run("kill -TERM $$").proc.done;
  assert.equal(result.code, 143);
  assert.equal(result.signal, "SIGTERM");
  assert.equal(result.interrupted, false);
});

Deno.test("startPtyProcess() delivers multi-byte text intact", async () => {
  const text = "é€🚀漢字".repeat(14_000); // 210 000 bytes, no newline
  const file = await Deno.makeTempFile();
  try {
    await Deno.writeTextFile(file, text);
    const { proc, output } = run(`cat '${file}'`);
    assert.equal((await proc.done).code, 0);
    assert.equal(output().includes("\uFFFD"), false);
    assert.equal(output(), text);
  } finally {
    await Deno.remove(file);
  }
});

Deno.test("PTY interrupt() ends the command and its background children on SIGINT, before any grace period", async () => {
  const { proc, firstLine } = run(`sleep 300 & echo $!; wait`, 2000);
  const grandchild = Number(await firstLine);
  assert.ok(isAlive(grandchild));
  const clock = FakeTimers.install({ toFake: ["setTimeout", "clearTimeout"] });
  let result;
  try {
    const start = clock.now;
    proc.interrupt({ reason: "user" });
    // No fake time passes: a command that needed SIGTERM would never end.
    result = await within(proc.done, 10_000, "ended by SIGINT alone");
    assert.equal(clock.now, start);
  } finally {
    clock.uninstall();
  }
  assert.equal(result.interrupted, true);
  assert.equal(result.reason, "user");
  assert.equal(result.code, 130);
  // The kernel reaps the orphan asynchronously and announces nothing: poll.
  for (let i = 0; i < 100 && isAlive(grandchild); i++) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  assert.equal(isAlive(grandchild), false);
});

Deno.test("PTY interrupt() escalates to SIGTERM and then SIGKILL, graceMs apart", async () => {
  const { proc, outputHas, settled } = run(
    `trap 'echo got-int' INT; trap 'echo got-term' TERM; trap '' HUP; ` +
      `echo ready; while :; do sleep 1; done`,
    200,
  );
  await outputHas("ready");
  const clock = FakeTimers.install({ toFake: ["setTimeout", "clearTimeout"] });
  try {
    const start = clock.now;
    proc.interrupt();
    await within(outputHas("got-int"), 10_000, "SIGINT handled");
    await clock.tickAsync(199);
    assert.equal(settled(), false);
    await clock.tickAsync(1);
    await within(outputHas("got-term"), 10_000, "SIGTERM handled");
    assert.equal(settled(), false, "SIGTERM is trapped: still running");
    await clock.tickAsync(199);
    assert.equal(settled(), false);
    await clock.tickAsync(1);
    const result = await within(proc.done, 10_000, "ended by SIGKILL");
    assert.equal(result.signal, "SIGKILL");
    assert.equal(result.interrupted, true);
    assert.equal(clock.now - start, 400);
  } finally {
    clock.uninstall();
  }
});

Deno.test("startPtyProcess() sends no input: a reader gets no EOF and times out", async () => {
  // `read -t` waits 0.3 s for a line: EOF would end it at once with status
  // 1; waiting in vain ends it with status > 128.
  const { proc, output } = run(`read -r -t 0.3 line; echo "got $?"`);
  const result = await proc.done;
  assert.equal(result.code, 0);
  assert.match(output(), /got (\d+)/);
  assert.ok(Number(/got (\d+)/.exec(output())![1]) > 128, output());
});

Deno.test("startPtyProcess() throws SpawnError for a missing binary", () => {
  assert.throws(
    () =>
      startPtyProcess({
        pty,
        argv: ["flightdeck-no-such-binary"],
        cwd: Deno.cwd(),
        cols: 80,
        rows: 24,
        graceMs: 100,
        onOutput: () => {},
      }),
    (error) =>
      error instanceof SpawnError &&
      error.message === 'Command "flightdeck-no-such-binary" not found',
  );
});

Deno.test("loadPty() names the platform when node-pty cannot load", async () => {
  assert.match(platformName(), /^[a-z]+-[a-z0-9_]+$/);
  await assert.rejects(
    loadPty(() =>
      Promise.reject(new Error("does not support your platform\nmore"))
    ),
    (error) =>
      error instanceof PtyUnavailableError &&
      error.message ===
        `PTY mode is not available on ${platformName()}: ` +
          "does not support your platform",
  );
  await assert.rejects(loadPty(() => Promise.resolve({})), PtyUnavailableError);
  // A failed test import does not poison the real, cached one.
  assert.equal(await loadPty(), pty);
});

Deno.test("PTY pause() blocks the program on the terminal; resume() delivers everything", async () => {
  const { proc, output } = run("seq 1 100000; echo end");
  proc.pause();
  const deadline = performance.now() + 10_000;
  while (!blockedOnTerminal(proc.pid)) {
    if (performance.now() > deadline) throw new Error("never blocked");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  const whilePaused = output().length;
  assert.ok(isAlive(proc.pid));
  proc.resume();
  const result = await proc.done;
  assert.equal(result.code, 0);
  assert.ok(whilePaused < output().length);
  const expected = Array.from({ length: 100000 }, (_, i) => `${i + 1}\r\n`)
    .join("") + "end\r\n";
  assert.equal(output(), expected);
});

Deno.test("PTY output still unread when the program exits while paused is delivered", async () => {
  const { proc, output } = run("printf 'x%.0s' $(seq 1 3000); echo; echo end");
  proc.pause();
  const result = await proc.done;
  assert.equal(result.code, 0);
  assert.equal(output(), "x".repeat(3000) + "\r\nend\r\n");
});
