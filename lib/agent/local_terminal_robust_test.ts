/**
 * The local terminal never gets in the session's way: a terminal that stops
 * taking output never blocks the caller and holds a bounded queue (the
 * local copy is dropped past it, with a notice once it takes output again);
 * a terminal that is gone (a failed write, SIGHUP, the end of its input)
 * detaches the local side and the agent goes on headless, never quits.
 */
import assert from "node:assert/strict";
import {
  LocalTerminal,
  type LocalTerminalIo,
  MAX_LOCAL_BEHIND_BYTES,
} from "./local_terminal.ts";

/**
 * An in-memory terminal whose writes stay pending until `release()`d (or
 * fail with `fail()`), with keys pushed in and a hangup to trigger.
 */
function slowTerminal() {
  let push!: (bytes: Uint8Array) => void;
  let end!: () => void;
  const readable = new ReadableStream<Uint8Array>({
    start(controller) {
      push = (bytes) => {
        if (!state.cancelled) controller.enqueue(bytes);
      };
      end = () => controller.close();
    },
    cancel() {
      state.cancelled = true;
    },
  });
  const decoder = new TextDecoder();
  const state = {
    raw: [] as boolean[],
    /** The key reader let go of the terminal's input. */
    cancelled: false,
    /** Every write asked for, in order, with how it settles. */
    writes: [] as {
      text: string;
      release: () => void;
      fail: (error: Error) => void;
    }[],
    /** Set: writes throw at once (a closed terminal, EIO). */
    throwOnWrite: null as Error | null,
    hangups: new Set<() => void>(),
  };
  const io: LocalTerminalIo = {
    readable,
    setRaw: (raw) => state.raw.push(raw),
    write: (bytes) => {
      if (state.throwOnWrite) throw state.throwOnWrite;
      return new Promise<void>((resolve, reject) => {
        state.writes.push({
          text: decoder.decode(bytes),
          release: resolve,
          fail: reject,
        });
      });
    },
    size: () => ({ cols: 80, rows: 24 }),
    onResize: () => () => {},
    onHangup: (listener) => {
      state.hangups.add(listener);
      return () => state.hangups.delete(listener);
    },
  };
  const hangup = () => {
    for (const listener of [...state.hangups]) listener();
  };
  return { io, state, push, end, hangup };
}

function setup() {
  const term = slowTerminal();
  const events: string[] = [];
  const inputs: string[] = [];
  let onEvent = () => {};
  const nextEvent = () => new Promise<void>((resolve) => onEvent = resolve);
  const local = new LocalTerminal(term.io, {
    onInput: (data) => inputs.push(data),
    onResize: () => {},
    onDetach: () => {
      events.push("detach");
      onEvent();
    },
    onLost: (why) => {
      events.push(`lost: ${why}`);
      onEvent();
    },
    onDropped: (bytes) => events.push(`dropped ${bytes}`),
  });
  return { term, local, events, inputs, nextEvent };
}

