/**
 * AuthSessions while its store (a RedisKv on a real redis-server) is
 * unreachable: the rule that keeps recently checked sign-ins working, with
 * fake time (`Date` only: the Redis client keeps its real timers).
 */
import assert from "node:assert/strict";
import FakeTimers from "@sinonjs/fake-timers";
import { Auth, AuthError, type Principal } from "./auth.ts";
import {
  AuthSessions,
  type AuthSessionsOptions,
  OUTAGE_TRUST_MS,
} from "./auth_sessions.ts";
import { RedisKv } from "./redis_kv.ts";
import { connectRedis } from "./redis_storage.ts";
import { storageUnavailable } from "./errors.ts";
import { RedisServer } from "../../tests/redis_server.ts";

const SECRET = "s".repeat(32);
const OPTIONS: AuthSessionsOptions = {
  accessTtlSeconds: 900,
  sessionTtlSeconds: 7 * 86400,
  revocationCheckMs: 2000,
};
const T = 1_700_000_000_000;

function authError(message: string) {
  return (error: unknown) => {
    assert.ok(error instanceof AuthError, String(error));
    assert.equal(error.message, message);
    return true;
  };
}

function unavailable(error: unknown) {
  assert.equal(storageUnavailable(error)?.code, "STORAGE_UNAVAILABLE");
  assert.ok(!(error instanceof AuthError));
  return true;
}

interface Outage {
  auth: Auth;
  kv: RedisKv;
  clock: ReturnType<typeof FakeTimers.install>;
  redis: RedisServer;
  /** A token (its principal) with sign-in id `id`, valid for a day. */
  token(id: string, role?: "operator" | "viewer"): Promise<{
    token: string;
    principal: Principal;
  }>;
}

async function withRedis(test: (o: Outage) => Promise<void>): Promise<void> {
  const clock = FakeTimers.install({ now: T, toFake: ["Date"] });
  const redis = await RedisServer.start();
  const client = connectRedis(redis.url);
  try {
    await client.ping();
    const auth = new Auth(SECRET);
    const kv = new RedisKv(client);
    await test({
      auth,
      kv,
      clock,
      redis,
      async token(id, role = "operator") {
        const token = await auth.sign({
          role,
          sessionId: id,
          ttlSeconds: 86400,
        });
        return { token, principal: await auth.verify(token) };
      },
    });
  } finally {
    client.disconnect();
    await redis.close();
    clock.uninstall();
  }
}

Deno.test({
  name:
    "AuthSessions during a Redis outage: a sign-in read as live at most 2 × revocationCheckMs before the last good read passes for the whole outage; older or unread ones get STORAGE_UNAVAILABLE; one read as revoked stays refused",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await withRedis(async ({ auth, kv, clock, redis, token }) => {
      const here = new AuthSessions(kv, auth, OPTIONS);
      // Another server on the same store.
      const there = new AuthSessions(kv, auth, OPTIONS);
      const old = await token("old");
      const never = await token("never");
      const gone = await token("gone");
      const past = await token("past");
      const edge = await token("edge");
      const fresh = await token("fresh", "viewer");
      await here.verify(old.token);
      // The last good read will be at T + 60,000: the window starts 4 s
      // (2 × revocationCheckMs) before it.
      clock.setSystemTime(T + 55_999);
      await here.verify(past.token);
      clock.setSystemTime(T + 56_000);
      await here.verify(edge.token);
      clock.setSystemTime(T + 60_000);
      await here.verify(fresh.token);
      const session = await here.create("alice", "operator");
      await here.verify(session.token);
      await here.verify(gone.token);
      // Revoked by the other server, and read here (the last good read).
      await there.revoke(gone.principal);
      await assert.rejects(here.verify(gone.token), authError("Token revoked"));

      await redis.stop();
      // The first failed read starts the outage.
      clock.setSystemTime(T + 61_500);
      assert.equal(here.outageStart, null);
      await here.verify(fresh.token);
      assert.equal(here.outageStart, T + 61_500);
      await here.verify(edge.token);
      await here.verify(session.token);
      await assert.rejects(here.verify(past.token), unavailable);
      await assert.rejects(here.verify(old.token), unavailable);
      await assert.rejects(here.verify(never.token), unavailable);
      await assert.rejects(here.verify(gone.token), authError("Token revoked"));
      // Renewing and revoking are writes: they fail, and change nothing.
      await assert.rejects(here.refresh(session.principal), unavailable);
      await assert.rejects(here.revoke(fresh.principal), unavailable);
      // The window stays where the last good read put it, for at most
      // OUTAGE_TRUST_MS after that read (a partition: other servers may
      // revoke meanwhile); past it nothing is accepted without the store.
      clock.setSystemTime(T + 60_000 + OUTAGE_TRUST_MS);
      await here.verify(fresh.token);
      await here.check(edge.principal);
      await here.check(session.principal);
      assert.equal(here.outageStart, T + 61_500);
      clock.setSystemTime(T + 60_000 + OUTAGE_TRUST_MS + 1);
      await assert.rejects(here.verify(fresh.token), unavailable);
      await assert.rejects(here.check(edge.principal), unavailable);
      await assert.rejects(here.check(session.principal), unavailable);
      await assert.rejects(here.verify(gone.token), authError("Token revoked"));
      // Another server did not see the outage: nothing changes there.
      assert.equal(there.outageStart, null);

      // Redis is back: the next read succeeds and ends the outage.
      await redis.restart();
      for (;;) {
        try {
          await here.verify(never.token);
          break;
        } catch (error) {
          if (!storageUnavailable(error)) throw error;
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      }
      assert.equal(here.outageStart, null);
    });
  },
});

