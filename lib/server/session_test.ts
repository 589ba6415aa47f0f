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
