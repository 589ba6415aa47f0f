import assert from "node:assert/strict";
import { STDERR_OFF, STDERR_ON, stderrText } from "./stderr.ts";

Deno.test("stderrText() draws stderr red and keeps it red across the program's resets", () => {
  assert.equal(stderrText(""), "");
  assert.equal(stderrText("oops\n"), `${STDERR_ON}oops\n${STDERR_OFF}`);
  assert.equal(
    stderrText("\x1b[1mbold\x1b[0m rest\x1b[m end\x1b[32mgreen\x1b[39m!"),
    `${STDERR_ON}\x1b[1mbold\x1b[0m${STDERR_ON} rest\x1b[m${STDERR_ON} end` +
      `\x1b[32mgreen\x1b[39m${STDERR_ON}!${STDERR_OFF}`,
  );
});
