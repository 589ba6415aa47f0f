import assert from "node:assert/strict";
import { ConnectionTable } from "./conn_table.ts";

Deno.test("ConnectionTable.add() over the per-key cap evicts the oldest pending entry of that key", () => {
  const table = new ConnectionTable<string>({ maxTotal: 10, maxPerKey: 2 });
  assert.deepEqual(table.add("a1", "a"), { admitted: true, evicted: [] });
  assert.deepEqual(table.add("a2", "a"), { admitted: true, evicted: [] });
  assert.deepEqual(table.add("b1", "b"), { admitted: true, evicted: [] });
  assert.deepEqual(table.add("a3", "a"), { admitted: true, evicted: ["a1"] });
  assert.deepEqual(table.entries(), ["a2", "b1", "a3"]);
  assert.equal(table.countFor("a"), 2);
});

Deno.test("ConnectionTable.add() refuses a new entry when every entry of its key has settled", () => {
  const table = new ConnectionTable<string>({ maxTotal: 10, maxPerKey: 2 });
  table.add("a1", "a");
  table.add("a2", "a");
  table.settle("a1");
  table.settle("a2");
  assert.deepEqual(table.add("a3", "a"), { admitted: false, evicted: [] });
  assert.deepEqual(table.entries(), ["a1", "a2"]);
});

Deno.test("ConnectionTable.add() over the global cap evicts the oldest pending entry of any key", () => {
  const table = new ConnectionTable<string>({ maxTotal: 3, maxPerKey: 3 });
  table.add("a1", "a");
  table.add("b1", "b");
  table.add("c1", "c");
  table.settle("a1");
  assert.deepEqual(table.add("d1", "d"), { admitted: true, evicted: ["b1"] });
  table.settle("c1");
  table.settle("d1");
  assert.deepEqual(table.add("e1", "e"), { admitted: false, evicted: [] });
  assert.equal(table.size, 3);
  assert.equal(table.pendingCount, 0);
});

Deno.test("ConnectionTable.remove() forgets the entry and empty keys", () => {
  const table = new ConnectionTable<string>({ maxTotal: 3, maxPerKey: 1 });
  table.add("a1", "a");
  assert.equal(table.remove("a1"), true);
  assert.equal(table.remove("a1"), false);
  assert.equal(table.countFor("a"), 0);
  assert.equal(table.size, 0);
  assert.equal(table.pendingCount, 0);
  assert.deepEqual(table.add("a2", "a"), { admitted: true, evicted: [] });
});

Deno.test("ConnectionTable throws RangeError for limits below 1", () => {
  assert.throws(
    () => new ConnectionTable({ maxTotal: 0, maxPerKey: 1 }),
    RangeError,
  );
});

Deno.test("ConnectionTable.add() with no pending entry evicts the oldest settled entry that evictable accepts, first under the key, then in all", () => {
  const idle = new Set(["b1", "c1", "a2"]);
  const table = new ConnectionTable<string>({
    maxTotal: 4,
    maxPerKey: 2,
    evictable: (entry) => idle.has(entry),
  });
  for (const [entry, key] of [["a1", "a"], ["b1", "b"], ["c1", "c"]]) {
    table.add(entry, key);
    table.settle(entry);
  }
  // Per key: a1 is busy, so a3 evicts the idle a2.
  table.add("a2", "a");
  table.settle("a2");
  assert.deepEqual(table.add("a3", "a"), { admitted: true, evicted: ["a2"] });
  table.settle("a3");
  // Global: the oldest idle entry of any key.
  assert.deepEqual(table.add("d1", "d"), { admitted: true, evicted: ["b1"] });
  table.settle("d1");
  idle.clear();
  assert.deepEqual(table.add("e1", "e"), { admitted: false, evicted: [] });
  assert.deepEqual(table.entries(), ["a1", "c1", "a3", "d1"]);
});
