import assert from "node:assert/strict";
import type { CommandInfo } from "../protocol.ts";
import { OutputLog, OutputStore } from "./output_log.ts";
import { SearchIndex } from "./search_index.ts";

const info = (id: string, command: string) =>
  ({ id, agentId: "a", command, status: "completed" }) as CommandInfo;

/** 300 distinct words of 40 CJK ideographs (120 UTF-8 bytes) each, one per line. */
function cjkLines(): string {
  let data = "";
  for (let i = 0; i < 300; i++) {
    let word = "";
    for (let j = 0; j < 40; j++) {
      word += String.fromCodePoint(0x4e00 + ((i * 40 + j) * 7) % 20000);
    }
    data += `${word}\n`;
  }
  return data;
}

async function withLog(
  fn: (kv: Deno.Kv, store: OutputStore, log: OutputLog) => Promise<void>,
) {
  const kv = await Deno.openKv(":memory:");
  try {
    const store = new OutputStore(kv);
    const log = new OutputLog(store);
    await fn(kv, store, log);
    await log.idle();
  } finally {
    kv.close();
  }
}

Deno.test("SearchIndex indexes 300 long CJK words (keys over 80 KiB in all) in commits Deno KV accepts", async () => {
  await withLog(async (kv, store, log) => {
    const data = cjkLines();
    const id = "0b7e1c2a-9d4f-4e1b-8c3a-5f6d7e8f9a0b"; // ids are UUIDs
    log.start(id);
    await log.append(id, 1, { stream: "stdout", data, at: 1 }, data.length);
    await log.stored(id);
    const index = new SearchIndex({
      kv,
      output: store,
      getCommand: () => Promise.resolve({ info: info(id, "echo") }),
    });
    await index.indexCommand(id);
    const last = data.split("\n")[299];
    assert.deepEqual(
      (await index.search(last, 5)).map((hit) => [hit.commandId, hit.line]),
      [[id, 300]],
    );
  });
});

Deno.test("SearchIndex.catchUp() skips a command it cannot index and goes on with the next", async () => {
  await withLog(async (kv, store, log) => {
    log.start("good");
    const text = "hello searchable world\n";
    await log.append("good", 1, { stream: "stdout", data: text, at: 1 }, 23);
    await log.stored("good");
    await kv.set(["fin", 1000, "bad"], {});
    await kv.set(["fin", 2000, "good"], {});
    const errors: string[] = [];
    const index = new SearchIndex({
      kv,
      output: store,
      getCommand: (id) =>
        id === "bad"
          ? Promise.reject(new Error("unreadable"))
          : Promise.resolve({ info: info(id, "echo") }),
      onError: (id, error) => errors.push(`${id}: ${error}`),
    });
    assert.equal(await index.catchUp(), 2);
    assert.deepEqual(errors, ["bad: Error: unreadable"]);
    assert.deepEqual(
      (await index.search("searchable", 5)).map((hit) => hit.commandId),
      ["good"],
    );
    assert.equal(await index.catchUp(), 0);
  });
});

Deno.test("SearchIndex.catchUp() still indexes a command that finished in the same millisecond as the last one it indexed, with a smaller id", async () => {
  await withLog(async (kv, store, log) => {
    const now = 1_000_000;
    for (const id of ["m", "b"]) {
      log.start(id);
      const text = `word${id}${id}${id} here\n`;
      await log.append(id, 1, { stream: "stdout", data: text, at: now }, 14);
      await log.stored(id);
    }
    const index = new SearchIndex({
      kv,
      output: store,
      getCommand: (id) => Promise.resolve({ info: info(id, "echo") }),
    }, () => now + 10);
    await kv.set(["fin", now, "m"], {});
    assert.equal(await index.catchUp(), 1);
    // Finished in the same millisecond, written after the pass: it sorts
    // before "m".
    await kv.set(["fin", now, "b"], {});
    await index.catchUp();
    assert.deepEqual(
      (await index.search("wordbbb", 5)).map((hit) => hit.commandId),
      ["b"],
    );
  });
});
