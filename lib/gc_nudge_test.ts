import assert from "node:assert/strict";
import { GC_NUDGE_BYTES, gcNudger, startFullGc } from "./gc_nudge.ts";

Deno.test("gcNudger() collects once per everyBytes let go of, counting across calls", () => {
  let collected = 0;
  const nudge = gcNudger(100, () => collected++);
  nudge(60);
  assert.equal(collected, 0);
  nudge(39);
  assert.equal(collected, 0);
  nudge(1); // 100 in all
  assert.equal(collected, 1);
  nudge(250); // one nudge, however far past: the count starts again
  assert.equal(collected, 2);
  nudge(99);
  assert.equal(collected, 2);
});

Deno.test("gcNudger() defaults to 16 MiB, and startFullGc() returns at once, with or without --expose-gc", () => {
  assert.equal(GC_NUDGE_BYTES, 16 * 1024 * 1024);
  let collected = 0;
  const nudge = gcNudger(undefined, () => collected++);
  nudge(GC_NUDGE_BYTES - 1);
  assert.equal(collected, 0);
  nudge(1);
  assert.equal(collected, 1);
  // Without --expose-gc (`deno task test`) a no-op; with it, it only starts
  // a collection: either way it returns at once without throwing.
  assert.equal(startFullGc(), undefined);
});
