import assert from "node:assert/strict";
import type { CommandInfo } from "../protocol.ts";
import { OutputLog, OutputStore } from "./output_log.ts";
import { SearchIndex } from "./search_index.ts";
import { RedisKv } from "./redis_kv.ts";
import { connectRedis, RedisOutputStore } from "./redis_storage.ts";
import { RedisServer } from "../../tests/redis_server.ts";

const info = (id: string, command: string) =>
  ({ id, agentId: "a", command, status: "completed" }) as CommandInfo;

/** 300 distinct words of 40 CJK ideographs (120 UTF-8 bytes) each, one per line. */
function cjkLines(): string {
  let data = "";
  for (let i = 0; i < 300; i++) {
    let word = "";
    for (let j = 0; j < 40; j++) {
      word += String.fromCodePoint(0x4e00 + ((i * 40 + j) * 7) % 20000);
    }
    data += `${word}\n`;
  }
  return data;
}

async function withLog(
  fn: (kv: Deno.Kv, store: OutputStore, log: OutputLog) => Promise<void>,
) {
  const kv = await Deno.openKv(":memory:");
  try {
    const store = new OutputStore(kv);
    const log = new OutputLog(store);
    await fn(kv, store, log);
    await log.idle();
  } finally {
    kv.close();
  }
}

Deno.test("SearchIndex indexes 300 long CJK words (keys over 80 KiB in all) in commits Deno KV accepts", async () => {
  await withLog(async (kv, store, log) => {
    const data = cjkLines();
    const id = "0b7e1c2a-9d4f-4e1b-8c3a-5f6d7e8f9a0b"; // ids are UUIDs
    log.start(id);
    await log.append(id, 1, { stream: "stdout", data, at: 1 }, data.length);
    await log.stored(id);
    const index = new SearchIndex({
      kv,
      output: store,
      getCommand: () => Promise.resolve({ info: info(id, "echo") }),
    });
    await index.indexCommand(id);
    const last = data.split("\n")[299];
    assert.deepEqual(
      (await index.search(last, 5)).map((hit) => [hit.commandId, hit.line]),
      [[id, 300]],
    );
  });
});

Deno.test("SearchIndex.catchUp() skips a command it cannot index and goes on with the next", async () => {
  await withLog(async (kv, store, log) => {
    log.start("good");
    const text = "hello searchable world\n";
    await log.append("good", 1, { stream: "stdout", data: text, at: 1 }, 23);
    await log.stored("good");
    await kv.set(["fin", 1000, "bad"], {});
    await kv.set(["fin", 2000, "good"], {});
    const errors: string[] = [];
    const index = new SearchIndex({
      kv,
      output: store,
      getCommand: (id) =>
        id === "bad"
          ? Promise.reject(new Error("unreadable"))
          : Promise.resolve({ info: info(id, "echo") }),
      onError: (id, error) => errors.push(`${id}: ${error}`),
    });
    assert.equal(await index.catchUp(), 2);
    assert.deepEqual(errors, ["bad: Error: unreadable"]);
    assert.deepEqual(
      (await index.search("searchable", 5)).map((hit) => hit.commandId),
      ["good"],
    );
    assert.equal(await index.catchUp(), 0);
  });
});

Deno.test("SearchIndex.catchUp() still indexes a command that finished in the same millisecond as the last one it indexed, with a smaller id", async () => {
  await withLog(async (kv, store, log) => {
    const now = 1_000_000;
    for (const id of ["m", "b"]) {
      log.start(id);
      const text = `word${id}${id}${id} here\n`;
      await log.append(id, 1, { stream: "stdout", data: text, at: now }, 14);
      await log.stored(id);
    }
    const index = new SearchIndex({
      kv,
      output: store,
      getCommand: (id) => Promise.resolve({ info: info(id, "echo") }),
    }, () => now + 10);
    await kv.set(["fin", now, "m"], {});
    assert.equal(await index.catchUp(), 1);
    // Finished in the same millisecond, written after the pass: it sorts
    // before "m".
    await kv.set(["fin", now, "b"], {});
    await index.catchUp();
    assert.deepEqual(
      (await index.search("wordbbb", 5)).map((hit) => hit.commandId),
      ["b"],
    );
  });
});

Deno.test("SearchIndex on a shared store: one server's pass holds the lease, another skips its pass meanwhile and reads the same index; a dead server's lease runs out", async () => {
  const server = await RedisServer.start();
  const clients = [connectRedis(server.url), connectRedis(server.url)];
  try {
    const kvs = clients.map((c) => new RedisKv(c));
    const output = new RedisOutputStore(clients[0], "fd:", kvs[0]);
    const finished: [number, string][] = [];
    const finish = async (id: string, text: string) => {
      await output.write(id, 1, { stream: "stdout", data: text });
      finished.push([finished.length + 1, id]);
    };
    await finish("one", "alpha bravo\n");
    let release = () => {};
    const held = new Promise<void>((resolve) => release = resolve);
    let reading = () => {};
    const read = new Promise<void>((resolve) => reading = resolve);
    const indexes = kvs.map((kv, n) =>
      new SearchIndex({
        kv,
        output: new RedisOutputStore(clients[n], "fd:", kv),
        shared: true,
        getCommand: async (id) => {
          if (n === 0 && id === "one") {
            reading();
            await held;
          }
          return { info: info(id, "echo") };
        },
        finishedAfter: (cursor) =>
          Promise.resolve(
            finished.filter(([at]) => !cursor || at > cursor[0]),
          ),
      }, () => 1_000_000)
    );
    const first = indexes[0].catchUp();
    await read;
    // Server 0 holds the lease: server 1 indexes nothing.
    assert.equal(await indexes[1].catchUp(), 0);
    assert.deepEqual(await indexes[1].search("alpha", 5), []);
    release();
    assert.equal(await first, 1);
    // Both read the one index; the lease is free again.
    for (const index of indexes) {
      assert.deepEqual(
        (await index.search("bravo", 5)).map((h) => [h.commandId, h.line]),
        [["one", 1]],
      );
    }
    assert.equal((await kvs[0].get(["sx_lease"])).value, null);
    // Server 1 goes on from the shared cursor: only the new command.
    await finish("two", "charlie\n");
    assert.equal(await indexes[1].catchUp(), 1);
    assert.deepEqual(
      (await indexes[0].search("charlie", 5)).map((h) => h.commandId),
      ["two"],
    );
    // A lease left by a server that died: no pass until it runs out.
    await finish("three", "delta\n");
    await kvs[0].set(["sx_lease"], "dead", { expireIn: 100 });
    assert.equal(await indexes[1].catchUp(), 0);
    while ((await kvs[1].get(["sx_lease"])).value !== null) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.equal(await indexes[1].catchUp(), 1);
    assert.deepEqual(
      (await indexes[0].search("delta", 5)).map((h) => h.commandId),
      ["three"],
    );
  } finally {
    for (const c of clients) c.disconnect();
    await server.close();
  }
});
