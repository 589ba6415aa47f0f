import assert from "node:assert/strict";
import FakeTimers from "@sinonjs/fake-timers";
import {
  type ActivityState,
  ActivityTracker,
  type ActivityTrackerOptions,
  DEFAULT_QUIET_MS,
  detectorFor,
} from "./activity.ts";
import { Screen } from "./screen.ts";

const WAITING = { activity: "waiting", attention: null, options: [] };
const WORKING = { activity: "working", attention: null, options: [] };
const STALLED = { activity: "stalled", attention: null, options: [] };

const PROMPT =
  "\x1b[20;1H\x1b[J╭──────────╮\r\n│ >        │\r\n╰──────────╯\r\n  ? for shortcuts";
const spinner = (i: number) =>
  `\x1b[18;1H\x1b[2K${"✢✳✶✻✽"[i % 5]} Thinking… (${i}s · esc to interrupt)`;
const PERMISSION = "\x1b[14;1H\x1b[J Do you want to create hello.txt?\r\n" +
  " ❯ 1. Yes\r\n   2. Yes, and don't ask again this session\r\n   3. No";

/** A real screen, a fake clock, and every state the tracker emitted. */
function setup(options: Partial<ActivityTrackerOptions> = {}) {
  const clock = FakeTimers.createClock();
  const screen = new Screen(60, 24);
  const seen: ActivityState[] = [];
  const tracker = new ActivityTracker(screen, {
    type: "claude",
    onChange: (state) => seen.push(state),
    timers: clock,
    ...options,
  });
  const show = async (data: string) => {
    await screen.write(data);
    tracker.update();
  };
  const done = () => {
    tracker.dispose();
    screen.dispose();
    assert.equal(clock.countTimers(), 0);
  };
  return { clock, screen, seen, tracker, show, done };
}

Deno.test("ActivityTracker declares waiting only after the screen is quiet for quietMs", async () => {
  const { clock, seen, tracker, show, done } = setup();
  assert.deepEqual(tracker.state, WORKING);
  await show(PROMPT);
  clock.tick(DEFAULT_QUIET_MS - 1);
  assert.deepEqual(seen, []);
  // A redraw of the prompt restarts the wait.
  await show("\x1b[21;3H> ");
  clock.tick(DEFAULT_QUIET_MS - 1);
  assert.deepEqual(seen, []);
  clock.tick(1);
  assert.deepEqual(seen, [WAITING]);
  done();
});

Deno.test("ActivityTracker follows waiting → working → needs-input → working → waiting without flapping", async () => {
  const { clock, seen, show, done } = setup();
  await show(PROMPT);
  clock.tick(DEFAULT_QUIET_MS);
  // Working: the spinner redraws every 100 ms for 3 s; one frame in the
  // middle shows only the prompt (between two Ink frames).
  for (let i = 0; i < 30; i++) {
    await show(i === 15 ? "\x1b[18;1H\x1b[2K" : spinner(i));
    clock.tick(100);
  }
  await show(PERMISSION);
  clock.tick(DEFAULT_QUIET_MS);
  // The operator answers; the CLI works again, then waits.
  await show("\x1b[14;1H\x1b[J" + spinner(1));
  clock.tick(200);
  await show("\x1b[14;1H\x1b[J● Created hello.txt" + PROMPT);
  clock.tick(DEFAULT_QUIET_MS);
  assert.deepEqual(seen, [
    WAITING,
    WORKING,
    {
      activity: "needs-input",
      attention: "Do you want to create hello.txt?",
      options: [
        { key: "1", label: "Yes" },
        { key: "2", label: "Yes, and don't ask again this session" },
        { key: "3", label: "No" },
      ],
    },
    WORKING,
    WAITING,
  ]);
  done();
});

Deno.test("ActivityTracker keeps waiting while the operator types at the prompt", async () => {
  const { clock, seen, show, done } = setup();
  await show(PROMPT);
  clock.tick(DEFAULT_QUIET_MS);
  for (const ch of "hello") {
    await show(ch);
    clock.tick(50);
  }
  clock.tick(10_000);
  assert.deepEqual(seen, [WAITING]);
  done();
});

