// deno-lint-ignore-file no-console -- a bench process: stdout is its interface
/**
 * The reference relays' "agent" in `deno task bench`: runs a shell command
 * with its stdout piped, and sends each read as one frame
 * `{"seq": n, "data": text}` (seq from 1, UTF-8 decoded as a stream) to a
 * relay's `/src`. While more than 8 MiB are unsent it stops reading, so the
 * command blocks on its pipe like under a slow terminal. Prints `OPEN` once
 * connected, starts the command when a line `GO` arrives on stdin, and
 * prints `DONE <json>` with bytes, chunks, its CPU seconds and peak memory
 * (from /proc/self) once everything was sent.
 *
 * Usage: `deno run -A bench/producer.ts ws://127.0.0.1:PORT 'command'`.
 *
 * @module
 */
const [url, command] = Deno.args;
const HIGH_WATER = 8 * 1024 * 1024;

const socket = new WebSocket(`${url}/src`);
await new Promise((resolve, reject) => {
  socket.onopen = resolve;
  socket.onerror = () => reject(new Error(`Cannot connect to ${url}`));
});
console.log("OPEN");
for await (
  const line of Deno.stdin.readable.pipeThrough(new TextDecoderStream())
) {
  if (line.includes("GO")) break;
}
const child = new Deno.Command("bash", {
  args: ["-c", command],
  stdin: "null",
  stdout: "piped",
  stderr: "inherit",
}).spawn();
let seq = 0;
let bytes = 0;
const decoder = new TextDecoder();
for await (const chunk of child.stdout) {
  const data = decoder.decode(chunk, { stream: true });
  bytes += chunk.length;
  socket.send(JSON.stringify({ seq: ++seq, data }));
  while (socket.bufferedAmount > HIGH_WATER) {
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}
await child.status;
while (socket.bufferedAmount > 0) {
  await new Promise((resolve) => setTimeout(resolve, 1));
}
// This process's CPU seconds and peak memory, read before it exits.
const stat = Deno.readTextFileSync("/proc/self/stat");
const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
const hwm = /^VmHWM:\s+(\d+) kB/m.exec(
  Deno.readTextFileSync("/proc/self/status"),
);
console.log(`DONE ${
  JSON.stringify({
    bytes,
    chunks: seq,
    cpuSeconds: (Number(fields[11]) + Number(fields[12])) / 100,
    peakRssBytes: Number(hwm?.[1]) * 1024,
  })
}`);
socket.close();
