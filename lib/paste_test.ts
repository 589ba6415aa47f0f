import assert from "node:assert/strict";
import { cleanPaste } from "./paste.ts";

Deno.test("cleanPaste() keeps text, tabs and line ends; drops ESC, C0, DEL and C1", () => {
  assert.equal(cleanPaste("a\tb\r\nc\rd\ne"), "a\tb\nc\nd\ne");
  assert.equal(
    cleanPaste("ok\x1b[201~rm -rf ~\x03\x04\x7f\x9b31m\x85end"),
    "ok[201~rm -rf ~31mend",
  );
  assert.equal(cleanPaste("é€中🙂"), "é€中🙂");
});
