import assert from "node:assert/strict";
import FakeTimers from "@sinonjs/fake-timers";
import type { ScreenSnapshot } from "./screen.ts";
import { SnapshotScheduler } from "./snapshot_scheduler.ts";

function setup(options: { connected?: boolean } = {}) {
  const clock = FakeTimers.createClock(0);
  let seq = 0;
  let taken = 0;
  let connected = options.connected ?? true;
  const sent: number[] = [];
  const scheduler = new SnapshotScheduler({
    intervalMs: 1000,
    settleMs: 200,
    timers: {
      setTimeout: (fn, ms) => clock.setTimeout(fn, ms),
      clearTimeout: (handle) => clock.clearTimeout(handle as number),
      now: () => clock.now,
    },
    take: () => {
      taken++;
      const snapshot: ScreenSnapshot = { seq, cols: 80, rows: 24, data: "" };
      return Promise.resolve(seq === 0 ? null : snapshot);
    },
    send: (snapshot) => {
      if (!connected) return false;
      sent.push(snapshot.seq);
      return true;
    },
  });
  /** Output `n` was written to the screen. */
  const output = (n: number) => {
    seq = n;
    scheduler.changed();
  };
  /** Advance fake time, letting the async take settle. */
  const tick = async (ms: number) => {
    await clock.tickAsync(ms);
    await Promise.resolve();
  };
  return {
    clock,
    scheduler,
    sent,
    output,
    tick,
    taken: () => taken,
    setConnected: (value: boolean) => (connected = value),
  };
}

Deno.test("SnapshotScheduler sends one snapshot settleMs after a change, once the output it covers is acknowledged", async () => {
  const { scheduler, sent, output, tick, taken } = setup();
  output(1);
  output(2);
  await tick(199);
  assert.equal(taken(), 0);
  await tick(1);
  assert.equal(taken(), 1);
  assert.deepEqual(sent, [], "seq 2 is not acknowledged yet");
  scheduler.acked(1);
  assert.deepEqual(sent, []);
  scheduler.acked(2);
  assert.deepEqual(sent, [2]);
  // No change: nothing more, however long.
  await tick(10_000);
  assert.equal(taken(), 1);
  assert.deepEqual(sent, [2]);
});

Deno.test("SnapshotScheduler takes at most one snapshot per interval under constant output", async () => {
  const { scheduler, sent, output, tick, taken } = setup();
  let seq = 0;
  // Output every 100 ms for 5 s, each acknowledged at once.
  for (let t = 0; t < 5000; t += 100) {
    output(++seq);
    scheduler.acked(seq);
    await tick(100);
  }
  // At 200 ms, then every 1000 ms: 200, 1200, 2200, 3200, 4200.
  assert.equal(taken(), 5);
  assert.deepEqual(sent, [2, 12, 22, 32, 42]);
});

Deno.test("SnapshotScheduler sends the latest snapshot again after a reconnect, and holds it while disconnected", async () => {
  const { scheduler, sent, output, tick, setConnected } = setup();
  output(3);
  scheduler.acked(3);
  await tick(200);
  assert.deepEqual(sent, [3]);
  setConnected(false);
  output(4);
  scheduler.acked(4);
  await tick(1000);
  assert.deepEqual(sent, [3], "not connected: held");
  setConnected(true);
  scheduler.reconnected();
  assert.deepEqual(sent, [3, 4]);
  // Another reconnect (a restarted server holds none): the same one again.
  scheduler.reconnected();
  assert.deepEqual(sent, [3, 4, 4]);
});

Deno.test("SnapshotScheduler sends nothing after dispose()", async () => {
  const { scheduler, sent, output, tick, taken } = setup();
  output(1);
  scheduler.dispose();
  await tick(5000);
  scheduler.acked(1);
  scheduler.reconnected();
  assert.equal(taken(), 0);
  assert.deepEqual(sent, []);
});

Deno.test("SnapshotScheduler refuses negative timings", () => {
  const options = {
    take: () => Promise.resolve(null),
    send: () => true,
  };
  assert.throws(
    () => new SnapshotScheduler({ ...options, intervalMs: -1 }),
    RangeError,
  );
  assert.throws(
    () => new SnapshotScheduler({ ...options, settleMs: -1 }),
    RangeError,
  );
});
