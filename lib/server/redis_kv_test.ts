/**
 * RedisKv against Deno KV: the same operations give the same answers (key
 * order, ranges, reverse, limits, atomic checks), expiry is honoured, and
 * two clients see one store.
 */
import assert from "node:assert/strict";
import { connectRedis } from "./redis_storage.ts";
import { decodeKey, encodeKey, type KvLike, RedisKv } from "./redis_kv.ts";
import { RedisServer } from "../../tests/redis_server.ts";

const KEYS: Deno.KvKey[] = [
  ["a"],
  ["a", 1],
  ["a", -1],
  ["a", 0],
  ["a", 2.5],
  ["a", -1e300],
  ["a", 1e300],
  ["a", Number.MAX_SAFE_INTEGER],
  ["a", "b"],
  ["a", "b\x00c"],
  ["a", "b", 3],
  ["a", "bb"],
  ["a", "é"],
  ["a", "\u{10ffff}"],
  ["a", 5, "x"],
  ["a", 5, "y", 1],
  ["ab"],
  ["b", 1],
  ["sx", "abc", "id1"],
  ["sx", "abcd", "id2"],
  ["sx", "abd", "id3"],
];

async function all(
  kv: KvLike,
  selector: Deno.KvListSelector,
  options?: Deno.KvListOptions,
) {
  const out: [Deno.KvKey, unknown][] = [];
  for await (const entry of kv.list(selector, options)) {
    out.push([entry.key, entry.value]);
  }
  return out;
}

Deno.test("encodeKey round-trips and sorts as Deno KV", () => {
  for (const key of KEYS) assert.deepEqual(decodeKey(encodeKey(key)), key);
  assert.throws(() => encodeKey([true]), TypeError);
});

Deno.test("RedisKv answers as Deno KV does", async () => {
  const server = await RedisServer.start();
  const client = connectRedis(server.url);
  const kv = await Deno.openKv(":memory:");
  try {
    const stores: KvLike[] = [kv, new RedisKv(client, { prefix: "t:" })];
    for (const store of stores) {
      // In a mixed order, so the order of the answers is the store's.
      for (const [i, key] of [...KEYS].reverse().entries()) {
        await store.set(key, { i });
      }
    }
    const selectors: [Deno.KvListSelector, Deno.KvListOptions?][] = [
      [{ prefix: [] }],
      [{ prefix: ["a"] }],
      [{ prefix: ["a"] }, { reverse: true }],
      [{ prefix: ["a"] }, { limit: 3, batchSize: 2 }],
      [{ prefix: ["a"] }, { reverse: true, limit: 4, batchSize: 1 }],
      [{ prefix: ["a", 5] }],
      [{ start: ["a", 0], end: ["a", 3] }],
      [{ start: ["a", 0], end: ["a", 3] }, { reverse: true, limit: 1 }],
      [{ prefix: ["a"], start: ["a", "b"] }],
      [{ prefix: ["a"], end: ["a", "b"] }],
      [{ start: ["sx", "abc"], end: ["sx", "abc\u{10ffff}"] }],
    ];
    for (const [selector, options] of selectors) {
      assert.deepEqual(
        await all(stores[1], selector, options),
        await all(stores[0], selector, options),
        JSON.stringify(selector) + JSON.stringify(options),
      );
    }
    for (const store of stores) {
      const got = await store.getMany<[unknown, unknown]>([["a", 1], ["zz"]]);
      assert.deepEqual(got.map((e) => e.value), [{ i: KEYS.length - 2 }, null]);
      assert.equal(got[1].versionstamp, null);
      await store.delete(["a", 1]);
      assert.equal((await store.get(["a", 1])).value, null);
      // Checks: absent, then the versionstamp read.
      assert.equal(
        (await store.atomic().check({ key: ["n"], versionstamp: null })
          .set(["n"], 1).commit()).ok,
        true,
      );
      const entry = await store.get(["n"]);
      assert.equal(
        (await store.atomic().check({ key: ["n"], versionstamp: null })
          .set(["n"], 2).commit()).ok,
        false,
      );
      assert.equal(
        (await store.atomic().check(entry).set(["n"], 3).commit()).ok,
        true,
      );
      assert.equal(
        (await store.atomic().check(entry).set(["n"], 4).delete(["ab"])
          .commit()).ok,
        false,
      );
      assert.equal((await store.get(["n"])).value, 3);
      assert.equal((await store.get(["ab"])).value !== null, true);
      const later = await store.get(["n"]);
      assert.ok(later.versionstamp! > entry.versionstamp!);
    }
  } finally {
    kv.close();
    client.disconnect();
    await server.close();
  }
});

Deno.test("RedisKv: expireIn is honoured, expired keys leave the index", async () => {
  const server = await RedisServer.start();
  const client = connectRedis(server.url);
  try {
    const kv = new RedisKv(client, { prefix: "e:" });
    await kv.set(["s", "short"], 1, { expireIn: 50 });
    await kv.set(["s", "long"], 2, { expireIn: 600_000 });
    await kv.set(["s", "kept"], 3);
    assert.equal((await kv.get(["s", "short"])).value, 1);
    // Wait for Redis's clock, not ours: until the key's TTL ran out.
    while (await client.exists("e:kv:" + encodeKey(["s", "short"]))) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.equal((await kv.get(["s", "short"])).value, null);
    assert.deepEqual(
      (await all(kv, { prefix: ["s"] })).map(([key]) => key),
      [["s", "kept"], ["s", "long"]],
    );
    // The next commit sweeps it from the index; the others stay.
    assert.equal(await client.zcard("e:kv"), 3);
    await kv.set(["other"], 0);
    assert.equal(await client.zcard("e:kv"), 3);
    assert.equal(await client.zscore("e:kv", encodeKey(["s", "short"])), null);
    assert.equal(await client.zcard("e:kv_exp"), 1);
    // Setting without expireIn makes it permanent again.
    await kv.set(["s", "long"], 4);
    assert.equal(await client.pttl("e:kv:" + encodeKey(["s", "long"])), -1);
    assert.equal(await client.zcard("e:kv_exp"), 0);
  } finally {
    client.disconnect();
    await server.close();
  }
});

Deno.test("RedisKv: a check holds across clients (one winner of many)", async () => {
  const server = await RedisServer.start();
  const clients = [connectRedis(server.url), connectRedis(server.url)];
  try {
    const [a, b] = clients.map((c) => new RedisKv(c, { prefix: "r:" }));
    await a.set(["claim"], 0);
    const entry = await b.get(["claim"]);
    const results = await Promise.all(
      Array.from(
        { length: 20 },
        (_, i) =>
          (i % 2 ? a : b).atomic().check(entry).set(["claim"], i + 1).commit(),
      ),
    );
    assert.equal(results.filter((r) => r.ok).length, 1);
  } finally {
    for (const c of clients) c.disconnect();
    await server.close();
  }
});
