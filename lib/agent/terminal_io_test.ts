import assert from "node:assert/strict";
import type { CommandInfo } from "../protocol.ts";
import type { ActivityState } from "./activity.ts";
import { Executor, type PtySettings } from "./executor.ts";
import { createMemoryLogger } from "./logger.ts";
import { loadPty } from "./pty_runner.ts";
import { activityMessage, PtyView } from "./terminal_io.ts";

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
