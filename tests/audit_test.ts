/**
 * The audit trail through a real server: named users act over real sockets
 * against a real agent process, and `GET /api/audit` returns exactly what
 * they did, with filters, paging, export and its refusals.
 */
import assert from "node:assert/strict";
import type { Role } from "../lib/protocol.ts";
import type { AuditEntry } from "../lib/server/audit.ts";
import {
  AgentProcess,
  queueCommand,
  RawAgent,
  rawOf,
  requestCommand,
  startTestServer,
  TestClient,
  type TestServer,
  waitAgentStatus,
  waitFinal,
  waitStatus,
} from "./helpers.ts";

async function userDashboard(
  server: TestServer,
  role: Role,
  user: string,
): Promise<{ client: TestClient; token: string; connectionId: string }> {
  const token = await server.services.auth.sign({ role, subject: user });
  const client = new TestClient(`${server.wsUrl}/ws/dashboard`, {
    authorization: `Bearer ${token}`,
  });
  await client.opened();
  await client.waitFor((m) => m.type === "agent:list");
  const ack = rawOf(client, "connection:ack")[0];
  return { client, token, connectionId: ack.payload.connectionId };
}

async function getAudit(
  server: TestServer,
  token: string,
  query = "",
): Promise<Response> {
  return await fetch(`${server.url}/api/audit${query ? `?${query}` : ""}`, {
    headers: { authorization: `Bearer ${token}` },
  });
}

async function listAudit(
  server: TestServer,
  token: string,
  query = "",
): Promise<{ entries: AuditEntry[]; cursor: string | null }> {
  const response = await getAudit(server, token, query);
  assert.equal(response.status, 200, await response.clone().text());
  return await response.json();
}

/** The fields the test states exactly (id and time are checked apart). */
function shape(e: AuditEntry) {
  return {
    actor: e.actor,
    role: e.role,
    address: e.address,
    connectionId: e.connectionId,
    action: e.action,
    target: e.target,
    outcome: e.outcome,
    detail: e.detail,
  };
}

