/**
 * The fallback transport: `GET /api/events` (SSE with Last-Event-ID resume)
 * plus `POST /api/messages`, against a real server and a raw agent.
 */
import assert from "node:assert/strict";
import { envelope } from "../lib/protocol.ts";
import { RawAgent, startTestServer, type TestServer } from "./helpers.ts";

interface SseEvent {
  id: string;
  message: { type: string; payload: Record<string, unknown> };
}

/** An open `/api/events` stream whose events are parsed as they arrive. */
class EventStream {
  readonly events: SseEvent[] = [];
  readonly response: Response;
  #controller: AbortController;
  #done: Promise<void>;
  #waiters = new Set<() => void>();

  private constructor(response: Response, controller: AbortController) {
    this.response = response;
    this.#controller = controller;
    this.#done = this.#read();
  }

  static async open(
    server: TestServer,
    token: string,
    lastEventId?: string,
  ): Promise<EventStream> {
    const controller = new AbortController();
    const headers: Record<string, string> = {
      authorization: `Bearer ${token}`,
      accept: "text/event-stream",
    };
    if (lastEventId) headers["last-event-id"] = lastEventId;
    const response = await fetch(`${server.url}/api/events`, {
      headers,
      signal: controller.signal,
    });
    return new EventStream(response, controller);
  }

  async #read(): Promise<void> {
    const reader = this.response.body!.pipeThrough(new TextDecoderStream())
      .getReader();
    let buffer = "";
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        buffer += value;
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const id = /^id: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (id && data) {
            this.events.push({ id, message: JSON.parse(data) });
            for (const wake of [...this.#waiters]) wake();
          }
        }
      }
    } catch {
      // Aborted by close().
    }
  }

  /** Wait until an event matching `predicate` arrived (checked on each event). */
  waitFor(
    predicate: (e: SseEvent) => boolean,
    timeoutMs = 10_000,
  ): Promise<SseEvent> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const found = this.events.find(predicate);
        if (!found) return;
        cleanup();
        resolve(found);
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`Timed out waiting for an event: ${predicate}`));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        this.#waiters.delete(check);
      };
      this.#waiters.add(check);
      check();
    });
  }

  async close(): Promise<void> {
    this.#controller.abort();
    await this.#done;
  }
}

