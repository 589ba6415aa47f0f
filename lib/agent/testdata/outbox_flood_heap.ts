// deno-lint-ignore-file no-console -- a test subprocess: stdout is its interface
/**
 * Sends `MiB` (argument, default 96) of output through the agent's path
 * the way `deno task agent` does under a flood: 64 KiB pipe reads decoded
 * and batched by an {@link OutputBatcher} into 128 KiB chunks, kept in an
 * {@link Outbox} until acknowledged, each sent as a JSON frame; the server
 * keeps the window (4 MiB) full, acknowledging the oldest chunk whenever
 * a new one would not fit. Prints the largest growth of V8's heap
 * (committed, young generation included) over what it was before, as
 * `HEAP_GROWTH_MIB=<n>`. Run by outbox_heap_test.ts with the agent's V8
 * flags.
 *
 * @module
 */
import { OutputBatcher } from "../output_batcher.ts";
import { Outbox } from "../outbox.ts";
import { fromAgent, OUTPUT_WINDOW } from "../../protocol.ts";

const mib = Number(Deno.args[0] ?? 96);
const window = OUTPUT_WINDOW.defaultBytes;
const outbox = new Outbox(window);
const commandId = "c";
const acked: number[] = [];
let sink = 0;
const batcher = new OutputBatcher({
  onChunk: (chunk, bytes) => outbox.add({ commandId, ...chunk }, bytes),
  // Sustained output: no timer ends a chunk, the size limit does.
  maxDelayMs: 1_000_000,
});
const line = new TextEncoder().encode("0".repeat(99) + "\n");
const read = new Uint8Array(64 * 1024);
for (let i = 0; i + line.length <= read.length; i += line.length) {
  read.set(line, i);
}
const before = Deno.memoryUsage().heapTotal;
let peak = before;
for (let sent = 0; sent < mib * 1024 * 1024; sent += read.length) {
  // Each read is a new buffer, as the pipe's reads are.
  batcher.push("stdout", read.slice());
  outbox.sendUnsent(commandId, (chunk) => {
    const frame = JSON.stringify(fromAgent("terminal:output", chunk));
    sink += frame.length;
    acked.push(chunk.seq);
    return frame.length;
  });
  // The window is full: the server acknowledges the oldest chunks.
  while (outbox.inFlightBytes >= window - 128 * 1024 && acked.length > 0) {
    outbox.ack(commandId, acked.shift()!);
  }
  // A macrotask per read, as each pipe read is.
  await new Promise((resolve) => setTimeout(resolve, 0));
  peak = Math.max(peak, Deno.memoryUsage().heapTotal);
}
batcher.flush(); // and its timer
console.log(`SENT_BYTES=${sink}`);
console.log(`HEAP_GROWTH_MIB=${((peak - before) / 1048576).toFixed(1)}`);
