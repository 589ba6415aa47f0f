import assert from "node:assert/strict";
import FakeTimers from "@sinonjs/fake-timers";
import type { ErrorMessage, ParseResult } from "../protocol.ts";
import { silentLogger } from "./logger.ts";
import type { Peer } from "./peer.ts";
import { Session } from "./session.ts";

/** A peer that records frames and its close. */
class RecordingPeer implements Peer {
  readonly id = "peer-1";
  readonly frames: string[] = [];
  closedWith: { code: number; reason: string } | null = null;
  bufferedAmount = 0;
  get isOpen(): boolean {
    return this.closedWith === null;
  }
  send(frame: string): void {
    this.frames.push(frame);
  }
  close(code: number, reason: string): void {
    this.closedWith ??= { code, reason };
  }
}

/** The smallest concrete session: it only authenticates until a given time. */
class ExpiringSession
  extends Session<{ type: string; id?: string }, ErrorMessage> {
  protected parse(): ParseResult<{ type: string }> {
    return { ok: false, code: "INVALID_MESSAGE", message: "unused" };
  }
  protected handle(): Promise<void> {
    return Promise.resolve();
  }
  protected onOpen(): void {}
  protected onClose(): void {}
  authenticateUntil(expiresAt: number): void {
    this.markAuthenticated(expiresAt);
  }
  refreshAllowed(replyTo?: string): boolean {
    return this.takeRefresh(replyTo);
  }
}

const LIMITS = {
  maxFrameBytes: 1024,
  maxBufferedBytes: 1024,
  messageRatePerSecond: 10,
  timeoutMs: 1000,
  authTimeoutMs: 1000,
};
const DAY = 86400_000;

Deno.test("Session keeps a token valid for 30 days open past the 24.86-day timer limit and closes it 4401 at expiry", () => {
  const clock = FakeTimers.install({ now: 1_700_000_000_000 });
  try {
    const peer = new RecordingPeer();
    const session = new ExpiringSession(peer, LIMITS, silentLogger);
    const expiresAt = Date.now() + 30 * DAY;
    session.authenticateUntil(expiresAt);
    clock.tick(2 ** 31 - 1); // the longest timer: 24.86 days
    clock.tick(1);
    assert.equal(peer.closedWith, null);
    clock.tick(expiresAt - Date.now() - 1); // one millisecond before expiry
    assert.equal(peer.closedWith, null);
    assert.equal(session.isClosed, false);
    clock.tick(1);
    assert.deepEqual(peer.closedWith, { code: 4401, reason: "Token expired" });
    assert.equal(session.isClosed, true);
    assert.equal(JSON.parse(peer.frames[0]).payload.code, "AUTH_FAILED");
  } finally {
    clock.uninstall();
  }
});

Deno.test("Session closes 4401 at once for an expiry already past", () => {
  const clock = FakeTimers.install({ now: 1_700_000_000_000 });
  try {
    const peer = new RecordingPeer();
    const session = new ExpiringSession(peer, LIMITS, silentLogger);
    session.authenticateUntil(Date.now() - 1);
    clock.tick(0);
    assert.deepEqual(peer.closedWith, { code: 4401, reason: "Token expired" });
  } finally {
    clock.uninstall();
  }
});

Deno.test("Session handles at most one auth:refresh per second; the others get RATE_LIMIT", () => {
  const clock = FakeTimers.install({ now: 1_700_000_000_000 });
  try {
    const peer = new RecordingPeer();
    const session = new ExpiringSession(peer, LIMITS, silentLogger);
    assert.equal(session.refreshAllowed("r1"), true);
    clock.tick(999);
    assert.equal(session.refreshAllowed("r2"), false);
    assert.deepEqual(JSON.parse(peer.frames[0]).payload, {
      code: "RATE_LIMIT",
      message: "At most one auth:refresh per 1 s",
      recoverable: true,
      replyTo: "r2",
    });
    clock.tick(1);
    assert.equal(session.refreshAllowed("r3"), true);
    assert.equal(peer.frames.length, 1);
    assert.equal(peer.closedWith, null);
  } finally {
    clock.uninstall();
  }
});

Deno.test("Sessions share one liveness interval per tick: 100 open sessions hold 100 auth timers and 1 interval, and the last close clears it", () => {
  const clock = FakeTimers.install({ now: 1_700_000_000_000 });
  try {
    const peers = Array.from({ length: 100 }, () => new RecordingPeer());
    const sessions = peers.map((peer) =>
      new ExpiringSession(peer, LIMITS, silentLogger)
    );
    for (const session of sessions) session.opened();
    // One authentication deadline per session, and one shared interval.
    assert.equal(clock.countTimers(), 100 + 1);
    for (const session of sessions) session.closed();
    // Closing clears the auth timers and, with the last session, the interval.
    assert.equal(clock.countTimers(), 0);
  } finally {
    clock.uninstall();
  }
});

Deno.test("The shared liveness tick closes 4408 exactly the sessions without a frame for timeoutMs and keeps checking the rest", () => {
  const clock = FakeTimers.install({ now: 1_700_000_000_000 });
  try {
    const quietPeer = new RecordingPeer();
    const busyPeer = new RecordingPeer();
    const quiet = new ExpiringSession(quietPeer, LIMITS, silentLogger);
    const busy = new ExpiringSession(busyPeer, LIMITS, silentLogger);
    quiet.opened();
    busy.opened();
    quiet.authenticateUntil(Date.now() + DAY);
    busy.authenticateUntil(Date.now() + DAY);
    // The busy one gets a frame every 500 ms (refused: ExpiringSession
    // parses nothing, but any frame counts as alive).
    for (let t = 0; t < 1000; t += 500) {
      clock.tick(500);
      busy.receive("{}", { reply: false });
    }
    clock.tick(250); // 1250 ms without a frame: over the 1000 ms timeout
    assert.equal(quietPeer.closedWith?.code, 4408);
    assert.equal(quiet.isClosed, true);
    assert.equal(busyPeer.isOpen, true);
    assert.equal(busy.isClosed, false);
    clock.tick(1250); // the busy one fell silent too: still checked
    assert.equal(busyPeer.closedWith?.code, 4408);
    assert.equal(busy.isClosed, true);
    // Both closed: no interval is left (only the expiry timers were cleared).
    assert.equal(clock.countTimers(), 0);
  } finally {
    clock.uninstall();
  }
});
