/**
 * Test doubles for the dashboard client: a WebSocket, an EventSource and a
 * `fetch` that record what the client does, a fake clock, and a
 * MessageClient that dispatches validated server messages.
 * @module
 */
import assert from "node:assert/strict";
import FakeTimers from "@sinonjs/fake-timers";
import { envelope, parseServerMessage } from "../protocol.ts";
import type { MessageClient } from "./socket.ts";
import type {
  EventSourceLike,
  FetchLike,
  SocketLike,
  Timers,
} from "./socket_types.ts";

/** A WebSocket double; `instances` lists every one created. */
export class FakeSocket implements SocketLike {
  static instances: FakeSocket[] = [];
  readyState = 0;
  sent: { type: string; id?: string; payload: unknown }[] = [];
  closedWith: number | null = null;
  onopen: ((event: unknown) => void) | null = null;
  onclose: ((event: { code: number; reason: string }) => void) | null = null;
  onmessage: ((event: { data: unknown }) => void) | null = null;
  onerror: ((event: unknown) => void) | null = null;
  constructor(readonly url: string) {
    FakeSocket.instances.push(this);
  }
  send(data: string) {
    this.sent.push(JSON.parse(data));
  }
  close(code = 1000) {
    this.closedWith = code;
    this.readyState = 3;
  }
  open() {
    this.readyState = 1;
    this.onopen?.({});
  }
  fail(code = 1006, reason = "") {
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }
  receive(data: unknown) {
    this.onmessage?.({
      data: typeof data === "string" ? data : JSON.stringify(data),
    });
  }
}

/** An EventSource double; `instances` lists every one created. */
export class FakeEventSource implements EventSourceLike {
  static instances: FakeEventSource[] = [];
  readyState = 0;
  closed = false;
  onopen: ((event: unknown) => void) | null = null;
  onmessage: ((event: { data: unknown }) => void) | null = null;
  onerror: ((event: unknown) => void) | null = null;
  constructor(readonly url: string) {
    FakeEventSource.instances.push(this);
  }
  close() {
    this.closed = true;
    this.readyState = 2;
  }
  emit(message: unknown) {
    this.readyState = 1;
    this.onmessage?.({ data: JSON.stringify(message) });
  }
  error(readyState: 0 | 2 = 2) {
    this.readyState = readyState;
    this.onerror?.({});
  }
}

/** One recorded POST. */
export interface Post {
  url: string;
  connectionId: string;
  message: { type: string; id?: string; payload: unknown };
}

/** A `fetch` double: records POSTs, answers with `respond` (default 202). */
export function fakeFetch() {
  const posts: Post[] = [];
  const state = {
    respond: (_post: Post): { status: number; body?: unknown } => ({
      status: 202,
      body: { accepted: true },
    }),
  };
  const fetch: FetchLike = (url, init) => {
    const post = {
      url,
      connectionId: init.headers["X-Flightdeck-Connection"],
      message: JSON.parse(init.body),
    };
    posts.push(post);
    const { status, body } = state.respond(post);
    return Promise.resolve({
      status,
      text: () => Promise.resolve(JSON.stringify(body ?? {})),
    });
  };
  return { posts, fetch, state };
}

/** A fake clock and the {@link Timers} over it. */
export function fakeTimers(start = 1_000_000) {
  const clock = FakeTimers.createClock(start);
  const timers: Timers = {
    setTimeout: (fn, ms) => clock.setTimeout(fn, ms),
    clearTimeout: (h) => clock.clearTimeout(h as number),
    setInterval: (fn, ms) => clock.setInterval(fn, ms),
    clearInterval: (h) => clock.clearInterval(h as number),
    now: () => clock.now,
  };
  return { clock, timers };
}

/** Let pending promises and microtasks (fake fetch answers) settle. */
export function flush(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/** A client double: dispatches validated messages, records what is sent. */
export function fakeClient() {
  const handlers = new Map<string, Set<(m: never) => void>>();
  const sent: { type: string; payload: unknown; id?: string }[] = [];
  const client: MessageClient = {
    on(type, handler) {
      if (!handlers.has(type)) handlers.set(type, new Set());
      handlers.get(type)!.add(handler as (m: never) => void);
      return () => handlers.get(type)!.delete(handler as (m: never) => void);
    },
    send(type, payload, id) {
      sent.push(id === undefined ? { type, payload } : { type, payload, id });
      return id ?? "x";
    },
  };
  const emit = (type: string, payload: unknown) => {
    const parsed = parseServerMessage(JSON.stringify(envelope(type, payload)));
    assert.ok(parsed.ok, JSON.stringify(parsed));
    for (const h of handlers.get(parsed.message.type) ?? []) {
      h(parsed.message as never);
    }
  };
  return { client, sent, emit, handlers };
}

/** A `terminal:earlier` page of agent "a", command "c". */
export function earlierPage(
  fromSeq: number,
  toSeq: number,
  data: string,
  more = true,
) {
  return { agentId: "a", commandId: "c", fromSeq, toSeq, data, more };
}
