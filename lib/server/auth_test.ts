import assert from "node:assert/strict";
import FakeTimers from "@sinonjs/fake-timers";
import { SignJWT } from "jose";
import type { Role } from "../protocol.ts";
import { type KvLike, RedisKv } from "./redis_kv.ts";
import { connectRedis } from "./redis_storage.ts";
import { RedisServer } from "../../tests/redis_server.ts";
import {
  Auth,
  AuthError,
  formatTtl,
  LoginCodes,
  parseTtl,
  requestToken,
  roleAllows,
  safeRedirectPath,
  sameSignIn,
  SESSION_COOKIE,
  sessionCookie,
} from "./auth.ts";

const SECRET = "s".repeat(32);

function authError(message: string) {
  return (error: unknown) => {
    assert.ok(error instanceof AuthError);
    assert.equal(error.name, "AuthError");
    assert.equal(error.message, message);
    return true;
  };
}

Deno.test("Auth.sign() and verify() round-trip role and subject", async () => {
  const auth = new Auth(SECRET);
  const before = Date.now();
  const token = await auth.sign({ role: "operator", subject: "alice" });
  const principal = await auth.verify(token);
  assert.equal(principal.id, "alice");
  assert.equal(principal.role, "operator");
  assert.equal(principal.agentId, undefined);
  assert.ok(principal.expiresAt >= Math.floor(before / 1000) * 1000 + 3600_000);
  assert.ok(principal.expiresAt <= Date.now() + 3600_000);
});

Deno.test("Auth.sign() and verify() round-trip an agent token with agentId", async () => {
  const auth = new Auth(SECRET);
  const token = await auth.sign({
    role: "agent",
    agentId: "a-12",
    ttlSeconds: 60,
  });
  const principal = await auth.verify(token);
  assert.equal(principal.expiresAt - principal.issuedAt, 60_000);
  assert.match(principal.sessionId, /^[0-9a-f-]{36}$/);
  assert.deepEqual(
    {
      ...principal,
      expiresAt: undefined,
      issuedAt: undefined,
      sessionId: undefined,
    },
    {
      id: "agent:a-12",
      role: "agent",
      agentId: "a-12",
      expiresAt: undefined,
      issuedAt: undefined,
      sessionId: undefined,
      kind: "token",
    },
  );
});

Deno.test("Auth.sign() defaults the subject to the role name", async () => {
  const auth = new Auth(SECRET);
  const principal = await auth.verify(await auth.sign({ role: "viewer" }));
  assert.equal(principal.id, "viewer");
});

Deno.test('Auth.verify() throws AuthError "Token expired" after the ttl', async () => {
  const clock = FakeTimers.install({
    now: 1_700_000_000_000,
    toFake: ["Date"],
  });
  try {
    const auth = new Auth(SECRET);
    const token = await auth.sign({ role: "admin", ttlSeconds: 1 });
    assert.equal(
      (await auth.verify(token)).expiresAt,
      1_700_000_001_000,
    );
    clock.tick(1_001);
    await assert.rejects(auth.verify(token), authError("Token expired"));
  } finally {
    clock.uninstall();
  }
});

Deno.test("Auth.verify() throws AuthError for a token signed with another secret", async () => {
  const token = await new Auth("x".repeat(32)).sign({ role: "admin" });
  await assert.rejects(
    new Auth(SECRET).verify(token),
    authError("Invalid token"),
  );
});

Deno.test("Auth.verify() throws AuthError for a missing or malformed token", async () => {
  const auth = new Auth(SECRET);
  await assert.rejects(auth.verify(null), authError("Missing token"));
  await assert.rejects(auth.verify(undefined), authError("Missing token"));
  await assert.rejects(auth.verify(""), authError("Missing token"));
  await assert.rejects(auth.verify("not.a.jwt"), authError("Invalid token"));
});

Deno.test("Auth.verify() refuses an agent token without agentId", async () => {
  const key = new TextEncoder().encode(SECRET);
  const token = await new SignJWT({ role: "agent" })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setIssuer("flightdeck")
    .setSubject("agent:x")
    .setIssuedAt()
    .setExpirationTime("1h")
    .sign(key);
  await assert.rejects(
    new Auth(SECRET).verify(token),
    authError("Agent token without agentId"),
  );
});

