// deno-lint-ignore-file no-console -- a test subprocess: stdout is its interface
/**
 * Stores `MiB` (argument, default 96) of output through an
 * {@link OutputLog} on a file-backed Deno KV the way the server does under
 * a flood (128 KiB chunks, at most 4 MiB not stored yet: the agent's
 * window), and prints the most V8 heap used meanwhile, beyond what was used
 * before, as `HEAP_GROWTH_MIB=<n>`. Run by output_log_heap_test.ts with the
 * server's V8 flags.
 *
 * @module
 */
import { OutputLog, OutputStore } from "../output_log.ts";

const mib = Number(Deno.args[0] ?? 96);
const dir = await Deno.makeTempDir();
const kv = await Deno.openKv(`${dir}/kv.sqlite3`);
try {
  const log = new OutputLog(new OutputStore(kv));
  log.start("c");
  const line = "0".repeat(99) + "\n";
  const size = 128 * 1024;
  const base = line.repeat(Math.ceil(size / line.length)).slice(0, size - 8);
  const window = 4 * 1024 * 1024;
  const before = Deno.memoryUsage().heapUsed;
  let peak = before;
  let unstored = 0;
  const waiting: Promise<void>[] = [];
  const chunks = (mib * 1024 * 1024) / size;
  for (let seq = 1; seq <= chunks; seq++) {
    // A new string per chunk, as each frame parsed brings one.
    const data = `${String(seq).padStart(7, "0")}\n${base}`;
    unstored += data.length;
    const stored = log.append("c", seq, { stream: "stdout", data }, data.length)
      .then(() => {
        unstored -= data.length;
      });
    waiting.push(stored);
    while (unstored >= window) await waiting.shift();
    peak = Math.max(peak, Deno.memoryUsage().heapUsed);
  }
  await Promise.all(waiting);
  console.log(`HEAP_GROWTH_MIB=${((peak - before) / 1048576).toFixed(1)}`);
} finally {
  kv.close();
  await Deno.remove(dir, { recursive: true });
}
