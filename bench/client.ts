// deno-lint-ignore-file no-console -- a bench process: stdout is its interface
/**
 * A dashboard client process of `deno task bench`: opens `sockets`
 * WebSockets to Flightdeck (`/ws/dashboard`, Bearer token) or to a
 * reference relay (`/sink`), and reports on stdout, one line each:
 *
 * - `READY <json>` once every socket is usable (Flightdeck: `agent:list`
 *   received; relay: open), with each socket's connect time in ms.
 * - mode `stream`: every chunk is checked by a {@link StreamVerifier}
 *   (`unit` repeated, `totalBytes` in all, seq from 1 without gap); once
 *   every socket has it all, `DONE <json>` with the epoch time (ms) of the
 *   last byte. Any loss or corruption prints `FAIL <why>` and exits 1.
 * - mode `ticks`: the stream is lines `T <i> <epoch ms>` printed by
 *   bench/ticker.ts; per line, the time from printed to received. `DONE`
 *   with the latencies once `ticks` lines arrived on every socket.
 * - mode `idle`: after `READY`, each line `ARM` on stdin starts a fan-out
 *   measure: the epoch time at which each socket next receives a frame
 *   (Flightdeck: an `agent:status`); `FANOUT <json>` with the first and
 *   last once every socket got one.
 *
 * Frames: Flightdeck's envelopes (`terminal:output` with `seq`, `data`),
 * the relay's `{"seq", "data"}` as the producer sent them.
 *
 * Usage: `deno run -A bench/client.ts '<json ClientOptions>'`.
 *
 * @module
 */
import { StreamError, StreamVerifier } from "./verify.ts";

/** What the harness asks of one client process. */
export interface ClientOptions {
  system: "flightdeck" | "relay";
  /** ws://127.0.0.1:PORT */
  url: string;
  /** Bearer token (Flightdeck). */
  token?: string;
  sockets: number;
  mode: "stream" | "ticks" | "idle";
  /** stream: the repeated unit and the total bytes per socket. */
  unit?: string;
  totalBytes?: number;
  /** ticks: how many lines. */
  ticks?: number;
  /**
   * Flightdeck: a line `RUN <json {agentId, command}>` on stdin makes the
   * first socket send that `command:request`; prints `SENT <epoch ms>`.
   */
  control?: boolean;
}

/** Epoch time in ms with sub-ms precision, comparable across processes. */
export const now = (): number => performance.timeOrigin + performance.now();

/** Deno's WebSocket accepts headers; the DOM typings do not say so. */
const WebSocketWithHeaders = WebSocket as unknown as new (
  url: string,
  options: { headers: Record<string, string> },
) => WebSocket;

/** The `{seq, data}` of an output frame, or null for another frame. */
function outputOf(
  system: ClientOptions["system"],
  frame: string,
): { seq: number; data: string } | null {
  const message = JSON.parse(frame);
  if (system === "relay") return message;
  return message.type === "terminal:output" ? message.payload : null;
}

function fail(why: string): never {
  console.log(`FAIL ${why.replaceAll("\n", " ")}`);
  Deno.exit(1);
}

