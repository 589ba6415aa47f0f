import assert from "node:assert/strict";
import FakeTimers from "@sinonjs/fake-timers";
import { type RunningProcess, SpawnError, startProcess } from "./runner.ts";
import { blockedOnPipe, isAlive } from "./test_procs.ts";
import { within } from "./test_timing.ts";

function run(script: string, graceMs = 2000) {
  const bytes = { stdout: [] as number[], stderr: [] as number[] };
  const waiters = new Set<() => void>();
  const proc: RunningProcess = startProcess({
    argv: ["bash", "-lc", script],
    cwd: Deno.cwd(),
    graceMs,
    onOutput: (stream, chunk) => {
      bytes[stream].push(...chunk);
      for (const wake of [...waiters]) wake();
    },
  });
  const text = (stream: "stdout" | "stderr") =>
    new TextDecoder().decode(new Uint8Array(bytes[stream]));
  /** Resolves once stdout contains `needle` (checked on every chunk). */
  const stdoutHas = (needle: string) =>
    new Promise<void>((resolve) => {
      const check = () => {
        if (!text("stdout").includes(needle)) return;
        waiters.delete(check);
        resolve();
      };
      waiters.add(check);
      check();
    });
  const firstLine = stdoutHas("\n").then(() => text("stdout").split("\n")[0]);
  let settled = false;
  proc.done.then(() => settled = true, () => settled = true);
  return { proc, bytes, text, firstLine, stdoutHas, settled: () => settled };
}

Deno.test("startProcess() yields the exact bytes and exit code", async () => {
  const { proc, bytes } = run(
    `printf '\\033[31mred\\033[0m héllo €\\n'; printf 'err 😀\\n' >&2; exit 3`,
  );
  const result = await proc.done;
  assert.deepEqual(result, {
    code: 3,
    signal: null,
    interrupted: false,
    reason: undefined,
  });
  const enc = new TextEncoder();
  assert.deepEqual(
    bytes.stdout,
    [...enc.encode("\x1b[31mred\x1b[0m héllo €\n")],
  );
  assert.deepEqual(bytes.stderr, [...enc.encode("err 😀\n")]);
});

Deno.test("startProcess() sets the color environment", async () => {
  const { proc, text } = run(`echo "$FORCE_COLOR $CLICOLOR_FORCE $TERM"`);
  assert.equal((await proc.done).code, 0);
  assert.equal(text("stdout"), "1 1 xterm-256color\n");
});

Deno.test("RunningProcess.interrupt() ends the command and its children on SIGINT, before any grace period", async () => {
  const { proc, firstLine } = run(`sleep 30 & echo $!; wait`, 2000);
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
  // The orphaned sleep got SIGTERM when bash exited; the kernel reaps it
  // asynchronously, and nothing announces that: poll /proc.
  for (let i = 0; i < 100 && isAlive(grandchild); i++) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  assert.equal(isAlive(grandchild), false);
});

Deno.test("RunningProcess.interrupt() escalates to SIGTERM exactly graceMs after SIGINT", async () => {
  const { proc, stdoutHas, settled } = run(
    `trap 'echo got-int' INT; echo ready; while :; do sleep 1; done`,
    300,
  );
  await stdoutHas("ready");
  const clock = FakeTimers.install({ toFake: ["setTimeout", "clearTimeout"] });
  try {
    const start = clock.now;
    proc.interrupt();
    await within(stdoutHas("got-int"), 10_000, "SIGINT handled");
    assert.equal(settled(), false, "SIGINT alone does not end it");
    await clock.tickAsync(299);
    assert.equal(clock.countTimers(), 1, "SIGTERM still scheduled");
    assert.equal(settled(), false);
    await clock.tickAsync(1);
    const result = await within(proc.done, 10_000, "ended by SIGTERM");
    assert.equal(result.signal, "SIGTERM");
    assert.equal(result.interrupted, true);
    assert.equal(clock.now - start, 300);
  } finally {
    clock.uninstall();
  }
});