Deno.test({
  name:
    "AuthSessions.closeRevoked() keeps tracked and recently used sign-ins fresh for an outage, not idle ones; the check cache is bounded (least recently written forgotten)",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await withRedis(async ({ auth, kv, clock, redis, token }) => {
      const here = new AuthSessions(kv, auth, {
        ...OPTIONS,
        recentUseMs: 300_000,
      });
      const small = new AuthSessions(kv, auth, {
        ...OPTIONS,
        checkCacheSize: 2,
      });
      const idle = await token("idle");
      const scraper = await token("scraper", "viewer");
      const socket = await token("socket");
      await here.verify(idle.token);
      await here.verify(socket.token);
      here.track("socket", () => {}, "token");
      // A scraper checked 200 s later (within recentUseMs of the sweep).
      clock.setSystemTime(T + 200_000);
      await here.verify(scraper.token);
      // The periodic sweep, 400 s after the first checks.
      clock.setSystemTime(T + 400_000);
      assert.equal(await here.closeRevoked(), 0);
      // The small cache keeps the last two of three.
      for (const { token } of [idle, scraper, socket]) {
        await small.verify(token);
      }

      await redis.stop();
      clock.setSystemTime(T + 401_000);
      await here.verify(scraper.token);
      await here.verify(socket.token);
      await assert.rejects(here.verify(idle.token), unavailable);
      // The sweep fails too, and closes nothing.
      await assert.rejects(here.closeRevoked(), unavailable);
      assert.equal(here.trackedSessions, 1);
      await assert.rejects(small.verify(idle.token), unavailable);
      await small.verify(scraper.token);
      await small.verify(socket.token);
    });
  },
});

Deno.test({
  name:
    "AuthSessions during a Redis outage: a session renewed before it is accepted until its new token expires",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await withRedis(async ({ auth, kv, clock, redis }) => {
      const here = new AuthSessions(kv, auth, OPTIONS);
      const session = await here.create("alice", "operator");
      await here.verify(session.token);
      clock.setSystemTime(T + 800_000);
      const renewed = await here.refresh(session.principal);
      assert.ok(renewed.expiresAt > session.expiresAt + 700_000);

      await redis.stop();
      // Past the first token's expiry, before the second's.
      clock.setSystemTime(session.expiresAt + 1000);
      await here.check(renewed.principal);
      clock.setSystemTime(renewed.expiresAt);
      await assert.rejects(here.check(renewed.principal), unavailable);
    });
  },
});
