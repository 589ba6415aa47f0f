import assert from "node:assert/strict";
import { SlidingWindowLimit } from "./rate_limit.ts";

Deno.test("SlidingWindowLimit.take() allows the limit per key within the window", () => {
  const limit = new SlidingWindowLimit(2, 1000);
  assert.equal(limit.take("u1", 0), true);
  assert.equal(limit.take("u1", 10), true);
  assert.equal(limit.take("u1", 20), false);
  assert.equal(limit.take("u2", 20), true, "keys are independent");
  assert.equal(limit.take("u1", 1001), true, "the oldest left the window");
  assert.equal(limit.take("u1", 1002), false);
});

Deno.test("SlidingWindowLimit rejects a non-positive limit", () => {
  assert.throws(() => new SlidingWindowLimit(0, 1000), RangeError);
});