Deno.test("GET /api/audit returns exactly what named users did, filtered, paged and exported; a viewer gets 403", async () => {
  await using server = await startTestServer();
  const alice = await userDashboard(server, "operator", "alice");
  const bob = await userDashboard(server, "operator", "bob");
  const carol = await userDashboard(server, "admin", "carol");
  const vic = await userDashboard(server, "viewer", "vic");
  const agent = await AgentProcess.start(server, "a1");
  try {
    await waitAgentStatus(alice.client, "a1", "online");
    const c1 = await queueCommand(alice.client, {
      agentId: "a1",
      command: "sleep 60",
    });
    await waitStatus(alice.client, c1, "running");
    const c2 = await queueCommand(bob.client, {
      agentId: "a1",
      command: "echo queued",
    });
    bob.client.send("command:interrupt", { commandId: c2, reason: "not now" });
    await waitFinal(bob.client, c2);
    bob.client.send("command:interrupt", { commandId: c1, reason: "stuck" });
    await waitFinal(bob.client, c1);
    const c3 = await queueCommand(alice.client, {
      agentId: "a1",
      command: "sleep 60",
    });
    await waitStatus(alice.client, c3, "running");
    carol.client.send("emergency:stop", { reason: "drill" });
    await waitFinal(carol.client, c3);
    const refused = await requestCommand(vic.client, {
      agentId: "a1",
      command: "rm -rf /",
    });
    assert.equal(refused.type, "error");
    const login = await fetch(`${server.url}/login`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: "token=not-a-token&next=%2F",
    });
    await login.body?.cancel();
    assert.equal(login.status, 401);
    await server.services.audit.flush();

    const all = await listAudit(server, carol.token);
    assert.equal(all.cursor, null);
    const who = (
      d: { connectionId: string },
      actor: string,
      role: Role,
    ) => ({ actor, role, address: "127.0.0.1", connectionId: d.connectionId });
    const expected = [
      {
        actor: null,
        role: null,
        address: "127.0.0.1",
        connectionId: null,
        action: "auth.sign-in",
        target: {},
        outcome: "refused",
        detail: { method: "token", reason: "Invalid token" },
      },
      {
        ...who(vic, "vic", "viewer"),
        action: "command.request",
        target: { agentId: "a1" },
        outcome: "refused",
        detail: {
          reason: "role",
          message: 'Role "viewer" may not send commands; it needs "operator"',
          type: "command:request",
          text: "rm -rf /",
        },
      },
      {
        ...who(carol, "carol", "admin"),
        action: "emergency.stop",
        target: {},
        outcome: "ok",
        detail: { reason: "drill", interrupted: 1, removed: 0 },
      },
      {
        ...who(alice, "alice", "operator"),
        action: "command.request",
        target: { agentId: "a1", commandId: c3 },
        outcome: "ok",
        detail: { text: "sleep 60", priority: "normal" },
      },
      {
        ...who(bob, "bob", "operator"),
        action: "command.interrupt",
        target: { agentId: "a1", commandId: c1 },
        outcome: "ok",
        detail: { reason: "stuck" },
      },
      {
        ...who(bob, "bob", "operator"),
        action: "command.cancel",
        target: { agentId: "a1", commandId: c2 },
        outcome: "ok",
        detail: { reason: "not now" },
      },
      {
        ...who(bob, "bob", "operator"),
        action: "command.request",
        target: { agentId: "a1", commandId: c2 },
        outcome: "ok",
        detail: { text: "echo queued", priority: "normal" },
      },
      {
        ...who(alice, "alice", "operator"),
        action: "command.request",
        target: { agentId: "a1", commandId: c1 },
        outcome: "ok",
        detail: { text: "sleep 60", priority: "normal" },
      },
    ];
    // The agent's registration came first; its connection id is its own.
    const registration = all.entries.at(-1)!;
    assert.deepEqual(shape(registration), {
      actor: "agent:a1",
      role: "agent",
      address: "127.0.0.1",
      connectionId: registration.connectionId,
      action: "agent.register",
      target: { agentId: "a1" },
      outcome: "ok",
      detail: {
        name: "a1",
        hostname: Deno.hostname(),
      },
    });
    assert.deepEqual(all.entries.slice(0, -1).map(shape), expected);
    for (let i = 1; i < all.entries.length; i++) {
      assert.ok(all.entries[i - 1].time >= all.entries[i].time);
    }

    // Filters.
    const byBob = await listAudit(server, carol.token, "actor=bob");
    assert.deepEqual(
      byBob.entries,
      all.entries.filter((e) => e.actor === "bob"),
    );
    assert.equal(byBob.entries.length, 3);
    const requests = await listAudit(
      server,
      carol.token,
      "action=command.request",
    );
    assert.deepEqual(
      requests.entries.map((e) => [e.actor, e.outcome]),
      [["vic", "refused"], ["alice", "ok"], ["bob", "ok"], ["alice", "ok"]],
    );
    const onA1 = await listAudit(server, carol.token, "agent=a1");
    assert.deepEqual(
      onA1.entries,
      all.entries.filter((e) => e.target.agentId === "a1"),
    );
    assert.equal(onA1.entries.length, 7);
    const none = await listAudit(server, carol.token, "agent=other");
    assert.deepEqual(none.entries, []);
    const from = all.entries[5].time;
    const to = all.entries[2].time + 1;
    const ranged = await listAudit(
      server,
      carol.token,
      `from=${from}&to=${to}`,
    );
    assert.deepEqual(
      ranged.entries,
      all.entries.filter((e) => e.time >= from && e.time < to),
    );
    const iso = await listAudit(
      server,
      carol.token,
      `from=${new Date(from).toISOString()}&to=${new Date(to).toISOString()}`,
    );
    assert.deepEqual(iso.entries, ranged.entries);

    // Paging: two at a time covers everything once, in order.
    const paged: AuditEntry[] = [];
    let cursor: string | null = null;
    do {
      const page: { entries: AuditEntry[]; cursor: string | null } =
        await listAudit(
          server,
          carol.token,
          `limit=2${cursor ? `&cursor=${cursor}` : ""}`,
        );
      assert.ok(page.entries.length <= 2);
      paged.push(...page.entries);
      cursor = page.cursor;
    } while (cursor);
    assert.deepEqual(paged, all.entries);
    // Paging under a filter.
    const first = await listAudit(server, carol.token, "actor=bob&limit=2");
    assert.equal(first.entries.length, 2);
    const second = await listAudit(
      server,
      carol.token,
      `actor=bob&limit=2&cursor=${first.cursor}`,
    );
    assert.deepEqual([...first.entries, ...second.entries], byBob.entries);
    assert.equal(second.cursor, null);

    // Export.
    const exported = await getAudit(server, carol.token, "format=jsonl");
    assert.equal(exported.status, 200);
    assert.match(
      exported.headers.get("content-type")!,
      /^application\/x-ndjson/,
    );
    const lines = (await exported.text()).trimEnd().split("\n");
    assert.deepEqual(lines.map((l) => JSON.parse(l)), all.entries);

    // Bad input: clear 400s, nothing recorded.
    for (
      const [query, message] of [
        ["user=bob", 'Unknown filter "user"'],
        ["actor=a&actor=b", 'Filter "actor" given twice'],
        ["action=command.delete", 'Unknown action "command.delete"'],
        ["cursor=zzz", 'Invalid cursor "zzz"'],
        ["cursor=1.000000000000-0000000g", "Invalid cursor"],
        ["from=yesterday", 'Invalid from "yesterday"'],
        ["from=5&to=5", "from must be before to"],
        ["from=0&to=99999999999999", "Range over 366 days"],
        ["from=0", "Range over 366 days"],
        ["limit=0", 'Invalid limit "0"'],
        ["limit=5000", 'Invalid limit "5000"'],
        ["format=xml", 'Invalid format "xml"'],
      ]
    ) {
      const response = await getAudit(server, carol.token, query);
      assert.equal(response.status, 400, query);
      const body = await response.json();
      assert.equal(body.error.code, "INVALID_MESSAGE");
      assert.ok(
        body.error.message.startsWith(message),
        `${query}: ${body.error.message}`,
      );
    }
    // Append-only: no method changes it.
    for (const method of ["POST", "PUT", "PATCH", "DELETE"]) {
      const response = await fetch(`${server.url}/api/audit`, {
        method,
        headers: { authorization: `Bearer ${carol.token}` },
      });
      await response.body?.cancel();
      assert.equal(response.status, 405, method);
    }
    await server.services.audit.flush();
    assert.deepEqual(
      (await listAudit(server, carol.token)).entries,
      all.entries,
    );

    // A viewer and an operator get 403, and the refusals are recorded.
    for (const d of [vic, alice]) {
      const response = await getAudit(server, d.token);
      assert.equal(response.status, 403);
      assert.equal((await response.json()).error.code, "FORBIDDEN");
    }
    await server.services.audit.flush();
    const reads = await listAudit(server, carol.token, "action=audit.read");
    assert.deepEqual(reads.entries.map(shape), [
      {
        actor: "alice",
        role: "operator",
        address: "127.0.0.1",
        connectionId: null,
        action: "audit.read",
        target: { path: "/api/audit" },
        outcome: "refused",
        detail: { reason: "role" },
      },
      {
        actor: "vic",
        role: "viewer",
        address: "127.0.0.1",
        connectionId: null,
        action: "audit.read",
        target: { path: "/api/audit" },
        outcome: "refused",
        detail: { reason: "role" },
      },
    ]);
  } finally {
    await agent.kill();
    for (const d of [alice, bob, carol, vic]) await d.client.close();
  }
});