function post(
  server: TestServer,
  token: string,
  connectionId: string,
  body: string,
  contentType = "application/json",
): Promise<Response> {
  return fetch(`${server.url}/api/messages`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${token}`,
      "content-type": contentType,
      "x-flightdeck-connection": connectionId,
    },
    body,
  });
}

Deno.test("SSE: /api/events needs a signed-in user", async () => {
  await using server = await startTestServer();
  const response = await fetch(`${server.url}/api/events`);
  assert.equal(response.status, 401);
  assert.equal((await response.json()).error.code, "AUTH_FAILED");
});

Deno.test("SSE: the stream starts like a socket and POSTed messages are answered on it", async () => {
  await using server = await startTestServer();
  await using agent = await RawAgent.connect(server, "sse-1");
  const token = await server.token("operator");
  const stream = await EventStream.open(server, token);
  try {
    assert.equal(stream.response.status, 200);
    assert.match(
      stream.response.headers.get("content-type") ?? "",
      /^text\/event-stream/,
    );
    const ack = await stream.waitFor((e) =>
      e.message.type === "connection:ack"
    );
    assert.equal(stream.events[0], ack);
    assert.equal(stream.events[1].message.type, "agent:list");
    const connectionId = String(ack.message.payload.connectionId);
    assert.equal(ack.id, `${connectionId}.1`);
    assert.deepEqual(
      stream.events.map((e) => e.id),
      stream.events.map((_, i) => `${connectionId}.${i + 1}`),
    );

    const beat = await post(
      server,
      token,
      connectionId,
      JSON.stringify(envelope("heartbeat", { sequence: 7 })),
    );
    assert.equal(beat.status, 202);
    assert.deepEqual(await beat.json(), { accepted: true });
    await stream.waitFor((e) =>
      e.message.type === "heartbeat" && e.message.payload.sequence === 7
    );

    const request = await post(
      server,
      token,
      connectionId,
      JSON.stringify(
        envelope(
          "command:request",
          { agentId: "sse-1", command: "echo hi" },
          "q1",
        ),
      ),
    );
    assert.equal(request.status, 202);
    await request.body?.cancel();
    const status = await stream.waitFor((e) =>
      e.message.type === "command:status" && e.message.payload.replyTo === "q1"
    );
    const command = status.message.payload.command as {
      status: string;
      agentId: string;
    };
    assert.equal(command.status, "queued");
    assert.equal(command.agentId, "sse-1");
    await agent.waitFor((m) => m.type === "command:execute");
  } finally {
    await stream.close();
  }
});

Deno.test("SSE: POST errors are answered in the response and change nothing", async () => {
  await using server = await startTestServer();
  const token = await server.token("operator");
  const stream = await EventStream.open(server, token);
  try {
    const ack = await stream.waitFor((e) =>
      e.message.type === "connection:ack"
    );
    const connectionId = String(ack.message.payload.connectionId);
    const count = stream.events.length;

    const notJson = await post(server, token, connectionId, "{nope");
    assert.equal(notJson.status, 400);
    assert.deepEqual((await notJson.json()).error, {
      code: "INVALID_MESSAGE",
      message: "Frame is not JSON",
      recoverable: true,
    });

    const missing = await post(
      server,
      token,
      connectionId,
      JSON.stringify(envelope("command:request", { command: "ls" }, "m1")),
    );
    assert.equal(missing.status, 400);
    const missingError = (await missing.json()).error;
    assert.equal(missingError.code, "INVALID_MESSAGE");
    assert.equal(missingError.replyTo, "m1");
    assert.match(missingError.message, /payload\.agentId/);

    const unknown = await post(server, token, "no-such-connection", "{}");
    assert.equal(unknown.status, 404);
    assert.equal((await unknown.json()).error.code, "NOT_FOUND");

    const form = await post(
      server,
      token,
      connectionId,
      "a=b",
      "application/x-www-form-urlencoded",
    );
    assert.equal(form.status, 400);
    await form.body?.cancel();

    const other = await post(
      server,
      await server.token("viewer"),
      connectionId,
      JSON.stringify(envelope("heartbeat", { sequence: 1 })),
    );
    assert.equal(
      other.status,
      403,
      "another user cannot post into this session",
    );
    assert.equal((await other.json()).error.code, "FORBIDDEN");

    // A valid message's answer comes after anything the refused ones sent.
    const barrier = await post(
      server,
      token,
      connectionId,
      JSON.stringify(envelope("heartbeat", { sequence: 77 })),
    );
    assert.equal(barrier.status, 202);
    await barrier.body?.cancel();
    await stream.waitFor((e) =>
      e.message.type === "heartbeat" && e.message.payload.sequence === 77
    );
    assert.deepEqual(
      stream.events.slice(count).map((e) => e.message.type),
      ["heartbeat"],
      "nothing but the barrier's echo was sent on the stream",
    );
  } finally {
    await stream.close();
  }
});

Deno.test("SSE: Last-Event-ID resumes the same session with exactly the missed events", async () => {
  await using server = await startTestServer();
  await using agent = await RawAgent.connect(server, "sse-2");
  const token = await server.token("operator");
  const first = await EventStream.open(server, token);
  const ack = await first.waitFor((e) => e.message.type === "connection:ack");
  const connectionId = String(ack.message.payload.connectionId);
  await post(
    server,
    token,
    connectionId,
    JSON.stringify(
      envelope("command:request", { agentId: "sse-2", command: "x" }, "r"),
    ),
  ).then((r) => r.body?.cancel());
  const execute = await agent.waitFor((m) => m.type === "command:execute");
  const commandId = (execute.payload as { command: { id: string } }).command.id;
  agent.send("command:started", { commandId, startedAt: Date.now() });
  agent.send("terminal:output", {
    commandId,
    seq: 1,
    stream: "stdout",
    data: "one\n",
  });
  const seen = await first.waitFor((e) =>
    e.message.type === "terminal:output" && e.message.payload.seq === 1
  );
  await first.close();

  // While no stream is attached, more happens.
  agent.send("terminal:output", {
    commandId,
    seq: 2,
    stream: "stdout",
    data: "two\n",
  });
  agent.send("terminal:output", {
    commandId,
    seq: 3,
    stream: "stdout",
    data: "three\n",
  });
  await agent.waitFor((m) =>
    m.type === "terminal:ack" && (m.payload as { seq: number }).seq === 3
  );

  const second = await EventStream.open(server, token, seen.id);
  try {
    await second.waitFor((e) =>
      e.message.type === "terminal:output" && e.message.payload.seq === 3
    );
    assert.ok(
      !second.events.some((e) => e.message.type === "connection:ack"),
      "resumed, not a new session",
    );
    const output = second.events.filter((e) =>
      e.message.type === "terminal:output"
    );
    assert.deepEqual(output.map((e) => e.message.payload.data), [
      "two\n",
      "three\n",
    ]);
    const n = Number(seen.id.split(".")[1]);
    assert.equal(second.events[0].id, `${connectionId}.${n + 1}`);
  } finally {
    await second.close();
  }

  // An unknown cursor starts a new session.
  const third = await EventStream.open(
    server,
    token,
    `${crypto.randomUUID()}.5`,
  );
  try {
    const fresh = await third.waitFor((e) =>
      e.message.type === "connection:ack"
    );
    assert.notEqual(fresh.message.payload.connectionId, connectionId);
  } finally {
    await third.close();
  }
});
