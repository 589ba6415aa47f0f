import assert from "node:assert/strict";
import { backoffDelay } from "./backoff.ts";

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
