// deno-lint-ignore-file no-console -- also a CLI: `deno run -A bench/compression.ts`
/**
 * Would app-level compression of output frames pay? Part of `deno task
 * bench` (scenario `compression`). Deno's server does not negotiate
 * permessage-deflate, so this measures what a server could do itself:
 * each frame's text compressed on its own with `CompressionStream`
 * ("deflate-raw") and sent as a binary frame, the receiver inflating it
 * with `DecompressionStream`.
 *
 * - **Cost**: compress and inflate time per MiB and the size ratio, for
 *   16 KiB and 128 KiB frames, on realistic terminal output (this repo's
 *   `git log --color=always --stat`, ANSI colors included, repeated) and on
 *   the `yes` lines of the throughput scenario.
 * - **Links**: the realistic output sent from a WebSocket server to a
 *   client through the tests' TCP proxy (tests/faults/tcp_proxy.ts),
 *   unthrottled (loopback) and throttled to 100 and 10 Mbit/s, plain text
 *   frames against compressed ones; time from the first frame sent to the
 *   last byte inflated. Both ends run in this process.
 *
 * @module
 */
import { ROOT } from "../tests/helpers.ts";
import { TcpProxy } from "../tests/faults/tcp_proxy.ts";
import { LINE } from "./streams.ts";

const encoder = new TextEncoder();

/** `bytes` of realistic terminal output (ASCII-safe UTF-8 text). */
export async function realisticOutput(bytes: number): Promise<string> {
  let text = "";
  try {
    const out = await new Deno.Command("git", {
      args: ["-C", ROOT, "log", "--color=always", "--stat", "-n", "3000"],
      stdout: "piped",
      stderr: "null",
    }).output();
    text = new TextDecoder().decode(out.stdout);
  } catch {
    // No git: the sources below.
  }
  if (text.length < 64 * 1024) {
    for await (const entry of Deno.readDir(`${ROOT}lib/server`)) {
      if (entry.isFile) {
        text += await Deno.readTextFile(`${ROOT}lib/server/${entry.name}`);
      }
    }
  }
  return text.repeat(Math.ceil(bytes / text.length)).slice(0, bytes);
}

async function through(
  data: Uint8Array<ArrayBuffer>,
  transform: CompressionStream | DecompressionStream,
): Promise<Uint8Array<ArrayBuffer>> {
  const stream = new Blob([data]).stream().pipeThrough(transform);
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** One frame's text compressed on its own ("deflate-raw"). */
export const deflate = (data: Uint8Array<ArrayBuffer>) =>
  through(data, new CompressionStream("deflate-raw"));
/** The inverse of {@link deflate}. */
export const inflate = (data: Uint8Array<ArrayBuffer>) =>
  through(data, new DecompressionStream("deflate-raw"));

/** Cost of compressing `text` in frames of `frameBytes`. */
export interface CompressionCost {
  frameKib: number;
  /** Compressed size / original size. */
  ratio: number;
  compressMsPerMib: number;
  inflateMsPerMib: number;
}

function frames(text: string, frameBytes: number): Uint8Array<ArrayBuffer>[] {
  const out = [];
  for (let i = 0; i < text.length; i += frameBytes) {
    out.push(encoder.encode(text.slice(i, i + frameBytes)));
  }
  return out;
}

/** Compress and inflate every frame of `text`, one after the other. */
export async function compressionCost(
  text: string,
  frameBytes: number,
): Promise<CompressionCost> {
  const raw = frames(text, frameBytes);
  const t0 = performance.now();
  const packed = [];
  for (const frame of raw) packed.push(await deflate(frame));
  const t1 = performance.now();
  let back = 0;
  for (const frame of packed) back += (await inflate(frame)).length;
  const t2 = performance.now();
  const bytes = raw.reduce((n, f) => n + f.length, 0);
  const mib = bytes / 1024 / 1024;
  if (back !== bytes) throw new Error("Inflated size differs");
  return {
    frameKib: frameBytes / 1024,
    ratio: packed.reduce((n, f) => n + f.length, 0) / bytes,
    compressMsPerMib: (t1 - t0) / mib,
    inflateMsPerMib: (t2 - t1) / mib,
  };
}

/**
 * Send `text` in frames of `frameBytes` from a server to a client through
 * a TCP proxy paced to `bytesPerSecond` (0: unthrottled); plain text
 * frames or compressed binary ones. Seconds until the client has it all
 * (every byte, inflated).
 */
export async function linkRun(
  text: string,
  frameBytes: number,
  bytesPerSecond: number,
  compressed: boolean,
): Promise<number> {
  const raw = frames(text, frameBytes);
  const total = raw.reduce((n, f) => n + f.length, 0);
  const { promise: sent, resolve: allSent } = Promise.withResolvers<void>();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    (req) => {
      const { socket, response } = Deno.upgradeWebSocket(req);
      socket.onopen = async () => {
        for (const frame of raw) {
          socket.send(compressed ? await deflate(frame) : frame);
          // Bounded like a server's send buffer.
          while (socket.bufferedAmount > 4 << 20) {
            await new Promise((r) => setTimeout(r, 2));
          }
        }
        allSent();
      };
      return response;
    },
  );
  await using proxy = new TcpProxy(server.addr.port);
  proxy.throttle(bytesPerSecond);
  const socket = new WebSocket(`${proxy.wsUrl}/`);
  socket.binaryType = "arraybuffer";
  const t0 = performance.now();
  let received = 0;
  let chain = Promise.resolve();
  const { promise: done, resolve: finish } = Promise.withResolvers<void>();
  socket.onmessage = (event) => {
    const data = new Uint8Array(event.data as ArrayBuffer);
    chain = chain.then(async () => {
      received += compressed ? (await inflate(data)).length : data.length;
      if (received >= total) finish();
    });
  };
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await Promise.race([
      done,
      new Promise((_, reject) => {
        timer = setTimeout(
          () => reject(new Error("Link run timed out")),
          120_000,
        );
      }),
    ]);
    return (performance.now() - t0) / 1000;
  } finally {
    clearTimeout(timer);
    await sent;
    socket.close();
    await server.shutdown();
  }
}

