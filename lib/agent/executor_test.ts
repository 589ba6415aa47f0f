import assert from "node:assert/strict";
import FakeTimers from "@sinonjs/fake-timers";
import type { CommandInfo } from "../protocol.ts";
import { Executor, type PtySettings } from "./executor.ts";
import { createMemoryLogger } from "./logger.ts";
import { loadPty } from "./pty_runner.ts";
import { until } from "./test_executor.ts";
import { blockedOnPipe, isGroupAlive } from "./test_procs.ts";
import { within } from "./test_timing.ts";

const command = (id: string, text: string): CommandInfo => ({
  id,
  agentId: "a1",
  command: text,
  priority: "normal",
  status: "running",
  requestedBy: "u1",
  requestedAt: 1,
  startedAt: null,
  completedAt: null,
  exitCode: null,
  outputBytes: 0,
});

function setup(
  templates: Record<string, string[]>,
  type = "claude",
  pty?: PtySettings,
  maxBufferBytes = 1024 * 1024,
) {
  const sent: { type: string; payload: Record<string, unknown> }[] = [];
  const listeners: ((m: (typeof sent)[number]) => void)[] = [];
  let connected = true;
  const logger = createMemoryLogger();
  const executor = new Executor({
    type,
    cwd: Deno.cwd(),
    graceMs: 200,
    maxBufferBytes,
    templates,
    pty,
    logger,
    send: ({ type, payload }) => {
      if (!connected) return 0;
      // Timestamps vary: compare everything else exactly.
      const rest = Object.fromEntries(
        Object.entries(payload).filter(([key]) => !key.endsWith("edAt")),
      );
      sent.push({ type, payload: rest });
      for (const listener of listeners) listener(sent[sent.length - 1]);
      return JSON.stringify(payload).length;
    },
  });
  return {
    executor,
    sent,
    logger,
    setConnected: (v: boolean) => connected = v,
    /** Call `listener` with every message sent from now on. */
    onSend: (listener: (m: (typeof sent)[number]) => void) =>
      listeners.push(listener),
  };
}

Deno.test("Executor reports a missing binary as failed with exit code 127", async () => {
  const { executor, sent } = setup({
    claude: ["flightdeck-no-such-bin", "-p"],
  });
  executor.execute(command("c1", "hello"));
  await executor.idle();
  assert.deepEqual(sent, [
    { type: "command:started", payload: { commandId: "c1" } },
    {
      type: "terminal:output",
      payload: {
        commandId: "c1",
        seq: 1,
        stream: "stderr",
        data:
          'flightdeck-agent: Command "flightdeck-no-such-bin" not found\r\n',
      },
    },
    {
      type: "command:completed",
      payload: { commandId: "c1", exitCode: 127, status: "failed", lastSeq: 1 },
    },
  ]);
});

Deno.test("Executor appends the prompt as one argument, never through a shell", async () => {
  const { executor, sent } = setup({ claude: ["printf", "[%s]"] });
  executor.execute(command("c1", "a b; echo $HOME"));
  await executor.idle();
  assert.deepEqual(sent.slice(1), [
    {
      type: "terminal:output",
      payload: {
        commandId: "c1",
        seq: 1,
        stream: "stdout",
        data: "[--][a b; echo $HOME]",
      },
    },
    {
      type: "command:completed",
      payload: {
        commandId: "c1",
        exitCode: 0,
        status: "completed",
        lastSeq: 1,
      },
    },
  ]);
});

Deno.test("Executor keeps output produced while disconnected and resends it", async () => {
  const { executor, sent, setConnected } = setup({}, "shell");
  setConnected(false);
  executor.execute(command("c1", "echo one"));
  await executor.idle();
  assert.deepEqual(executor.running(), [{ commandId: "c1", lastSeq: 1 }]);
  setConnected(true);
  executor.resend();
  assert.deepEqual(sent.map((m) => m.type), [
    "command:started",
    "terminal:output",
    "command:completed",
  ]);
  executor.ack("c1", 1);
  sent.length = 0;
  executor.resend();
  assert.deepEqual(sent.map((m) => m.type), ["command:completed"]);
  executor.ack("c1", 1, true);
  sent.length = 0;
  executor.resend();
  assert.deepEqual(sent, []);
  assert.deepEqual(executor.running(), []);
});

