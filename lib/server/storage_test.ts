import assert from "node:assert/strict";
import { LIMITS } from "../protocol.ts";
import { Storage, type StoredChunk, type StoredCommand } from "./storage.ts";
import { queued } from "./storage_suite.ts";

const PART_CHARS = 16 * 1024;

const command = queued;

async function readAll(storage: Storage, commandId: string, afterSeq = 0) {
  const chunks: ({ seq: number } & StoredChunk)[] = [];
  for await (const chunk of storage.output.read(commandId, afterSeq)) {
    chunks.push(chunk);
  }
  return chunks;
}

Deno.test("OutputStore.write() and read() round-trip chunks in seq order", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const storage = new Storage(kv);
    await storage.output.write("c1", 2, { stream: "stderr", data: "two" });
    await storage.output.write("c1", 1, { stream: "stdout", data: "one" });
    await storage.output.write("c1", 3, {
      stream: "pty",
      data: "\x1b[1mthree",
    });
    await storage.output.write("c2", 1, { stream: "stdout", data: "other" });
    assert.deepEqual(await readAll(storage, "c1"), [
      { seq: 1, stream: "stdout", data: "one" },
      { seq: 2, stream: "stderr", data: "two" },
      { seq: 3, stream: "pty", data: "\x1b[1mthree" },
    ]);
    assert.deepEqual(await readAll(storage, "c1", 2), [
      { seq: 3, stream: "pty", data: "\x1b[1mthree" },
    ]);
    assert.deepEqual(await readAll(storage, "c1", 3), []);
    assert.deepEqual(await readAll(storage, "missing"), []);
  } finally {
    kv.close();
  }
});

Deno.test("OutputStore.read() returns each chunk's receive time, also for a split chunk, and none for chunks stored without", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const storage = new Storage(kv);
    const big = "x".repeat(PART_CHARS * 2 + 5);
    await storage.output.write("c1", 1, { stream: "pty", data: "a", at: 1000 });
    await storage.output.write("c1", 2, { stream: "pty", data: big, at: 2000 });
    // As an older version stored it: no time.
    await storage.output.write("c1", 3, { stream: "pty", data: "old" });
    assert.deepEqual(await readAll(storage, "c1"), [
      { seq: 1, stream: "pty", data: "a", at: 1000 },
      { seq: 2, stream: "pty", data: big, at: 2000 },
      { seq: 3, stream: "pty", data: "old" },
    ]);
    // Only part 0 of a split chunk carries the time.
    const parts = await Array.fromAsync(
      kv.list<StoredChunk>({ prefix: ["out", "c1", 2] }),
    );
    assert.deepEqual(parts.map((p) => p.value.at), [
      2000,
      undefined,
      undefined,
    ]);
  } finally {
    kv.close();
  }
});

Deno.test("OutputStore.write() splits a large chunk without breaking a surrogate pair", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const storage = new Storage(kv);
    // The emoji's high surrogate is the last unit of the first part.
    const data = "a".repeat(PART_CHARS - 1) + "🚀" + "b".repeat(PART_CHARS) +
      "é€😀".repeat(5000);
    assert.equal(data.charCodeAt(PART_CHARS - 1), 0xd83d);
    await storage.output.write("c1", 1, { stream: "stdout", data });
    await storage.output.write("c1", 2, { stream: "stdout", data: "tail" });
    const parts = [];
    for await (
      const entry of kv.list<StoredChunk>({ prefix: ["out", "c1", 1] })
    ) {
      parts.push(entry.value.data);
    }
    assert.ok(parts.length > 2);
    assert.equal(parts[0].length, PART_CHARS + 1);
    assert.ok(parts[0].endsWith("🚀"));
    for (const part of parts) {
      assert.equal(part.isWellFormed(), true);
      assert.ok(part.length <= PART_CHARS + 1);
    }
    assert.deepEqual(await readAll(storage, "c1"), [
      { seq: 1, stream: "stdout", data },
      { seq: 2, stream: "stdout", data: "tail" },
    ]);
    assert.equal(await storage.output.lastSeq("c1"), 2);
  } finally {
    kv.close();
  }
});

