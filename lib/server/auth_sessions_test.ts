import assert from "node:assert/strict";
import FakeTimers from "@sinonjs/fake-timers";
import { Auth, AuthError } from "./auth.ts";
import { AuthSessions } from "./auth_sessions.ts";
import { type KvLike, RedisKv } from "./redis_kv.ts";
import { connectRedis } from "./redis_storage.ts";
import { RedisServer } from "../../tests/redis_server.ts";

const SECRET = "s".repeat(32);
const OPTIONS = { accessTtlSeconds: 900, sessionTtlSeconds: 7 * 86400 };

function authError(message: string) {
  return (error: unknown) => {
    assert.ok(error instanceof AuthError, String(error));
    assert.equal(error.message, message);
    return true;
  };
}

/**
 * Run `test` on Deno KV, then on the shared store of cluster mode (a
 * RedisKv on a real Redis); a failure names the store.
 */
async function withSessions(
  test: (sessions: AuthSessions, auth: Auth, kv: KvLike) => Promise<void>,
): Promise<void> {
  const kv = await Deno.openKv(":memory:");
  try {
    const auth = new Auth(SECRET);
    await test(new AuthSessions(kv, auth, OPTIONS), auth, kv);
  } finally {
    kv.close();
  }
  const server = await RedisServer.start();
  const client = connectRedis(server.url);
  try {
    const shared = new RedisKv(client);
    const auth = new Auth(SECRET);
    await test(new AuthSessions(shared, auth, OPTIONS), auth, shared);
  } catch (error) {
    if (error instanceof Error) error.message = `On Redis: ${error.message}`;
    throw error;
  } finally {
    client.disconnect();
    await server.close();
  }
}

Deno.test("AuthSessions.create() signs a short session token that verify() accepts", async () => {
  await withSessions(async (sessions) => {
    const before = Math.floor(Date.now() / 1000) * 1000;
    const issued = await sessions.create("alice", "operator");
    const principal = await sessions.verify(issued.token);
    assert.equal(principal.id, "alice");
    assert.equal(principal.role, "operator");
    assert.equal(principal.kind, "session");
    assert.equal(principal.expiresAt, issued.expiresAt);
    assert.ok(issued.expiresAt >= before + 900_000);
    assert.ok(issued.expiresAt <= Date.now() + 900_000);
  });
});

Deno.test("AuthSessions.create() ends a pasted token's session when the token expires", async () => {
  await withSessions(async (sessions) => {
    const endsAt = Date.now() + 60_000;
    const issued = await sessions.create("bob", "viewer", endsAt);
    assert.ok(issued.expiresAt <= endsAt);
    assert.ok(issued.expiresAt >= endsAt - 2000);
  });
});

Deno.test("AuthSessions.refresh() renews a session in place: same id, later expiry, up to its end", async () => {
  const clock = FakeTimers.install({
    now: 1_700_000_000_000,
    toFake: ["Date"],
  });
  try {
    await withSessions(async (sessions) => {
      // Each store starts at the same time.
      clock.setSystemTime(1_700_000_000_000);
      const first = await sessions.create("alice", "admin");
      assert.equal(first.expiresAt, 1_700_000_900_000);
      clock.tick(600_000);
      const renewed = await sessions.refresh(first.principal);
      assert.equal(renewed.expiresAt, 1_700_001_500_000);
      assert.equal(renewed.principal.sessionId, first.principal.sessionId);
      assert.ok(renewed.token);
      // The old token still verifies until its own expiry, then not.
      await sessions.verify(first.token);
      clock.tick(300_000);
      await assert.rejects(sessions.verify(first.token), AuthError);
      await sessions.verify(renewed.token!);
      // Past the token's expiry without renewal the session has ended.
      clock.tick(600_000);
      await assert.rejects(
        sessions.refresh(renewed.principal),
        authError("Session ended"),
      );
    });
  } finally {
    clock.uninstall();
  }
});

