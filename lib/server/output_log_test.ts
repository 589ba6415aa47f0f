import assert from "node:assert/strict";
import { byteLength } from "../protocol.ts";
import {
  type OutputBackend,
  OutputLog,
  OutputStore,
  type ReadChunk,
} from "./output_log.ts";
import { connectRedis, RedisOutputStore } from "./redis_storage.ts";
import { FileOutputStore } from "./file_output.ts";
import { RedisServer } from "../../tests/redis_server.ts";

/** New empty data: a function opening stores on it (a restart opens again). */
type Fresh = () => Promise<() => OutputBackend>;

/** The output stores the model tests run on. */
const BACKENDS: {
  name: string;
  with(fn: (fresh: Fresh) => Promise<void>): Promise<void>;
}[] = [
  {
    name: "Deno KV",
    async with(fn) {
      const kvs: Deno.Kv[] = [];
      try {
        await fn(async () => {
          const kv = await Deno.openKv(":memory:");
          kvs.push(kv);
          return () => new OutputStore(kv);
        });
      } finally {
        for (const kv of kvs) kv.close();
      }
    },
  },
  {
    name: "files (small segments)",
    async with(fn) {
      const kvs: Deno.Kv[] = [];
      const dirs: string[] = [];
      const stores: FileOutputStore[] = [];
      try {
        await fn(async () => {
          const dir = await Deno.makeTempDir({ prefix: "flightdeck-files-" });
          dirs.push(dir);
          const kv = await Deno.openKv(`${dir}/kv.sqlite3`);
          kvs.push(kv);
          // A restart opens a new store (nothing cached) on the same data.
          return () => {
            const store = new FileOutputStore(kv, `${dir}/output`, {
              segmentBytes: 8192,
            });
            stores.push(store);
            return store;
          };
        });
      } finally {
        for (const store of stores) await store.close();
        for (const kv of kvs) kv.close();
        for (const dir of dirs) await Deno.remove(dir, { recursive: true });
      }
    },
  },
  {
    name: "Redis",
    async with(fn) {
      const server = await RedisServer.start();
      const client = connectRedis(server.url);
      const kvs: Deno.Kv[] = [];
      let n = 0;
      try {
        await fn(async () => {
          const kv = await Deno.openKv(":memory:");
          kvs.push(kv);
          const prefix = `t${++n}:`;
          return () => new RedisOutputStore(client, prefix, kv);
        });
      } finally {
        await client.quit();
        for (const kv of kvs) kv.close();
        await server.close();
      }
    },
  },
];

/** A small seeded PRNG (mulberry32), so a failing run can be repeated. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Text of about `chars` UTF-16 units, ASCII or not, sometimes over a part. */
function text(rand: () => number, chars: number): string {
  const kinds = ["a", "é", "日", "😀", "x\n"];
  const unit = kinds[Math.floor(rand() * kinds.length)];
  return unit.repeat(Math.max(1, Math.ceil(chars / unit.length)));
}

interface ModelChunk {
  seq: number;
  data: string;
  bytes: number;
}

/**
 * The model: the chunks the log must hold, in seq order, with the cap
 * applied as documented (drop the oldest whole chunks, never the newest,
 * down to 7/8 of the cap).
 */
class Model {
  chunks: ModelChunk[] = [];
  lastSeq = 0;
  outputBytes = 0;
  constructor(readonly cap: number) {}

  get storedBytes(): number {
    return this.chunks.reduce((sum, c) => sum + c.bytes, 0);
  }

  append(seq: number, data: string): void {
    const bytes = byteLength(data);
    this.chunks.push({ seq, data, bytes });
    this.lastSeq = seq;
    this.outputBytes += bytes;
    if (this.storedBytes > this.cap) {
      const need = this.storedBytes - (this.cap - Math.floor(this.cap / 8));
      let freed = 0;
      while (freed < need && this.chunks.length > 1) {
        freed += this.chunks.shift()!.bytes;
      }
    }
  }

  range(afterSeq: number, upTo: number): ModelChunk[] {
    return this.chunks.filter((c) => c.seq > afterSeq && c.seq <= upTo);
  }
}

async function collect(
  iter: AsyncGenerator<ReadChunk>,
): Promise<ReadChunk[]> {
  const out: ReadChunk[] = [];
  for await (const chunk of iter) out.push(chunk);
  return out;
}

