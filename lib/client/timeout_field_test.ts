import assert from "node:assert/strict";
import { parseTimeoutSeconds } from "./timeout_field.ts";

Deno.test("parseTimeoutSeconds() reads seconds as ms, empty as none, and refuses the rest", () => {
  assert.equal(parseTimeoutSeconds(""), undefined);
  assert.equal(parseTimeoutSeconds("  "), undefined);
  assert.equal(parseTimeoutSeconds("1"), 1000);
  assert.equal(parseTimeoutSeconds("2.5"), 2500);
  assert.equal(parseTimeoutSeconds("604800"), 604_800_000);
  const error = {
    error: "Timeout must be a number of seconds from 0.001 to 604800",
  };
  for (const bad of ["0", "-1", "abc", "604800.001", "1e400", "0.0001"]) {
    assert.deepEqual(parseTimeoutSeconds(bad), error, bad);
  }
});
