/**
 * Live terminals on the server side, through a real server, real sockets
 * and a raw agent: `session:control` and the `session:controller`
 * broadcast, `terminal:input` and `terminal:resize` forwarded byte-exact to
 * the agent's running command, the refusals of the bad-input list,
 * the per-connection input rate, and `agent:activity` → `agent:status`.
 */
import assert from "node:assert/strict";
import FakeTimers from "@sinonjs/fake-timers";
import type { ConfigInput } from "../lib/server/config.ts";
import {
  broadcastBarrier,
  errorReply,
  queueCommand,
  RawAgent,
  type RawMessage,
  rawOf,
  startTestServer,
  TestClient,
  type TestServer,
  waitAgentStatus,
  waitRaw,
  waitStatus,
} from "./helpers.ts";

type Holder = { userId: string; connectionId: string } | null;

/** This dashboard's connection id and user id, from its `connection:ack`. */
function me(client: TestClient): { userId: string; connectionId: string } {
  const ack = rawOf(client, "connection:ack")[0];
  return {
    userId: ack.payload.user.id,
    connectionId: ack.payload.connectionId,
  };
}

/** Like {@link errorReply}, but the error code (or null). */
async function code(
  client: TestClient,
  type: string,
  payload: unknown,
): Promise<string | null> {
  return (await errorReply(client, type, payload))?.payload.code ?? null;
}

/** The last holder `client` was told for `agentId` (undefined: never). */
function holderSeen(client: TestClient, agentId: string): Holder | undefined {
  const seen = rawOf(client, "session:controller").filter((m) =>
    m.payload.agentId === agentId
  );
  return seen.at(-1)?.payload.holder;
}

/** Wait until `client` was last told `holder` for `agentId`. */
async function waitHolder(
  client: TestClient,
  agentId: string,
  holder: Holder,
): Promise<void> {
  await client.until(
    () =>
      JSON.stringify(holderSeen(client, agentId)) === JSON.stringify(holder),
    { what: `holder of ${agentId} = ${JSON.stringify(holder)}` },
  );
}

/** Frames of `type` the agent got from index `from` on. */
function agentGot(agent: RawAgent, type: string, from = 0): RawMessage[] {
  return agent.raw.slice(from).filter((m) => m.type === type);
}

/** Wait until the agent has every frame the server sent it before now. */
async function agentBarrier(agent: RawAgent): Promise<void> {
  const sequence = 2 ** 41 + Math.floor(Math.random() * 1e9);
  agent.send("heartbeat", { sequence });
  await agent.waitFor((m) =>
    m.type === "heartbeat" && m.payload.sequence === sequence
  );
}

interface Fixture {
  server: TestServer;
  agent: RawAgent;
  commandId: string;
  [Symbol.asyncDispose](): Promise<void>;
}

/** A server and a raw agent `agentId` running one command (started). */
async function withRunningCommand(
  agentId: string,
  config: ConfigInput = {},
): Promise<Fixture> {
  const server = await startTestServer(config);
  const agent = await RawAgent.connect(server, agentId);
  const admin = await TestClient.dashboard(server, "admin");
  await waitAgentStatus(admin, agentId, "online");
  const commandId = await queueCommand(admin, {
    agentId,
    command: "bash -l",
  });
  await agent.waitFor((m) => m.type === "command:execute");
  agent.send("command:started", { commandId, startedAt: Date.now() });
  await waitStatus(admin, commandId, "running");
  await admin.close();
  return {
    server,
    agent,
    commandId,
    async [Symbol.asyncDispose]() {
      await agent.close();
      await server.shutdown();
    },
  };
}

