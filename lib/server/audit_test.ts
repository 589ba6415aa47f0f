import assert from "node:assert/strict";
import {
  type AuditEvent,
  AuditTrail,
  INPUT_FLUSH_MS,
  KvAuditStore,
  MAX_SOURCES,
} from "./audit.ts";
import { encodeCursor, parseAuditQuery } from "./audit_query.ts";
import { type KvLike, RedisKv } from "./redis_kv.ts";
import { connectRedis } from "./redis_storage.ts";
import { RedisServer } from "../../tests/redis_server.ts";

const event = (over: Partial<AuditEvent> = {}): AuditEvent => ({
  actor: "alice",
  role: "operator",
  address: "127.0.0.1",
  connectionId: "c1",
  action: "command.request",
  target: { agentId: "a1" },
  outcome: "ok",
  ...over,
});

async function allKeys(kv: Deno.Kv): Promise<Deno.KvKey[]> {
  const keys: Deno.KvKey[] = [];
  for await (const e of kv.list({ prefix: [] })) keys.push(e.key);
  return keys;
}

Deno.test("AuditTrail.enforceRetention() deletes entries older than the retention and nothing else", async () => {
  const dir = await Deno.makeTempDir();
  try {
    let now = 1_000_000;
    let kv = await Deno.openKv(`${dir}/kv`);
    await kv.set(["commands", "x"], { kept: true });
    await kv.set(["auth", "revoked", "y"], { kept: true });
    let trail = new AuditTrail(new KvAuditStore(kv), {
      retentionMs: 10_000,
      refusalsPerMinute: 60,
      now: () => now,
    });
    for (let i = 0; i < 5; i++) {
      trail.record(event({ target: { agentId: `a${i}` } }));
      now += 5_000;
    }
    await trail.close();
    kv.close();
    // Reopened (a restart): everything is still there.
    kv = await Deno.openKv(`${dir}/kv`);
    trail = new AuditTrail(new KvAuditStore(kv), {
      retentionMs: 10_000,
      refusalsPerMinute: 60,
      now: () => now,
    });
    const before = await trail.store.list({ limit: 100 });
    assert.deepEqual(
      before.entries.map((e) => [e.time, e.target.agentId]),
      [
        [1_020_000, "a4"],
        [1_015_000, "a3"],
        [1_010_000, "a2"],
        [1_005_000, "a1"],
        [1_000_000, "a0"],
      ],
    );
    // now = 1_025_000: entries before 1_015_000 go.
    assert.equal(await trail.enforceRetention(), 3);
    const after = await trail.store.list({ limit: 100 });
    assert.deepEqual(after.entries, before.entries.slice(0, 2));
    const keys = await allKeys(kv);
    assert.deepEqual(
      keys.filter((k) => k[0] !== "audit"),
      [["auth", "revoked", "y"], ["commands", "x"]],
    );
    assert.equal(await trail.enforceRetention(), 0);
    await trail.close();
    kv.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("AuditTrail.refusal() writes refusalsPerMinute per source, then one audit.suppressed entry with the count", async () => {
  using kv = await Deno.openKv(":memory:");
  let now = 0;
  const trail = new AuditTrail(new KvAuditStore(kv), {
    retentionMs: 86400_000,
    refusalsPerMinute: 2,
    now: () => now,
  });
  const refusal = (address: string) =>
    event({
      actor: null,
      role: null,
      address,
      connectionId: null,
      action: "auth.sign-in",
      target: {},
      outcome: "refused",
    });
  for (let i = 0; i < 5; i++) trail.refusal(refusal("10.0.0.1"));
  trail.refusal(refusal("10.0.0.2"));
  now = 59_999;
  trail.sweep();
  await trail.flush();
  let page = await trail.store.list({ limit: 100 });
  assert.deepEqual(page.entries.map((e) => e.address), [
    "10.0.0.2",
    "10.0.0.1",
    "10.0.0.1",
  ]);
  assert.equal(trail.suppressed, 3);
  now = 60_000;
  trail.sweep();
  await trail.flush();
  page = await trail.store.list({ limit: 100 });
  assert.equal(page.entries.length, 4);
  const summary = page.entries[0];
  assert.deepEqual(
    {
      action: summary.action,
      address: summary.address,
      outcome: summary.outcome,
      detail: summary.detail,
    },
    {
      action: "audit.suppressed",
      address: "10.0.0.1",
      outcome: "refused",
      detail: {
        count: 3,
        lastAction: "auth.sign-in",
        source: "address:10.0.0.1",
      },
    },
  );
  // A new minute: written again.
  trail.refusal(refusal("10.0.0.1"));
  await trail.flush();
  assert.equal((await trail.store.list({ limit: 100 })).entries.length, 5);
  await trail.close();
});

Deno.test("AuditTrail.input() records byte counts per connection and agent, never the content", async () => {
  using kv = await Deno.openKv(":memory:");
  let now = 0;
  const trail = new AuditTrail(new KvAuditStore(kv), {
    retentionMs: 86400_000,
    refusalsPerMinute: 60,
    now: () => now,
  });
  const who = {
    actor: "alice",
    role: "operator" as const,
    address: "127.0.0.1",
    connectionId: "c1",
  };
  trail.input(who, "a1", 5, "cmd-1");
  trail.input(who, "a1", 7, "cmd-1");
  trail.input({ ...who, connectionId: "c2" }, "a1", 1);
  await trail.flush();
  assert.equal((await trail.store.list({ limit: 10 })).entries.length, 0);
  trail.flushInput("c1", "a1");
  await trail.flush();
  let entries = (await trail.store.list({ limit: 10 })).entries;
  assert.deepEqual(entries.map((e) => [e.action, e.target, e.detail]), [
    ["terminal.input", { agentId: "a1", commandId: "cmd-1" }, {
      bytes: 12,
      messages: 2,
    }],
  ]);
  now = INPUT_FLUSH_MS;
  trail.sweep();
  await trail.flush();
  entries = (await trail.store.list({ limit: 10 })).entries;
  assert.deepEqual(entries[0].connectionId, "c2");
  assert.deepEqual(entries[0].detail, { bytes: 1, messages: 1 });
  await trail.close();
});

/** The paging checks of KvAuditStore.list() on `kv`. */
async function listPages(kv: KvLike): Promise<void> {
  let now = 100;
  const trail = new AuditTrail(new KvAuditStore(kv), {
    retentionMs: 86400_000,
    refusalsPerMinute: 60,
    now: () => now,
  });
  // Three entries in one millisecond keep their order.
  for (let i = 0; i < 3; i++) trail.record(event({ detail: { i } }));
  now = 200;
  trail.record(event({ actor: "bob", detail: { i: 3 } }));
  await trail.flush();
  const all = await trail.store.list({ limit: 10 });
  assert.deepEqual(all.entries.map((e) => e.detail?.i), [3, 2, 1, 0]);
  const first = await trail.store.list({ limit: 3 });
  assert.deepEqual(first.entries.map((e) => e.detail?.i), [3, 2, 1]);
  const rest = await trail.store.list({ limit: 3, cursor: first.cursor! });
  assert.deepEqual(rest.entries.map((e) => e.detail?.i), [0]);
  assert.equal(rest.cursor, null);
  const ranged = await trail.store.list({ limit: 10, from: 100, to: 200 });
  assert.deepEqual(ranged.entries.map((e) => e.detail?.i), [2, 1, 0]);
  const alice = await trail.store.list({
    limit: 10,
    actor: "alice",
    from: 150,
  });
  assert.deepEqual(alice.entries, []);
  // The text cursor round-trips through the query parser.
  const parsed = parseAuditQuery(
    new URLSearchParams({ cursor: encodeCursor(first.cursor!) }),
  );
  assert.ok(parsed.ok);
  assert.deepEqual(parsed.query.cursor, first.cursor);
  await trail.close();
}

Deno.test("KvAuditStore.list() pages newest first by cursor, within from/to", async () => {
  using kv = await Deno.openKv(":memory:");
  await listPages(kv);
});

Deno.test("KvAuditStore.list() pages alike on the shared store (RedisKv); deleteBefore() deletes there", async () => {
  const server = await RedisServer.start();
  const client = connectRedis(server.url);
  try {
    const kv = new RedisKv(client);
    await listPages(kv);
    const store = new KvAuditStore(kv);
    // Entries at 100 (three) and 200 (one) from listPages.
    assert.equal(await store.deleteBefore(150), 3);
    const left = await store.list({ limit: 10 });
    assert.deepEqual(left.entries.map((e) => e.time), [200]);
  } finally {
    client.disconnect();
    await server.close();
  }
});

Deno.test("AuditTrail.refusal(): a source's next refusal after its minute writes the summary; past MAX_SOURCES new sources share one window", async () => {
  using kv = await Deno.openKv(":memory:");
  let now = 0;
  const trail = new AuditTrail(new KvAuditStore(kv), {
    retentionMs: 86400_000,
    refusalsPerMinute: 1,
    now: () => now,
  });
  const refusal = (address: string) =>
    event({
      actor: null,
      role: null,
      address,
      connectionId: null,
      action: "access.refused",
      target: {},
      outcome: "refused",
    });
  trail.refusal(refusal("10.0.0.1"));
  trail.refusal(refusal("10.0.0.1"));
  now = 60_000;
  trail.refusal(refusal("10.0.0.1"));
  await trail.flush();
  assert.deepEqual(
    (await trail.store.list({ limit: 10 })).entries.map((e) => e.action),
    ["access.refused", "audit.suppressed", "access.refused"],
  );
  for (let i = 0; i < MAX_SOURCES + 5; i++) {
    trail.refusal(refusal(`s${i}`));
  }
  assert.equal(trail.trackedSources, MAX_SOURCES + 1);
  // 10.0.0.1 and MAX_SOURCES - 1 others had windows; the rest shared one:
  // one of them written, the others counted.
  assert.equal(trail.suppressed, 1 + 5);
  await trail.close();
});