Deno.test("RunningProcess.interrupt() escalates to SIGKILL graceMs after SIGTERM", async () => {
  const { proc, stdoutHas, settled } = run(
    `trap 'echo got-int' INT; trap 'echo got-term' TERM; echo ready; ` +
      `while :; do sleep 1; done`,
    300,
  );
  await stdoutHas("ready");
  const clock = FakeTimers.install({ toFake: ["setTimeout", "clearTimeout"] });
  try {
    const start = clock.now;
    proc.interrupt({ graceMs: 200 });
    await within(stdoutHas("got-int"), 10_000, "SIGINT handled");
    await clock.tickAsync(200);
    await within(stdoutHas("got-term"), 10_000, "SIGTERM handled");
    assert.equal(settled(), false, "SIGTERM is trapped: still running");
    await clock.tickAsync(199);
    assert.equal(settled(), false);
    await clock.tickAsync(1);
    const result = await within(proc.done, 10_000, "ended by SIGKILL");
    assert.equal(result.signal, "SIGKILL");
    assert.equal(clock.now - start, 400);
  } finally {
    clock.uninstall();
  }
});

Deno.test("startProcess() throws SpawnError for a missing binary", () => {
  assert.throws(
    () =>
      startProcess({
        argv: ["flightdeck-no-such-binary", "x"],
        cwd: Deno.cwd(),
        graceMs: 100,
        onOutput: () => {},
      }),
    (error) =>
      error instanceof SpawnError &&
      error.message === 'Command "flightdeck-no-such-binary" not found',
  );
});

/** Poll `check` every 10 ms (real time) until true; fail after `ms`. */
async function until(
  check: () => boolean,
  what: string,
  ms = 10_000,
  timer = setTimeout,
): Promise<void> {
  const deadline = performance.now() + ms;
  while (!check()) {
    if (performance.now() > deadline) throw new Error(`Timed out: ${what}`);
    await new Promise((resolve) => timer(resolve, 10));
  }
}

Deno.test("RunningProcess.pause() blocks the program on its pipe; resume() delivers every byte in order", async () => {
  const size = 1_000_000;
  const { proc, bytes } = run(`seq 1 200000 | head -c ${size}`);
  proc.pause();
  await until(() => blockedOnPipe(proc.pid), "the writer blocked");
  // Nothing was read while paused, and the program is still there.
  assert.equal(bytes.stdout.length, 0);
  assert.ok(isAlive(proc.pid));
  proc.resume();
  const result = await proc.done;
  assert.equal(result.code, 0);
  const expected = new TextEncoder().encode(
    Array.from({ length: 200000 }, (_, i) => `${i + 1}\n`).join(""),
  ).slice(0, size);
  assert.deepEqual(new Uint8Array(bytes.stdout), expected);
});

Deno.test("RunningProcess: output still in the pipe at exit survives a pause longer than drainMs", async () => {
  const { default: FakeTimers } = await import("@sinonjs/fake-timers");
  const realSetTimeout = setTimeout;
  const clock = FakeTimers.install({
    toFake: ["setTimeout", "clearTimeout", "Date"],
  });
  try {
    const received: number[] = [];
    const proc = startProcess({
      argv: ["bash", "-c", "head -c 30000 /dev/zero"],
      cwd: Deno.cwd(),
      graceMs: 100,
      drainMs: 100,
      onOutput: (_, chunk) => received.push(...chunk),
    });
    proc.pause();
    // 30000 bytes fit in the pipe: the program writes them and exits.
    await until(
      () => !isAlive(proc.pid),
      "the program exited",
      10_000,
      realSetTimeout,
    );
    // Far past drainMs while paused: the pipe must not be given up.
    await clock.tickAsync(60_000);
    assert.equal(received.length, 0);
    proc.resume();
    const result = await proc.done;
    assert.equal(result.code, 0);
    assert.equal(received.length, 30000);
  } finally {
    clock.uninstall();
  }
});