Deno.test("control: take, refuse another operator, admin takeover, release; every dashboard sees each holder", async () => {
  await using f = await withRunningCommand("lt-1");
  const { server, agent } = f;
  const alice = await TestClient.dashboard(server, "operator");
  const bob = await TestClient.dashboard(server, "operator");
  const viewer = await TestClient.dashboard(server, "viewer");
  const admin = await TestClient.dashboard(server, "admin");
  const everyone = [alice, bob, viewer, admin];
  try {
    // Alice takes control: everyone is told, Alice's connection holds it.
    assert.equal(
      await code(alice, "session:control", { agentId: "lt-1", take: true }),
      null,
    );
    for (const c of everyone) await waitHolder(c, "lt-1", me(alice));

    // Bob is refused control, input and resize until he holds it.
    const before = viewer.raw.length;
    const refused = await errorReply(bob, "session:control", {
      agentId: "lt-1",
      take: true,
    });
    assert.equal(refused?.payload.code, "NOT_CONTROLLER");
    assert.equal(refused?.payload.recoverable, true);
    assert.match(refused?.payload.message, /controlled by/);
    assert.equal(
      await code(bob, "terminal:input", { agentId: "lt-1", data: "x" }),
      "NOT_CONTROLLER",
    );
    assert.equal(
      await code(bob, "terminal:resize", { agentId: "lt-1", cols: 9, rows: 9 }),
      "NOT_CONTROLLER",
    );
    assert.equal(
      await code(bob, "session:control", { agentId: "lt-1", take: false }),
      "NOT_CONTROLLER",
    );
    // The viewer may do none of it.
    for (
      const [type, payload] of [
        ["session:control", { agentId: "lt-1", take: true }],
        ["terminal:input", { agentId: "lt-1", data: "x" }],
        ["terminal:resize", { agentId: "lt-1", cols: 80, rows: 24 }],
      ] as const
    ) {
      assert.equal(await code(viewer, type, payload), "FORBIDDEN", type);
    }
    // Nothing of that changed anything: no broadcast, nothing forwarded.
    const mark = await broadcastBarrier(server, viewer);
    assert.deepEqual(
      rawOf(
        { raw: viewer.raw.slice(before, mark) } as TestClient,
        "session:controller",
      ),
      [],
    );
    await agentBarrier(agent);
    assert.deepEqual(agentGot(agent, "terminal:input"), []);
    assert.deepEqual(agentGot(agent, "terminal:resize"), []);

    // Taking again what one holds changes nothing: only the sender hears.
    const bobSaw = rawOf(bob, "session:controller").length;
    const aliceFrom = alice.raw.length;
    assert.equal(
      await code(alice, "session:control", { agentId: "lt-1", take: true }),
      null,
    );
    assert.deepEqual(
      rawOf(
        { raw: alice.raw.slice(aliceFrom) } as TestClient,
        "session:controller",
      )
        .map((m) => m.payload),
      [{ agentId: "lt-1", holder: me(alice) }],
    );
    await broadcastBarrier(server, bob);
    assert.equal(rawOf(bob, "session:controller").length, bobSaw);

    // Alice releases; Bob takes it; an admin takes it from Bob.
    assert.equal(
      await code(alice, "session:control", { agentId: "lt-1", take: false }),
      null,
    );
    for (const c of everyone) await waitHolder(c, "lt-1", null);
    assert.equal(
      await code(bob, "session:control", { agentId: "lt-1", take: true }),
      null,
    );
    for (const c of everyone) await waitHolder(c, "lt-1", me(bob));
    assert.equal(
      await code(admin, "session:control", { agentId: "lt-1", take: true }),
      null,
    );
    for (const c of everyone) await waitHolder(c, "lt-1", me(admin));
    // Bob lost it: his input is refused now, the admin's goes through.
    assert.equal(
      await code(bob, "terminal:input", { agentId: "lt-1", data: "b" }),
      "NOT_CONTROLLER",
    );
    assert.equal(
      await code(admin, "terminal:input", { agentId: "lt-1", data: "a" }),
      null,
    );
    const got = await agent.waitFor((m) => m.type === "terminal:input");
    assert.deepEqual(got.payload, { commandId: f.commandId, data: "a" });

    // A dashboard that connects now is told the holder right after agent:list.
    const late = await TestClient.dashboard(server, "viewer");
    try {
      const types = (late.raw as RawMessage[]).map((m) => m.type);
      const list = types.indexOf("agent:list");
      assert.equal(types[list + 1], "session:controller");
      assert.deepEqual(holderSeen(late, "lt-1"), me(admin));
    } finally {
      await late.close();
    }
  } finally {
    for (const c of everyone) await c.close();
  }
});

