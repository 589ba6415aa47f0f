// deno-lint-ignore-file no-console -- a measurement script: stdout is its interface
/**
 * Audit store cost on a file-backed Deno KV: `deno run -A --unstable-kv
 * bench/audit_store.ts` writes 20,000 entries (flushing every 1,000), reads
 * the newest page, a page under a 1 % filter, and deletes them all.
 */
import { AuditTrail, KvAuditStore } from "../lib/server/audit.ts";
const dir = await Deno.makeTempDir();
const kv = await Deno.openKv(`${dir}/kv`);
const trail = new AuditTrail(new KvAuditStore(kv), {
  retentionMs: 86400_000,
  refusalsPerMinute: 60,
});
const N = 20_000;
let t = performance.now();
for (let i = 0; i < N; i++) {
  trail.record({
    actor: i % 100 === 0 ? "rare" : "alice",
    role: "operator",
    address: "127.0.0.1",
    connectionId: "c",
    action: "command.request",
    target: { agentId: "a1", commandId: crypto.randomUUID() },
    outcome: "ok",
    detail: { text: "echo hello world", priority: "normal" },
  });
  if (i % 1000 === 999) await trail.flush();
}
await trail.flush();
console.log(
  `write ${N}: ${(performance.now() - t).toFixed(0)} ms (${
    (N / ((performance.now() - t) / 1000)).toFixed(0)
  }/s)`,
);
t = performance.now();
const p = await trail.store.list({ limit: 100 });
console.log(
  `newest 100: ${(performance.now() - t).toFixed(1)} ms, ${p.entries.length}`,
);
t = performance.now();
const r = await trail.store.list({ limit: 100, actor: "rare" });
console.log(
  `sparse filter (1%) page of 100: ${
    (performance.now() - t).toFixed(1)
  } ms, ${r.entries.length} entries, cursor ${r.cursor ? "yes" : "no"}`,
);
const size = JSON.stringify(p.entries[0]).length;
console.log(
  `entry JSON ${size} bytes; KV file ${
    (Deno.statSync(`${dir}/kv`).size / 1e6).toFixed(1)
  } MB`,
);
t = performance.now();
const del = await trail.store.deleteBefore(Date.now() + 1);
console.log(
  `retention delete ${del}: ${(performance.now() - t).toFixed(0)} ms`,
);
await trail.close();
kv.close();
await Deno.remove(dir, { recursive: true });
