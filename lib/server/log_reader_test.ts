import assert from "node:assert/strict";
import { countNewlines, lastMark, lineEntry, locateSeq } from "./line_index.ts";
import {
  commandBounds,
  MAX_BEFORE_CHARS,
  readWindow,
  searchLines,
  textBefore,
} from "./log_reader.ts";
import { OutputLog, OutputStore } from "./output_log.ts";

/** A storage with `chunks` appended to command "c" (seqs from 1, or as given). */
async function withOutput(
  chunks: (string | [number, string])[],
  fn: (storage: OutputStore) => Promise<void>,
) {
  const kv = await Deno.openKv(":memory:");
  try {
    const storage = new OutputStore(kv);
    let line = 0;
    let seq = 0;
    for (const item of chunks) {
      const [s, data] = typeof item === "string" ? [seq + 1, item] : item;
      seq = s;
      const mark = {
        seq: s,
        firstLine: line,
        newlines: countNewlines(data),
        endsLine: data.endsWith("\n"),
      };
      line += mark.newlines;
      await storage.write("c", s, { stream: "stdout", data }, undefined, [
        lineEntry("c", mark),
      ]);
    }
    await fn(storage);
  } finally {
    kv.close();
  }
}

const texts = (w: { lines: { line: number; text: string | null }[] }) =>
  w.lines.map((l) => [l.line, l.text]);

Deno.test("readWindow() returns lines across chunk boundaries by line number", async () => {
  await withOutput(["a\nb", "b\n", "c\nd\ne", "", "\nf"], async (storage) => {
    const bounds = await commandBounds(storage, "c");
    assert.deepEqual([bounds.start, bounds.end], [0, 6]);
    assert.deepEqual(texts(await readWindow(storage, "c", 0, 100, bounds)), [
      [0, "a"],
      [1, "bb"],
      [2, "c"],
      [3, "d"],
      [4, "e"],
      [5, "f"],
    ]);
    assert.deepEqual(texts(await readWindow(storage, "c", 3, 2, bounds)), [
      [3, "d"],
      [4, "e"],
    ]);
    assert.deepEqual(texts(await readWindow(storage, "c", 1, 1, bounds)), [
      [1, "bb"],
    ]);
    assert.deepEqual(texts(await readWindow(storage, "c", 6, 5, bounds)), []);
  });
});

Deno.test("readWindow() finds a line deep in many chunks by the index", async () => {
  const chunks: string[] = [];
  for (let i = 0; i < 2000; i++) {
    chunks.push(`line ${2 * i + 1}\nline ${2 * i + 2}\n`);
  }
  await withOutput(chunks, async (storage) => {
    const bounds = await commandBounds(storage, "c");
    assert.equal(bounds.end, 4000);
    assert.deepEqual(texts(await readWindow(storage, "c", 2999, 2, bounds)), [
      [2999, "line 3000"],
      [3000, "line 3001"],
    ]);
    assert.deepEqual(await locateSeq(storage.kv, "c", 1500), {
      seq: 1500,
      firstLine: 2998,
      newlines: 2,
      endsLine: true,
    });
  });
});

Deno.test("readWindow() marks lines of dropped chunks and seq gaps", async () => {
  await withOutput(
    ["a\nb\n", "c\nd", "d\ne\n", [6, "f\n"]],
    async (storage) => {
      // The per-command cap dropped the first two chunks.
      await storage.dropOldest("c", 1, 3, {
        lastSeq: 6,
        outputBytes: 0,
        storedBytes: 100,
      });
      await storage.dropOldest("c", 1, 3, {
        lastSeq: 6,
        outputBytes: 0,
        storedBytes: 100,
      });
      const bounds = await commandBounds(storage, "c");
      const window = await readWindow(storage, "c", 0, 100, bounds);
      assert.deepEqual(texts(window), [
        [0, null],
        [1, null],
        [2, null],
        [3, null],
        [4, "e"],
        [5, "f"],
      ]);
      assert.deepEqual(window.gaps, [{ line: 5, fromSeq: 4, toSeq: 5 }]);
    },
  );
});

Deno.test("readWindow() cuts long lines and stops at the bounds", async () => {
  const long = "x".repeat(20_000);
  await withOutput(
    [long.slice(0, 9000), long.slice(9000) + "\nz\n"],
    async (storage) => {
      const window = await readWindow(storage, "c", 0, 100, {
        start: 0,
        end: 1,
      });
      assert.equal(window.lines.length, 1);
      assert.equal(window.lines[0].text, "x".repeat(16 * 1024));
      assert.equal(window.lines[0].cut, 20_000 - 16 * 1024);
    },
  );
});