/** Links measured: name and bytes per second (0: unthrottled loopback). */
export const LINKS: [string, number][] = [
  ["loopback", 0],
  ["100mbit", 100e6 / 8],
  ["10mbit", 10e6 / 8],
];

/** Rows `[name, value]` of FIGUREs: costs and link times (plain, deflated). */
export async function compressionFigures(
  quick: boolean,
): Promise<[string, number][]> {
  const figures: [string, number][] = [];
  const text = await realisticOutput((quick ? 2 : 8) << 20);
  const yes = LINE.repeat(((quick ? 2 : 8) << 20) / 100);
  for (const frameBytes of [16 * 1024, 128 * 1024]) {
    const k = frameBytes / 1024;
    const cost = await compressionCost(text, frameBytes);
    figures.push([`deflate_${k}k_ratio`, cost.ratio]);
    figures.push([`deflate_${k}k_ms_per_mib`, cost.compressMsPerMib]);
    figures.push([`inflate_${k}k_ms_per_mib`, cost.inflateMsPerMib]);
    const zeros = await compressionCost(yes, frameBytes);
    figures.push([`deflate_${k}k_yes_ratio`, zeros.ratio]);
    figures.push([`deflate_${k}k_yes_ms_per_mib`, zeros.compressMsPerMib]);
  }
  for (const [name, rate] of LINKS) {
    // About 3 s of plain text on the link (at most 16 MiB).
    const bytes = rate === 0
      ? (quick ? 8 : 16) << 20
      : Math.min(16 << 20, Math.round(rate * (quick ? 1 : 3)));
    const sample = text.repeat(Math.ceil(bytes / text.length)).slice(0, bytes);
    const plain = await linkRun(sample, 128 * 1024, rate, false);
    const packed = await linkRun(sample, 128 * 1024, rate, true);
    figures.push([`link_${name}_plain_mbps`, bytes / 1e6 / plain]);
    figures.push([`link_${name}_deflate_mbps`, bytes / 1e6 / packed]);
    figures.push([`link_${name}_deflate_speedup`, plain / packed]);
  }
  return figures;
}

if (import.meta.main) {
  const { figureLine } = await import("./stats.ts");
  for (const [name, value] of await compressionFigures(false)) {
    console.log(figureLine(name, value));
  }
}