/** The seq ranges a reader announces as gaps between `afterSeq` and `upTo`. */
function gaps(
  seqs: number[],
  afterSeq: number,
  upTo: number,
): [number, number][] {
  const found: [number, number][] = [];
  let expected = afterSeq + 1;
  for (const seq of seqs) {
    if (seq > expected) found.push([expected, seq - 1]);
    expected = seq + 1;
  }
  if (expected <= upTo) found.push([expected, upTo]);
  return found;
}

async function checkAgainstModel(
  log: OutputLog,
  model: Model,
  id: string,
  rand: () => number,
): Promise<void> {
  const state = log.state(id)!;
  assert.equal(state.lastSeq, model.lastSeq, "lastSeq");
  assert.equal(state.outputBytes, model.outputBytes, "outputBytes");
  assert.equal(state.storedBytes, model.storedBytes, "storedBytes");
  // The cap holds: at most the cap plus the newest chunk.
  const newest = model.chunks.at(-1)?.bytes ?? 0;
  assert.ok(state.storedBytes <= model.cap + newest, "cap");
  // Replay from any seq, up to any seq: exactly the stored chunks, in
  // order, and the missing seqs are exactly the dropped ones.
  for (let i = 0; i < 3; i++) {
    const afterSeq = Math.floor(rand() * (model.lastSeq + 2));
    const upTo = afterSeq + Math.floor(rand() * (model.lastSeq + 2));
    const read = await collect(log.read(id, afterSeq, upTo));
    const want = model.range(afterSeq, upTo);
    assert.deepEqual(
      read.map((c) => [c.seq, c.data]),
      want.map((c) => [c.seq, c.data]),
      `read(${afterSeq}, ${upTo})`,
    );
    const end = Math.min(upTo, model.lastSeq);
    const kept = new Set(want.map((c) => c.seq));
    const missing: number[] = [];
    for (let s = afterSeq + 1; s <= end; s++) if (!kept.has(s)) missing.push(s);
    const announced = gaps(read.map((c) => c.seq), afterSeq, end)
      .flatMap(([from, to]) =>
        Array.from({ length: to - from + 1 }, (_, k) => from + k)
      );
    assert.deepEqual(announced, missing, "gaps");
  }
  // An earlier page: the newest whole chunks before a seq, joined.
  const before = 1 + Math.floor(rand() * (model.lastSeq + 1));
  const page = await log.earlierPage(id, before, 4096);
  const older = model.range(0, before - 1);
  if (older.length === 0) {
    assert.equal(page, null);
  } else {
    assert.ok(page);
    assert.equal(page.toSeq, older.at(-1)!.seq);
    const inPage = older.filter((c) => c.seq >= page.fromSeq);
    assert.equal(page.fromSeq, inPage[0].seq);
    assert.equal(page.data, inPage.map((c) => c.data).join(""));
    assert.equal(page.more, inPage.length < older.length);
    const pageBytes = inPage.reduce((sum, c) => sum + c.bytes, 0);
    assert.ok(inPage.length === 1 || pageBytes <= 4096, "page size");
  }
}

for (const backend of BACKENDS) {
  Deno.test(`OutputLog on ${backend.name}: random appends, skips, caps and restarts replay exactly what a simple model holds`, async () => {
    await backend.with(async (fresh) => {
      for (let seed = 1; seed <= 12; seed++) {
        const rand = random(seed);
        const open = await fresh();
        const cap = 2048 + Math.floor(rand() * 60_000);
        const options = { maxCommandOutputBytes: cap };
        let log = new OutputLog(open(), options);
        const id = `c${seed}`;
        const model = new Model(cap);
        log.start(id);
        let seq = 0;
        for (let op = 0; op < 40; op++) {
          const r = rand();
          if (r < 0.1) {
            // The agent dropped some seqs: the next one comes later.
            seq += 1 + Math.floor(rand() * 3);
          } else if (r < 0.15) {
            // A restart: a new log restores the bookkeeping from KV.
            log = new OutputLog(open(), options);
            await log.restore(id);
          }
          seq++;
          const size = rand() < 0.1 ? 20_000 + rand() * 30_000 : rand() * 3000;
          const data = text(rand, size);
          await log.append(
            id,
            seq,
            { stream: "stdout", data },
            byteLength(data),
          );
          model.append(seq, data);
          await checkAgainstModel(log, model, id, rand);
        }
        // What is stored says the same as the live bookkeeping.
        assert.deepEqual(await log.store.meta(id), { ...log.state(id) });
        await log.delete(id);
        assert.deepEqual(await collect(log.read(id, 0)), []);
        assert.equal(await log.store.meta(id), null);
      }
    });
  });
}

