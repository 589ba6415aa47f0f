import assert from "node:assert/strict";
import type { ActivityState } from "./activity.ts";
import { ActivityMerge } from "./activity_merge.ts";

const WORKING: ActivityState = {
  activity: "working",
  attention: null,
  options: [],
};
const WAITING: ActivityState = {
  activity: "waiting",
  attention: null,
  options: [],
};
const STALLED: ActivityState = {
  activity: "stalled",
  attention: null,
  options: [],
};
const ASKS_HOOK: ActivityState = {
  activity: "needs-input",
  attention: "Claude needs your permission to use Write",
  options: [],
};
const ASKS_SCREEN: ActivityState = {
  activity: "needs-input",
  attention: "Do you want to create a.txt?",
  options: [{ key: "1", label: "Yes" }, { key: "2", label: "No" }],
};

function setup(screen: ActivityState = WORKING) {
  const seen: ActivityState[] = [];
  const merge = new ActivityMerge(screen, (state) => seen.push(state));
  return { merge, seen };
}

Deno.test("ActivityMerge reports the screen's verdicts when no hook spoke", () => {
  const { merge, seen } = setup();
  merge.output(3);
  merge.drawn(3);
  merge.screen(WAITING);
  merge.screen(ASKS_SCREEN);
  assert.deepEqual(seen, [WAITING, ASKS_SCREEN]);
});

Deno.test("ActivityMerge applies a hook at once and keeps it over a screen that did not move", () => {
  const { merge, seen } = setup(WORKING);
  merge.hook(ASKS_HOOK);
  // A verdict that settled late on frames drawn before the hook.
  merge.screen(WAITING);
  assert.deepEqual(seen, [ASKS_HOOK, ASKS_HOOK]);
  assert.deepEqual(merge.state, ASKS_HOOK);
});

Deno.test("ActivityMerge keeps a hook over frames written before it, though the screen applies them after it", () => {
  const { merge, seen } = setup(WORKING);
  merge.output(10); // a spinner frame, not yet applied by the screen
  merge.hook(ASKS_HOOK);
  merge.drawn(10); // applied a few ms later, in a batch
  merge.screen(WAITING);
  assert.deepEqual(merge.state, ASKS_HOOK);
  // Output written after the hook, once applied, may overturn it.
  merge.output(4);
  merge.drawn(4);
  merge.screen(WAITING);
  assert.deepEqual(seen.at(-1), WAITING);
});

Deno.test("ActivityMerge lets a screen that changed after the hook overturn it", () => {
  const { merge, seen } = setup(WORKING);
  merge.hook(ASKS_HOOK);
  merge.output(3);
  merge.drawn(3);
  merge.screen(WAITING);
  assert.deepEqual(seen.at(-1), WAITING);
  // The hook is gone: later screens speak alone.
  merge.screen(WORKING);
  assert.deepEqual(seen.at(-1), WORKING);
});

Deno.test("ActivityMerge shows the hook's attention with the screen's quick answers", () => {
  const { merge, seen } = setup(WORKING);
  merge.hook(ASKS_HOOK);
  merge.output(3);
  merge.drawn(3);
  merge.screen(ASKS_SCREEN);
  assert.deepEqual(seen.at(-1), {
    activity: "needs-input",
    attention: ASKS_HOOK.attention,
    options: ASKS_SCREEN.options,
  });
});

Deno.test("ActivityMerge does not call a blocked or idle program stalled", () => {
  for (const hook of [ASKS_HOOK, WAITING]) {
    const { merge, seen } = setup(WORKING);
    merge.hook(hook);
    merge.screen(STALLED);
    assert.deepEqual(seen.at(-1), hook);
  }
  const { merge, seen } = setup(WORKING);
  merge.hook(WORKING);
  merge.screen(STALLED);
  assert.deepEqual(seen.at(-1), STALLED);
});

Deno.test("ActivityMerge takes the newest hook", () => {
  const { merge, seen } = setup(WAITING);
  merge.hook(WORKING);
  merge.hook(ASKS_HOOK);
  merge.hook(WAITING);
  assert.deepEqual(seen, [WORKING, ASKS_HOOK, WAITING]);
});
