import assert from "node:assert/strict";
import FakeTimers from "@sinonjs/fake-timers";
import { RESTART_BACKOFF, SessionRestarter } from "./restart.ts";
import type { RestartMode } from "./session_flags.ts";

function setup(mode: RestartMode) {
  const clock = FakeTimers.createClock();
  let restarts = 0;
  const restarter = new SessionRestarter({
    mode,
    onRestart: () => restarts++,
    timers: clock,
    now: () => clock.now,
  });
  return { clock, restarter, restarts: () => restarts };
}

Deno.test("SessionRestarter always: 1 s doubling to 30 s while the program keeps exiting quickly", () => {
  const { clock, restarter, restarts } = setup("always");
  const delays: number[] = [];
  for (let i = 0; i < 8; i++) {
    restarter.started();
    clock.tick(5_000); // runs 5 s, then exits
    const delay = restarter.ended()!;
    delays.push(delay);
    assert.equal(restarter.pending, true);
    clock.tick(delay - 1);
    assert.equal(restarts(), i, "not before the delay");
    clock.tick(1);
    assert.equal(restarts(), i + 1, "at the delay");
    assert.equal(restarter.pending, false);
  }
  assert.deepEqual(delays, [
    1000,
    2000,
    4000,
    8000,
    16000,
    30000,
    30000,
    30000,
  ]);
});

Deno.test("SessionRestarter always: a run of 60 s or more starts the backoff again at 1 s", () => {
  const { clock, restarter } = setup("always");
  for (const expected of [1000, 2000, 4000]) {
    restarter.started();
    assert.equal(restarter.ended(), expected);
    clock.runAll();
  }
  restarter.started();
  clock.tick(RESTART_BACKOFF.resetAfterMs - 1);
  assert.equal(restarter.ended(), 8000, "59.999 s is still a quick exit");
  clock.runAll();
  restarter.started();
  clock.tick(RESTART_BACKOFF.resetAfterMs);
  assert.equal(restarter.ended(), 1000);
  clock.runAll();
  restarter.started();
  assert.equal(restarter.ended(), 2000);
});

Deno.test("SessionRestarter never schedules nothing; cancel() and started() drop a scheduled restart", () => {
  const never = setup("never");
  never.restarter.started();
  assert.equal(never.restarter.ended(), null);
  assert.equal(never.restarter.pending, false);
  never.clock.runAll();
  assert.equal(never.restarts(), 0);

  const always = setup("always");
  always.restarter.ended();
  always.restarter.cancel();
  assert.equal(always.restarter.pending, false);
  always.clock.runAll();
  assert.equal(always.restarts(), 0);
  // A session started some other way (a dashboard) replaces the pending one.
  always.restarter.ended();
  always.restarter.started();
  always.clock.runAll();
  assert.equal(always.restarts(), 0);
});
