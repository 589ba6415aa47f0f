import assert from "node:assert/strict";
import { LIMITS, type Priority } from "../protocol.ts";
import { Storage, type StoredChunk, type StoredCommand } from "./storage.ts";

const PART_CHARS = 16 * 1024;

function command(
  id: string,
  agentId: string,
  order: number,
  priority: Priority = "normal",
): StoredCommand {
  return {
    info: {
      id,
      agentId,
      command: `echo ${id}`,
      priority,
      status: "queued",
      requestedBy: "op",
      requestedAt: order,
      startedAt: null,
      completedAt: null,
      exitCode: null,
      outputBytes: 0,
    },
    order,
    dispatched: false,
    interruptReason: null,
    timeoutMs: null,
  };
}

async function readAll(storage: Storage, commandId: string, afterSeq = 0) {
  const chunks: ({ seq: number } & StoredChunk)[] = [];
  for await (const chunk of storage.readOutput(commandId, afterSeq)) {
    chunks.push(chunk);
  }
  return chunks;
}

Deno.test("Storage.appendOutput() and readOutput() round-trip chunks in seq order", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const storage = new Storage(kv);
    await storage.appendOutput("c1", 2, { stream: "stderr", data: "two" });
    await storage.appendOutput("c1", 1, { stream: "stdout", data: "one" });
    await storage.appendOutput("c1", 3, {
      stream: "pty",
      data: "\x1b[1mthree",
    });
    await storage.appendOutput("c2", 1, { stream: "stdout", data: "other" });
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

Deno.test("Storage.appendOutput() splits a large chunk without breaking a surrogate pair", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const storage = new Storage(kv);
    // The emoji's high surrogate is the last unit of the first part.
    const data = "a".repeat(PART_CHARS - 1) + "🚀" + "b".repeat(PART_CHARS) +
      "é€😀".repeat(5000);
    assert.equal(data.charCodeAt(PART_CHARS - 1), 0xd83d);
    await storage.appendOutput("c1", 1, { stream: "stdout", data });
    await storage.appendOutput("c1", 2, { stream: "stdout", data: "tail" });
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
    assert.equal(await storage.lastSeq("c1"), 2);
  } finally {
    kv.close();
  }
});

Deno.test("Storage.appendOutput() stores a chunk of exactly 16 K chars in one part", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const storage = new Storage(kv);
    const data = "x".repeat(PART_CHARS);
    await storage.appendOutput("c1", 1, { stream: "stdout", data });
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

Deno.test("Storage.lastSeq() returns the highest stored seq, 0 when none", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const storage = new Storage(kv);
    assert.equal(await storage.lastSeq("c1"), 0);
    await storage.appendOutput("c1", 1, { stream: "stdout", data: "a" });
    await storage.appendOutput("c1", 10, {
      stream: "stdout",
      data: "z".repeat(3 * PART_CHARS),
    });
    await storage.appendOutput("c1", 9, { stream: "stdout", data: "y" });
    await storage.appendOutput("c10", 20, { stream: "stdout", data: "other" });
    assert.equal(await storage.lastSeq("c1"), 10);
    assert.equal(await storage.lastSeq("c10"), 20);
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

Deno.test("Storage.appendOutput() stores a chunk of the protocol's largest size", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const storage = new Storage(kv);
    const ascii = "a".repeat(LIMITS.maxChunkBytes);
    const wide = "🚀".repeat(LIMITS.maxChunkBytes / 4);
    await storage.appendOutput("c1", 1, { stream: "stdout", data: ascii });
    await storage.appendOutput("c1", 2, { stream: "stdout", data: wide });
    assert.deepEqual(await readAll(storage, "c1"), [
      { seq: 1, stream: "stdout", data: ascii },
      { seq: 2, stream: "stdout", data: wide },
    ]);
  } finally {
    kv.close();
  }
});
