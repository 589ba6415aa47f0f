import assert from "node:assert/strict";
import { type ActivityState, ActivityTracker } from "./activity.ts";
import { loadPty } from "./pty_runner.ts";
import { Screen } from "./screen.ts";
import { within } from "./test_timing.ts";

const pty = await loadPty();

Deno.test("ActivityTracker reads a real --pty program blocked on read as needs-input, then working once answered", async () => {
  const screen = new Screen(80, 24);
  const states: ActivityState[] = [];
  const waiters = new Set<() => void>();
  const tracker = new ActivityTracker(screen, {
    type: "exec",
    onChange: (state) => {
      states.push(state);
      for (const wake of [...waiters]) wake();
    },
  });
  /** Resolves once the tracker has emitted `count` states. */
  const emitted = (count: number) =>
    new Promise<void>((resolve) => {
      const check = () => {
        if (states.length < count) return;
        waiters.delete(check);
        resolve();
      };
      waiters.add(check);
      check();
    });
  const term = pty.spawn("bash", [
    "--norc",
    "--noprofile",
    "-c",
    'echo "Installing..."; read -p "Proceed? [y/N] " x; echo "got $x"; read -r',
  ], {
    cols: 80,
    rows: 24,
    cwd: Deno.cwd(),
    env: { PATH: Deno.env.get("PATH") ?? "" },
  });
  let writes = Promise.resolve();
  term.onData((data: string) => {
    writes = writes.then(() => screen.write(data)).then(() => tracker.update());
  });
  const exited = new Promise<void>((resolve) => term.onExit(() => resolve()));
  try {
    await within(emitted(1), 10_000, "asked");
    assert.deepEqual(states[0], {
      activity: "needs-input",
      attention: "Proceed? [y/N]",
      options: [{ key: "y", label: "Yes" }, { key: "n", label: "No" }],
    });
    term.write("y\r");
    await within(emitted(2), 10_000, "working again");
    assert.deepEqual(states[1], {
      activity: "working",
      attention: null,
      options: [],
    });
    assert.deepEqual(screen.lines(3), [
      "Installing...",
      "Proceed? [y/N] y",
      "got y",
    ]);
  } finally {
    term.kill("SIGKILL");
    await exited;
    await writes;
    tracker.dispose();
    screen.dispose();
  }
});
