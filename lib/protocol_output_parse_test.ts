import assert from "node:assert/strict";
import {
  LIMITS,
  parseAgentMessage,
  parseAgentMessageBySchema,
} from "./protocol.ts";

const valid = {
  version: "1.0.0",
  type: "terminal:output",
  timestamp: 1,
  payload: { commandId: "c1", seq: 1, stream: "stdout", data: "hi\n" },
};

// deno-lint-ignore no-explicit-any -- test frames are edited freely, into invalid shapes too
type Loose = Record<string, any>;

/** `valid` with `change` applied to a copy. */
function variant(change: (v: Loose) => void) {
  const copy = structuredClone(valid) as Loose;
  change(copy);
  return copy;
}

const max = LIMITS.maxChunkBytes;
const cases: [string, unknown][] = [
  ["valid", valid],
  ["with an id", variant((v) => v.id = "m1")],
  [
    "pty, unicode",
    variant((v) => {
      v.payload.stream = "pty";
      v.payload.data = "é日😀";
    }),
  ],
  [
    "3-byte characters exactly at the limit",
    variant((v) => {
      v.payload.data = "日".repeat(max / 3 - 1) + "abc";
    }),
  ],
  [
    "one byte over the limit",
    variant((v) => {
      v.payload.data = "日".repeat(max / 3 - 1) + "abcd";
    }),
  ],
  [
    "ASCII exactly at the limit",
    variant((v) => {
      v.payload.data = "a".repeat(max);
    }),
  ],
  [
    "ASCII over the limit",
    variant((v) => {
      v.payload.data = "a".repeat(max + 1);
    }),
  ],
  [
    "unknown fields dropped",
    variant((v) => {
      v.extra = 1;
      v.payload.extra = 2;
    }),
  ],
  ["seq 0", variant((v) => v.payload.seq = 0)],
  ["seq 1.5", variant((v) => v.payload.seq = 1.5)],
  ["seq as text", variant((v) => v.payload.seq = "1")],
  ["seq unsafe", variant((v) => v.payload.seq = 2 ** 60)],
  ["negative timestamp", variant((v) => v.timestamp = -1)],
  ["missing timestamp", variant((v) => delete v.timestamp)],
  ["unknown stream", variant((v) => v.payload.stream = "tty")],
  ["empty commandId", variant((v) => v.payload.commandId = "")],
  ["commandId of 128", variant((v) => v.payload.commandId = "c".repeat(128))],
  ["commandId of 129", variant((v) => v.payload.commandId = "c".repeat(129))],
  ["version 2", variant((v) => v.version = "2.0.0")],
  ["version 1.0", variant((v) => v.version = "1.0")],
  ["version 1.2.3", variant((v) => v.version = "1.2.3")],
  ["id of 64", variant((v) => v.id = "i".repeat(64))],
  ["id of 65", variant((v) => v.id = "i".repeat(65))],
  ["empty id", variant((v) => v.id = "")],
  ["payload null", variant((v) => v.payload = null)],
  ["payload an array", variant((v) => v.payload = [])],
  ["data a number", variant((v) => v.payload.data = 1)],
  ["no data", variant((v) => delete v.payload.data)],
  ["an array", [valid]],
  ["null", null],
];

Deno.test("parseAgentMessage() of terminal:output agrees with the schemas, valid or not, as text or value", () => {
  for (const [name, value] of cases) {
    const frame = JSON.stringify(value);
    assert.deepEqual(
      parseAgentMessage(frame),
      parseAgentMessageBySchema(frame),
      name,
    );
    assert.deepEqual(
      parseAgentMessage(value),
      parseAgentMessageBySchema(value),
      name,
    );
  }
  assert.deepEqual(parseAgentMessage("{"), parseAgentMessageBySchema("{"));
});

Deno.test("parseAgentMessage() keeps what a valid terminal:output carries and drops unknown fields", () => {
  const parsed = parseAgentMessage(JSON.stringify(variant((v) => {
    v.id = "m1";
    v.extra = 1;
    v.payload.extra = 2;
  })));
  assert.deepEqual(parsed, {
    ok: true,
    message: { ...valid, id: "m1" },
  });
});
