// deno-lint-ignore-file no-console -- CLI entry point: stdout is its interface
/**
 * The output store alone: `deno run -A --v8-flags=--max-semi-space-size=4,--expose-gc
 * bench/kv_store.ts [MiB] [reps]` (default 100 MiB, 3 repetitions) appends
 * MiB of 100-byte lines in 128 KiB chunks to an {@link OutputLog} on a
 * file-backed Deno KV in a fresh temporary folder, the way the server does
 * under a flood (at most 4 MiB not stored yet: the agent's default window),
 * and prints how fast it stored them and the CPU it took, as `FIGURE
 * kv_store_mbps=...` and `FIGURE kv_store_cpu_ms_per_mib=...` (medians).
 * The server acknowledges output only once it is stored, so one output
 * stream cannot reach a dashboard faster than this (with the server, agent
 * and dashboard sharing the same cores it is slower still). Set `TMPDIR` to
 * measure another disk (e.g. `/dev/shm`).
 */
import { OutputLog, OutputStore } from "../lib/server/output_log.ts";
import { figureLine, formatSpread, spread } from "./stats.ts";

const mib = Number(Deno.args[0] ?? 100);
const reps = Number(Deno.args[1] ?? 3);

function cpuSeconds(): number {
  const stat = Deno.readTextFileSync("/proc/self/stat");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

async function run(): Promise<{ mbps: number; cpuMsPerMib: number }> {
  const dir = await Deno.makeTempDir({ prefix: "flightdeck-kv-bench-" });
  const kv = await Deno.openKv(`${dir}/kv.sqlite3`);
  try {
    const log = new OutputLog(new OutputStore(kv));
    log.start("c");
    const line = "0".repeat(99) + "\n";
    const size = 128 * 1024;
    const base = line.repeat(Math.ceil(size / line.length)).slice(0, size - 8);
    const window = 4 * 1024 * 1024;
    const chunks = Math.ceil((mib * 1024 * 1024) / size);
    let unstored = 0;
    const waiting: Promise<void>[] = [];
    const cpu0 = cpuSeconds();
    const t0 = performance.now();
    for (let seq = 1; seq <= chunks; seq++) {
      const data = `${String(seq).padStart(7, "0")}\n${base}`;
      unstored += data.length;
      waiting.push(
        log.append("c", seq, { stream: "stdout", data }, data.length).then(
          () => {
            unstored -= data.length;
          },
        ),
      );
      while (unstored >= window) await waiting.shift();
    }
    await Promise.all(waiting);
    const seconds = (performance.now() - t0) / 1000;
    const bytes = chunks * size;
    return {
      mbps: bytes / 1e6 / seconds,
      cpuMsPerMib: ((cpuSeconds() - cpu0) * 1000) / (bytes / 1048576),
    };
  } finally {
    kv.close();
    await Deno.remove(dir, { recursive: true });
  }
}

const runs = [];
for (let i = 0; i < reps; i++) {
  const result = await run();
  console.log(
    `  run ${i + 1}: ${result.mbps.toFixed(1)} MB/s, ${
      result.cpuMsPerMib.toFixed(2)
    } ms CPU per MiB`,
  );
  runs.push(result);
}
const mbps = spread(runs.map((r) => r.mbps));
const cpu = spread(runs.map((r) => r.cpuMsPerMib));
console.log(
  `${mib} MiB stored: ${formatSpread(mbps, " MB/s")}, CPU ${
    formatSpread(cpu, " ms/MiB")
  }`,
);
console.log(figureLine("kv_store_mbps", mbps.median));
console.log(figureLine("kv_store_cpu_ms_per_mib", cpu.median));
