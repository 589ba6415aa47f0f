// deno-lint-ignore-file no-console -- CLI entry point: stdout is its interface
/**
 * The output store alone: `deno run -A --v8-flags=--max-semi-space-size=4,--expose-gc
 * bench/kv_store.ts [MiB] [reps]` (default 100 MiB, 3 repetitions) appends
 * MiB of 100-byte lines in 128 KiB chunks to an {@link OutputLog} in a
 * fresh temporary folder, the way the server does under a flood (at most
 * 4 MiB not stored yet: the agent's default window), on both stores of a
 * KV file on disk, alternated run by run: output in the Deno KV file
 * (`kv`, {@link OutputStore}) and in append-only files with bookkeeping in
 * KV (`file`, {@link FileOutputStore}, the default). It prints how fast
 * each stored them and the CPU it took, as `FIGURE kv_store_mbps=...`,
 * `FIGURE kv_store_cpu_ms_per_mib=...`, `FIGURE file_store_mbps=...` and
 * `FIGURE file_store_cpu_ms_per_mib=...` (medians), and the commits and
 * time each commit took (`*_store_commits_per_s`, `*_store_commit_ms`:
 * from the call to its end, CPU and waiting for the disk; one commit is in
 * flight at a time).
 * The server acknowledges output only once it is stored, so one output
 * stream cannot reach a dashboard faster than this (with the server, agent
 * and dashboard sharing the same cores it is slower still). Set `TMPDIR` to
 * measure another disk (e.g. `/dev/shm`).
 */
import {
  type OutputBackend,
  OutputLog,
  OutputStore,
} from "../lib/server/output_log.ts";
import { FileOutputStore } from "../lib/server/file_output.ts";
import { figureLine, formatSpread, spread } from "./stats.ts";

const mib = Number(Deno.args[0] ?? 100);
const reps = Number(Deno.args[1] ?? 3);

function cpuSeconds(): number {
  const stat = Deno.readTextFileSync("/proc/self/stat");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

type Kind = "kv" | "file";

async function run(
  kind: Kind,
): Promise<
  { mbps: number; cpuMsPerMib: number; commitsPerS: number; commitMs: number }
> {
  const dir = await Deno.makeTempDir({ prefix: "flightdeck-kv-bench-" });
  const kv = await Deno.openKv(`${dir}/kv.sqlite3`);
  const store: OutputBackend = kind === "kv"
    ? new OutputStore(kv)
    : new FileOutputStore(kv, `${dir}/kv.sqlite3-output`);
  try {
    let commits = 0;
    let inCommit = 0;
    const commit = store.commit.bind(store);
    store.commit = async (batch) => {
      commits++;
      const start = performance.now();
      try {
        return await commit(batch);
      } finally {
        inCommit += performance.now() - start;
      }
    };
    const log = new OutputLog(store);
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
      commitsPerS: commits / seconds,
      commitMs: inCommit / commits,
    };
  } finally {
    if (store instanceof FileOutputStore) await store.close();
    kv.close();
    await Deno.remove(dir, { recursive: true });
  }
}

const runs: Record<Kind, Awaited<ReturnType<typeof run>>[]> = {
  kv: [],
  file: [],
};
for (let i = 0; i < reps; i++) {
  for (const kind of ["kv", "file"] as const) {
    const result = await run(kind);
    console.log(
      `  ${kind} run ${i + 1}: ${result.mbps.toFixed(1)} MB/s, ${
        result.cpuMsPerMib.toFixed(2)
      } ms CPU per MiB, ${result.commitsPerS.toFixed(0)} commits/s of ${
        result.commitMs.toFixed(1)
      } ms`,
    );
    runs[kind].push(result);
  }
}
for (const kind of ["kv", "file"] as const) {
  const mbps = spread(runs[kind].map((r) => r.mbps));
  const cpu = spread(runs[kind].map((r) => r.cpuMsPerMib));
  const commits = spread(runs[kind].map((r) => r.commitsPerS));
  const commitMs = spread(runs[kind].map((r) => r.commitMs));
  console.log(
    `${mib} MiB stored (${kind}): ${formatSpread(mbps, " MB/s")}, CPU ${
      formatSpread(cpu, " ms/MiB")
    }, ${formatSpread(commits, " commits/s")} of ${
      formatSpread(commitMs, " ms")
    }`,
  );
  console.log(figureLine(`${kind}_store_mbps`, mbps.median));
  console.log(figureLine(`${kind}_store_cpu_ms_per_mib`, cpu.median));
  console.log(figureLine(`${kind}_store_commits_per_s`, commits.median));
  console.log(figureLine(`${kind}_store_commit_ms`, commitMs.median));
}
