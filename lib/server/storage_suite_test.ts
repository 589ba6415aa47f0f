/**
 * The storage suite (storage_suite.ts) on Deno KV (output in KV, and in
 * files: file_output.ts) and on a real Redis, and
 * what only the Redis layout does.
 */
import assert from "node:assert/strict";
import type { OutputBatch } from "./output_log.ts";
import { Storage } from "./storage.ts";
import { FileOutputStore } from "./file_output.ts";
import { connectRedis, RedisStorage } from "./redis_storage.ts";
import { RedisKv } from "./redis_kv.ts";
import { STORAGE_CASES, type SuiteStore } from "./storage_suite.ts";
import { RedisServer } from "../../tests/redis_server.ts";

/**
 * A KV store in a temporary file. Deno KV is per process, and a second
 * handle on the same file in one process fails with "database is locked"
 * under contention: the second client is a second Storage on the same
 * handle, which interleaves with the first at every await.
 */
async function kvStore(): Promise<SuiteStore> {
  const dir = await Deno.makeTempDir({ prefix: "flightdeck-suite-" });
  const kv = await Deno.openKv(`${dir}/test.kv`);
  return {
    store: new Storage(kv),
    second: () => Promise.resolve(new Storage(kv)),
    close: async () => {
      kv.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** As {@link kvStore}, with output in files next to the KV file. */
async function fileStore(): Promise<SuiteStore> {
  const dir = await Deno.makeTempDir({ prefix: "flightdeck-suite-" });
  const kv = await Deno.openKv(`${dir}/test.kv`);
  const output = new FileOutputStore(kv, `${dir}/test.kv-output`, {
    segmentBytes: 4096,
  });
  return {
    store: new Storage(kv, output),
    second: () => Promise.resolve(new Storage(kv, output)),
    close: async () => {
      await output.close();
      kv.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

Deno.test("storage suite on Deno KV with output in files", async (t) => {
  for (const [name, run] of Object.entries(STORAGE_CASES)) {
    await t.step(name, async () => {
      const suite = await fileStore();
      try {
        await run(suite);
      } finally {
        await suite.close();
      }
    });
  }
});

Deno.test("storage suite on Deno KV", async (t) => {
  for (const [name, run] of Object.entries(STORAGE_CASES)) {
    await t.step(name, async () => {
      const suite = await kvStore();
      try {
        await run(suite);
      } finally {
        await suite.close();
      }
    });
  }
});

Deno.test("storage suite on Redis", async (t) => {
  const server = await RedisServer.start();
  let n = 0;
  const redisStore = async (): Promise<SuiteStore> => {
    // A prefix per case: each starts empty on the same server.
    const prefix = `case${++n}:`;
    const clients = [connectRedis(server.url)];
    // Each server process has its own KV (line and search indexes).
    const kvs: Deno.Kv[] = [];
    const open = async (client: typeof clients[0]) => {
      const kv = await Deno.openKv(":memory:");
      kvs.push(kv);
      return new RedisStorage(client, kv, { prefix });
    };
    return {
      store: await open(clients[0]),
      second: () => {
        const client = connectRedis(server.url);
        clients.push(client);
        return open(client);
      },
      close: async () => {
        for (const client of clients) await client.quit();
        for (const kv of kvs) kv.close();
      },
    };
  };
  try {
    for (const [name, run] of Object.entries(STORAGE_CASES)) {
      await t.step(name, async () => {
        const suite = await redisStore();
        try {
          await run(suite);
        } finally {
          await suite.close();
        }
      });
    }
    await t.step(
      "an output seq not above the last stored is refused and writes nothing",
      async () => {
        const { store, close } = await redisStore();
        try {
          const meta = { lastSeq: 2, outputBytes: 2, storedBytes: 2 };
          await store.output.write(
            "c1",
            2,
            { stream: "stdout", data: "b" },
            meta,
          );
          for (const seq of [2, 1]) {
            await assert.rejects(
              store.output.write("c1", seq, { stream: "stdout", data: "x" }, {
                ...meta,
                lastSeq: seq,
              }),
              RangeError,
            );
          }
          await assert.rejects(
            store.output.write("c1", 0, { stream: "stdout", data: "x" }),
            RangeError,
          );
          assert.deepEqual(await store.output.meta("c1"), meta);
          assert.equal(await store.output.lastSeq("c1"), 2);
        } finally {
          await close();
        }
      },
    );
    await t.step(
      "an output batch stored again (its reply lost) stores each part once",
      async () => {
        const { store, close } = await redisStore();
        try {
          const batch = {
            parts: [1, 2].map((seq) => ({
              commandId: "c1",
              seq,
              part: 0,
              value: { stream: "stdout" as const, data: `p${seq}` },
            })),
            lines: [],
            metas: [["c1", { lastSeq: 2, outputBytes: 4, storedBytes: 4 }]],
          } satisfies OutputBatch;
          await store.output.commit(batch);
          await store.output.commit(batch);
          // A later batch that repeats seq 2 and adds seq 3.
          await store.output.commit({
            ...batch,
            parts: [2, 3].map((seq) => ({
              commandId: "c1",
              seq,
              part: 0,
              value: { stream: "stdout" as const, data: `p${seq}` },
            })),
          });
          const seqs: number[] = [];
          for await (const chunk of store.output.read("c1", 0)) {
            seqs.push(chunk.seq);
          }
          assert.deepEqual(seqs, [1, 2, 3]);
        } finally {
          await close();
        }
      },
    );
    await t.step(
      "output with a lone surrogate or a NUL is stored (the surrogate as U+FFFD, as UTF-8 has it)",
      async () => {
        const { store, close } = await redisStore();
        try {
          await store.output.commit({
            parts: [
              {
                commandId: "odd",
                seq: 1,
                part: 0,
                value: { stream: "stdout", data: "a\ud800b\u0000c" },
              },
              {
                commandId: "fine",
                seq: 1,
                part: 0,
                value: { stream: "stdout", data: "ok" },
              },
            ],
            lines: [],
            metas: [],
          });
          const read = async (id: string) => {
            let text = "";
            for await (const c of store.output.read(id, 0)) text += c.data;
            return text;
          };
          assert.equal(await read("odd"), "a\ufffdb\u0000c");
          assert.equal(await read("fine"), "ok");
        } finally {
          await close();
        }
      },
    );
  } finally {
    await server.close();
  }
});

Deno.test("storage suite on Redis with the indexes in Redis too (cluster mode: RedisKv)", async (t) => {
  const server = await RedisServer.start();
  let n = 0;
  try {
    for (const [name, run] of Object.entries(STORAGE_CASES)) {
      await t.step(name, async () => {
        // A prefix per case: each starts empty on the same server.
        const prefix = `shared${++n}:`;
        const clients = [connectRedis(server.url)];
        const open = (client: typeof clients[0]) =>
          new RedisStorage(client, new RedisKv(client, { prefix }), {
            prefix,
          });
        try {
          await run({
            store: open(clients[0]),
            second: () => {
              const client = connectRedis(server.url);
              clients.push(client);
              return Promise.resolve(open(client));
            },
            close: () => Promise.resolve(),
          });
        } finally {
          for (const client of clients) await client.quit();
        }
      });
    }
  } finally {
    await server.close();
  }
});
