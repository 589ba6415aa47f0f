/**
 * DashboardSession with the real services (in-memory KV): a connection that
 * sends faster than its messages are handled is closed once its backlog
 * passes DASHBOARD_BACKLOG_FRAMES frames, instead of queuing without bound.
 */
import assert from "node:assert/strict";
import { CLOSE_CODES } from "../protocol.ts";
import { startTestServer } from "../../tests/helpers.ts";
import {
  DASHBOARD_BACKLOG_FRAMES,
  DashboardSession,
} from "./dashboard_session.ts";
import { RecordingPeer } from "./peer.ts";

/** A heartbeat frame padded with an unknown field to about `bytes`. */
function bigHeartbeat(sequence: number, bytes: number): string {
  return JSON.stringify({
    version: "1.0.0",
    type: "heartbeat",
    timestamp: Date.now(),
    payload: { sequence, pad: "x".repeat(bytes) },
  });
}

Deno.test("DashboardSession closes a connection whose unhandled messages pass the backlog bound", async () => {
  await using server = await startTestServer({ maxFrameBytes: 64 * 1024 });
  const app = server.services;
  const user = await app.sessions.verify(await server.token("viewer"));
  const peer = new RecordingPeer();
  const session = new DashboardSession(peer, app, user);
  session.opened();
  // Received in one turn: nothing is handled in between, as when a socket's
  // reads deliver frames faster than an earlier message is handled.
  const frameBytes = 60 * 1024;
  const failures = [];
  for (let i = 0; i < DASHBOARD_BACKLOG_FRAMES + 2; i++) {
    failures.push(session.receive(bigHeartbeat(i, frameBytes)));
  }
  assert.deepEqual(
    failures.map((f) => f?.code ?? null),
    [
      ...Array(DASHBOARD_BACKLOG_FRAMES).fill(null),
      "RATE_LIMIT",
      // Closed: later frames are not even queued.
      null,
    ],
  );
  assert.equal(peer.closed?.code, CLOSE_CODES.RATE_LIMITED.code);
  assert.equal(session.isClosed, true);
  const errors = peer.messages().filter((m) => m.type === "error");
  assert.equal(errors.length, 1);
  assert.equal((errors[0].payload as { code: string }).code, "RATE_LIMIT");
});

Deno.test("DashboardSession handles a burst within the backlog bound", async () => {
  await using server = await startTestServer({ maxFrameBytes: 64 * 1024 });
  const app = server.services;
  const user = await app.sessions.verify(await server.token("viewer"));
  const { promise: answered, resolve } = Promise.withResolvers<void>();
  const echoes: number[] = [];
  const peer = new class extends RecordingPeer {
    override send(frame: string): void {
      super.send(frame);
      const message = JSON.parse(frame);
      if (message.type !== "heartbeat") return;
      echoes.push(message.payload.sequence);
      if (echoes.length === DASHBOARD_BACKLOG_FRAMES) resolve();
    }
  }();
  const session = new DashboardSession(peer, app, user);
  session.opened();
  for (let i = 0; i < DASHBOARD_BACKLOG_FRAMES; i++) {
    assert.equal(session.receive(bigHeartbeat(i, 60 * 1024)), null);
  }
  // Every heartbeat is answered, in order, and the connection stays open.
  await answered;
  assert.deepEqual(echoes, [0, 1, 2, 3]);
  assert.equal(peer.closed, null);
  session.closed();
});
