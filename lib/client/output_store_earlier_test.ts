/**
 * "Load earlier output" always makes progress: a page of older output that
 * ends short of where the loaded output begins (the chunks between are no
 * longer stored, e.g. a retention gap inside the stored output) is kept with
 * a gap marker, so the next request asks for what is before it instead of the
 * same page again; an answer to an older request is ignored.
 */
import assert from "node:assert/strict";
import { gapMarker, OutputStore } from "./output_store.ts";
import { earlierPage } from "./test_fakes.ts";

/** A store showing command "c" from a snapshot covering seqs 1..20. */
function fromSnapshot() {
  const store = new OutputStore();
  const events: string[] = [];
  store.subscribe((event) => events.push(event.kind));
  store.snapshot({
    agentId: "a",
    commandId: "c",
    seq: 20,
    cols: 80,
    rows: 24,
    data: "screen",
  });
  return { store, events };
}

Deno.test("OutputStore.earlier(): a page ending before a retention gap is kept with a gap marker and the next page is asked for before it", () => {
  const { store, events } = fromSnapshot();
  assert.equal(store.earlier(earlierPage(18, 20, "18-20;")), true);
  // 11..17 are no longer stored: the server's page before 18 is 5..10.
  assert.equal(store.earlier(earlierPage(5, 10, "5-10;")), true);
  const view = store.screen("c")!;
  assert.deepEqual(view.earlier, ["5-10;" + gapMarker(11, 17), "18-20;"]);
  // What "Load earlier output" asks for next: before 5, not before 18.
  assert.equal(view.earlierFrom, 5);
  assert.equal(view.more, true);
  assert.equal(store.hasGap("c"), true);
  assert.deepEqual(events, ["snapshot", "earlier", "earlier"]);
  // The last page: nothing more offered.
  assert.equal(store.earlier(earlierPage(1, 3, "1-3;", false)), true);
  assert.equal(store.screen("c")!.earlierFrom, 1);
  assert.equal(store.screen("c")!.more, false);
  assert.deepEqual(store.screen("c")!.earlier, [
    "1-3;" + gapMarker(4, 4),
    "5-10;" + gapMarker(11, 17),
    "18-20;",
  ]);
});

Deno.test("OutputStore.earlier(): an answer to an older request (not before what is loaded) changes nothing", () => {
  const { store, events } = fromSnapshot();
  assert.equal(store.earlier(earlierPage(15, 20, "15-20;")), true);
  const before = structuredClone(store.screen("c"));
  // The same page again (a second click), and one overlapping what is loaded.
  assert.equal(store.earlier(earlierPage(15, 20, "15-20;")), false);
  assert.equal(store.earlier(earlierPage(12, 16, "12-16;")), false);
  assert.deepEqual(store.screen("c"), before);
  assert.deepEqual(events, ["snapshot", "earlier"]);
});