Deno.test("input and resize reach the agent byte-exact, in order, with the running command's id", async () => {
  await using f = await withRunningCommand("lt-2");
  const { server, agent, commandId } = f;
  const op = await TestClient.dashboard(server, "operator");
  try {
    assert.equal(
      await code(op, "session:control", { agentId: "lt-2", take: true }),
      null,
    );
    const samples = [
      "y",
      "\r",
      "\x03",
      "\x1b[A\x1b[B\x1bOP",
      "\x00\x01\x7f",
      "\x1b[200~pasted line 1\nline 2 with ü, €, 𝄞 and 🚀\x1b[201~",
      "x".repeat(65536),
      "€".repeat(21845), // 65535 bytes
    ];
    for (const data of samples) {
      assert.equal(
        await code(op, "terminal:input", { agentId: "lt-2", data }),
        null,
      );
    }
    assert.equal(
      await code(op, "terminal:resize", {
        agentId: "lt-2",
        cols: 132,
        rows: 43,
      }),
      null,
    );
    assert.equal(
      await code(op, "terminal:resize", {
        agentId: "lt-2",
        cols: 1000,
        rows: 500,
      }),
      null,
    );
    await agentBarrier(agent);
    assert.deepEqual(
      agentGot(agent, "terminal:input").map((m) => m.payload),
      samples.map((data) => ({ commandId, data })),
    );
    assert.deepEqual(
      agentGot(agent, "terminal:resize").map((m) => m.payload),
      [
        { commandId, cols: 132, rows: 43 },
        { commandId, cols: 1000, rows: 500 },
      ],
    );
    assert.deepEqual(server.services.control.sizeOf("lt-2"), {
      cols: 1000,
      rows: 500,
    });
  } finally {
    await op.close();
  }
});

Deno.test("control is released when the holder's socket closes and when the agent goes offline", async () => {
  await using f = await withRunningCommand("lt-3");
  const { server, agent } = f;
  const watcher = await TestClient.dashboard(server, "viewer");
  const op = await TestClient.dashboard(server, "operator");
  const other = await TestClient.dashboard(server, "operator");
  try {
    assert.equal(
      await code(op, "session:control", { agentId: "lt-3", take: true }),
      null,
    );
    await waitHolder(watcher, "lt-3", me(op));
    await op.close();
    await waitHolder(watcher, "lt-3", null);
    assert.equal(server.services.control.holderOf("lt-3"), null);

    // Free again: another operator takes it; the agent leaves; released.
    assert.equal(
      await code(other, "session:control", { agentId: "lt-3", take: true }),
      null,
    );
    await waitHolder(watcher, "lt-3", me(other));
    assert.equal(
      await code(other, "terminal:resize", {
        agentId: "lt-3",
        cols: 80,
        rows: 24,
      }),
      null,
    );
    await agent.close();
    await waitAgentStatus(watcher, "lt-3", "offline");
    await waitHolder(watcher, "lt-3", null);
    assert.equal(server.services.control.sizeOf("lt-3"), null);
    // Nothing to control now.
    assert.equal(
      await code(other, "session:control", { agentId: "lt-3", take: true }),
      "AGENT_OFFLINE",
    );
  } finally {
    await watcher.close();
    await other.close();
  }
});