const ptySettings = async () => ({ api: await loadPty(), cols: 80, rows: 24 });

Deno.test("Executor in PTY mode sends one pty stream with contiguous seq", async () => {
  const { executor, sent } = setup({}, "shell", await ptySettings());
  // 40 000 bytes of stdout, then stderr: several chunks, merged in order.
  executor.execute(command(
    "c1",
    `test -t 1 && printf 'tty\\n'; head -c 40000 /dev/zero | tr '\\0' x; ` +
      `printf '\\033[31mred\\033[0m\\n' >&2; exit 3`,
  ));
  await executor.idle();
  const chunks = sent.filter((m) => m.type === "terminal:output")
    .map((m) => m.payload);
  assert.ok(chunks.length >= 3, `${chunks.length} chunks`);
  assert.deepEqual(chunks.map((c) => c.seq), chunks.map((_, i) => i + 1));
  assert.ok(chunks.every((c) => c.stream === "pty"));
  assert.equal(
    chunks.map((c) => c.data).join(""),
    `tty\r\n${"x".repeat(40_000)}\x1b[31mred\x1b[0m\r\n`,
  );
  assert.deepEqual(sent.at(-1), {
    type: "command:completed",
    payload: {
      commandId: "c1",
      exitCode: 3,
      status: "failed",
      lastSeq: chunks.length,
    },
  });
});

Deno.test("Executor in PTY mode interrupts the process group", async () => {
  const { executor, sent, onSend } = setup({}, "shell", await ptySettings());
  const output = new Promise<void>((resolve) =>
    onSend((m) => m.type === "terminal:output" && resolve())
  );
  executor.execute(command("c1", "echo ready; sleep 300 & wait"));
  await output;
  const clock = FakeTimers.install({ toFake: ["setTimeout", "clearTimeout"] });
  try {
    const start = clock.now;
    executor.interrupt("c1", "user");
    // No fake time passes, so no grace period ends: SIGINT alone did it.
    await within(executor.idle(), 10_000, "ended by SIGINT alone");
    assert.equal(clock.now, start);
  } finally {
    clock.uninstall();
  }
  assert.deepEqual(sent.at(-1), {
    type: "command:completed",
    payload: {
      commandId: "c1",
      exitCode: null,
      status: "interrupted",
      lastSeq: 1,
      signal: "SIGINT",
      reason: "user",
    },
  });
});

Deno.test("Executor in PTY mode reports a missing binary on the pty stream", async () => {
  const { executor, sent } = setup(
    { claude: ["flightdeck-no-such-bin"] },
    "claude",
    await ptySettings(),
  );
  executor.execute(command("c1", "hi"));
  await executor.idle();
  assert.deepEqual(sent[1].payload, {
    commandId: "c1",
    seq: 1,
    stream: "pty",
    data: 'flightdeck-agent: Command "flightdeck-no-such-bin" not found\r\n',
  });
});

