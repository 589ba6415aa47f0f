/**
 * A late joiner whose request for a session's output never reached the
 * server (asked while its connection was down) gets the agent's screen
 * snapshot once it is back, not a replay of the whole history: through a
 * real server, a real session agent (the fake AI CLI) and a dashboard built
 * from the real client code.
 */
import assert from "node:assert/strict";
import {
  createDashboard,
  type RealDashboard,
  waitUntil,
} from "./faults/dashboard.ts";
import { sendOk, startTestServer, takeControl, TestClient } from "./helpers.ts";
import {
  startSessionAgent,
  waitActivity,
  waitSession,
  waitSnapshotCurrent,
} from "./session_agent.ts";

Deno.test("a late joiner that asked for a session while offline gets its screen snapshot after reconnecting, not a full replay", async () => {
  await using server = await startTestServer({ snapshotMinBytes: 0 });
  const cwd = await Deno.makeTempDir({ prefix: "fd-late-reconnect-" });
  const operator = await TestClient.dashboard(server, "operator");
  const agent = await startSessionAgent(server, "late-rc", {
    cwd,
    cols: 80,
    rows: 24,
  });
  let late: RealDashboard | undefined;
  try {
    const session = await waitSession(operator, "late-rc");
    await waitActivity(operator, "late-rc", "waiting");
    // Typing at the prompt redraws it: output after the program's first
    // screen, however that screen was batched, so the snapshot has history
    // to stand for.
    const { commands } = server.services;
    const before = commands.broadcastSeq(session.id);
    await takeControl(operator, "late-rc");
    await sendOk(operator, "terminal:input", {
      agentId: "late-rc",
      data: "typed before",
    });
    await operator.until(
      () => commands.broadcastSeq(session.id) > before,
      { what: "the redrawn prompt" },
    );
    await waitSnapshotCurrent(server, session.id, "a snapshot of the prompt");
    const screenSeq = commands.latestScreen(session.id)!.seq;
    assert.ok(screenSeq > 1, `output before the screen (seq ${screenSeq})`);
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
      if (event.kind === "snapshot" && event.commandId === session.id) {
        snapshots++;
      }
    });
    assert.equal(late.stores.output.ensure(session.id), true);
    await waitUntil(
      () =>
        late!.acks === 2 &&
        late!.stores.output.lastSeq(session.id) ===
          commands.broadcastSeq(session.id),
      10_000,
      "the late joiner reconnected and up to date",
    );
    assert.equal(snapshots, 1, "the screen stood for the history");
    const screen = late.stores.output.screen(session.id)!;
    assert.ok(screen.seq >= screenSeq);
    // Nothing before the screen was replayed; what came after it came once.
    const order = late.renderOrder.get(session.id) ?? [];
    assert.deepEqual(
      order,
      Array.from({ length: order.length }, (_, i) => screen.seq + 1 + i),
    );
  } finally {
    late?.stop();
    await operator.close();
    await agent.kill();
    await Deno.remove(cwd, { recursive: true });
  }
});
