/**
 * Sparse lines for the latency measure of `deno task bench`: prints `count`
 * lines `T <i> <epoch ms>` (i from 1), one every `intervalMs`, each written
 * at once (no buffering), with the epoch time it was written.
 *
 * Usage: `deno run bench/ticker.ts <count> <intervalMs>`.
 *
 * @module
 */
const count = Number(Deno.args[0] ?? 50);
const intervalMs = Number(Deno.args[1] ?? 20);
const encoder = new TextEncoder();
for (let i = 1; i <= count; i++) {
  await new Promise((resolve) => setTimeout(resolve, intervalMs));
  const at = performance.timeOrigin + performance.now();
  const line = encoder.encode(`T ${i} ${at.toFixed(3)}\n`);
  for (let done = 0; done < line.length;) {
    done += Deno.stdout.writeSync(line.subarray(done));
  }
}
