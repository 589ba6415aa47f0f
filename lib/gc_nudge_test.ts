import assert from "node:assert/strict";
import {
  GC_NUDGE_BYTES,
  gcNudger,
  reduceMemory,
  startFullGc,
} from "./gc_nudge.ts";
import { V8_FLAG_ARGS } from "./v8_flags.ts";

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

Deno.test("gcNudger() defaults to 8 MiB, and startFullGc() returns at once, with or without --expose-gc", () => {
  assert.equal(GC_NUDGE_BYTES, 8 * 1024 * 1024);
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

Deno.test("reduceMemory() shrinks the young generation a full collection leaves grown (with --expose-gc)", async () => {
  // In a process of its own with the server's V8 flags: fill the young
  // generation until it has grown, then compare a regular full collection
  // with reduceMemory(). Prints the young generation's size after each.
  const program = `
    import v8 from "node:v8";
    import { reduceMemory } from ${
    JSON.stringify(import.meta.resolve("./gc_nudge.ts"))
  };
    const young = () => v8.getHeapSpaceStatistics()
      .find((s) => s.space_name === "new_space").space_size;
    const churn = () => {
      let keep = [];
      for (let i = 0; i < 200000; i++) keep.push({ i, s: "x".repeat(i % 50) });
      return keep.length;
    };
    churn();
    globalThis.gc({ type: "major", execution: "sync" });
    const afterRegular = young();
    churn();
    reduceMemory();
    console.log(JSON.stringify({ afterRegular, afterReduce: young() }));
  `;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", ...V8_FLAG_ARGS, program],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, stderr);
  const sizes = JSON.parse(new TextDecoder().decode(out.stdout));
  // --max-semi-space-size=4: two semi-spaces of 4 MiB once grown.
  assert.equal(sizes.afterRegular, 8 * 1024 * 1024);
  assert.ok(
    sizes.afterReduce <= 1024 * 1024,
    `young generation ${sizes.afterReduce} bytes after reduceMemory()`,
  );
});

Deno.test("reduceMemory() returns without --expose-gc", () => {
  assert.equal(reduceMemory(), undefined);
});
