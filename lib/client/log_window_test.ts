import assert from "node:assert/strict";
import {
  lineHash,
  logPageUrl,
  LogWindow,
  parseLineHash,
} from "./log_window.ts";

Deno.test("parseLineHash() reads #L12 and #L12-L20 in either order, nothing else", () => {
  assert.deepEqual(parseLineHash("#L12"), { from: 12, to: 12 });
  assert.deepEqual(parseLineHash("#L20-L12"), { from: 12, to: 20 });
  for (const bad of ["", "#L0", "#L", "#L1-", "#l12", "#L12-13", "#L1x"]) {
    assert.equal(parseLineHash(bad), null, bad);
  }
});

Deno.test("lineHash() and logPageUrl() build links", () => {
  assert.equal(lineHash(5), "#L5");
  assert.equal(lineHash(5, 9), "#L5-L9");
  assert.equal(logPageUrl("a b", "c/1", 7), "/agents/a%20b/commands/c%2F1#L7");
});

Deno.test("LogWindow.blockOf() puts 200 lines in each block", () => {
  assert.deepEqual([1, 200, 201, 400, 401].map(LogWindow.blockOf), [
    0,
    0,
    1,
    1,
    2,
  ]);
});
