/**
 * A late joiner gets a session's screen snapshot, not a replay of the
 * whole history, and gets it once per request: through a real server, a
 * real session agent (the fake AI CLI) and a dashboard built from the real
 * client code. Its request may go out while its connection is down (it
 * never reaches the server: asked again once back) or between the
 * connection's opening and its acknowledgement (it does: not asked again).
 */
import assert from "node:assert/strict";
import { effect } from "@preact/signals";
import {
  createDashboard,
  RealDashboard,
  waitUntil,
} from "./faults/dashboard.ts";
import {
  type AgentProcess,
  sendOk,
  startTestServer,
  takeControl,
  TestClient,
  type TestServer,
} from "./helpers.ts";
import {
  startSessionAgent,
  waitActivity,
  waitSession,
  waitSnapshotCurrent,
} from "./session_agent.ts";

/** A heartbeat sequence the client's own heartbeats never reach. */
const BARRIER = 1_000_000_000;

/**
 * Agent `agentId` in session mode, once `server` holds a screen snapshot of
 * its session that stands for earlier output.
 */
async function sessionWithScreen(
  server: TestServer,
  operator: TestClient,
  agentId: string,
  cwd: string,
): Promise<{ agent: AgentProcess; sessionId: string; screenSeq: number }> {
  const agent = await startSessionAgent(server, agentId, {
    cwd,
    cols: 80,
    rows: 24,
  });
  try {
    const session = await waitSession(operator, agentId);
    await waitActivity(operator, agentId, "waiting");
    // Typing at the prompt redraws it: output after the program's first
    // screen, however that screen was batched, so the snapshot has history
    // to stand for.
    const { commands } = server.services;
    const before = commands.broadcastSeq(session.id);
    await takeControl(operator, agentId);
    await sendOk(operator, "terminal:input", { agentId, data: "typed before" });
    await operator.until(
      () => commands.broadcastSeq(session.id) > before,
      { what: "the redrawn prompt" },
    );
    await waitSnapshotCurrent(server, session.id, "a snapshot of the prompt");
    const screenSeq = commands.latestScreen(session.id)!.seq;
    assert.ok(screenSeq > 1, `output before the screen (seq ${screenSeq})`);
    return { agent, sessionId: session.id, screenSeq };
  } catch (error) {
    await agent.kill();
    throw error;
  }
}

Deno.test("a late joiner that asked for a session while offline gets its screen snapshot after reconnecting, not a full replay", async () => {
  await using server = await startTestServer({ snapshotMinBytes: 0 });
  const cwd = await Deno.makeTempDir({ prefix: "fd-late-reconnect-" });
  const operator = await TestClient.dashboard(server, "operator");
  let agent: AgentProcess | undefined;
  let late: RealDashboard | undefined;
  try {
    const started = await sessionWithScreen(server, operator, "late-rc", cwd);
    agent = started.agent;
    const { sessionId, screenSeq } = started;
    const { commands } = server.services;
    late = await createDashboard({
      wsUrl: server.wsUrl,
      token: await server.token("viewer"),
      name: "late",
      retryTimeScale: 10,
    });

    // The connection drops; the view asks for the session meanwhile (the
    // request goes nowhere), then the client reconnects on its own.
    late.socket!.close(4000, "test: connection lost");
    assert.equal(late.client.isOpen, false);
    let snapshots = 0;
    late.stores.output.subscribe((event) => {
      if (event.kind === "snapshot" && event.commandId === sessionId) {
        snapshots++;
      }
    });
    assert.equal(late.stores.output.ensure(sessionId), true);
    await waitUntil(
      () =>
        late!.acks === 2 &&
        late!.stores.output.lastSeq(sessionId) ===
          commands.broadcastSeq(sessionId),
      10_000,
      "the late joiner reconnected and up to date",
    );
    assert.equal(snapshots, 1, "the screen stood for the history");
    const screen = late.stores.output.screen(sessionId)!;
    assert.ok(screen.seq >= screenSeq);
    // Nothing before the screen was replayed; what came after it came once.
    const order = late.renderOrder.get(sessionId) ?? [];
    assert.deepEqual(
      order,
      Array.from({ length: order.length }, (_, i) => screen.seq + 1 + i),
    );
  } finally {
    late?.stop();
    await operator.close();
    await agent?.kill();
    await Deno.remove(cwd, { recursive: true });
  }
});

Deno.test("a late joiner that asks for a session between its connection's opening and acknowledgement gets one snapshot and the output after it once", async () => {
  await using server = await startTestServer({ snapshotMinBytes: 0 });
  const cwd = await Deno.makeTempDir({ prefix: "fd-late-open-" });
  const operator = await TestClient.dashboard(server, "operator");
  let agent: AgentProcess | undefined;
  const late = new RealDashboard({
    wsUrl: server.wsUrl,
    token: await server.token("viewer"),
    name: "late",
  });
  try {
    const started = await sessionWithScreen(server, operator, "late-op", cwd);
    agent = started.agent;
    const { sessionId, screenSeq } = started;
    const { commands } = server.services;
    const frames: number[] = [];
    late.client.on("terminal:snapshot", (m) => {
      if (m.payload.commandId === sessionId) frames.push(m.payload.seq);
    });
    // The page shows "connected" once the socket opens, before the server's
    // acknowledgement, so the user may select the agent in between: here
    // the view asks right after `dashboard:connect` went out (a microtask
    // later: no frame of the server can have been handled yet).
    let asked = false;
    const stopWatching = effect(() => {
      if (late.client.connection.value.state !== "connected") return;
      queueMicrotask(() => {
        if (asked) return;
        asked = true;
        assert.equal(late.acks, 0, "not acknowledged yet");
        assert.equal(late.stores.output.ensure(sessionId), true);
      });
    });
    try {
      await late.start();
    } finally {
      stopWatching();
    }
    assert.ok(asked);
    await waitUntil(
      () =>
        late.stores.output.lastSeq(sessionId) ===
          commands.broadcastSeq(sessionId),
      10_000,
      "the late joiner up to date",
    );
    // Everything the server will answer to what was sent so far comes
    // before the echo of a heartbeat sent now: it handles a connection's
    // messages in order.
    const echoed = Promise.withResolvers<void>();
    const offEcho = late.client.on("heartbeat", (m) => {
      if (m.payload.sequence === BARRIER) echoed.resolve();
    });
    late.client.send("heartbeat", { sequence: BARRIER });
    await echoed.promise;
    offEcho();
    assert.equal(frames.length, 1, `one snapshot (seqs ${frames})`);
    assert.ok(frames[0] >= screenSeq);
    // Nothing before the screen was sent; what came after it came once.
    const arrivals = late.arrivals.get(sessionId) ?? new Map();
    for (const [seq, count] of arrivals) {
      assert.ok(seq > frames[0], `seq ${seq} is after the screen`);
      assert.equal(count, 1, `seq ${seq} arrived ${count} times`);
    }
  } finally {
    late.stop();
    await operator.close();
    await agent?.kill();
    await Deno.remove(cwd, { recursive: true });
  }
});