Deno.test("AuthSessions.refresh() never renews a session past its end", async () => {
  const clock = FakeTimers.install({
    now: 1_700_000_000_000,
    toFake: ["Date"],
  });
  try {
    await withSessions(async (sessions) => {
      // Each store starts at the same time.
      clock.setSystemTime(1_700_000_000_000);
      let issued = await sessions.create(
        "alice",
        "admin",
        Date.now() + 1500_000,
      );
      clock.tick(800_000);
      const renewed = await sessions.refresh(issued.principal);
      assert.equal(renewed.expiresAt, 1_700_001_500_000);
      issued = { ...issued, principal: renewed.principal };
      clock.tick(700_000);
      await assert.rejects(sessions.refresh(issued.principal), AuthError);
    });
  } finally {
    clock.uninstall();
  }
});

Deno.test("AuthSessions.revoke() refuses the session's tokens and closes its tracked connections at once", async () => {
  await withSessions(async (sessions) => {
    const issued = await sessions.create("alice", "operator");
    const renewed = await sessions.refresh(issued.principal);
    const other = await sessions.create("alice", "operator");
    const closed: string[] = [];
    sessions.track(issued.principal.sessionId, (r) => closed.push(`a:${r}`));
    sessions.track(issued.principal.sessionId, (r) => closed.push(`b:${r}`));
    const untrack = sessions.track(
      issued.principal.sessionId,
      (r) => closed.push(`c:${r}`),
    );
    sessions.track(other.principal.sessionId, (r) => closed.push(`o:${r}`));
    untrack();
    await sessions.revoke(issued.principal, "Signed out");
    assert.deepEqual(closed, ["a:Signed out", "b:Signed out"]);
    await assert.rejects(
      sessions.verify(issued.token),
      authError("Token revoked"),
    );
    await assert.rejects(
      sessions.verify(renewed.token!),
      authError("Token revoked"),
    );
    await assert.rejects(sessions.refresh(issued.principal), AuthError);
    await sessions.verify(other.token);
    assert.equal(sessions.trackedSessions, 1);
  });
});

Deno.test("AuthSessions.revoke() of a plain token refuses it; other tokens of the subject still work", async () => {
  await withSessions(async (sessions, auth) => {
    const token = await auth.sign({ role: "viewer", subject: "ci" });
    const sibling = await auth.sign({ role: "viewer", subject: "ci" });
    await sessions.revoke(await auth.verify(token));
    await assert.rejects(sessions.verify(token), authError("Token revoked"));
    await sessions.verify(sibling);
  });
});

Deno.test("AuthSessions: a revocation survives a restart (same KV)", async () => {
  const path = await Deno.makeTempFile({ suffix: ".kv" });
  try {
    const auth = new Auth(SECRET);
    const token = await auth.sign({ role: "agent", agentId: "a-1" });
    let kv = await Deno.openKv(path);
    await new AuthSessions(kv, auth, OPTIONS).revoke(await auth.verify(token));
    kv.close();
    kv = await Deno.openKv(path);
    try {
      await assert.rejects(
        new AuthSessions(kv, auth, OPTIONS).verify(token),
        authError("Token revoked"),
      );
    } finally {
      kv.close();
    }
  } finally {
    await Deno.remove(path).catch(() => {});
  }
});

Deno.test("AuthSessions.refresh() gives an agent a new token of the same sign-in and lifetime", async () => {
  const clock = FakeTimers.install({
    now: 1_700_000_000_000,
    toFake: ["Date"],
  });
  try {
    await withSessions(async (sessions, auth) => {
      // Each store starts at the same time.
      clock.setSystemTime(1_700_000_000_000);
      const token = await auth.sign({
        role: "agent",
        agentId: "a-1",
        ttlSeconds: 3600,
      });
      const principal = await auth.verify(token);
      clock.tick(1800_000);
      const refreshed = await sessions.refresh(principal);
      assert.ok(refreshed.token);
      assert.equal(refreshed.expiresAt, 1_700_005_400_000);
      const next = await sessions.verify(refreshed.token);
      assert.equal(next.sessionId, principal.sessionId);
      assert.equal(next.agentId, "a-1");
      assert.equal(next.id, "agent:a-1");
      // Revoking the original sign-in refuses the refreshed token too.
      await sessions.revoke(principal);
      await assert.rejects(
        sessions.verify(refreshed.token),
        authError("Token revoked"),
      );
      await assert.rejects(sessions.refresh(next), authError("Token revoked"));
    });
  } finally {
    clock.uninstall();
  }
});