Deno.test("bad input: each gets its documented error and changes nothing", async () => {
  await using f = await withRunningCommand("lt-4");
  const { server, agent, commandId } = f;
  const idle = await RawAgent.connect(server, "lt-idle");
  const gone = await RawAgent.connect(server, "lt-gone");
  const op = await TestClient.dashboard(server, "operator");
  const watcher = await TestClient.dashboard(server, "viewer");
  try {
    await gone.close();
    await waitAgentStatus(op, "lt-gone", "offline");
    for (const id of ["lt-4", "lt-idle"]) {
      assert.equal(
        await code(op, "session:control", { agentId: id, take: true }),
        null,
      );
      await waitHolder(watcher, id, me(op));
    }
    const watched = watcher.raw.length;
    const agentFrom = agent.raw.length;
    const idleFrom = idle.raw.length;

    const cases: [string, string, unknown, string, RegExp?][] = [
      // label, type, payload, code, message
      [
        "input to an offline agent",
        "terminal:input",
        { agentId: "lt-gone", data: "x" },
        "AGENT_OFFLINE",
      ],
      [
        "resize of an offline agent",
        "terminal:resize",
        { agentId: "lt-gone", cols: 80, rows: 24 },
        "AGENT_OFFLINE",
      ],
      [
        "input to an agent with no session",
        "terminal:input",
        { agentId: "lt-idle", data: "x" },
        "NOT_FOUND",
        /runs no command or session/,
      ],
      [
        "resize of an agent with no session",
        "terminal:resize",
        { agentId: "lt-idle", cols: 80, rows: 24 },
        "NOT_FOUND",
        /runs no command or session/,
      ],
      [
        "input to an unknown agent",
        "terminal:input",
        { agentId: "lt-nobody", data: "x" },
        "NOT_FOUND",
        /Unknown agent/,
      ],
      [
        "control of an unknown agent",
        "session:control",
        { agentId: "lt-nobody", take: true },
        "NOT_FOUND",
        /Unknown agent "lt-nobody"/,
      ],
      [
        "release of an unknown agent",
        "session:control",
        { agentId: "lt-nobody", take: false },
        "NOT_FOUND",
      ],
      [
        "control of an offline agent",
        "session:control",
        { agentId: "lt-gone", take: true },
        "AGENT_OFFLINE",
      ],
      [
        "oversized input",
        "terminal:input",
        { agentId: "lt-4", data: "x".repeat(65537) },
        "PAYLOAD_TOO_LARGE",
        /payload\.data/,
      ],
      [
        "oversized in UTF-8 bytes",
        "terminal:input",
        { agentId: "lt-4", data: "€".repeat(21846) },
        "PAYLOAD_TOO_LARGE",
        /payload\.data/,
      ],
      [
        "empty input",
        "terminal:input",
        { agentId: "lt-4", data: "" },
        "INVALID_MESSAGE",
        /payload\.data/,
      ],
      [
        "input that is not text",
        "terminal:input",
        { agentId: "lt-4", data: [1, 2, 3] },
        "INVALID_MESSAGE",
        /payload\.data/,
      ],
      [
        "input with a lone surrogate",
        "terminal:input",
        { agentId: "lt-4", data: "a\ud800b" },
        "INVALID_MESSAGE",
        /payload\.data/,
      ],
      [
        "resize to 0 columns",
        "terminal:resize",
        { agentId: "lt-4", cols: 0, rows: 24 },
        "INVALID_MESSAGE",
        /payload\.cols/,
      ],
      [
        "resize to 10,000 columns",
        "terminal:resize",
        { agentId: "lt-4", cols: 10_000, rows: 24 },
        "INVALID_MESSAGE",
        /payload\.cols/,
      ],
      [
        "resize to 0 rows",
        "terminal:resize",
        { agentId: "lt-4", cols: 80, rows: 0 },
        "INVALID_MESSAGE",
        /payload\.rows/,
      ],
      [
        "resize to 10,000 rows",
        "terminal:resize",
        { agentId: "lt-4", cols: 80, rows: 10_000 },
        "INVALID_MESSAGE",
        /payload\.rows/,
      ],
      [
        "control without take",
        "session:control",
        { agentId: "lt-4" },
        "INVALID_MESSAGE",
        /payload\.take/,
      ],
    ];
    for (const [label, type, payload, expected, message] of cases) {
      const error = await errorReply(op, type, payload);
      assert.equal(error?.payload.code, expected, label);
      if (message) assert.match(error?.payload.message, message, label);
    }
    // A binary frame is refused (no envelope id to answer).
    const from = op.raw.length;
    op.socket.send(new Uint8Array([0x1b, 0x5b, 0x41]));
    const binary = await waitRaw(op, (m) => m.type === "error", { from });
    assert.equal(binary.payload.code, "INVALID_MESSAGE");
    assert.match(binary.payload.message, /Binary/);

    // The session ends: input to the ended session is refused.
    agent.send("command:completed", {
      commandId,
      exitCode: 0,
      status: "completed",
      completedAt: Date.now(),
      lastSeq: 0,
    });
    await waitStatus(op, commandId, "completed");
    const ended = await errorReply(op, "terminal:input", {
      agentId: "lt-4",
      data: "x",
    });
    assert.equal(ended?.payload.code, "NOT_FOUND");
    assert.match(ended?.payload.message, /runs no command or session/);

    // Nothing reached an agent, no holder changed, and the socket is open.
    await agentBarrier(agent);
    await agentBarrier(idle);
    for (const type of ["terminal:input", "terminal:resize"]) {
      assert.deepEqual(agentGot(agent, type, agentFrom), [], type);
      assert.deepEqual(agentGot(idle, type, idleFrom), [], type);
    }
    const mark = await broadcastBarrier(server, watcher);
    assert.deepEqual(
      (watcher.raw.slice(watched, mark) as RawMessage[]).filter((m) =>
        m.type === "session:controller"
      ),
      [],
    );
    assert.deepEqual(server.services.control.holderOf("lt-4"), me(op));
    assert.equal(op.closed, null);
  } finally {
    await op.close();
    await watcher.close();
    await idle.close();
  }
});

