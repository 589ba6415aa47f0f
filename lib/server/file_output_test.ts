/**
 * FileOutputStore beyond the output log's property tests (output_log_test)
 * and the storage suite: crashes between the file write and the KV commit,
 * damaged files, data of older versions in KV, seeking in huge logs,
 * disk space after drops, deletion.
 */
import assert from "node:assert/strict";
import { byteLength } from "../protocol.ts";
import {
  type FileOutputOptions,
  FileOutputStore,
  type FileState,
  folderName,
  HEADER_BYTES,
} from "./file_output.ts";
import {
  type OutputBatch,
  OutputLog,
  OutputStore,
  type ReadChunk,
} from "./output_log.ts";
import { lineEntry } from "./line_index.ts";

/** A KV file and an output folder in a fresh temporary folder. */
async function fresh(): Promise<
  {
    kv: Deno.Kv;
    dir: string;
    out: string;
    /** A store on this data (a new one: as after a restart). */
    store(options?: FileOutputOptions): FileOutputStore;
    [Symbol.asyncDispose](): Promise<void>;
  }
> {
  const dir = await Deno.makeTempDir({ prefix: "flightdeck-file-output-" });
  const kv = await Deno.openKv(`${dir}/kv.sqlite3`);
  const stores: FileOutputStore[] = [];
  return {
    kv,
    dir,
    out: `${dir}/output`,
    store(options) {
      const store = new FileOutputStore(kv, `${dir}/output`, options);
      stores.push(store);
      return store;
    },
    async [Symbol.asyncDispose]() {
      for (const store of stores) await store.close();
      kv.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

async function collect(iter: AsyncGenerator<ReadChunk>): Promise<ReadChunk[]> {
  const out: ReadChunk[] = [];
  for await (const chunk of iter) out.push(chunk);
  return out;
}

async function texts(store: FileOutputStore, id: string, afterSeq = 0) {
  return (await collect(store.read(id, afterSeq))).map((c) => [c.seq, c.data]);
}

function batch(id: string, chunks: [number, string][]): OutputBatch {
  let bytes = 0;
  return {
    parts: chunks.map(([seq, data]) => {
      bytes += byteLength(data);
      return { commandId: id, seq, part: 0, value: { stream: "stdout", data } };
    }),
    lines: [],
    metas: [[id, {
      lastSeq: chunks.at(-1)![0],
      outputBytes: bytes,
      storedBytes: bytes,
    }]],
  };
}

async function keys(kv: Deno.Kv, prefix: Deno.KvKey): Promise<Deno.KvKey[]> {
  const found: Deno.KvKey[] = [];
  for await (const entry of kv.list({ prefix })) found.push(entry.key);
  return found;
}

/** Make every KV commit of `kv` fail (what a crash right before it does). */
function failCommits(kv: Deno.Kv): () => void {
  const atomic = kv.atomic;
  kv.atomic = function (this: Deno.Kv) {
    const op = atomic.call(this);
    op.commit = () => Promise.reject(new Error("crash before the KV commit"));
    return op;
  };
  return () => kv.atomic = atomic;
}

Deno.test("FileOutputStore: bytes written by a commit whose KV commit never happened are never read, and the next append (after a reopen) overwrites them", async () => {
  await using t = await fresh();
  const store = t.store();
  await store.commit(batch("c", [[1, "one\n"], [2, "two\n"]]));
  const segment = `${t.out}/c/1.seg`;
  const committed = (await Deno.stat(segment)).size;
  // The records of seq 3 reach the file (synced), then the "crash".
  const restore = failCommits(t.kv);
  await assert.rejects(
    store.commit(batch("c", [[3, "lost three\n"]])),
    /crash before/,
  );
  restore();
  assert.ok((await Deno.stat(segment)).size > committed, "bytes past the end");
  // A torn write after them too.
  const file = await Deno.open(segment, { append: true });
  await file.write(new Uint8Array([1, 2, 3, 4, 5, 6, 7]));
  file.close();
  // The restarted server: a new store on the same data.
  const reopened = t.store();
  assert.deepEqual(await texts(reopened, "c"), [[1, "one\n"], [2, "two\n"]]);
  assert.equal(await reopened.lastSeq("c"), 2);
  assert.equal(await reopened.pageStart("c", 3, 1), 2);
  // The agent resends seq 3 (its bytes may differ): stored over the junk.
  await reopened.commit(batch("c", [[3, "three\n"]]));
  assert.deepEqual(await texts(reopened, "c"), [
    [1, "one\n"],
    [2, "two\n"],
    [3, "three\n"],
  ]);
  const state = (await t.kv.get<FileState>(["out_file", "c"])).value!;
  assert.equal((await Deno.stat(segment)).size, state.end);
  assert.equal(state.end, committed + HEADER_BYTES + 8);
});

Deno.test("FileOutputStore: a failed KV commit of a new segment or a new command leaves nothing readable, and the retry stores exactly once", async () => {
  await using t = await fresh();
  const store = t.store({ segmentBytes: 64 });
  const restore = failCommits(t.kv);
  await assert.rejects(store.commit(batch("new", [[1, "a"]])), /crash/);
  restore();
  assert.deepEqual(await texts(store, "new"), []);
  assert.equal(await store.lastSeq("new"), 0);
  await store.commit(batch("new", [[1, "x".repeat(100)]]));
  // The segment is full (64 bytes): the next commit starts segment 2.
  const restore2 = failCommits(t.kv);
  await assert.rejects(store.commit(batch("new", [[2, "b"]])), /crash/);
  restore2();
  const reopened = t.store({ segmentBytes: 64 });
  await reopened.commit(batch("new", [[2, "bb"], [3, "c"]]));
  assert.deepEqual(await texts(reopened, "new"), [
    [1, "x".repeat(100)],
    [2, "bb"],
    [3, "c"],
  ]);
  assert.equal(
    (await Deno.stat(`${t.out}/new/2.seg`)).size,
    2 * (HEADER_BYTES + 4),
  );
});

Deno.test("FileOutputStore: a chunk spread over several commits, cut by a crash and resent whole, is read once and whole", async () => {
  await using t = await fresh();
  const store = t.store();
  const log = new OutputLog(store, { batchBytes: 40 * 1024 });
  log.start("c");
  await log.append("c", 1, { stream: "pty", data: "first\n" }, 6);
  // 100 Ki characters: 7 parts over several commits; the last one fails.
  const big = "é".repeat(100 * 1024);
  const atomic = t.kv.atomic;
  let commits = 0;
  t.kv.atomic = function (this: Deno.Kv) {
    const op = atomic.call(this);
    if (++commits === 4) {
      op.commit = () => Promise.reject(new Error("crash before the KV commit"));
    }
    return op;
  };
  await assert.rejects(
    log.append("c", 2, { stream: "pty", data: big }, byteLength(big)),
    /crash/,
  );
  t.kv.atomic = atomic;
  const reopened = t.store();
  // The parts stored so far make no chunk.
  assert.deepEqual(await texts(reopened, "c"), [[1, "first\n"]]);
  const restarted = new OutputLog(reopened);
  await restarted.restore("c");
  await restarted.append("c", 2, { stream: "pty", data: big }, byteLength(big));
  await restarted.append("c", 3, { stream: "pty", data: "after\n" }, 6);
  assert.deepEqual(await texts(reopened, "c"), [
    [1, "first\n"],
    [2, big],
    [3, "after\n"],
  ]);
  assert.deepEqual(await texts(reopened, "c", 1), [[2, big], [3, "after\n"]]);
  assert.equal(await reopened.pageStart("c", 4, 10), 3);
  assert.equal(await reopened.pageStart("c", 3, 10), 2);
  assert.equal(await reopened.lastSeq("c"), 3);
});

Deno.test("FileOutputStore: a damaged chunk is left out (a gap); after a damaged header reads go on at the next commit's records", async () => {
  await using t = await fresh();
  const store = t.store();
  await store.commit(batch("c", [[1, "aaaa"]]));
  await store.commit(batch("c", [[2, "bbbb"], [3, "cccc"]]));
  await store.commit(batch("c", [[4, "dddd"], [5, "eeee"]]));
  const segment = `${t.out}/c/1.seg`;
  const bytes = await Deno.readFile(segment);
  const record = HEADER_BYTES + 4;
  // A flipped bit in the data of seq 2.
  bytes[record + HEADER_BYTES + 1] ^= 0x20;
  await Deno.writeFile(segment, bytes);
  assert.deepEqual(await texts(store, "c"), [
    [1, "aaaa"],
    [3, "cccc"],
    [4, "dddd"],
    [5, "eeee"],
  ]);
  // The header of seq 3 is no header any more: what follows it in its
  // commit is lost, the next commit's records are read.
  bytes[2 * record + 29] = 0;
  await Deno.writeFile(segment, bytes);
  assert.deepEqual(await texts(store, "c"), [
    [1, "aaaa"],
    [4, "dddd"],
    [5, "eeee"],
  ]);
  assert.deepEqual(await texts(store, "c", 2), [[4, "dddd"], [5, "eeee"]]);
  assert.equal(await store.pageStart("c", 6, 1000), 1);
  // The last commit's header too: nothing after it to go on with.
  bytes[3 * record + 29] = 0;
  await Deno.writeFile(segment, bytes);
  assert.deepEqual(await texts(store, "c"), [[1, "aaaa"]]);
  // The cap drops what it can read.
  const meta = { lastSeq: 5, outputBytes: 20, storedBytes: 20 };
  assert.equal(await store.dropOldest("c", 1, 5, meta), 4);
  assert.deepEqual(await texts(store, "c"), []);
});

Deno.test("FileOutputStore: output an older version stored in KV stays readable and its command keeps storing in KV; new commands go to files; with newIn kv, the reverse", async () => {
  await using t = await fresh();
  // An older version stored a running command's output in KV.
  const old = new OutputLog(new OutputStore(t.kv));
  old.start("old");
  for (let seq = 1; seq <= 3; seq++) {
    await old.append("old", seq, { stream: "stdout", data: `old ${seq}\n` }, 6);
  }
  // After the upgrade: the command is restored and carries on.
  const store = t.store();
  const log = new OutputLog(store);
  assert.deepEqual(await log.restore("old"), {
    lastSeq: 3,
    outputBytes: 18,
    storedBytes: 18,
  });
  await log.append("old", 4, { stream: "stdout", data: "new 4\n" }, 6);
  log.start("new");
  await log.append("new", 1, { stream: "stdout", data: "files\n" }, 6);
  assert.deepEqual(await texts(store, "old"), [
    [1, "old 1\n"],
    [2, "old 2\n"],
    [3, "old 3\n"],
    [4, "new 4\n"],
  ]);
  assert.equal((await t.kv.get(["out", "old", 4, 0])).value !== null, true);
  assert.equal((await t.kv.get(["out_file", "old"])).value, null);
  assert.deepEqual(await keys(t.kv, ["out", "new"]), []);
  assert.ok((await Deno.stat(`${t.out}/new/1.seg`)).size > 0);
  assert.deepEqual(await texts(store, "new"), [[1, "files\n"]]);
  assert.equal(await store.pageStart("old", 5, 12), 3);
  assert.equal(await store.lastSeq("old"), 4);
  // FLIGHTDECK_OUTPUT_STORE=kv later: files stay readable, new output in KV.
  const kvMode = t.store({ newIn: "kv" });
  const log2 = new OutputLog(kvMode);
  log2.start("later");
  await log2.append("later", 1, { stream: "stdout", data: "kv\n" }, 3);
  await log2.restore("new");
  await log2.append("new", 2, { stream: "stdout", data: "more\n" }, 5);
  assert.deepEqual(await texts(kvMode, "new"), [[1, "files\n"], [2, "more\n"]]);
  assert.deepEqual(await texts(kvMode, "later"), [[1, "kv\n"]]);
  assert.equal((await t.kv.get(["out", "later", 1, 0])).value !== null, true);
  assert.equal((await t.kv.get(["out_file", "later"])).value, null);
});

Deno.test("FileOutputStore: reads, pages and the last seq of a 1,000,000-line log seek with the sparse index (the segments before are never read)", async () => {
  await using t = await fresh();
  const store = t.store({ segmentBytes: 256 * 1024 });
  const log = new OutputLog(store);
  log.start("big");
  const LINES = 1_000_000;
  const PER_CHUNK = 250;
  const waits: Promise<void>[] = [];
  let seq = 0;
  for (let line = 0; line < LINES; line += PER_CHUNK) {
    let data = "";
    for (let i = line; i < line + PER_CHUNK; i++) data += `line ${i}\n`;
    waits.push(
      log.append("big", ++seq, { stream: "stdout", data }, data.length),
    );
    // At most 4 MiB not stored, as the agent's window.
    if (waits.length >= 256) await waits.shift();
  }
  await Promise.all(waits);
  const last = seq; // 4000 chunks
  const mid = 2000;
  const state = (await t.kv.get<FileState>(["out_file", "big"])).value!;
  assert.ok(state.seg >= 10, `${state.seg} segments`);
  // Every segment that holds only chunks far before the middle becomes a
  // folder: a read that scanned from the start would fail on it.
  let midSeg = 0;
  for (let seg = 1; seg <= state.seg; seg++) {
    const path = `${t.out}/big/${seg}.seg`;
    const first = new DataView((await Deno.readFile(path)).buffer).getFloat64(
      8,
      true,
    );
    if (first < mid - 100) midSeg = seg;
  }
  for (let seg = 1; seg < midSeg; seg++) {
    const path = `${t.out}/big/${seg}.seg`;
    await Deno.remove(path);
    await Deno.mkdir(path);
  }
  assert.ok(midSeg > 5, `replaced ${midSeg - 1} segments`);
  await assert.rejects(collect(store.read("big", 0, 1)), /directory/i);
  const read = await collect(store.read("big", mid, mid + 3));
  assert.deepEqual(read.map((c) => c.seq), [mid + 1, mid + 2, mid + 3]);
  assert.equal(read[0].data.split("\n")[0], `line ${mid * PER_CHUNK}`);
  const tail = await collect(store.read("big", last - 2));
  assert.deepEqual(tail.map((c) => c.seq), [last - 1, last]);
  assert.equal(tail[1].data.split("\n").at(-2), `line ${LINES - 1}`);
  const size = byteLength(read[0].data);
  assert.equal(await store.pageStart("big", mid + 1, size * 3), mid - 2);
  assert.equal(await store.lastSeq("big"), last);
});

Deno.test("FileOutputStore: the per-command cap keeps storedBytes exact and deletes segment files once wholly dropped", async () => {
  await using t = await fresh();
  const store = t.store({ segmentBytes: 16 * 1024 });
  const cap = 64 * 1024;
  const log = new OutputLog(store, { maxCommandOutputBytes: cap });
  log.start("c");
  const stored: number[] = [];
  for (let seq = 1; seq <= 400; seq++) {
    const data = `${seq} `.padEnd(999, "ü") + "\n";
    const bytes = byteLength(data);
    await log.append("c", seq, { stream: "stdout", data }, bytes);
    stored.push(bytes);
    // The model: drop the oldest whole chunks down to 7/8 of the cap.
    let sum = stored.reduce((a, b) => a + b, 0);
    if (sum > cap) {
      while (sum > cap - cap / 8 && stored.length > 1) sum -= stored.shift()!;
    }
    assert.equal((await store.meta("c"))!.storedBytes, sum);
  }
  const read = await collect(store.read("c", 0));
  assert.equal(read.length, stored.length);
  assert.equal(read[0].seq, 401 - stored.length);
  let disk = 0;
  let files = 0;
  for await (const entry of Deno.readDir(`${t.out}/c`)) {
    disk += (await Deno.stat(`${t.out}/c/${entry.name}`)).size;
    files++;
  }
  // What is kept, plus at most two segments of dropped chunks and headers.
  const kept = stored.reduce((a, b) => a + b, 0);
  assert.ok(
    disk <= kept + 2 * 16 * 1024 + 1100 + read.length * (HEADER_BYTES + 4),
    `${disk} bytes on disk for ${kept}`,
  );
  assert.ok(files <= Math.ceil(kept / (16 * 1024)) + 3, `${files} files`);
  // The index keeps no entries of deleted segments.
  for await (
    const entry of t.kv.list<[number, number]>({ prefix: ["out_pos", "c"] })
  ) await Deno.stat(`${t.out}/c/${entry.value[0]}.seg`);
});

Deno.test("FileOutputStore: delete() removes the command's folder and every KV key of its output; other commands stay", async () => {
  await using t = await fresh();
  const store = t.store({ segmentBytes: 64 });
  const odd = "a/b c ü";
  for (const id of ["c", odd]) {
    const b = batch(id, [[1, "one\n"]]);
    b.lines.push(
      lineEntry(id, { seq: 1, firstLine: 0, newlines: 1, endsLine: true }),
    );
    await store.commit(b);
    await store.commit(batch(id, [[2, "two\n"], [3, "three\n"]]));
  }
  assert.equal(folderName(odd), "~612f62206320c3bc");
  // Long ids: a bounded name, different for ids that differ only at the end.
  const long = "ü".repeat(127);
  const names = [folderName(long + "a"), folderName(long + "b")];
  assert.notEqual(names[0], names[1]);
  for (const name of names) assert.equal(name.length, 1 + 200 + 1 + 16);
  assert.deepEqual(await texts(store, odd), [[1, "one\n"], [2, "two\n"], [
    3,
    "three\n",
  ]]);
  await store.delete("c");
  await assert.rejects(Deno.stat(`${t.out}/c`), Deno.errors.NotFound);
  for (const prefix of ["out", "out_meta", "out_file", "out_pos", "out_line"]) {
    assert.deepEqual(await keys(t.kv, [prefix, "c"]), [], prefix);
  }
  assert.deepEqual(await texts(store, "c"), []);
  assert.equal(await store.lastSeq("c"), 0);
  assert.deepEqual(await texts(store, odd), [[1, "one\n"], [2, "two\n"], [
    3,
    "three\n",
  ]]);
  // The folder and files are private.
  if (Deno.build.os !== "windows") {
    assert.equal((await Deno.stat(t.out)).mode! & 0o777, 0o700);
    assert.equal(
      (await Deno.stat(`${t.out}/${folderName(odd)}`)).mode! & 0o777,
      0o700,
    );
    assert.equal(
      (await Deno.stat(`${t.out}/${folderName(odd)}/1.seg`)).mode! & 0o777,
      0o600,
    );
  }
});

Deno.test("FileOutputStore: a command kept in KV within commits of 2 MiB (files' size) stores its chunks over several KV commits, within KV's limits", async () => {
  await using t = await fresh();
  // An older version's command, in KV.
  await new OutputStore(t.kv).write("old", 1, { stream: "stdout", data: "a" }, {
    lastSeq: 1,
    outputBytes: 1,
    storedBytes: 1,
  });
  const store = t.store();
  assert.equal(store.batchBytes, 2 * 1024 * 1024);
  const log = new OutputLog(store);
  await log.restore("old");
  log.start("new");
  const stored: Promise<void>[] = [];
  const want: [number, string][] = [[1, "a"]];
  // 4 MiB, 128 Ki characters a chunk, some two bytes per character: the
  // commits after the first take about 2 MiB of it.
  for (let seq = 2; seq <= 33; seq++) {
    const data = (seq % 3 ? "k" : "é").repeat(128 * 1024 - 1) + "\n";
    stored.push(
      log.append("old", seq, { stream: "stdout", data }, byteLength(data)),
    );
    want.push([seq, data]);
    if (seq % 8 === 0) {
      stored.push(
        log.append("new", seq, { stream: "stdout", data }, byteLength(data)),
      );
    }
  }
  await Promise.all(stored);
  assert.deepEqual(await texts(store, "old"), want);
  assert.deepEqual(
    await texts(store, "new"),
    want.filter(([seq]) => seq % 8 === 0),
  );
  assert.equal((await t.kv.get(["out_file", "old"])).value, null);
  assert.ok((await t.kv.get(["out_file", "new"])).value);
  assert.equal((await store.meta("old"))!.lastSeq, 33);
});

Deno.test("FileOutputStore: a part longer than splitParts makes is refused and nothing is written; write() splits a large chunk itself", async () => {
  await using t = await fresh();
  const store = t.store();
  const big = "x".repeat(16 * 1024 + 2);
  await assert.rejects(store.commit(batch("c", [[1, big]])), RangeError);
  assert.deepEqual(await texts(store, "c"), []);
  assert.equal((await t.kv.get(["out_file", "c"])).value, null);
  await store.write("c", 1, { stream: "stderr", data: big, at: 7 });
  assert.deepEqual(await collect(store.read("c", 0)), [
    { seq: 1, stream: "stderr", data: big, at: 7 },
  ]);
  await assert.rejects(
    store.write("c", 1, { stream: "stdout", data: "again" }),
    RangeError,
  );
});

Deno.test("FileOutputStore: commits touching more commands than it keeps files open for store each exactly", async () => {
  await using t = await fresh();
  const store = t.store({ segmentBytes: 100 });
  const ids = Array.from({ length: 40 }, (_, i) => `cmd-${i}`);
  for (let seq = 1; seq <= 3; seq++) {
    await store.commit({
      parts: ids.map((id) => ({
        commandId: id,
        seq,
        part: 0,
        value: { stream: "stdout" as const, data: `${id} ${seq}\n` },
      })),
      lines: [],
      metas: [],
    });
  }
  for (const id of ids) {
    assert.deepEqual(await texts(store, id), [
      [1, `${id} 1\n`],
      [2, `${id} 2\n`],
      [3, `${id} 3\n`],
    ]);
  }
});