Deno.test("AuthSessions.refresh() of a plain dashboard token keeps its expiry and signs nothing", async () => {
  await withSessions(async (sessions, auth) => {
    const principal = await auth.verify(await auth.sign({ role: "viewer" }));
    const refreshed = await sessions.refresh(principal);
    assert.equal(refreshed.token, undefined);
    assert.equal(refreshed.expiresAt, principal.expiresAt);
  });
});

async function keysUnder(kv: KvLike, prefix: Deno.KvKey): Promise<number> {
  let count = 0;
  for await (const _ of kv.list({ prefix })) count++;
  return count;
}

Deno.test("AuthSessions.revoke() of a pasted token refuses the sessions started from it, deletes them and closes their connections; renewal and new sessions from it are refused", async () => {
  await withSessions(async (sessions, auth, kv) => {
    const pasted = await auth.verify(
      await auth.sign({ role: "operator", subject: "alice" }),
    );
    const other = await auth.verify(
      await auth.sign({ role: "operator", subject: "alice" }),
    );
    const child = await sessions.create(
      "alice",
      "operator",
      pasted.expiresAt,
      pasted.sessionId,
    );
    const renewed = await sessions.refresh(child.principal);
    const sibling = await sessions.create(
      "alice",
      "operator",
      other.expiresAt,
      other.sessionId,
    );
    const closed: string[] = [];
    sessions.track(child.principal.sessionId, (r) => closed.push(`c:${r}`));
    sessions.track(sibling.principal.sessionId, (r) => closed.push(`s:${r}`));
    await sessions.revoke(pasted, "Signed out");
    assert.deepEqual(closed, ["c:Signed out"]);
    for (const token of [child.token, renewed.token!]) {
      await assert.rejects(sessions.verify(token), AuthError);
    }
    await assert.rejects(sessions.refresh(renewed.principal), AuthError);
    await assert.rejects(
      sessions.create("alice", "operator", pasted.expiresAt, pasted.sessionId),
      authError("Token revoked"),
    );
    await sessions.verify(sibling.token);
    // Only the sibling's record and index entry are left (and the mark).
    assert.equal(await keysUnder(kv, ["auth", "session"]), 1);
    assert.equal(await keysUnder(kv, ["auth", "children"]), 1);
  });
});

Deno.test("AuthSessions: a session is refused once its parent is revoked, even with its record still there", async () => {
  await withSessions(async (sessions, auth, kv) => {
    const pasted = await auth.verify(await auth.sign({ role: "viewer" }));
    const child = await sessions.create(
      "viewer",
      "viewer",
      pasted.expiresAt,
      pasted.sessionId,
    );
    // The mark alone (as after a crash before the children were deleted).
    await kv.set(["auth", "revoked", pasted.sessionId], { revokedAt: 1 });
    await assert.rejects(
      sessions.verify(child.token),
      authError("Token revoked"),
    );
    await assert.rejects(
      sessions.refresh(child.principal),
      authError("Token revoked"),
    );
  });
});

Deno.test("AuthSessions.create() keeps at most maxSessionsPerParent sessions of one pasted token: 100 sign-ins leave 20 records and index entries and no marks; the evicted ones are refused and closed, and cannot be renewed back", async () => {
  await withSessions(async (sessions, auth, kv) => {
    const pasted = await auth.verify(await auth.sign({ role: "viewer" }));
    const issued = [];
    const closed: string[] = [];
    for (let i = 0; i < 100; i++) {
      const next = await sessions.create(
        "viewer",
        "viewer",
        pasted.expiresAt,
        pasted.sessionId,
      );
      sessions.track(next.principal.sessionId, (r) => closed.push(`${i}:${r}`));
      issued.push(next);
    }
    assert.equal(await keysUnder(kv, ["auth", "session"]), 20);
    assert.equal(await keysUnder(kv, ["auth", "children"]), 20);
    assert.equal(await keysUnder(kv, ["auth", "revoked"]), 0);
    // The oldest first, each as soon as it is one too many.
    assert.deepEqual(
      closed,
      Array.from({ length: 80 }, (_, i) => `${i}:Session ended`),
    );
    await assert.rejects(
      sessions.verify(issued[79].token),
      authError("Session ended"),
    );
    await assert.rejects(sessions.refresh(issued[79].principal), AuthError);
    await sessions.verify(issued[80].token);
    assert.equal(await keysUnder(kv, ["auth", "session"]), 20);
  });
});