Deno.test("input rate: messages and bytes per connection per second, refused ones are dropped", async () => {
  await using f = await withRunningCommand("lt-5", {
    terminalInputPerSecond: 3,
    terminalInputBytesPerSecond: 65536,
  });
  const { server, agent, commandId } = f;
  const op = await TestClient.dashboard(server, "operator");
  const other = await TestClient.dashboard(server, "admin");
  // Only Date is faked: sockets and timers run, the buckets see this clock.
  const clock = FakeTimers.install({ toFake: ["Date"], now: Date.now() });
  try {
    assert.equal(
      await code(op, "session:control", { agentId: "lt-5", take: true }),
      null,
    );
    const send = (data: string) =>
      code(op, "terminal:input", { agentId: "lt-5", data });
    // Three messages per second: the fourth and fifth are refused.
    assert.deepEqual(
      [await send("1"), await send("2"), await send("3"), await send("4")],
      [null, null, null, "RATE_LIMIT"],
    );
    assert.equal(
      await code(op, "terminal:resize", {
        agentId: "lt-5",
        cols: 80,
        rows: 24,
      }),
      "RATE_LIMIT",
    );
    clock.tick(1000);
    assert.equal(await send("5"), null);
    // Bytes: 65536 per second. 40000 fit, 30000 more do not, 20000 do.
    clock.tick(1000);
    assert.equal(await send("a".repeat(40_000)), null);
    assert.equal(await send("b".repeat(30_000)), "RATE_LIMIT");
    assert.equal(await send("c".repeat(20_000)), null);
    // Half a second refills half: 5536 + 32768 = 38304 ≥ 38000.
    clock.tick(500);
    assert.equal(await send("d".repeat(38_000)), null);
    await agentBarrier(agent);
    assert.deepEqual(
      agentGot(agent, "terminal:input").map((m) => m.payload),
      [
        "1",
        "2",
        "3",
        "5",
        "a".repeat(40_000),
        "c".repeat(20_000),
        "d".repeat(38_000),
      ]
        .map((data) => ({ commandId, data })),
    );
    assert.deepEqual(agentGot(agent, "terminal:resize"), []);
    // The limit is per connection: an admin taking over starts full.
    assert.equal(
      await code(other, "session:control", { agentId: "lt-5", take: true }),
      null,
    );
    assert.equal(
      await code(other, "terminal:input", {
        agentId: "lt-5",
        data: "e".repeat(60_000),
      }),
      null,
    );
  } finally {
    clock.uninstall();
    await op.close();
    await other.close();
  }
});

