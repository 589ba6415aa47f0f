import { OutputLog } from "./lib/server/output_log.ts";
import { FileOutputStore } from "./lib/server/file_output.ts";
const dir = await Deno.makeTempDir();
const kv = await Deno.openKv(`${dir}/kv`);
const store = new FileOutputStore(kv, `${dir}/output`);
const log = new OutputLog(store, {
  maxCommandOutputBytes: 65536,
  onError: (e) => console.log("ERR", e),
});
log.start("c");
const w = [];
let seq = 0;
for (let i = 1; i <= 60000; i += 12000) {
  let d = "";
  for (let j = i; j < i + 12000; j++) d += `${j}\n`;
  w.push(log.append("c", ++seq, { stream: "stdout", data: d }, d.length));
}
await Promise.all(w);
const got = [];
for await (const c of log.read("c", 0)) got.push(c.seq);
console.log(
  got.slice(0, 5),
  got.length,
  seq,
  await store.meta("c"),
  (await kv.get(["out_file", "c"])).value,
);