Deno.test("searchLines() matches plain text case-insensitively and pages on", async () => {
  await withOutput(
    ["\x1b[31mErr\x1b[0mor one\n", "fine\nERROR two\n", "50%\rerror three\n"],
    async (storage) => {
      const bounds = await commandBounds(storage, "c");
      const first = await searchLines(storage, "c", "error", {
        from: 0,
        limit: 2,
        bounds,
      });
      assert.deepEqual(first, {
        hits: [{ line: 0, text: "Error one" }, { line: 2, text: "ERROR two" }],
        next: 3,
      });
      assert.deepEqual(
        await searchLines(storage, "c", "error", { from: 3, limit: 2, bounds }),
        { hits: [{ line: 3, text: "error three" }], next: null },
      );
    },
  );
});

Deno.test("OutputLog.append() writes the line index; after a restart the count goes on from it", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const store = new OutputStore(kv);
    const first = new OutputLog(store);
    first.start("c");
    await first.append("c", 1, { stream: "stdout", data: "a\nb" }, 3);
    await first.append("c", 2, { stream: "stdout", data: "c\n" }, 2);
    // A new server process: the command is restored, not started.
    const second = new OutputLog(store);
    await second.restore("c");
    await second.append("c", 3, { stream: "stdout", data: "d\ne\n" }, 4);
    const bounds = await commandBounds(store, "c");
    assert.deepEqual(
      texts(await readWindow(store, "c", 0, 10, bounds)),
      [[0, "a"], [1, "bc"], [2, "d"], [3, "e"]],
    );
    assert.deepEqual(await locateSeq(kv, "c", 3), {
      seq: 3,
      firstLine: 2,
      newlines: 2,
      endsLine: true,
    });
    await second.delete("c");
    assert.equal(await lastMark(kv, "c"), null);
  } finally {
    kv.close();
  }
});

Deno.test("OutputLog batches keep the line index exact: chunks in one commit and a chunk split across commits", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const store = new OutputStore(kv);
    const log = new OutputLog(store, { batchBytes: 40 * 1024 });
    log.start("c");
    const big = "x".repeat(100 * 1024) + "\nafter big\n";
    const appends = [
      log.append("c", 1, { stream: "stdout", data: "one\ntw" }, 6),
      log.append("c", 2, { stream: "stdout", data: "o\nthree\n" }, 8),
      log.append("c", 3, { stream: "stdout", data: big }, big.length),
      log.append("c", 4, { stream: "stdout", data: "last" }, 4),
    ];
    await Promise.all(appends);
    await log.idle();
    const bounds = await commandBounds(store, "c");
    assert.deepEqual([bounds.start, bounds.end], [0, 6]);
    const window = await readWindow(store, "c", 0, 10, bounds);
    assert.deepEqual(
      window.lines.map((l) => [l.line, l.text?.slice(0, 9), l.cut]),
      [
        [0, "one", 0],
        [1, "two", 0],
        [2, "three", 0],
        [3, "xxxxxxxxx", 100 * 1024 - 16 * 1024],
        [4, "after big", 0],
        [5, "last", 0],
      ],
    );
  } finally {
    kv.close();
  }
});

Deno.test("textBefore() reads back to a reset, to the first chunk, or at most MAX_BEFORE_CHARS", async () => {
  const filler = ("x".repeat(99) + "\n").repeat(1000); // 100,000 chars, 1000 lines
  const chunks = [
    "\x1b[31mred\n", // line 0
    ...Array.from({ length: 12 }, () => filler), // lines 1..12000
    "\x1b[0mplain\n", // line 12001
    "\x1b[32mgreen\n", // line 12002
    ...Array.from({ length: 12 }, () => filler), // lines 12003..24002
    "last\n",
  ];
  await withOutput(chunks, async (storage) => {
    // From the start: nothing before line 0.
    assert.deepEqual(await textBefore(storage, "c", 0), {
      text: "",
      complete: true,
    });
    // Line 5 starts in the second chunk: the first chunk plus its 4 lines.
    const early = await textBefore(storage, "c", 5);
    assert.equal(early.complete, true);
    assert.equal(early.text, "\x1b[31mred\n" + filler.slice(0, 400));
    // Within 1 Mi characters after the reset: back to (and past) it.
    const mid = await textBefore(storage, "c", 12003);
    assert.equal(mid.complete, true);
    assert.ok(mid.text.endsWith("\x1b[0mplain\n\x1b[32mgreen\n"));
    // 1.2 M characters after the last reset: cut at MAX_BEFORE_CHARS.
    const late = await textBefore(storage, "c", 24003);
    assert.equal(late.complete, false);
    assert.equal(late.text.length, MAX_BEFORE_CHARS);
    assert.ok(late.text.endsWith(filler));
  });
});