Deno.test("OutputStore.write() stores a chunk of exactly 16 K chars in one part", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const storage = new Storage(kv);
    const data = "x".repeat(PART_CHARS);
    await storage.output.write("c1", 1, { stream: "stdout", data });
    const keys = [];
    for await (const entry of kv.list({ prefix: ["out", "c1"] })) {
      keys.push(entry.key);
    }
    assert.deepEqual(keys, [["out", "c1", 1, 0]]);
    assert.deepEqual(await readAll(storage, "c1"), [
      { seq: 1, stream: "stdout", data },
    ]);
  } finally {
    kv.close();
  }
});

Deno.test("OutputStore.lastSeq() returns the highest stored seq, 0 when none", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const storage = new Storage(kv);
    assert.equal(await storage.output.lastSeq("c1"), 0);
    await storage.output.write("c1", 1, { stream: "stdout", data: "a" });
    await storage.output.write("c1", 10, {
      stream: "stdout",
      data: "z".repeat(3 * PART_CHARS),
    });
    await storage.output.write("c1", 9, { stream: "stdout", data: "y" });
    await storage.output.write("c10", 20, { stream: "stdout", data: "other" });
    assert.equal(await storage.output.lastSeq("c1"), 10);
    assert.equal(await storage.output.lastSeq("c10"), 20);
  } finally {
    kv.close();
  }
});

Deno.test("Storage.listRecent() returns the newest commands oldest first, up to limit", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const storage = new Storage(kv);
    await storage.insertQueued(command("c3", "a1", 300));
    await storage.insertQueued(command("c1", "a1", 100));
    await storage.insertQueued(command("c2", "a2", 200));
    await storage.insertQueued(command("c4", "a2", 400));
    await storage.insertQueued(command("c5", "a1", 500));
    const ids = (list: { id: string }[]) => list.map((c) => c.id);
    assert.deepEqual(ids(await storage.listRecent("a1", 10)), [
      "c1",
      "c3",
      "c5",
    ]);
    assert.deepEqual(ids(await storage.listRecent("a1", 2)), ["c3", "c5"]);
    assert.deepEqual(ids(await storage.listRecent(undefined, 10)), [
      "c1",
      "c2",
      "c3",
      "c4",
      "c5",
    ]);
    assert.deepEqual(ids(await storage.listRecent(undefined, 3)), [
      "c3",
      "c4",
      "c5",
    ]);
    assert.deepEqual(await storage.listRecent("nobody", 10), []);
  } finally {
    kv.close();
  }
});

Deno.test("Storage.listRecent() reads more than ten commands", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const storage = new Storage(kv);
    for (let i = 1; i <= 25; i++) {
      await storage.insertQueued(command(`c${i}`, "a1", i));
    }
    const list = await storage.listRecent("a1", 23);
    assert.deepEqual(
      list.map((c) => c.id),
      Array.from({ length: 23 }, (_, i) => `c${i + 3}`),
    );
  } finally {
    kv.close();
  }
});

Deno.test("Storage.loadQueues() lists queue entries by priority, then order", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const storage = new Storage(kv);
    await storage.insertQueued(command("low", "a1", 1, "low"));
    await storage.insertQueued(command("normal", "a1", 2));
    await storage.insertQueued(command("high-late", "a1", 4, "high"));
    await storage.insertQueued(command("high", "a1", 3, "high"));
    await storage.insertQueued(command("other", "a2", 5));
    const done = command("done", "a1", 6);
    await storage.insertQueued(done);
    await storage.saveCommand(done, true);
    assert.deepEqual(
      await storage.loadQueues(),
      new Map([["a1", ["high", "high-late", "normal", "low"]], ["a2", [
        "other",
      ]]]),
    );
  } finally {
    kv.close();
  }
});

Deno.test("Storage.loadDispatched() returns only dispatched commands", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const storage = new Storage(kv);
    await storage.insertQueued(command("c1", "a1", 1));
    const sent = { ...command("c2", "a1", 2), dispatched: true };
    await storage.insertQueued(sent);
    assert.deepEqual(await storage.loadDispatched(), [sent]);
  } finally {
    kv.close();
  }
});