Deno.test("ActivityTracker turns output under a prompt into working quietMs after its first frame", async () => {
  const { clock, seen, show, done } = setup({ type: "shell" });
  await show("$ ");
  clock.tick(DEFAULT_QUIET_MS);
  await show("make\r\n");
  // Output keeps coming every 100 ms; working does not wait for it to stop.
  for (let i = 0; i < 4; i++) {
    await show(`cc -c file${i}.c\r\n`);
    clock.tick(100);
  }
  assert.deepEqual(seen, [WAITING]);
  clock.tick(100);
  assert.deepEqual(seen, [WAITING, WORKING]);
  done();
});

Deno.test("ActivityTracker reports stalled after stallAfterMs without progress, spinner or not", async () => {
  const { clock, seen, show, done } = setup({ stallAfterMs: 60_000 });
  await show("● Running the tests\r\n");
  // Only the spinner row changes for a minute: that is not progress.
  for (let i = 0; i < 599; i++) {
    await show(spinner(i));
    clock.tick(100);
  }
  assert.deepEqual(seen, []);
  clock.tick(100);
  assert.deepEqual(seen, [STALLED]);
  await show(spinner(600));
  assert.deepEqual(seen, [STALLED]);
  // New output ends the stall, and the stall clock starts again.
  await show("\x1b[10;1H● 12 tests passed");
  assert.deepEqual(seen, [STALLED, WORKING]);
  clock.tick(59_999);
  assert.deepEqual(seen, [STALLED, WORKING]);
  clock.tick(1);
  assert.deepEqual(seen, [STALLED, WORKING, STALLED]);
  done();
});

Deno.test("ActivityTracker never reports a waiting agent as stalled", async () => {
  const { clock, seen, show, done } = setup({ stallAfterMs: 1000 });
  await show(PROMPT);
  clock.tick(DEFAULT_QUIET_MS);
  clock.tick(60_000);
  assert.deepEqual(seen, [WAITING]);
  done();
});

Deno.test("ActivityTracker's waitingPattern and inputPattern replace the type's patterns", async () => {
  const { clock, seen, show, done } = setup({
    type: "shell",
    waitingPattern: /^READY>/,
    inputPattern: /Continue\?$/,
  });
  await show("$ ");
  clock.tick(DEFAULT_QUIET_MS);
  // Numbered answers alone no longer mean a question either.
  await show("\r\nPick one\r\n1. a\r\n2. b\r\n");
  clock.tick(DEFAULT_QUIET_MS);
  assert.deepEqual(seen, []);
  await show("READY> ");
  clock.tick(DEFAULT_QUIET_MS);
  await show("\r\nDisk is full. Continue?\r\n1. Yes\r\n2. No\r\n");
  clock.tick(DEFAULT_QUIET_MS);
  assert.deepEqual(seen, [WAITING, {
    activity: "needs-input",
    attention: "Disk is full. Continue?",
    options: [{ key: "1", label: "Yes" }, { key: "2", label: "No" }],
  }]);
  done();
});

Deno.test("ActivityTracker reads a --pty program waiting on read as needs-input (exec)", async () => {
  const { clock, seen, show, done } = setup({ type: "exec" });
  await show("Installing...\r\n");
  clock.tick(10 * DEFAULT_QUIET_MS);
  assert.deepEqual(seen, []);
  await show("Proceed? [y/N] ");
  clock.tick(DEFAULT_QUIET_MS);
  await show("y\r\nDone\r\n");
  clock.tick(DEFAULT_QUIET_MS);
  assert.deepEqual(seen, [{
    activity: "needs-input",
    attention: "Proceed? [y/N]",
    options: [{ key: "y", label: "Yes" }, { key: "n", label: "No" }],
  }, WORKING]);
  done();
});

Deno.test("ActivityTracker rejects an unknown type and non-positive durations", () => {
  const clock = FakeTimers.createClock();
  const screen = new Screen(10, 5);
  const base = { type: "claude", onChange: () => {}, timers: clock };
  assert.throws(() => new ActivityTracker(screen, { ...base, type: "vim" }), {
    name: "RangeError",
    message: 'Unknown agent type "vim"',
  });
  assert.throws(() => detectorFor("toString"), /Unknown agent type/);
  assert.throws(
    () => new ActivityTracker(screen, { ...base, quietMs: 0 }),
    /quietMs must be a positive number, got "0"/,
  );
  assert.throws(
    () => new ActivityTracker(screen, { ...base, stallAfterMs: NaN }),
    /stallAfterMs/,
  );
  assert.equal(clock.countTimers(), 0);
  screen.dispose();
});