Deno.test("AuthSessions: sessions from a sign-in code have no parent and no cap", async () => {
  await withSessions(async (sessions, _auth, kv) => {
    for (let i = 0; i < 25; i++) await sessions.create("admin", "admin");
    assert.equal(await keysUnder(kv, ["auth", "session"]), 25);
    assert.equal(await keysUnder(kv, ["auth", "children"]), 0);
  });
});

Deno.test("AuthSessions.refresh() of one session from several tabs at once renews it for each of them", async () => {
  await withSessions(async (sessions, auth) => {
    const pasted = await auth.verify(await auth.sign({ role: "viewer" }));
    for (const parentId of [undefined, pasted.sessionId]) {
      const issued = await sessions.create(
        "viewer",
        "viewer",
        pasted.expiresAt,
        parentId,
      );
      const renewed = await Promise.all(
        Array.from({ length: 5 }, () => sessions.refresh(issued.principal)),
      );
      for (const { token } of renewed) await sessions.verify(token);
    }
  });
});

Deno.test("AuthSessions.closeRevoked() closes connections another server revoked or ended: tokens, sessions, sessions of a revoked token", async () => {
  await withSessions(async (here, auth, kv) => {
    // Another server on the same store.
    const there = new AuthSessions(kv, auth, OPTIONS);
    const pasted = await auth.verify(
      await auth.sign({ role: "operator", sessionId: "pasted-1" }),
    );
    const child = await here.create(
      "alice",
      "operator",
      pasted.expiresAt,
      "pasted-1",
    );
    const own = await here.create("bob", "viewer");
    const agent = await auth.verify(
      await auth.sign({ role: "agent", agentId: "a1", sessionId: "agent-1" }),
    );
    const kept = await here.create("carol", "viewer");
    const closed: string[] = [];
    here.track("pasted-1", (r) => closed.push(`pasted:${r}`));
    here.track(
      child.principal.sessionId,
      (r) => closed.push(`child:${r}`),
      "session",
    );
    here.track(
      own.principal.sessionId,
      (r) => closed.push(`own:${r}`),
      "session",
    );
    here.track("agent-1", (r) => closed.push(`agent:${r}`));
    here.track(
      kept.principal.sessionId,
      (r) => closed.push(`kept:${r}`),
      "session",
    );
    assert.equal(await here.closeRevoked(2), 0);
    assert.equal(closed.length, 0);
    // Revoked there: closes nothing here by itself.
    await there.revoke(pasted);
    await there.revoke(own.principal);
    await there.revoke(agent);
    assert.equal(closed.length, 0);
    assert.equal(here.trackedSessions, 5);
    assert.equal(await here.closeRevoked(2), 4);
    assert.deepEqual(closed.sort(), [
      "agent:Token revoked",
      "child:Session ended",
      "own:Token revoked",
      "pasted:Token revoked",
    ]);
    assert.equal(here.trackedSessions, 1);
    assert.equal(await here.closeRevoked(), 0);
    // A session whose record is still there but whose token was revoked.
    const dan = await here.create(
      "dan",
      "operator",
      Number.POSITIVE_INFINITY,
      "pasted-2",
    );
    here.track(
      dan.principal.sessionId,
      (r) => closed.push(`dan:${r}`),
      "session",
    );
    await kv.set(["auth", "revoked", "pasted-2"], { revokedAt: 1 });
    assert.equal(await here.closeRevoked(), 1);
    assert.equal(closed.at(-1), "dan:Token revoked");
    assert.equal(here.trackedSessions, 1);
  });
});