Deno.test("Auth.verify() refuses an unknown role or a foreign issuer", async () => {
  const key = new TextEncoder().encode(SECRET);
  const sign = (role: string, issuer: string) =>
    new SignJWT({ role })
      .setProtectedHeader({ alg: "HS256" })
      .setIssuer(issuer)
      .setSubject("someone")
      .setExpirationTime("1h")
      .sign(key);
  const auth = new Auth(SECRET);
  await assert.rejects(
    auth.verify(await sign("root", "flightdeck")),
    authError("Invalid token claims"),
  );
  await assert.rejects(
    auth.verify(await sign("admin", "elsewhere")),
    authError("Invalid token"),
  );
});

Deno.test("Auth.sign() throws TypeError for the agent role without agentId", async () => {
  await assert.rejects(
    new Auth(SECRET).sign({ role: "agent" }),
    TypeError,
  );
});

Deno.test("Auth constructor throws RangeError for a short secret", () => {
  assert.throws(() => new Auth("s".repeat(31)), RangeError);
});

Deno.test("requestToken() reads a Bearer header", () => {
  const req = new Request("http://localhost/", {
    headers: { authorization: "Bearer abc.def.ghi " },
  });
  assert.equal(requestToken(req), "abc.def.ghi");
  const lower = new Request("http://localhost/", {
    headers: { authorization: "bearer xyz" },
  });
  assert.equal(requestToken(lower), "xyz");
});

Deno.test("requestToken() reads the session cookie", () => {
  const req = new Request("http://localhost/", {
    headers: { cookie: `theme=dark; ${SESSION_COOKIE}=a%2Eb=c; other=1` },
  });
  assert.equal(requestToken(req), "a.b=c");
});

Deno.test("requestToken() prefers the Bearer header over the cookie", () => {
  const req = new Request("http://localhost/", {
    headers: {
      authorization: "Bearer from-header",
      cookie: `${SESSION_COOKIE}=from-cookie`,
    },
  });
  assert.equal(requestToken(req), "from-header");
});

Deno.test("requestToken() returns null without a token", () => {
  assert.equal(requestToken(new Request("http://localhost/")), null);
  const basic = new Request("http://localhost/?token=abc", {
    headers: { authorization: "Basic abc", cookie: "other=1" },
  });
  assert.equal(requestToken(basic), null);
});

Deno.test("sessionCookie() is HttpOnly and SameSite=Strict", () => {
  assert.equal(
    sessionCookie("t", 60, false),
    `${SESSION_COOKIE}=t; Path=/; HttpOnly; SameSite=Strict; Max-Age=60`,
  );
  assert.ok(sessionCookie("t", 60, true).endsWith("; Secure"));
});

Deno.test("roleAllows() ranks viewer < operator < admin and keeps agent apart", () => {
  const roles: Role[] = ["viewer", "operator", "admin", "agent"];
  const table = Object.fromEntries(
    roles.map((role) => [
      role,
      roles.filter((required) => roleAllows(role, required)),
    ]),
  );
  assert.deepEqual(table, {
    viewer: ["viewer"],
    operator: ["viewer", "operator"],
    admin: ["viewer", "operator", "admin"],
    agent: ["agent"],
  });
});

Deno.test("parseTtl() parses seconds, minutes, hours and days", () => {
  assert.equal(parseTtl("90"), 90);
  assert.equal(parseTtl("90s"), 90);
  assert.equal(parseTtl("15m"), 900);
  assert.equal(parseTtl("1h"), 3600);
  assert.equal(parseTtl("7d"), 604800);
  assert.equal(parseTtl(" 2 h "), 7200);
});

Deno.test("parseTtl() throws for invalid or non-positive durations", () => {
  for (const text of ["", "abc", "1w", "-5m", "1.5h", "h"]) {
    assert.throws(() => parseTtl(text), {
      name: "TypeError",
      message: `Invalid duration "${text}"`,
    });
  }
  assert.throws(() => parseTtl("0"), RangeError);
  assert.throws(() => parseTtl("0d"), RangeError);
});

