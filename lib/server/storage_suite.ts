/**
 * The storage test suite, run against every {@link CommandStore}: Deno KV
 * (storage.ts) and Redis (redis_storage.ts). Each backend gives a factory of
 * fresh, empty stores, and of a second client on the same data (another
 * KV handle on the same file, another Redis connection) for races.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { Priority } from "../protocol.ts";
import type { ReadChunk } from "./output_log.ts";
import type { CommandStore, StoredCommand } from "./storage.ts";

/** A fresh store and what else its test needs. */
export interface SuiteStore {
  store: CommandStore;
  /** Another client on the same data. */
  second(): Promise<CommandStore>;
  /** Close both clients and delete the data. */
  close(): Promise<void>;
}

/** A command as first stored, queued. */
export function queued(
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

/** `command` finished at `completedAt` with `outputBytes` of output. */
function finished(
  command: StoredCommand,
  completedAt: number,
  outputBytes: number,
): StoredCommand {
  return {
    ...command,
    dispatched: false,
    info: {
      ...command.info,
      status: "completed",
      startedAt: completedAt - 1,
      completedAt,
      exitCode: 0,
      outputBytes,
    },
  };
}

async function readAll(
  store: CommandStore,
  id: string,
  afterSeq = 0,
  upTo?: number,
): Promise<ReadChunk[]> {
  const chunks: ReadChunk[] = [];
  for await (const chunk of store.output.read(id, afterSeq, upTo)) {
    chunks.push(chunk);
  }
  return chunks;
}

async function collect<T>(iter: AsyncIterable<T>): Promise<T[]> {
  const all: T[] = [];
  for await (const item of iter) all.push(item);
  return all;
}

/** The suite's cases: each gets a fresh store. */
export const STORAGE_CASES: Record<
  string,
  (s: SuiteStore) => Promise<void>
> = {
  "insertQueued stores the record, the request id, history and the queue in priority then arrival order":
    async ({ store }) => {
      await store.insertQueued(queued("a", "ag1", 10, "low"));
      await store.insertQueued(queued("b", "ag1", 11), ["u1", "r1"]);
      await store.insertQueued(queued("c", "ag1", 12, "high"));
      await store.insertQueued(queued("d", "ag2", 13));
      assert.deepEqual(await store.getCommand("b"), queued("b", "ag1", 11));
      assert.equal(await store.getCommand("zz"), null);
      assert.equal(await store.findRequest("u1", "r1"), "b");
      assert.equal(await store.findRequest("u1", "r2"), null);
      assert.equal(await store.findRequest("u2", "r1"), null);
      assert.deepEqual(
        [...await store.loadQueues()],
        [["ag1", ["c", "b", "a"]], ["ag2", ["d"]]],
      );
      assert.deepEqual(
        (await store.listRecent("ag1", 2)).map((c) => c.id),
        ["b", "c"],
      );
      assert.deepEqual(
        (await store.listRecent(undefined, 10)).map((c) => c.id),
        ["a", "b", "c", "d"],
      );
      assert.deepEqual(await store.listRecentStored("ag3", 5), []);
    },

  "claimNext takes the first entry by priority then arrival and marks it dispatched":
    async ({ store }) => {
      await store.insertQueued(queued("a", "ag1", 1, "low"));
      await store.insertQueued(queued("b", "ag1", 2));
      await store.insertQueued(queued("c", "ag1", 3, "high"));
      await store.insertQueued(queued("d", "ag1", 4, "high"));
      const order: string[] = [];
      for (;;) {
        const claimed = await store.claimNext("ag1");
        if (!claimed) break;
        assert.equal(claimed.dispatched, true);
        assert.deepEqual(await store.getCommand(claimed.info.id), claimed);
        order.push(claimed.info.id);
      }
      assert.deepEqual(order, ["c", "d", "b", "a"]);
      assert.equal(await store.claimNext("ag1"), null);
      assert.equal(await store.claimNext("nobody"), null);
      assert.deepEqual([...await store.loadQueues()], []);
      assert.deepEqual(
        (await store.loadDispatched()).map((c) => c.info.id).sort(),
        ["a", "b", "c", "d"],
      );
    },

  "claim saves a queued command as dispatched only while its queue entry is there; of two racing claims one wins":
    async ({ store, second }) => {
      const other = await second();
      for (let n = 1; n <= 200; n++) {
        await store.insertQueued(queued(`k${n}`, "ag1", n));
      }
      for (let n = 1; n <= 200; n++) {
        const claimed = { ...queued(`k${n}`, "ag1", n), dispatched: true };
        const [a, b] = await Promise.all([
          store.claim(claimed),
          other.claim(claimed),
        ]);
        assert.equal(Number(a) + Number(b), 1, `k${n} claimed once`);
        assert.deepEqual(await store.getCommand(`k${n}`), claimed);
      }
      assert.deepEqual([...await store.loadQueues()], []);
      assert.equal((await store.loadDispatched()).length, 200);
      // Gone from the queue (cancelled): a claim writes nothing.
      const c = queued("late", "ag1", 500);
      await store.insertQueued(c);
      const cancelled = finished(c, 600, 0);
      await store.saveCommand(cancelled, true);
      assert.equal(await store.claim({ ...c, dispatched: true }), false);
      assert.deepEqual(await store.getCommand("late"), cancelled);
    },

  "saveCommand with dequeue removes the queue entry; finishing indexes it for retention":
    async ({ store }) => {
      const a = queued("a", "ag1", 1);
      const b = queued("b", "ag1", 2);
      await store.insertQueued(a);
      await store.insertQueued(b);
      await store.saveCommand({ ...a, dispatched: true }, true);
      assert.deepEqual([...await store.loadQueues()], [["ag1", ["b"]]]);
      assert.deepEqual(
        (await store.loadDispatched()).map((c) => c.info.id),
        ["a"],
      );
      await store.saveCommand(finished(a, 1000, 300));
      assert.deepEqual(await store.loadDispatched(), []);
      assert.equal(await store.keptBytes(), 300);
      // Saved again (same bytes): the total does not count it twice.
      await store.saveCommand(finished(a, 1000, 300));
      assert.equal(await store.keptBytes(), 300);
      await store.saveCommand(finished(b, 2000, 50), true);
      assert.deepEqual([...await store.loadQueues()], []);
      assert.equal(await store.keptBytes(), 350);
      assert.deepEqual(await collect(store.finishedBefore(2000)), ["a"]);
      assert.deepEqual(await collect(store.finishedBefore(2001)), ["a", "b"]);
      assert.deepEqual(await collect(store.finishedWithOutput()), [
        { id: "a", completedAt: 1000, bytes: 300 },
        { id: "b", completedAt: 2000, bytes: 50 },
      ]);
      // Output dropped by retention: no longer counted, record kept.
      await store.saveCommand({
        ...finished(a, 1000, 300),
        retainedFromSeq: 4,
      });
      assert.equal(await store.keptBytes(), 50);
      assert.deepEqual(
        (await collect(store.finishedWithOutput())).map((e) => e.id),
        ["b"],
      );
      // The cap dropped some of b's output: its stored bytes count.
      await store.saveCommand({ ...finished(b, 2000, 50), storedBytes: 20 });
      assert.equal(await store.keptBytes(), 20);
      assert.equal(await store.deleteCommand("b"), 20);
      assert.equal(await store.keptBytes(), 0);
      assert.equal(await store.getCommand("b"), null);
      assert.equal(await store.deleteCommand("b"), 0);
      assert.deepEqual(
        (await store.listRecent(undefined, 10)).map((c) => c.id),
        ["a"],
      );
      assert.deepEqual(await collect(store.finishedBefore(5000)), ["a"]);
    },

  "insertRunning indexes a command as dispatched without a queue entry": async (
    { store },
  ) => {
    const s = { ...queued("s", "ag1", 5), dispatched: true };
    await store.insertRunning(s);
    assert.deepEqual([...await store.loadQueues()], []);
    assert.deepEqual(await store.loadDispatched(), [s]);
    assert.deepEqual(await store.listRecentStored("ag1", 1), [s]);
  },

  "importFinished stores finished commands with indexes and refuses an unfinished one":
    async ({ store }) => {
      const done = [1, 2, 3].map((n) =>
        finished(queued(`i${n}`, "ag1", n), 100 * n, 10 * n)
      );
      await assert.rejects(
        store.importFinished([...done, queued("q", "ag1", 9)]),
        TypeError,
      );
      assert.deepEqual(await store.listRecent(undefined, 10), []);
      await store.importFinished(done);
      assert.equal(await store.keptBytes(), 60);
      assert.deepEqual(
        (await store.listRecent("ag1", 10)).map((c) => c.id),
        ["i1", "i2", "i3"],
      );
      assert.deepEqual(await collect(store.finishedBefore(300)), ["i1", "i2"]);
      assert.deepEqual(await store.finishedAfter(null, 2), [
        [100, "i1"],
        [200, "i2"],
      ]);
      assert.deepEqual(await store.finishedAfter([100, "i1"], 5), [
        [200, "i2"],
        [300, "i3"],
      ]);
      assert.deepEqual(await store.finishedAfter([300, "i3"], 5), []);
      // Same completion time: by id.
      await store.importFinished([
        finished(queued("i0", "ag1", 7), 200, 1),
        finished(queued("i9", "ag1", 8), 200, 1),
      ]);
      assert.deepEqual(await store.finishedAfter([200, "i0"], 2), [
        [200, "i2"],
        [200, "i9"],
      ]);
    },

  "output chunks round-trip by seq with their time; ranges, lastSeq and meta":
    async ({ store }) => {
      const { output } = store;
      const wide = "é😀".repeat(40_000); // split by KV, one entry in Redis
      await output.write("c1", 1, { stream: "stdout", data: "one", at: 5 });
      await output.write("c1", 2, { stream: "stderr", data: wide, at: 6 });
      await output.write("c1", 3, { stream: "pty", data: "three" }, {
        lastSeq: 3,
        outputBytes: 8 + wide.length * 3,
        storedBytes: 8 + wide.length * 3,
      });
      await output.write("c10", 7, { stream: "stdout", data: "other" });
      assert.deepEqual(await readAll(store, "c1"), [
        { seq: 1, stream: "stdout", data: "one", at: 5 },
        { seq: 2, stream: "stderr", data: wide, at: 6 },
        { seq: 3, stream: "pty", data: "three" },
      ]);
      assert.deepEqual(
        (await readAll(store, "c1", 1, 2)).map((c) => c.seq),
        [2],
      );
      assert.deepEqual(await readAll(store, "c1", 3), []);
      assert.deepEqual(await readAll(store, "none"), []);
      assert.equal(await output.lastSeq("c1"), 3);
      assert.equal(await output.lastSeq("c10"), 7);
      assert.equal(await output.lastSeq("none"), 0);
      assert.deepEqual(await output.meta("c1"), {
        lastSeq: 3,
        outputBytes: 8 + wide.length * 3,
        storedBytes: 8 + wide.length * 3,
      });
      assert.equal(await output.meta("c10"), null);
      const many: ReadChunk[] = [];
      for await (const chunk of output.read("c1", 0, undefined, 1)) {
        many.push(chunk);
      }
      assert.deepEqual(many.map((c) => c.seq), [1, 2, 3]);
    },

  "pageStart, dropOldest and delete work on whole chunks": async (
    { store },
  ) => {
    const { output } = store;
    for (let seq = 1; seq <= 5; seq++) {
      await output.write("c1", seq, { stream: "stdout", data: "x".repeat(10) });
    }
    assert.equal(await output.pageStart("c1", 6, 25), 4);
    assert.equal(await output.pageStart("c1", 6, 5), 5);
    assert.equal(await output.pageStart("c1", 3, 1000), 1);
    assert.equal(await output.pageStart("c1", 1, 1000), null);
    const meta = { lastSeq: 5, outputBytes: 50, storedBytes: 50 };
    assert.equal(await output.dropOldest("c1", 15, 5, meta), 20);
    assert.deepEqual(await output.meta("c1"), { ...meta, storedBytes: 30 });
    assert.deepEqual((await readAll(store, "c1")).map((c) => c.seq), [3, 4, 5]);
    // Never at or past beforeSeq.
    assert.equal(
      await output.dropOldest("c1", 1000, 5, { ...meta, storedBytes: 30 }),
      20,
    );
    assert.deepEqual((await readAll(store, "c1")).map((c) => c.seq), [5]);
    assert.equal(await output.pageStart("c1", 5, 1000), null);
    await store.recordResize("c1", 5, { cols: 80, rows: 24, at: 1 });
    await output.delete("c1");
    assert.deepEqual(await readAll(store, "c1"), []);
    assert.equal(await output.meta("c1"), null);
    assert.deepEqual(await collect(store.readResizes("c1")), []);
  },

  "resizes are kept per seq, the last per seq wins, read in seq order": async (
    { store },
  ) => {
    await store.recordResize("c1", 10, { cols: 100, rows: 30, at: 3 });
    await store.recordResize("c1", 2, { cols: 80, rows: 24, at: 1 });
    await store.recordResize("c1", 2, { cols: 90, rows: 25, at: 2 });
    assert.deepEqual(await collect(store.readResizes("c1")), [
      { afterSeq: 2, cols: 90, rows: 25, at: 2 },
      { afterSeq: 10, cols: 100, rows: 30, at: 3 },
    ]);
  },

  "agents are saved, replaced and forgotten in call order": async (
    { store },
  ) => {
    const agent = (id: string, name: string) => ({
      id,
      name,
      status: "offline" as const,
    });
    const first = agent("a1", "one");
    store.saveAgent(first as never);
    store.saveAgent(agent("a2", "two") as never);
    store.saveAgent(agent("a1", "uno") as never);
    await store.deleteAgent("a2");
    assert.deepEqual(await store.loadAgents(), [agent("a1", "uno")]);
  },

  "two clients race to claim the same queue a thousand times: no command starts twice":
    async ({ store, second }) => {
      const other = await second();
      const ids: string[] = [];
      for (let n = 0; n < 1000; n++) ids.push(`r${n}`);
      for (let n = 0; n < ids.length; n += 50) {
        await Promise.all(
          ids.slice(n, n + 50).map((id, i) =>
            store.insertQueued(queued(id, "ag1", n + i + 1))
          ),
        );
      }
      const claims = async (client: CommandStore) => {
        const got: string[] = [];
        for (;;) {
          const claimed = await client.claimNext("ag1");
          if (!claimed) return got;
          got.push(claimed.info.id);
        }
      };
      const [one, two] = await Promise.all([claims(store), claims(other)]);
      const all = [...one, ...two];
      assert.equal(all.length, 1000, "every command claimed once");
      assert.equal(new Set(all).size, 1000, "no command claimed twice");
      assert.ok(one.length > 0 && two.length > 0, "both clients claimed");
      // Each client claimed in queue order.
      for (const got of [one, two]) {
        const seqs = got.map((id) => Number(id.slice(1)));
        assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b));
      }
    },
};
