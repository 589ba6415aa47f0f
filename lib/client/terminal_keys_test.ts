import assert from "node:assert/strict";
import { ESC_TAB_MS, type KeyLike, LeaveKeys } from "./terminal_keys.ts";

function key(
  key: string,
  timeStamp: number,
  extra: Partial<KeyLike> = {},
): KeyLike {
  return {
    type: "keydown",
    key,
    ctrlKey: false,
    altKey: false,
    metaKey: false,
    timeStamp,
    ...extra,
  };
}

Deno.test("LeaveKeys: Tab and Esc go to the program; Tab right after Esc leaves", () => {
  const keys = new LeaveKeys();
  assert.equal(keys.decide(key("Tab", 0)), "program");
  assert.equal(keys.decide(key("Escape", 10)), "program");
  assert.equal(keys.decide(key("Escape", 10, { type: "keyup" })), "program");
  assert.equal(keys.decide(key("Tab", 10 + ESC_TAB_MS)), "leave");
  assert.equal(
    keys.decide(key("Tab", 10 + ESC_TAB_MS, { type: "keyup" })),
    "leave",
  );
  // That Esc is used up: the next Tab is typed.
  assert.equal(keys.decide(key("Tab", 20 + ESC_TAB_MS)), "program");
});

Deno.test("LeaveKeys: a late Tab, a key between, or Ctrl+Tab is typed; Ctrl+] leaves for the control", () => {
  const keys = new LeaveKeys();
  keys.decide(key("Escape", 0));
  assert.equal(keys.decide(key("Tab", ESC_TAB_MS + 1)), "program");
  keys.decide(key("Escape", 5000));
  keys.decide(key("j", 5001));
  assert.equal(keys.decide(key("Tab", 5002)), "program");
  keys.decide(key("Escape", 6000));
  assert.equal(keys.decide(key("Tab", 6001, { ctrlKey: true })), "program");
  assert.equal(
    keys.decide(key("]", 7000, { ctrlKey: true })),
    "leave-to-control",
  );
});