Deno.test("safeRedirectPath() keeps same-site paths and refuses every other target", () => {
  assert.equal(safeRedirectPath("/agents/a-1?x=1#t"), "/agents/a-1?x=1#t");
  for (
    const bad of [
      null,
      "",
      "https://evil.example/",
      "//evil.example",
      "/\\evil.example",
      "/\t/evil.example",
      "javascript:alert(1)",
    ]
  ) {
    assert.equal(safeRedirectPath(bad), "/", JSON.stringify(bad));
  }
});

Deno.test("Auth.sign() refuses a lifetime over the maximum with a clear RangeError", async () => {
  const auth = new Auth(SECRET, { maxTtlSeconds: 90 * 86400 });
  await assert.rejects(
    auth.sign({ role: "viewer", ttlSeconds: 91 * 86400 }),
    (error: unknown) => {
      assert.ok(error instanceof RangeError);
      assert.equal(
        error.message,
        'Token lifetime "91d" is over the maximum of 90d',
      );
      return true;
    },
  );
  const principal = await auth.verify(
    await auth.sign({ role: "viewer", ttlSeconds: 90 * 86400 }),
  );
  assert.equal(principal.expiresAt - principal.issuedAt, 90 * 86400_000);
});

Deno.test("Auth.verify() refuses a token living longer than its maximum", async () => {
  const generous = new Auth(SECRET, { maxTtlSeconds: 365 * 86400 });
  const token = await generous.sign({ role: "admin", ttlSeconds: 100 * 86400 });
  await assert.rejects(
    new Auth(SECRET, { maxTtlSeconds: 90 * 86400 }).verify(token),
    authError("Token lifetime is over the maximum of 90d"),
  );
});

Deno.test("Auth.sign() names the sign-in with jti: random, or the given session id", async () => {
  const auth = new Auth(SECRET);
  const a = await auth.verify(await auth.sign({ role: "viewer" }));
  const b = await auth.verify(await auth.sign({ role: "viewer" }));
  assert.notEqual(a.sessionId, b.sessionId);
  assert.equal(a.kind, "token");
  const session = await auth.verify(
    await auth.sign({ role: "viewer", sessionId: "s-1", kind: "session" }),
  );
  assert.equal(session.sessionId, "s-1");
  assert.equal(session.kind, "session");
});

Deno.test("Auth.verify() names a token without jti by its signature", async () => {
  const token = await new SignJWT({ role: "viewer" })
    .setProtectedHeader({ alg: "HS256" })
    .setIssuer("flightdeck")
    .setSubject("old")
    .setIssuedAt()
    .setExpirationTime("1h")
    .sign(new TextEncoder().encode(SECRET));
  const principal = await new Auth(SECRET).verify(token);
  assert.equal(principal.sessionId, `sig:${token.split(".")[2]}`);
});

Deno.test("Auth.verify() with allowExpired accepts an expired token, never a forged one", async () => {
  const clock = FakeTimers.install({
    now: 1_700_000_000_000,
    toFake: ["Date"],
  });
  try {
    const auth = new Auth(SECRET);
    const token = await auth.sign({ role: "viewer", ttlSeconds: 1 });
    clock.tick(5000);
    await assert.rejects(auth.verify(token), authError("Token expired"));
    const principal = await auth.verify(token, { allowExpired: true });
    assert.equal(principal.expiresAt, 1_700_000_001_000);
    await assert.rejects(
      new Auth("x".repeat(32)).verify(token, { allowExpired: true }),
      authError("Invalid token"),
    );
  } finally {
    clock.uninstall();
  }
});

Deno.test("sameSignIn() needs the same subject, role and sign-in id", async () => {
  const auth = new Auth(SECRET);
  const operator = await auth.verify(
    await auth.sign({ role: "operator", subject: "alice", sessionId: "s-1" }),
  );
  const viewer = await auth.verify(
    await auth.sign({ role: "viewer", subject: "alice", sessionId: "s-1" }),
  );
  const other = await auth.verify(
    await auth.sign({ role: "operator", subject: "alice" }),
  );
  const renewed = await auth.verify(
    await auth.sign({
      role: "operator",
      subject: "alice",
      sessionId: "s-1",
      ttlSeconds: 60,
    }),
  );
  assert.equal(sameSignIn(operator, renewed), true);
  assert.equal(sameSignIn(operator, viewer), false);
  assert.equal(sameSignIn(operator, other), false);
});