Deno.test("OutputLog.append() refuses a command it does not track", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const log = new OutputLog(new OutputStore(kv));
    await assert.rejects(
      () => log.append("nope", 1, { stream: "stdout", data: "x" }, 1),
      /not tracked/,
    );
    assert.deepEqual(await collect(log.read("nope", 0)), []);
  } finally {
    kv.close();
  }
});

for (const backend of BACKENDS) {
  Deno.test(`OutputLog on ${backend.name}: appends not awaited are read back exactly at any moment, also chunks spread over several commits`, async () => {
    await backend.with(async (fresh) => {
      for (let seed = 100; seed < 106; seed++) {
        const rand = random(seed);
        const open = await fresh();
        // Small commits, so large chunks spread over several.
        const log = new OutputLog(open(), { batchBytes: 64 * 1024 });
        const ids = ["a", "b"];
        const models = new Map(ids.map((id) => [id, new Model(Infinity)]));
        for (const id of ids) log.start(id);
        const stored: Promise<void>[] = [];
        for (let op = 0; op < 60; op++) {
          const id = ids[Math.floor(rand() * ids.length)];
          const model = models.get(id)!;
          const seq = model.lastSeq + 1;
          const size = rand() < 0.1
            ? 100_000 + rand() * 150_000
            : rand() * 4000;
          const data = text(rand, size);
          stored.push(
            log.append(id, seq, { stream: "pty", data }, byteLength(data)),
          );
          model.append(seq, data);
          if (rand() < 0.3) {
            // Let some commits happen meanwhile.
            await new Promise((resolve) => setTimeout(resolve, 0));
          }
          if (rand() < 0.4) {
            const afterSeq = Math.floor(rand() * (model.lastSeq + 1));
            const read = await collect(log.read(id, afterSeq));
            assert.deepEqual(
              read.map((c) => [c.seq, c.data]),
              model.range(afterSeq, Infinity).map((c) => [c.seq, c.data]),
              `seed ${seed}: read ${id} after ${afterSeq}`,
            );
          }
        }
        await Promise.all(stored);
        await log.idle();
        for (const id of ids) {
          const model = models.get(id)!;
          assert.deepEqual(
            (await collect(log.store.read(id, 0))).map((c) => [c.seq, c.data]),
            model.range(0, Infinity).map((c) => [c.seq, c.data]),
          );
          assert.deepEqual(await log.store.meta(id), {
            lastSeq: model.lastSeq,
            outputBytes: model.outputBytes,
            storedBytes: model.storedBytes,
          });
          assert.equal(log.storedSeq(id), model.lastSeq);
        }
      }
    });
  });
}

Deno.test("OutputLog: a failed commit rejects the chunks not stored yet of its commands and sets their bookkeeping back to what is stored", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const errors: unknown[] = [];
    const log = new OutputLog(new OutputStore(kv), {
      onError: (error) => errors.push(error),
    });
    log.start("c");
    await log.append("c", 1, { stream: "stdout", data: "one" }, 3);
    const commit = kv.atomic;
    kv.atomic = function (this: Deno.Kv) {
      const op = commit.call(this);
      op.commit = () => Promise.reject(new Error("disk full"));
      return op;
    };
    const second = log.append("c", 2, { stream: "stdout", data: "two" }, 3);
    const third = log.append("c", 3, { stream: "stdout", data: "three" }, 5);
    await assert.rejects(second, /disk full/);
    await assert.rejects(third, /disk full/);
    kv.atomic = commit;
    assert.equal(errors.length, 1);
    assert.deepEqual(log.state("c"), {
      lastSeq: 1,
      outputBytes: 3,
      storedBytes: 3,
    });
    assert.deepEqual(
      (await collect(log.read("c", 0))).map((c) => c.data),
      ["one"],
    );
    // A chunk the agent sent before it learnt of the failure is refused and
    // changes nothing; what waits for the output says it is not stored.
    assert.equal(log.accepts("c", 4), false);
    await assert.rejects(
      log.append("c", 4, { stream: "stdout", data: "four" }, 4),
      /disk full/,
    );
    await assert.rejects(log.stored("c"), /disk full/);
    assert.deepEqual(log.state("c"), {
      lastSeq: 1,
      outputBytes: 3,
      storedBytes: 3,
    });
    // The agent resends: stored as if nothing happened.
    assert.equal(log.accepts("c", 2), true);
    await log.append("c", 2, { stream: "stdout", data: "two" }, 3);
    await log.stored("c");
    assert.deepEqual(
      (await collect(log.store.read("c", 0))).map((c) => c.data),
      ["one", "two"],
    );
    assert.deepEqual(await log.store.meta("c"), {
      lastSeq: 2,
      outputBytes: 6,
      storedBytes: 6,
    });
  } finally {
    kv.close();
  }
});