Deno.test("agent:activity: every dashboard gets agent:status with activity, attention and options, only on change", async () => {
  await using server = await startTestServer();
  const agent = await RawAgent.connect(server, "lt-6");
  const a = await TestClient.dashboard(server, "viewer");
  const b = await TestClient.dashboard(server, "operator");
  try {
    await waitAgentStatus(a, "lt-6", "online");
    const statuses = (c: TestClient) =>
      rawOf(c, "agent:status").filter((m) => m.payload.agent.id === "lt-6")
        .map((m) => m.payload.agent);
    const waitActivity = (c: TestClient, activity: string, count: number) =>
      c.until(() =>
        statuses(c).filter((s) => s.activity === activity).length >= count
      );
    const fromA = statuses(a).length;

    const options = [
      { key: "1", label: "Yes" },
      { key: "2", label: "Yes, and don't ask again" },
      { key: "3", label: "No" },
    ];
    agent.send("agent:activity", { activity: "working" });
    agent.send("agent:activity", {
      activity: "needs-input",
      attention: "Do you want to create hello.txt?",
      options,
    });
    // The same report again is no change.
    agent.send("agent:activity", {
      activity: "needs-input",
      attention: "Do you want to create hello.txt?",
      options,
    });
    // attention and options are kept only with needs-input.
    agent.send("agent:activity", {
      activity: "waiting",
      attention: "stale question",
      options,
    });
    for (const c of [a, b]) await waitActivity(c, "waiting", 1);
    await agentBarrier(agent);
    await broadcastBarrier(server, a);
    const seen = statuses(a).slice(fromA);
    assert.deepEqual(
      seen.map((s) => [s.activity, s.attention, s.options]),
      [
        ["working", undefined, undefined],
        ["needs-input", "Do you want to create hello.txt?", options],
        ["waiting", undefined, undefined],
      ],
    );
    assert.deepEqual(
      statuses(b).slice(-3).map((s) => s.activity),
      ["working", "needs-input", "waiting"],
    );
    assert.equal(server.services.registry.get("lt-6")?.activity, "waiting");
    // Reports are not written to storage (activity is not restored).
    const stored = (await server.services.storage.loadAgents()).find((x) =>
      x.id === "lt-6"
    );
    assert.equal(stored?.status, "online");
    assert.equal(stored?.activity, undefined);

    // A bad report is refused to the agent and changes nothing.
    agent.send("agent:activity", { activity: "asleep" }, "bad-1");
    const error = await agent.waitFor((m) =>
      m.type === "error" && m.payload.replyTo === "bad-1"
    );
    assert.equal(error.payload.code, "INVALID_MESSAGE");
    assert.equal(server.services.registry.get("lt-6")?.activity, "waiting");

    // Offline clears it.
    await agent.close();
    await waitAgentStatus(a, "lt-6", "offline");
    const last = statuses(a).at(-1)!;
    assert.equal(last.status, "offline");
    assert.equal("activity" in last, false);
  } finally {
    await agent.close();
    await a.close();
    await b.close();
  }
});

Deno.test("SSE fallback: a session takes control and types through POST /api/messages; control ends when the session ends", async () => {
  // Connections silent for 1 s end: the SSE session ends once its client
  // stops posting; the sockets below keep sending heartbeats.
  await using f = await withRunningCommand("lt-7", {
    dashboardTimeoutMs: 1000,
  });
  const { server, agent, commandId } = f;
  const watcher = await TestClient.dashboard(server, "viewer");
  let beat = 0;
  const keepAlive = setInterval(
    () => watcher.send("heartbeat", { sequence: ++beat }),
    200,
  );
  const token = await server.token("operator");
  const abort = new AbortController();
  try {
    const events = await fetch(`${server.url}/api/events`, {
      headers: {
        authorization: `Bearer ${token}`,
        accept: "text/event-stream",
      },
      signal: abort.signal,
    });
    const reader = events.body!.pipeThrough(new TextDecoderStream())
      .getReader();
    let text = "";
    let ack: RegExpExecArray | null = null;
    while (!ack) {
      const { value, done } = await reader.read();
      if (done) throw new Error("event stream ended");
      text += value;
      ack = /"connection:ack".*?"connectionId":"([^"]+)"/.exec(text);
    }
    const connectionId = ack[1];
    const post = async (type: string, payload: unknown) => {
      const response = await fetch(`${server.url}/api/messages`, {
        method: "POST",
        headers: {
          authorization: `Bearer ${token}`,
          "content-type": "application/json",
          "x-flightdeck-connection": connectionId,
        },
        body: JSON.stringify({
          version: "1.0.0",
          type,
          timestamp: Date.now(),
          payload,
        }),
      });
      await response.body?.cancel();
      return response.status;
    };
    assert.equal(
      await post("session:control", { agentId: "lt-7", take: true }),
      202,
    );
    const holder = await watcher.until(() => {
      const seen = holderSeen(watcher, "lt-7");
      return seen?.connectionId === connectionId ? seen : null;
    });
    const ackUser = /"user":\{"id":"([^"]+)"/.exec(text)?.[1];
    assert.deepEqual(holder, { userId: ackUser, connectionId });
    assert.equal(
      await post("terminal:input", { agentId: "lt-7", data: "sse\r" }),
      202,
    );
    const got = await agent.waitFor((m) => m.type === "terminal:input");
    assert.deepEqual(got.payload, { commandId, data: "sse\r" });
    // The client goes away: the session times out and control ends.
    abort.abort();
    await reader.cancel().catch(() => {});
    await waitHolder(watcher, "lt-7", null);
    assert.equal(server.services.control.holderOf("lt-7"), null);
  } finally {
    clearInterval(keepAlive);
    abort.abort();
    await watcher.close();
  }
});