Deno.test("Refused sign-ins are recorded at most auditRefusalsPerMinute per address, the rest counted", async () => {
  await using server = await startTestServer({
    auditRefusalsPerMinute: 3,
    loginFailureLimit: 1000,
  });
  for (let i = 0; i < 10; i++) {
    const response = await fetch(`${server.url}/login`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: "token=bad&next=%2F",
    });
    await response.body?.cancel();
    assert.equal(response.status, 401);
  }
  const { audit } = server.services;
  await audit.flush();
  const page = await audit.store.list({ limit: 100 });
  assert.equal(page.entries.length, 3);
  assert.ok(page.entries.every((e) => e.action === "auth.sign-in"));
  assert.equal(audit.suppressed, 7);
});

Deno.test("Timeouts (actor system), agent replacement, a foreign Origin, sign-in and sign-out are audited", async () => {
  await using server = await startTestServer({ loginFailureLimit: 1000 });
  const first = await RawAgent.connect(server, "r1");
  const second = await RawAgent.connect(server, "r1");
  await first.close();
  const agent = await AgentProcess.start(server, "t1");
  const alice = await userDashboard(server, "operator", "alice");
  try {
    await waitAgentStatus(alice.client, "t1", "online");
    const id = await queueCommand(alice.client, {
      agentId: "t1",
      command: "sleep 30",
      timeoutMs: 200,
    });
    await waitFinal(alice.client, id);
    const foreign = await fetch(`${server.url}/api/events`, {
      headers: {
        authorization: `Bearer ${alice.token}`,
        origin: "https://evil.example",
      },
    });
    await foreign.body?.cancel();
    assert.equal(foreign.status, 403);
    const code = server.services.loginCodes.create("viewer", undefined, "vera");
    const signIn = await fetch(`${server.url}/login?code=${code}`, {
      redirect: "manual",
    });
    await signIn.body?.cancel();
    const cookie = signIn.headers.get("set-cookie")!.split(";")[0];
    const signOut = await fetch(`${server.url}/logout`, {
      method: "POST",
      headers: { cookie },
      redirect: "manual",
    });
    await signOut.body?.cancel();
    assert.equal(signOut.status, 303);
    await server.services.audit.flush();
    const { entries } = await server.services.audit.store.list({ limit: 100 });
    const seen = entries.map((e) => [
      e.action,
      e.actor,
      e.role,
      e.outcome,
      e.target.agentId ?? e.target.path ?? null,
    ]);
    assert.deepEqual(seen, [
      ["auth.sign-out", "vera", "viewer", "ok", null],
      ["auth.sign-in", "vera", "viewer", "ok", null],
      ["access.refused", "alice", "operator", "refused", "/api/events"],
      ["command.timeout", "system", null, "ok", "t1"],
      ["command.request", "alice", "operator", "ok", "t1"],
      ["agent.register", "agent:t1", "agent", "ok", "t1"],
      ["agent.replace", "agent:r1", "agent", "ok", "r1"],
      ["agent.register", "agent:r1", "agent", "ok", "r1"],
    ]);
    const timeout = entries[3];
    assert.equal(timeout.target.commandId, entries[4].target.commandId);
    const replace = entries[6];
    assert.equal(replace.detail?.oldConnection, entries[7].connectionId);
    assert.notEqual(replace.connectionId, entries[7].connectionId);
  } finally {
    await second.close();
    await agent.kill();
    await alice.client.close();
  }
});