Deno.test("Storage.findRequest() finds the command of a request id per user", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const storage = new Storage(kv);
    await storage.insertQueued(command("c1", "a1", 1), ["op", "r-1"]);
    assert.equal(await storage.findRequest("op", "r-1"), "c1");
    assert.equal(await storage.findRequest("other", "r-1"), null);
    assert.equal(await storage.findRequest("op", "r-2"), null);
  } finally {
    kv.close();
  }
});

Deno.test("Storage.saveAgent() and loadAgents() round-trip agents", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const storage = new Storage(kv);
    const agent = {
      id: "a1",
      name: "one",
      type: "shell",
      status: "online" as const,
      capabilities: ["pty"],
      hostname: "h",
      connectedAt: 1,
      lastSeenAt: 2,
      currentCommandId: null,
    };
    await storage.saveAgent(agent);
    await storage.saveAgent({ ...agent, lastSeenAt: 3 });
    assert.deepEqual(await storage.loadAgents(), [{ ...agent, lastSeenAt: 3 }]);
  } finally {
    kv.close();
  }
});

Deno.test("OutputStore.write() stores a chunk of the protocol's largest size", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const storage = new Storage(kv);
    const ascii = "a".repeat(LIMITS.maxChunkBytes);
    const wide = "🚀".repeat(LIMITS.maxChunkBytes / 4);
    await storage.output.write("c1", 1, { stream: "stdout", data: ascii });
    await storage.output.write("c1", 2, { stream: "stdout", data: wide });
    assert.deepEqual(await readAll(storage, "c1"), [
      { seq: 1, stream: "stdout", data: ascii },
      { seq: 2, stream: "stdout", data: wide },
    ]);
  } finally {
    kv.close();
  }
});

function finished(
  id: string,
  agentId: string,
  order: number,
  outputBytes: number,
): StoredCommand {
  const stored = command(id, agentId, order);
  return {
    ...stored,
    lastSeq: 1,
    info: {
      ...stored.info,
      status: "completed",
      startedAt: order,
      completedAt: order,
      exitCode: 0,
      outputBytes,
    },
  };
}

Deno.test("Storage.listRecent() of all agents reads only the newest through the order index", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const storage = new Storage(kv);
    for (let i = 1; i <= 30; i++) {
      await storage.insertQueued(command(`c${i}`, `a${i % 3}`, i));
    }
    let listed = 0;
    const list = kv.list.bind(kv);
    Object.assign(kv, {
      list: (selector: Deno.KvListSelector, options?: Deno.KvListOptions) => {
        const iter = list(selector, options);
        return {
          next: async () => {
            const result = await iter.next();
            if (!result.done) listed++;
            return result;
          },
          [Symbol.asyncIterator]() {
            return this;
          },
        };
      },
    });
    assert.deepEqual(
      (await storage.listRecent(undefined, 4)).map((c) => c.id),
      ["c27", "c28", "c29", "c30"],
    );
    assert.equal(listed, 4);
  } finally {
    kv.close();
  }
});

Deno.test("Storage.saveCommand() keeps the kept-bytes total exact through saves, trims and deletes", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const storage = new Storage(kv);
    await storage.migrate();
    const a = finished("a", "x", 1, 100);
    const b = finished("b", "x", 2, 50);
    await storage.saveCommand(a);
    await storage.saveCommand(b);
    await storage.saveCommand(a); // Saved again: counted once.
    assert.equal(await storage.keptBytes(), 150);
    await storage.saveCommand({ ...b, storedBytes: 20 }); // Capped output.
    assert.equal(await storage.keptBytes(), 120);
    await storage.saveCommand({ ...a, retainedFromSeq: 2 }); // Trimmed.
    assert.equal(await storage.keptBytes(), 20);
    assert.equal(await storage.deleteCommand("b"), 20);
    assert.equal(await storage.keptBytes(), 0);
    assert.equal(await storage.deleteCommand("b"), 0, "already gone");
  } finally {
    kv.close();
  }
});

