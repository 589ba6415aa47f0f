import assert from "node:assert/strict";
import { type RunningProcess, SpawnError, startProcess } from "./runner.ts";

function run(script: string, graceMs = 2000) {
  const bytes = { stdout: [] as number[], stderr: [] as number[] };
  let onStdout = () => {};
  const proc: RunningProcess = startProcess({
    argv: ["bash", "-lc", script],
    cwd: Deno.cwd(),
    graceMs,
    onOutput: (stream, chunk) => {
      bytes[stream].push(...chunk);
      onStdout();
    },
  });
  const text = (stream: "stdout" | "stderr") =>
    new TextDecoder().decode(new Uint8Array(bytes[stream]));
  const firstLine = new Promise<string>((resolve) => {
    onStdout = () => {
      const out = text("stdout");
      if (out.includes("\n")) resolve(out.split("\n")[0]);
    };
  });
  return { proc, bytes, text, firstLine };
}

/** Whether `pid` is a live (non-zombie) process. */
function isAlive(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
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

Deno.test("RunningProcess.interrupt() ends the command and its children", async () => {
  const { proc, firstLine } = run(`sleep 30 & echo $!; wait`, 2000);
  const grandchild = Number(await firstLine);
  assert.ok(isAlive(grandchild));
  const started = Date.now();
  proc.interrupt({ reason: "user" });
  const result = await proc.done;
  assert.ok(Date.now() - started < 2000, "ended within the grace period");
  assert.equal(result.interrupted, true);
  assert.equal(result.reason, "user");
  assert.equal(result.code, 130);
  // The kernel reaps asynchronously: allow it a moment after the pipes closed.
  for (let i = 0; i < 50 && isAlive(grandchild); i++) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  assert.equal(isAlive(grandchild), false);
});

Deno.test("RunningProcess.interrupt() escalates to SIGTERM when SIGINT is ignored", async () => {
  const { proc, firstLine } = run(`trap '' INT; echo ready; sleep 30`, 300);
  await firstLine;
  const started = Date.now();
  proc.interrupt();
  const result = await proc.done;
  const elapsed = Date.now() - started;
  assert.ok(elapsed >= 290 && elapsed < 600, `took ${elapsed} ms`);
  assert.equal(result.signal, "SIGTERM");
});

Deno.test("RunningProcess.interrupt() escalates to SIGKILL when SIGTERM is ignored", async () => {
  const { proc, firstLine } = run(
    `trap '' INT TERM; echo ready; sleep 30 & echo $! >&2; wait`,
    300,
  );
  await firstLine;
  const started = Date.now();
  proc.interrupt({ graceMs: 200 });
  const result = await proc.done;
  const elapsed = Date.now() - started;
  assert.ok(elapsed >= 390 && elapsed < 800, `took ${elapsed} ms`);
  assert.equal(result.signal, "SIGKILL");
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