/** Resolve after pending promise callbacks ran. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 0));

Deno.test("LocalTerminal: a stalled terminal never blocks; output queues up to the bound, then the local copy is dropped with a notice", async () => {
  const { term, local, events } = setup();
  local.start();
  local.write("first");
  // The terminal takes nothing: writes return at once and queue, one
  // write at a time.
  const chunk = "x".repeat(64 * 1024);
  const count = MAX_LOCAL_BEHIND_BYTES / chunk.length;
  for (let i = 0; i < count; i++) local.write(chunk);
  assert.equal(term.state.writes.length, 1);
  assert.equal(local.behindBytes, MAX_LOCAL_BEHIND_BYTES);
  // One byte more than the bound: what waits is dropped, not the caller
  // blocked or memory grown.
  local.write("y");
  assert.equal(local.behindBytes, 0);
  assert.deepEqual(events, [`dropped ${MAX_LOCAL_BEHIND_BYTES + 1}`]);
  local.write("latest");
  assert.equal(local.behindBytes, 6);
  // The terminal takes output again: the notice, then the newest output.
  term.state.writes[0].release();
  await settle();
  assert.equal(term.state.writes.length, 2);
  assert.equal(
    term.state.writes[1].text,
    `\r\n\x1b[0m[flightdeck-agent: this terminal fell behind: ` +
      `${MAX_LOCAL_BEHIND_BYTES + 1} bytes of session output were not ` +
      `shown here (the session and the dashboards have all of it)]\r\n` +
      "latest",
  );
  term.state.writes[1].release();
  await settle();
  // Caught up: the next write goes at once, with no notice.
  local.write("next");
  assert.equal(term.state.writes[2].text, "next");
  term.state.writes[2].release();
  await settle();
  const restored = local.restore();
  term.state.writes[3].release();
  await restored;
});

Deno.test("LocalTerminal: a write that fails (EIO) detaches the local side once; nothing more is written or read; the agent is not quit", async () => {
  const { term, local, events, inputs } = setup();
  local.start();
  term.state.throwOnWrite = new Error("Input/output error (os error 5)");
  // Thrown inside the PTY's output callback before: now caught.
  local.write("output");
  assert.equal(local.lost, true);
  assert.deepEqual(events, [
    "lost: writing failed: Error: Input/output error (os error 5)",
  ]);
  assert.deepEqual(term.state.raw, [true, false]);
  term.state.throwOnWrite = null;
  local.write("more");
  local.notice("session ended");
  assert.equal(term.state.writes.length, 0);
  assert.equal(term.state.cancelled, true);
  term.push(new TextEncoder().encode("keys"));
  await settle();
  assert.deepEqual(inputs, []);
  // The hangup that follows is still taken (not the process's default).
  assert.equal(term.state.hangups.size, 1);
  term.hangup();
  assert.equal(events.length, 1);
  await local.restore();
  assert.equal(term.state.writes.length, 0);
  assert.deepEqual(events.filter((e) => e === "detach"), []);
});

Deno.test("LocalTerminal: a rejected asynchronous write detaches the local side too", async () => {
  const { term, local, events, nextEvent } = setup();
  local.start();
  local.write("a");
  local.write("b");
  const lost = nextEvent();
  term.state.writes[0].fail(new Error("EIO"));
  await lost;
  assert.deepEqual(events, ["lost: writing failed: Error: EIO"]);
  assert.equal(local.behindBytes, 0);
  local.write("c");
  assert.equal(term.state.writes.length, 1);
  await local.restore();
});

Deno.test("LocalTerminal: SIGHUP (the terminal hung up) goes headless: the local side detaches, the agent is not quit", async () => {
  const { term, local, events, inputs } = setup();
  local.start();
  assert.equal(term.state.hangups.size, 1);
  term.hangup();
  assert.deepEqual(events, ["lost: SIGHUP"]);
  assert.equal(local.lost, true);
  // Still listening (a later SIGHUP must not end the process), and a
  // second hangup changes nothing.
  assert.equal(term.state.hangups.size, 1);
  term.hangup();
  assert.deepEqual(events, ["lost: SIGHUP"]);
  local.write("output");
  assert.equal(term.state.writes.length, 0);
  assert.equal(term.state.cancelled, true);
  term.push(new TextEncoder().encode("keys"));
  await settle();
  assert.deepEqual(inputs, []);
  await local.restore();
  assert.deepEqual(events, ["lost: SIGHUP"]);
  assert.equal(term.state.hangups.size, 0);
});

Deno.test("LocalTerminal: the end of the terminal's input goes headless, once, and does not quit", async () => {
  const { term, local, events, nextEvent } = setup();
  local.start();
  const lost = nextEvent();
  term.end();
  await lost;
  assert.deepEqual(events, ["lost: the terminal's input ended"]);
  await local.restore();
  assert.deepEqual(events, ["lost: the terminal's input ended"]);
});

Deno.test("LocalTerminal.restore(): the reset follows the output still queued, once the terminal takes it", async () => {
  const { term, local } = setup();
  local.start();
  local.write("a");
  local.write("b");
  const restored = local.restore();
  term.state.writes[0].release();
  await settle();
  assert.equal(term.state.writes[1].text, "b");
  term.state.writes[1].release();
  await settle();
  assert.ok(
    term.state.writes[2].text.startsWith("\x1b[?1049l"),
    JSON.stringify(term.state.writes[2].text),
  );
  term.state.writes[2].release();
  await restored;
  assert.deepEqual(term.state.raw, [true, false]);
});
