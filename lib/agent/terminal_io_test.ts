import assert from "node:assert/strict";
import { byteLength, type CommandInfo, LIMITS } from "../protocol.ts";
import type { ActivityState } from "./activity.ts";
import { Executor, type PtySettings } from "./executor.ts";
import { createMemoryLogger } from "./logger.ts";
import { loadPty } from "./pty_runner.ts";
import { activityMessage, PtyView } from "./terminal_io.ts";
import { Screen } from "./screen.ts";

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

function setup(pty?: PtySettings) {
  const output: string[] = [];
  const activity: ActivityState[] = [];
  const executor = new Executor({
    type: "shell",
    cwd: Deno.cwd(),
    graceMs: 200,
    maxBufferBytes: 1024 * 1024,
    templates: {},
    pty,
    logger: createMemoryLogger(),
    send: (message) => {
      if (message.type === "terminal:output") {
        output.push(message.payload.data);
      }
      return 1;
    },
    onActivity: (state) => activity.push(state),
  });
  return { executor, output, activity };
}

Deno.test("Executor in pipe mode ignores terminal input and resize (stdin stays closed) and reports no activity", async () => {
  const { executor, output, activity } = setup();
  executor.execute(command("p1", 'read -r x; echo "got[$x] $?"'));
  executor.input("p1", "typed\n");
  executor.resize("p1", 100, 30);
  await executor.idle();
  assert.equal(output.join(""), "got[] 1\n");
  assert.deepEqual(activity, []);
});

Deno.test("Executor in PTY mode reports working when a command starts and waiting when it ended; input for other ids is ignored", async () => {
  const api = await loadPty();
  const { executor, output, activity } = setup({ api, cols: 80, rows: 24 });
  executor.execute(command("t1", "echo hi"));
  executor.input("unknown", "x\r");
  executor.resize("unknown", 10, 10);
  await executor.idle();
  executor.input("t1", "late\r");
  executor.resize("t1", 10, 10);
  assert.equal(output.join(""), "hi\r\n");
  assert.deepEqual(activity.map((s) => s.activity), ["working", "waiting"]);
});

Deno.test("activityMessage leaves out empty attention and options", () => {
  assert.deepEqual(
    activityMessage({ activity: "waiting", attention: null, options: [] })
      .payload,
    { activity: "waiting" },
  );
  assert.deepEqual(
    activityMessage({
      activity: "needs-input",
      attention: "Proceed? [y/N]",
      options: [{ key: "y", label: "Yes" }],
    }).payload,
    {
      activity: "needs-input",
      attention: "Proceed? [y/N]",
      options: [{ key: "y", label: "Yes" }],
    },
  );
});

Deno.test("PtyView: a size the screen refuses is skipped, later output is still read", async () => {
  let asked: (state: ActivityState) => void;
  const seen = new Promise<ActivityState>((resolve) => asked = resolve);
  const view = new PtyView({
    cols: 80,
    rows: 24,
    type: "exec",
    tracker: { quietMs: 1 },
    onChange: (state) => asked(state),
  });
  try {
    view.resize(5000, 24);
    view.write("Name? ");
    assert.deepEqual(await seen, {
      activity: "needs-input",
      attention: "Name?",
      options: [],
    });
  } finally {
    view.dispose();
  }
});

/** Visible rows and cursor of a fresh headless terminal fed `data`. */
async function redraw(cols: number, rows: number, data: string) {
  const screen = new Screen(cols, rows);
  await screen.write(data);
  const result = { lines: screen.visibleLines(), cursor: screen.cursor() };
  screen.dispose();
  return result;
}

Deno.test("PtyView.snapshot() covers exactly the writes made before it, tagged with their seq", async () => {
  const view = new PtyView({
    cols: 40,
    rows: 6,
    type: "exec",
    onChange: () => {},
  });
  const reference = new Screen(40, 6);
  try {
    assert.equal(await view.snapshot(), null, "nothing written yet");
    const chunks = [
      "line one\r\n\x1b[31mred\x1b[0m two\r\n",
      "spinner ·",
      "\r\x1b[Kspinner ✻\r\n> prompt",
    ];
    chunks.forEach((data, i) => view.write(data, i + 1));
    const taken = view.snapshot();
    view.write("\r\nafter the snapshot", 4);
    const snapshot = await taken;
    assert.ok(snapshot);
    assert.deepEqual([snapshot.seq, snapshot.cols, snapshot.rows], [3, 40, 6]);
    for (const data of chunks) await reference.write(data);
    assert.deepEqual(await redraw(40, 6, snapshot.data), {
      lines: reference.visibleLines(),
      cursor: reference.cursor(),
    });
  } finally {
    view.dispose();
    reference.dispose();
  }
});

Deno.test("PtyView.snapshot() keeps less scrollback when the full one is over maxSnapshotBytes", async () => {
  const view = new PtyView({
    cols: 200,
    rows: 10,
    type: "exec",
    onChange: () => {},
  });
  try {
    // 1100 lines of 200 colored cells: about 500 KiB serialized with all 1000
    // lines of scrollback, under the limit with 200.
    for (let i = 0; i < 1100; i++) {
      const cells = Array.from(
        { length: 100 },
        (_, j) => `\x1b[3${(i + j) % 8}m${String(i % 10)}${j % 10}`,
      ).join("");
      view.write(`${cells}\x1b[0m\r\n`, i + 1);
    }
    const snapshot = await view.snapshot();
    assert.ok(snapshot);
    assert.equal(snapshot.seq, 1100);
    assert.ok(byteLength(snapshot.data) <= LIMITS.maxSnapshotBytes);
    const redrawn = new Screen(200, 10, { scrollback: 5000 });
    await redrawn.write(snapshot.data);
    // 200 lines above the screen (the second size tried), the screen below.
    assert.equal(redrawn.allLines().length, 210);
    redrawn.dispose();
  } finally {
    view.dispose();
  }
});

Deno.test("PtyView reads the screen once after a run of writes, not once per write, and still sees where it ends", async () => {
  let asked: (state: ActivityState) => void;
  const seen = new Promise<ActivityState>((resolve) => asked = resolve);
  const view = new PtyView({
    cols: 80,
    rows: 24,
    type: "exec",
    tracker: { quietMs: 1 },
    onChange: (state) => {
      if (state.activity === "needs-input") asked(state);
    },
  });
  try {
    // 200 chunks of a burst arrive before the screen parsed the first.
    for (let i = 1; i <= 200; i++) view.write(`line ${i}\r\n`, i);
    view.write("Name? ", 201);
    assert.deepEqual(await seen, {
      activity: "needs-input",
      attention: "Name?",
      options: [],
    });
    assert.equal(view.classifications, 1);
    // A later write on its own is read on its own.
    view.write("x", 202);
    await view.snapshot();
    assert.equal(view.classifications, 2);
  } finally {
    view.dispose();
  }
});