Deno.test("Storage.migrate() indexes data of the older layout once", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    // The older layout: records, per-agent history, done entries only.
    const old = finished("old", "a1", 1, 7);
    const running = { ...command("run", "a1", 2), dispatched: true };
    await kv.atomic()
      .set(["cmd", "old"], old)
      .set(["cmd_by_agent", "a1", 1], "old")
      .set(["done", 1, "old"], 7)
      .set(["cmd", "run"], running)
      .set(["cmd_by_agent", "a1", 2], "run")
      .commit();
    const storage = new Storage(kv);
    await storage.migrate();
    assert.deepEqual(
      (await storage.listRecent(undefined, 10)).map((c) => c.id),
      ["old", "run"],
    );
    assert.deepEqual(await storage.loadDispatched(), [running]);
    assert.equal(await storage.keptBytes(), 7);
    const expired = [];
    for await (const id of storage.finishedBefore(2)) expired.push(id);
    assert.deepEqual(expired, ["old"]);
    // A second call reads only the version.
    await kv.delete(["cmd_by_order", 1, "old"]);
    await storage.migrate();
    assert.deepEqual(
      (await storage.listRecent(undefined, 10)).map((c) => c.id),
      ["run"],
    );
  } finally {
    kv.close();
  }
});

Deno.test("Storage.importFinished() stores finished commands with every index; refuses unfinished ones", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const storage = new Storage(kv);
    await storage.migrate();
    await storage.importFinished([
      finished("a", "x", 1, 10),
      finished("b", "y", 2, 20),
    ]);
    assert.deepEqual(
      (await storage.listRecent(undefined, 10)).map((c) => c.id),
      ["a", "b"],
    );
    assert.deepEqual((await storage.listRecent("y", 10)).map((c) => c.id), [
      "b",
    ]);
    assert.equal(await storage.keptBytes(), 30);
    await assert.rejects(
      () => storage.importFinished([command("q", "x", 3)]),
      new TypeError('Command "q" is not finished'),
    );
    assert.equal(await storage.getCommand("q"), null);
  } finally {
    kv.close();
  }
});

Deno.test("OutputStore.dropOldest() deletes whole oldest chunks before beforeSeq until enough is freed", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const storage = new Storage(kv);
    const big = "é".repeat(PART_CHARS + 10); // Two parts, 2 bytes a char.
    await storage.output.write("c1", 1, { stream: "stdout", data: "aaaa" });
    await storage.output.write("c1", 2, { stream: "stdout", data: big });
    await storage.output.write("c1", 3, { stream: "stdout", data: "cc" });
    await storage.output.write("c1", 4, { stream: "stdout", data: "dddd" });
    const meta = {
      lastSeq: 4,
      outputBytes: 999,
      storedBytes: 10 + big.length * 2,
    };
    // 5 bytes needed: chunk 1 (4 bytes) is not enough, chunk 2 goes too.
    const freed = await storage.output.dropOldest("c1", 5, 4, meta);
    assert.equal(freed, 4 + big.length * 2);
    assert.deepEqual((await readAll(storage, "c1")).map((c) => c.seq), [3, 4]);
    assert.deepEqual(await storage.output.meta("c1"), {
      ...meta,
      storedBytes: 6,
    });
    // Never at or after beforeSeq.
    const more = await storage.output.dropOldest("c1", 100, 4, {
      ...meta,
      storedBytes: 6,
    });
    assert.equal(more, 2);
    assert.deepEqual((await readAll(storage, "c1")).map((c) => c.seq), [4]);
  } finally {
    kv.close();
  }
});

Deno.test("OutputStore.read() leaves out a chunk whose later parts are gone", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const storage = new Storage(kv);
    const big = "x".repeat(PART_CHARS * 2 + 1); // Three parts.
    await storage.output.write("c1", 1, { stream: "stdout", data: big });
    await storage.output.write("c1", 2, { stream: "stdout", data: big });
    await storage.output.write("c1", 3, { stream: "stdout", data: "end" });
    // As if deleted while read: seq 1 lost its last part, seq 2 its first.
    await kv.delete(["out", "c1", 1, 2]);
    await kv.delete(["out", "c1", 2, 0]);
    assert.deepEqual(await readAll(storage, "c1"), [
      { seq: 3, stream: "stdout", data: "end" },
    ]);
  } finally {
    kv.close();
  }
});