Deno.test("Executor flow control: reading pauses at the window, the program blocks on its pipe, acks resume it, nothing is dropped", async () => {
  const window = 64 * 1024;
  const { executor, sent, logger } = setup({}, "shell", undefined, window);
  assert.equal(executor.windowBytes, window);
  executor.execute(command("c1", "seq 1 100000"));
  await until(() => logger.lines.some((l) => l.includes("(pid ")), "start");
  const pid = Number(/\(pid (\d+)\)/.exec(logger.lines.join("\n"))![1]);
  const outputs = () => sent.filter((m) => m.type === "terminal:output");
  const completed = () => sent.some((m) => m.type === "command:completed");
  let ackedSeq = 0;
  let blocked = 0;
  while (!completed()) {
    // The agent is paused (the outbox holds the window) and the program
    // waits on its full pipe, or has written everything and exited.
    await until(
      () =>
        completed() ||
        (executor.heldBytes >= window &&
          (blockedOnPipe(pid) || !isGroupAlive(pid))),
      "paused with the program blocked",
    );
    if (completed()) break;
    if (blockedOnPipe(pid)) blocked++;
    // Held: the window, plus the rest of the read that filled it (one pipe
    // buffer, 64 KiB), plus what the batcher flushes after (16 KiB).
    assert.ok(
      executor.heldBytes < window + 80 * 1024,
      `${executor.heldBytes} bytes held`,
    );
    // In flight: under the window plus one frame (the largest sent; JSON
    // escapes each newline of `seq`'s output, so a 16 KiB batch is larger).
    const frameBytes = (m: (typeof sent)[number]) =>
      JSON.stringify(m.payload).length;
    const largest = Math.max(...outputs().map(frameBytes));
    const inFlight = outputs().filter((m) => Number(m.payload.seq) > ackedSeq)
      .reduce((sum, m) => sum + frameBytes(m), 0);
    assert.ok(
      inFlight < window + largest,
      `${inFlight} in flight, window ${window}, largest frame ${largest}`,
    );
    ackedSeq = Number(outputs().at(-1)!.payload.seq);
    executor.ack("c1", ackedSeq);
  }
  assert.ok(blocked >= 3, `the program blocked ${blocked} times`);
  // The tail goes out as acks free room; then the completion, last.
  while (sent.at(-1)!.type !== "command:completed") {
    ackedSeq = Number(outputs().at(-1)!.payload.seq);
    executor.ack("c1", ackedSeq);
  }
  await executor.idle();
  const chunks = outputs();
  assert.deepEqual(
    chunks.map((m) => m.payload.seq),
    chunks.map((_, i) => i + 1),
  );
  const expected = Array.from({ length: 100000 }, (_, i) => `${i + 1}\n`)
    .join("");
  assert.equal(chunks.map((m) => m.payload.data).join(""), expected);
  assert.deepEqual(sent.at(-1)!.payload, {
    commandId: "c1",
    exitCode: 0,
    status: "completed",
    lastSeq: chunks.length,
  });
  executor.ack("c1", chunks.length, true);
  assert.equal(executor.heldBytes, 0);
  assert.deepEqual(executor.running(), []);
});

/**
 * A fake AI CLI: prints its argv, then how a getopt-style parser reads it
 * (options until `--`, `--prompt=VALUE`, anything else a prompt).
 */
const FAKE_CLI = `#!/usr/bin/env bash
for a in "$@"; do printf 'argv[%s]\\n' "$a"; done
rest=
for a in "$@"; do
  if [ -n "$rest" ]; then printf 'prompt[%s]\\n' "$a"; continue; fi
  case "$a" in
    --) rest=1 ;;
    --prompt=*) printf 'prompt[%s]\\n' "\${a#--prompt=}" ;;
    -*) printf 'option[%s]\\n' "$a" ;;
    *) printf 'prompt[%s]\\n' "$a" ;;
  esac
done
`;

