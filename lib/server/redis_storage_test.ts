/**
 * RedisOutputStore beyond the storage suite: two nodes storing output of
 * one command (the node that held the agent commits its last queued batch
 * after the new node stored more).
 */
import assert from "node:assert/strict";
import { RedisServer } from "../../tests/redis_server.ts";
import { connectRedis, RedisOutputStore } from "./redis_storage.ts";

Deno.test("RedisOutputStore: a late batch whose chunks are all stored already does not set the command's bookkeeping back", async () => {
  const server = await RedisServer.start();
  const redis = connectRedis(server.url);
  try {
    const kv = await Deno.openKv(":memory:");
    try {
      const store = new RedisOutputStore(redis, "fd:", kv);
      const part = (seq: number) => ({
        commandId: "c1",
        seq,
        part: 0,
        value: { stream: "stdout" as const, data: `line ${seq}\n` },
      });
      const meta = (lastSeq: number) => ({
        lastSeq,
        outputBytes: 7 * lastSeq,
        storedBytes: 7 * lastSeq,
      });
      // The old node's batch, built before it let go (seqs 1-2) ...
      const late = {
        parts: [part(1), part(2)],
        lines: [],
        metas: [["c1", meta(2)]] as [string, ReturnType<typeof meta>][],
      };
      // ... the new node stores seqs 1-3 first (the agent sent them again).
      await store.commit({
        parts: [part(1), part(2), part(3)],
        lines: [],
        metas: [["c1", meta(3)]],
      });
      await store.commit(late);
      assert.deepEqual(await store.meta("c1"), meta(3));
    } finally {
      kv.close();
    }
  } finally {
    redis.disconnect();
    await server.close();
  }
});