async function main(options: ClientOptions): Promise<void> {
  const { system, sockets: count, mode } = options;
  const path = system === "relay" ? "/sink" : "/ws/dashboard";
  const headers: Record<string, string> = options.token
    ? { authorization: `Bearer ${options.token}` }
    : {};
  let remaining = count;
  let lastByteAt = 0;
  const latencies: number[] = [];
  let armed = false;
  let fanFirst = Infinity;
  let fanLast = 0;
  let fanPending = 0;
  const fanSeen = new Set<number>();
  let first: WebSocket | undefined;

  const open = (index: number): Promise<number> => {
    const start = now();
    const socket = new WebSocketWithHeaders(`${options.url}${path}`, {
      headers,
    });
    if (index === 0) first = socket;
    const verifier = mode === "stream"
      ? new StreamVerifier(options.unit!, options.totalBytes!)
      : null;
    let ticksSeen = 0;
    let nextSeq = 1;
    let partial = "";
    let ready = false;
    return new Promise((resolve, reject) => {
      socket.onerror = () => reject(new Error(`socket ${index} failed`));
      socket.onclose = (event) => {
        if (!ready) reject(new Error(`socket ${index} closed ${event.code}`));
        else if (remaining > 0 && mode !== "idle") {
          fail(`socket ${index} closed ${event.code} ${event.reason}`);
        }
      };
      if (system === "relay") {
        socket.onopen = () => {
          ready = true;
          resolve(now() - start);
        };
      }
      socket.onmessage = (event) => {
        const frame = String(event.data);
        if (!ready) {
          // Flightdeck: usable once the agent list arrived.
          if (JSON.parse(frame).type === "agent:list") {
            ready = true;
            resolve(now() - start);
          }
          return;
        }
        if (mode === "idle") {
          if (!armed || fanSeen.has(index)) return;
          if (system === "flightdeck" && !frame.includes('"agent:status"')) {
            return;
          }
          const at = now();
          fanSeen.add(index);
          fanFirst = Math.min(fanFirst, at);
          fanLast = Math.max(fanLast, at);
          if (--fanPending === 0) {
            armed = false;
            console.log(
              `FANOUT ${JSON.stringify({ first: fanFirst, last: fanLast })}`,
            );
          }
          return;
        }
        const chunk = outputOf(system, frame);
        if (!chunk) return;
        if (verifier) {
          try {
            verifier.chunk(chunk.seq, chunk.data);
          } catch (error) {
            if (error instanceof StreamError) {
              fail(`socket ${index}: ${error.message}`);
            }
            throw error;
          }
          if (verifier.complete) {
            lastByteAt = Math.max(lastByteAt, now());
            if (--remaining === 0) {
              console.log(`DONE ${JSON.stringify({ lastByteAt })}`);
            }
          }
          return;
        }
        // ticks
        const at = now();
        if (chunk.seq !== nextSeq) {
          fail(`socket ${index}: seq ${chunk.seq}, expected ${nextSeq}`);
        }
        nextSeq++;
        const lines = (partial + chunk.data).split("\n");
        partial = lines.pop()!;
        for (const line of lines) {
          const match = /^T (\d+) ([\d.]+)$/.exec(line);
          if (!match) fail(`socket ${index}: unexpected line "${line}"`);
          if (Number(match[1]) !== ticksSeen + 1) {
            fail(`socket ${index}: tick ${match[1]} after ${ticksSeen}`);
          }
          ticksSeen++;
          if (index === 0) latencies.push(at - Number(match[2]));
          if (ticksSeen === options.ticks && --remaining === 0) {
            console.log(`DONE ${JSON.stringify({ latencies })}`);
          }
        }
      };
    });
  };

  const started = now();
  let connectMs: number[];
  try {
    connectMs = await Promise.all(
      Array.from({ length: count }, (_, i) => open(i)),
    );
  } catch (error) {
    fail(String(error instanceof Error ? error.message : error));
  }
  console.log(
    `READY ${JSON.stringify({ connectMs, spanMs: now() - started })}`,
  );
  if (mode !== "idle" && !options.control) return;
  for await (
    const line of Deno.stdin.readable.pipeThrough(new TextDecoderStream())
  ) {
    if (line.startsWith("RUN ")) {
      const payload = JSON.parse(line.slice(4));
      const at = now();
      first!.send(JSON.stringify({
        version: "1.0.0",
        type: "command:request",
        id: "bench",
        timestamp: Math.floor(at),
        payload,
      }));
      console.log(`SENT ${at}`);
    } else if (line.includes("ARM")) {
      fanSeen.clear();
      fanFirst = Infinity;
      fanLast = 0;
      fanPending = count;
      armed = true;
      console.log("ARMED");
    }
  }
  Deno.exit(0);
}

if (import.meta.main) {
  const parsed = JSON.parse(Deno.args[0] ?? "{}");
  await main(parsed as ClientOptions);
}
