import assert from "node:assert/strict";
import { Backoff, backoffDelay } from "./backoff.ts";

Deno.test("backoffDelay() follows the schedule without jitter at 0.5", () => {
  const delays = [0, 1, 2, 3, 4, 5, 6, 7].map((n) =>
    backoffDelay(n, () => 0.5)
  );
  assert.deepEqual(delays, [0, 1000, 2000, 4000, 8000, 16000, 30000, 30000]);
  assert.equal(backoffDelay(1000, () => 0.5), 30000);
});

Deno.test("backoffDelay() applies -20 % at random 0", () => {
  const delays = [0, 1, 2, 3, 4, 5, 6].map((n) => backoffDelay(n, () => 0));
  assert.deepEqual(delays, [0, 800, 1600, 3200, 6400, 12800, 24000]);
});

Deno.test("backoffDelay() applies +20 % at random close to 1", () => {
  const random = () => 0.9999999;
  const delays = [0, 1, 2, 3, 4, 5, 6].map((n) => backoffDelay(n, random));
  assert.deepEqual(delays, [0, 1200, 2400, 4800, 9600, 19200, 36000]);
});

Deno.test("backoffDelay() rejects a negative or fractional attempt", () => {
  assert.throws(() => backoffDelay(-1), RangeError);
  assert.throws(() => backoffDelay(1.5), RangeError);
});

Deno.test("backoffDelay() follows the schedule with exact base at random 0.5", () => {
  const delays = Array.from(
    { length: 9 },
    (_, i) => backoffDelay(i, () => 0.5),
  );
  assert.deepEqual(delays, [
    0,
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

Deno.test("backoffDelay() applies ±20 % jitter", () => {
  assert.equal(backoffDelay(2, () => 0), 1600);
  assert.equal(backoffDelay(2, () => 1), 2400);
  assert.equal(backoffDelay(6, () => 0), 24000);
  assert.equal(backoffDelay(6, () => 1), 36000);
  assert.equal(backoffDelay(0, () => 1), 0);
});

Deno.test("backoffDelay() rejects a negative attempt", () => {
  assert.throws(() => backoffDelay(-1), RangeError);
  assert.throws(() => backoffDelay(1.5), RangeError);
});

Deno.test("Backoff resets only after a connection stayed up 10 s", () => {
  let now = 0;
  const backoff = new Backoff({ now: () => now, random: () => 0.5 });
  assert.deepEqual([backoff.next(), backoff.next(), backoff.next()], [
    0,
    1000,
    2000,
  ]);
  backoff.opened();
  now += 9_999;
  backoff.closed();
  assert.equal(backoff.next(), 4000);
  backoff.opened();
  now += 10_000;
  backoff.closed();
  assert.equal(backoff.attempt, 0);
  assert.equal(backoff.next(), 0);
});
