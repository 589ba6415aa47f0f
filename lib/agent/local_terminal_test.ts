import assert from "node:assert/strict";
import {
  DETACH_KEY,
  LocalTerminal,
  type LocalTerminalIo,
  RESTORE_SEQUENCE,
} from "./local_terminal.ts";

/** An in-memory terminal: keys pushed in, bytes written, raw mode and size. */
function fakeTerminal() {
  let push!: (bytes: Uint8Array) => void;
  let end!: () => void;
  const readable = new ReadableStream<Uint8Array>({
    start(controller) {
      push = (bytes) => controller.enqueue(bytes);
      end = () => controller.close();
    },
  });
  const state = {
    raw: [] as boolean[],
    written: "",
    size: { cols: 80, rows: 24 } as { cols: number; rows: number } | null,
    listeners: new Set<() => void>(),
  };
  const decoder = new TextDecoder();
  const io: LocalTerminalIo = {
    readable,
    setRaw: (raw) => state.raw.push(raw),
    write: (bytes) => {
      state.written += decoder.decode(bytes);
    },
    size: () => state.size,
    onResize: (listener) => {
      state.listeners.add(listener);
      return () => state.listeners.delete(listener);
    },
  };
  const resize = (size: { cols: number; rows: number } | null) => {
    state.size = size;
    for (const listener of state.listeners) listener();
  };
  return { io, state, push, end, resize };
}

function setup() {
  const term = fakeTerminal();
  const events: string[] = [];
  let detached!: () => void;
  const detach = new Promise<void>((resolve) => detached = resolve);
  const inputs: string[] = [];
  let inputSeen: () => void = () => {};
  const local = new LocalTerminal(term.io, {
    onInput: (data) => {
      inputs.push(data);
      inputSeen();
    },
    onResize: (cols, rows) => events.push(`resize ${cols}x${rows}`),
    onDetach: () => {
      events.push("detach");
      detached();
    },
  });
  const nextInput = () => new Promise<void>((resolve) => inputSeen = resolve);
  return { term, local, events, inputs, detach, nextInput };
}

Deno.test("LocalTerminal: raw mode on start; keys go on as typed, Ctrl-C included, UTF-8 split over reads joined", async () => {
  const { term, local, inputs, nextInput } = setup();
  local.start();
  assert.deepEqual(term.state.raw, [true]);
  let seen = nextInput();
  term.push(new TextEncoder().encode("ls\r\x03\x1b[A"));
  await seen;
  // "é" is two bytes: the first read ends in the middle of it.
  const e = new TextEncoder().encode("é");
  seen = nextInput();
  term.push(new Uint8Array([0x61, e[0]]));
  await seen;
  seen = nextInput();
  term.push(new Uint8Array([e[1], 0x62]));
  await seen;
  assert.deepEqual(inputs, ["ls\r\x03\x1b[A", "a", "éb"]);
  local.restore();
});

Deno.test("LocalTerminal: Ctrl-] quits: the keys before it go on, nothing after it", async () => {
  const { term, local, inputs, events, detach } = setup();
  local.start();
  term.push(new TextEncoder().encode(`yes\r${DETACH_KEY}rm -rf\r`));
  await detach;
  assert.deepEqual(inputs, ["yes\r"]);
  assert.deepEqual(events, ["detach"]);
  term.push(new TextEncoder().encode("more"));
  local.restore();
  assert.deepEqual(inputs, ["yes\r"]);
});

Deno.test("LocalTerminal: a resize to a new size is reported once; the same size or an unreadable one is not", () => {
  const { term, local, events } = setup();
  local.start();
  term.resize({ cols: 80, rows: 24 }); // the size it started with
  term.resize({ cols: 100, rows: 30 });
  term.resize({ cols: 100, rows: 30 });
  term.resize(null);
  term.resize({ cols: 90, rows: 30 });
  assert.deepEqual(events, ["resize 100x30", "resize 90x30"]);
  local.restore();
  term.resize({ cols: 50, rows: 10 });
  assert.deepEqual(events, ["resize 100x30", "resize 90x30"]);
});

Deno.test("LocalTerminal: output and notices are written as they are; restore() resets the modes and leaves raw mode, once", () => {
  const { term, local } = setup();
  local.start();
  local.write("\x1b[?1049h\x1b[?25lhello");
  local.notice("session ended (completed, exit 0)");
  assert.equal(
    term.state.written,
    "\x1b[?1049h\x1b[?25lhello\r\n\x1b[0m[flightdeck-agent: session ended (completed, exit 0)]\r\n",
  );
  term.state.written = "";
  local.restore();
  local.restore();
  assert.equal(term.state.written, RESTORE_SEQUENCE + "\r\n");
  assert.deepEqual(term.state.raw, [true, false]);
  // Nothing more reaches the terminal after it was restored.
  local.write("late");
  assert.equal(term.state.written, RESTORE_SEQUENCE + "\r\n");
  for (const mode of ["?1049l", "?25h", "?2004l", "?1000l", "?1006l", "?1l"]) {
    assert.ok(RESTORE_SEQUENCE.includes(`\x1b[${mode}`), mode);
  }
});

Deno.test("LocalTerminal: restore() before start() touches nothing", () => {
  const { term, local } = setup();
  local.restore();
  local.start();
  assert.deepEqual(term.state.raw, []);
  assert.equal(term.state.written, "");
});