Deno.test("formatTtl() uses the largest whole unit", () => {
  assert.equal(formatTtl(90 * 86400), "90d");
  assert.equal(formatTtl(36 * 3600), "36h");
  assert.equal(formatTtl(900), "15m");
  assert.equal(formatTtl(61), "61s");
});

/**
 * The LoginCodes tests, on this process's memory and on a shared store
 * (cluster mode: a RedisKv on a real Redis).
 */
const CODE_STORES: [
  string,
  () => Promise<[KvLike | null, () => Promise<void>]>,
][] = [
  ["memory", () => Promise.resolve([null, () => Promise.resolve()])],
  ["Redis", async () => {
    const server = await RedisServer.start();
    const client = connectRedis(server.url);
    return [new RedisKv(client), async () => {
      client.disconnect();
      await server.close();
    }];
  }],
];

for (const [where, open] of CODE_STORES) {
  Deno.test(`LoginCodes.redeem() works once (${where})`, async () => {
    const [store, close] = await open();
    try {
      const codes = new LoginCodes("admin", store);
      const code = codes.create("operator");
      assert.match(code, /^[0-9a-f]{48}$/);
      assert.equal(await codes.redeem(code), "operator");
      assert.equal(await codes.redeem(code), null);
      assert.equal(await codes.redeem("unknown"), null);
      assert.equal(await codes.redeem(""), null);
      assert.equal(await codes.redeem("x".repeat(100_000)), null);
      assert.equal(await codes.redeem(codes.create()), "admin");
    } finally {
      await close();
    }
  });

  Deno.test(`LoginCodes.redeem() refuses an expired code (${where})`, async () => {
    const [store, close] = await open();
    const clock = FakeTimers.install({ now: 0, toFake: ["Date"] });
    try {
      const codes = new LoginCodes("admin", store);
      const fresh = codes.create("viewer", 1_000);
      const stale = codes.create("viewer", 1_000);
      await codes.written();
      clock.tick(1_000);
      assert.equal(await codes.redeem(fresh), "viewer");
      clock.tick(1);
      assert.equal(await codes.redeem(stale), null);
    } finally {
      clock.uninstall();
      await close();
    }
  });

  Deno.test(`LoginCodes.redeemUser() gives the code's named user (default: the admin's name) and its parent token, once (${where})`, async () => {
    const [store, close] = await open();
    try {
      const codes = new LoginCodes("alice", store);
      const admin = codes.create();
      assert.deepEqual(await codes.redeemUser(admin), {
        role: "admin",
        user: "alice",
      });
      assert.equal(await codes.redeemUser(admin), null);
      const parent = { id: "jti-1", endsAt: 123 };
      const dave = codes.create("operator", 60_000, "dave", parent);
      assert.deepEqual(await codes.redeemUser(dave), {
        role: "operator",
        user: "dave",
        parent,
      });
      assert.equal(new LoginCodes().defaultUser, "admin");
    } finally {
      await close();
    }
  });
}

Deno.test("LoginCodes on a shared store: a code made by one server is redeemed through another once, of many racing; the store never holds the code", async () => {
  const server = await RedisServer.start();
  const clients = Array.from({ length: 3 }, () => connectRedis(server.url));
  try {
    const [a, ...others] = clients.map((c) =>
      new LoginCodes("admin", new RedisKv(c))
    );
    const code = a.create("operator", 60_000, "bob");
    await a.written();
    const keys = await clients[0].keys("*");
    assert.ok(keys.every((key) => !key.includes(code)), keys.join());
    for (const key of keys) {
      const type = await clients[0].type(key);
      if (type === "hash") {
        assert.ok(
          !JSON.stringify(await clients[0].hgetall(key)).includes(code),
        );
      }
    }
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => others[i % 2].redeemUser(code)),
    );
    assert.deepEqual(results.filter((r) => r !== null), [
      { role: "operator", user: "bob" },
    ]);
    assert.equal(await a.redeemUser(code), null);
  } finally {
    for (const c of clients) c.disconnect();
    await server.close();
  }
});