Deno.test("OutputLog: chunks appended while a commit is in flight are stored together in the next one", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const log = new OutputLog(new OutputStore(kv));
    log.start("c");
    let commits = 0;
    const atomic = kv.atomic;
    kv.atomic = function (this: Deno.Kv) {
      commits++;
      return atomic.call(this);
    };
    // The first starts a commit at once; the other 199 wait for it and go
    // in one more (200 small chunks are far below a commit's budget).
    const stored = [];
    for (let seq = 1; seq <= 200; seq++) {
      const data = `line ${seq}\n`;
      stored.push(
        log.append("c", seq, { stream: "stdout", data }, byteLength(data)),
      );
    }
    await Promise.all(stored);
    kv.atomic = atomic;
    assert.equal(commits, 2);
    assert.equal(log.storedSeq("c"), 200);
    assert.equal((await collect(log.store.read("c", 0))).length, 200);
  } finally {
    kv.close();
  }
});

Deno.test("OutputLog: onStored gets the bytes of the chunks each commit stored, once they are stored", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const reported: number[] = [];
    const log = new OutputLog(new OutputStore(kv), {
      onStored: (bytes) => reported.push(bytes),
    });
    log.start("c");
    // The first starts a commit at once; the other two go in the next one.
    const data = ["one\n", "twö\n", "three\n"];
    const stored = data.map((d, i) =>
      log.append("c", i + 1, { stream: "stdout", data: d }, byteLength(d))
    );
    assert.deepEqual(reported, []);
    await Promise.all(stored);
    assert.deepEqual(reported, [4, byteLength("twö\n") + 6]);
  } finally {
    kv.close();
  }
});

Deno.test("OutputLog: a flood is stored in commits of up to 704 KiB (fewer commits per MiB)", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const log = new OutputLog(new OutputStore(kv));
    log.start("c");
    let commits = 0;
    const atomic = kv.atomic;
    kv.atomic = function (this: Deno.Kv) {
      commits++;
      return atomic.call(this);
    };
    // The first chunk starts a commit at once; the next 40 (640 KiB with
    // their overhead) wait for it and all fit in one more.
    const chunk = "y".repeat(16 * 1024 - 1) + "\n";
    const stored = [];
    for (let seq = 1; seq <= 41; seq++) {
      stored.push(
        log.append("c", seq, { stream: "stdout", data: chunk }, chunk.length),
      );
    }
    await Promise.all(stored);
    kv.atomic = atomic;
    assert.equal(commits, 2);
    assert.equal(log.storedSeq("c"), 41);
  } finally {
    kv.close();
  }
});

Deno.test("OutputLog: full default batches stay within Deno KV's limits (many small chunks, non-ASCII chunks)", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const log = new OutputLog(new OutputStore(kv));
    const id = crypto.randomUUID();
    log.start(id);
    // Small chunks fill both the byte budget and the mutation cap at once
    // (each also writes a line index entry); then chunks stored at two
    // bytes per character fill the budget.
    const small = "z".repeat(1535) + "\n";
    const wide = "é".repeat(8 * 1024 - 1) + "\n";
    const stored = [];
    let seq = 0;
    for (let i = 0; i < 1000; i++) {
      stored.push(
        log.append(id, ++seq, { stream: "stdout", data: small }, small.length),
      );
    }
    for (let i = 0; i < 100; i++) {
      stored.push(
        log.append(
          id,
          ++seq,
          { stream: "stdout", data: wide },
          byteLength(wide),
        ),
      );
    }
    await Promise.all(stored);
    assert.equal(log.storedSeq(id), seq);
    const read = await collect(log.store.read(id, 0));
    assert.equal(read.length, seq);
    assert.equal(read.at(-1)!.data, wide);
  } finally {
    kv.close();
  }
});
