import assert from "node:assert/strict";
import { enforceRetention } from "./retention.ts";
import { Storage, type StoredCommand } from "./storage.ts";

function command(
  id: string,
  completedAt: number | null,
  outputBytes: number,
): StoredCommand {
  return {
    info: {
      id,
      agentId: "a1",
      command: "x",
      priority: "normal",
      status: completedAt === null ? "running" : "completed",
      requestedBy: "u",
      requestedAt: 1,
      startedAt: 1,
      completedAt,
      exitCode: completedAt === null ? null : 0,
      outputBytes,
    },
    order: 1,
    dispatched: completedAt === null,
    interruptReason: null,
    timeoutMs: null,
    lastSeq: 2,
  };
}

async function withStorage(fn: (storage: Storage) => Promise<void>) {
  const kv = await Deno.openKv(":memory:");
  try {
    await fn(new Storage(kv));
  } finally {
    kv.close();
  }
}

async function seed(storage: Storage, stored: StoredCommand) {
  await storage.saveCommand(stored);
  await storage.output.write(stored.info.id, 1, {
    stream: "stdout",
    data: "a",
  });
  await storage.output.write(stored.info.id, 2, {
    stream: "stdout",
    data: "b",
  });
}

Deno.test("enforceRetention() deletes commands finished longer ago than maxAgeMs with their output and index entries", async () => {
  await withStorage(async (storage) => {
    const old = command("old", 1_000, 2);
    await storage.insertQueued(old);
    await seed(storage, old);
    const recent = { ...command("new", 90_000, 2), order: 2 };
    await storage.insertQueued(recent);
    await seed(storage, recent);
    const result = await enforceRetention(storage, {
      maxAgeMs: 50_000,
      maxBytes: 1e9,
    }, 100_000);
    assert.deepEqual(result, {
      deletedCommands: 1,
      trimmedCommands: 0,
      freedBytes: 2,
      keptBytes: 2,
    });
    assert.equal(await storage.getCommand("old"), null);
    assert.equal(await storage.output.lastSeq("old"), 0);
    assert.equal(await storage.output.lastSeq("new"), 2);
    assert.deepEqual(
      (await storage.listRecent("a1", 10)).map((c) => c.id),
      ["new"],
    );
    assert.deepEqual(
      (await storage.listRecent(undefined, 10)).map((c) => c.id),
      ["new"],
    );
    // Nothing of "old" is left under any key.
    const keys: Deno.KvKey[] = [];
    for await (const entry of storage.kv.list({ prefix: [] })) {
      if (entry.key.includes("old")) keys.push(entry.key);
    }
    assert.deepEqual(keys, []);
  });
});

Deno.test("enforceRetention() deletes a command whose output was trimmed for size once it is old enough", async () => {
  await withStorage(async (storage) => {
    await seed(storage, command("first", 10, 3_000));
    await seed(storage, command("second", 20, 3_000));
    assert.deepEqual(
      await enforceRetention(storage, { maxAgeMs: 1e6, maxBytes: 3_000 }, 100),
      {
        deletedCommands: 0,
        trimmedCommands: 1,
        freedBytes: 3_000,
        keptBytes: 3_000,
      },
    );
    assert.equal((await storage.getCommand("first"))?.retainedFromSeq, 3);
    assert.deepEqual(
      await enforceRetention(storage, { maxAgeMs: 50, maxBytes: 3_000 }, 100),
      {
        deletedCommands: 2,
        trimmedCommands: 0,
        freedBytes: 3_000,
        keptBytes: 0,
      },
    );
    assert.equal(await storage.getCommand("first"), null);
    assert.equal(await storage.getCommand("second"), null);
  });
});

Deno.test("enforceRetention() deletes the oldest finished output first over maxBytes, never a running command's", async () => {
  await withStorage(async (storage) => {
    await seed(storage, command("running", null, 5_000));
    await seed(storage, command("first", 10, 3_000));
    await seed(storage, command("second", 20, 3_000));
    await seed(storage, command("third", 30, 3_000));
    // Running output is neither counted nor trimmed; finished output is cut
    // to the budget, oldest first.
    const result = await enforceRetention(storage, {
      maxAgeMs: 1e12,
      maxBytes: 4_000,
    }, 100);
    assert.deepEqual(result, {
      deletedCommands: 0,
      trimmedCommands: 2,
      freedBytes: 6_000,
      keptBytes: 3_000,
    });
    assert.equal(await storage.output.lastSeq("first"), 0);
    assert.equal(await storage.output.lastSeq("second"), 0);
    assert.equal(await storage.output.lastSeq("third"), 2);
    assert.equal(await storage.output.lastSeq("running"), 2);
    // A second pass has nothing left to do.
    assert.deepEqual(
      await enforceRetention(storage, { maxAgeMs: 1e12, maxBytes: 4_000 }, 100),
      {
        deletedCommands: 0,
        trimmedCommands: 0,
        freedBytes: 0,
        keptBytes: 3_000,
      },
    );
  });
});

Deno.test("enforceRetention() handles at most maxCommandsPerPass commands; the next pass goes on", async () => {
  await withStorage(async (storage) => {
    for (let i = 1; i <= 5; i++) {
      await seed(storage, { ...command(`c${i}`, i, 2), order: i });
    }
    const limits = { maxAgeMs: 50, maxBytes: 1e9, maxCommandsPerPass: 2 };
    const passes = [];
    for (let pass = 0; pass < 4; pass++) {
      passes.push(
        (await enforceRetention(storage, limits, 100)).deletedCommands,
      );
    }
    assert.deepEqual(passes, [2, 2, 1, 0]);
    assert.equal(await storage.keptBytes(), 0);
  });
});