for (
  const [type, template, argv] of [
    ["claude", ["-p"], ["-p", "--", "--dangerously-skip-permissions"]],
    ["codex", [], ["--", "--dangerously-skip-permissions"]],
    ["gemini", ["-p"], ["--prompt=--dangerously-skip-permissions"]],
  ] as const
) {
  Deno.test(`Executor (${type}): a prompt "--dangerously-skip-permissions" reaches a fake CLI as the prompt`, async () => {
    const dir = await Deno.makeTempDir();
    try {
      const fake = `${dir}/fake-${type}`;
      await Deno.writeTextFile(fake, FAKE_CLI, { mode: 0o755 });
      const { executor, sent } = setup({ [type]: [fake, ...template] }, type);
      executor.execute(command("c1", "--dangerously-skip-permissions"));
      await executor.idle();
      const chunks = sent.filter((m) => m.type === "terminal:output");
      const output = chunks.map((m) => m.payload.data).join("");
      const options = type === "claude" ? ["option[-p]"] : [];
      assert.equal(
        output,
        [
          ...argv.map((a) => `argv[${a}]`),
          ...options,
          "prompt[--dangerously-skip-permissions]",
          "",
        ].join("\n"),
      );
      assert.deepEqual(sent.at(-1)?.payload, {
        commandId: "c1",
        exitCode: 0,
        status: "completed",
        // One chunk, or more when the script's writes come far apart.
        lastSeq: chunks.length,
      });
      assert.deepEqual(
        chunks.map((m) => m.payload.seq),
        [
          ...Array(chunks.length).keys(),
        ].map((i) => i + 1),
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}

Deno.test("Executor.resend(window) after a reconnect sends every unacked chunk in order, then the completion", async () => {
  const { executor, sent, setConnected } = setup({}, "shell");
  const dir = await Deno.makeTempDir();
  try {
    // Chunks of 70 and 20 bytes (the second printed once the test saw the
    // first go out): the first frame (124 bytes here) fills a window of 110
    // bytes, while the data held stays under it (reading goes on), so the
    // second is held.
    executor.resend(110);
    const flag = `${dir}/go`;
    executor.execute(command(
      "c1",
      `printf '%070d' 0; until [ -e ${flag} ]; do sleep 0.01; done; ` +
        `printf '%020d' 1`,
    ));
    const types = () => sent.map((m) => `${m.type}:${m.payload.seq ?? ""}`);
    await until(() => types().includes("terminal:output:1"), "chunk 1");
    await Deno.writeTextFile(flag, "");
    await executor.idle();
    assert.deepEqual(types(), ["command:started:", "terminal:output:1"]);
    // The connection drops with chunk 1 unacknowledged; a new one is acked.
    setConnected(false);
    setConnected(true);
    sent.length = 0;
    executor.resend(1024 * 1024);
    assert.deepEqual(types(), [
      "terminal:output:1",
      "terminal:output:2",
      "command:completed:",
    ]);
    assert.equal(
      sent.filter((m) => m.type === "terminal:output")
        .map((m) => m.payload.data).join(""),
      "0".repeat(70) + "0".repeat(19) + "1",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("Executor.startSession() runs the program once in a PTY and writes the screen's answers to terminal queries back into it", async () => {
  const { executor, sent } = setup({}, "shell", await ptySettings());
  // The program asks where the cursor is (CSI 6n) and waits for the answer,
  // as Codex does before it draws.
  executor.startSession({ ...command("s1", "bash"), kind: "session" }, [
    "bash",
    "-c",
    `stty -icanon -echo; printf 'go\\033[6n'; IFS= read -r -d R pos; ` +
    `printf 'answer:%s\\n' "\${pos#*[}"; exit 4`,
  ]);
  assert.equal(executor.sessionLive, true);
  await within(executor.idle(), 20_000, "the session ended");
  assert.equal(executor.sessionLive, false);
  const text = sent.filter((m) => m.type === "terminal:output")
    .map((m) => m.payload.data).join("");
  assert.equal(text, "go\x1b[6nanswer:1;3\r\n");
  assert.deepEqual(sent.at(-1)?.payload, {
    commandId: "s1",
    exitCode: 4,
    status: "failed",
    lastSeq: sent.filter((m) => m.type === "terminal:output").length,
  });
});

Deno.test("Executor counts output frames in UTF-8 bytes without scanning them again (non-ASCII output, non-ASCII command id)", async () => {
  const frames: { frame: string; utf8Extra: number | undefined }[] = [];
  const executor = new Executor({
    type: "shell",
    cwd: Deno.cwd(),
    graceMs: 200,
    maxBufferBytes: 1024 * 1024,
    templates: {},
    logger: createMemoryLogger(),
    send: (message, utf8Extra) => {
      const frame = JSON.stringify(message);
      if (message.type === "terminal:output") frames.push({ frame, utf8Extra });
      return new TextEncoder().encode(frame).length;
    },
  });
  // Two-, three- and four-byte characters, enough for several frames.
  executor.execute(
    command(
      "cé-1",
      `for i in $(seq 1 3000); do printf 'é€😀 line %d\\n' "$i"; done`,
    ),
  );
  await executor.idle();
  assert.ok(frames.length >= 1);
  let text = "";
  for (const { frame, utf8Extra } of frames) {
    // What the connection counts for the window given utf8Extra.
    assert.equal(
      frame.length + utf8Extra!,
      new TextEncoder().encode(frame).length,
    );
    text += JSON.parse(frame).payload.data;
  }
  assert.equal(text.split("\n").length, 3001);
  assert.ok(text.includes("é€😀 line 3000\n"));
});
