// deno-lint-ignore-file no-console -- CLI entry point: stdout is its interface
/**
 * What handing accepted connections to the HTTP server wins over the
 * connection guard's relay, for plain HTTP: a server of 64 B responses is
 * started in a child process with lib/server/listen.ts as `relay` (the
 * guard), `off` (no guard) or `handoff` (lib/server/conn_handoff.ts), and a
 * client in this process measures, mode by mode, alternated over `--reps`:
 *
 * - the 64 B hop: sequential `GET /` on one keep-alive connection, p50 and
 *   p99 of 2,000 round trips (after 200 warm-up ones);
 * - idle memory: the server's RSS growth per connection after `--conns`
 *   keep-alive connections have each had one response and gone idle.
 *
 * WebSockets are measured by `deno task bench` (its hop and idle variants).
 *
 *     deno run -A bench/handoff.ts [--reps=3] [--conns=1000]
 *
 * Prints `FIGURE name=value` lines like `deno task bench`.
 *
 * @module
 */
import { loadConfig } from "../lib/server/config.ts";
import { listen } from "../lib/server/listen.ts";
import { createLogger } from "../lib/server/logger.ts";

type Mode = "relay" | "off" | "handoff";
const MODES: Mode[] = ["relay", "off", "handoff"];
const BODY = "x".repeat(64);

const handler = () =>
  new Response(BODY, { headers: { "content-type": "text/plain" } });

/** Child: serve in `mode` and print the port. */
async function serve(mode: Mode): Promise<void> {
  const config = loadConfig({
    hostname: "127.0.0.1",
    port: 0,
    connectionGuard: mode === "handoff" ? "handoff" : mode === "relay",
    // Idle connections stay open for the memory figure.
    keepAliveTimeoutMs: 0,
    idleTimeoutMs: 0,
    maxTcpConnections: 100_000,
    maxTcpConnectionsPerAddress: 100_000,
  }, () => undefined);
  const server = await listen(handler, config, createLogger("error"));
  console.log(JSON.stringify({ port: server.addr.port }));
  await new Promise(() => {});
}

const REQUEST = new TextEncoder().encode("GET / HTTP/1.1\r\nHost: b\r\n\r\n");

/** Send one request and read one whole response (Content-Length framed). */
async function roundTrip(conn: Deno.Conn, buf: Uint8Array): Promise<void> {
  await conn.write(REQUEST);
  let text = "";
  for (;;) {
    const n = await conn.read(buf);
    if (n === null) throw new Error("Connection closed");
    text += new TextDecoder().decode(buf.subarray(0, n));
    const end = text.indexOf("\r\n\r\n");
    if (end < 0) continue;
    const length = Number(/content-length: *(\d+)/i.exec(text)?.[1]);
    if (text.length >= end + 4 + length) return;
  }
}

function rssKib(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  return Number(/VmRSS:\s+(\d+)/.exec(status)![1]);
}

function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

async function measure(mode: Mode, conns: number) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", import.meta.filename!, `--serve=${mode}`],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let line = "";
  while (!line.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`${mode} server exited`);
    line += value;
  }
  const { port } = JSON.parse(line);
  const buf = new Uint8Array(4096);
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    conn.setNoDelay(true);
    for (let i = 0; i < 200; i++) await roundTrip(conn, buf);
    const hops: number[] = [];
    for (let i = 0; i < 2000; i++) {
      const start = performance.now();
      await roundTrip(conn, buf);
      hops.push(performance.now() - start);
    }
    conn.close();
    await new Promise((resolve) => setTimeout(resolve, 300));
    const before = rssKib(child.pid);
    const idle: Deno.Conn[] = [];
    for (let i = 0; i < conns; i++) {
      const c = await Deno.connect({ hostname: "127.0.0.1", port });
      await roundTrip(c, buf);
      idle.push(c);
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
    const after = rssKib(child.pid);
    for (const c of idle) c.close();
    return {
      hopP50: quantile(hops, 0.5),
      hopP99: quantile(hops, 0.99),
      kibPerConn: (after - before) / conns,
    };
  } finally {
    child.kill("SIGKILL");
    await child.status;
    await reader.cancel().catch(() => {});
  }
}

const arg = (name: string) =>
  Deno.args.find((a) => a.startsWith(`--${name}=`))?.split("=")[1];

if (arg("serve")) {
  await serve(arg("serve") as Mode);
} else {
  const reps = Number(arg("reps") ?? 3);
  const conns = Number(arg("conns") ?? 1000);
  const results: Record<Mode, Awaited<ReturnType<typeof measure>>[]> = {
    relay: [],
    off: [],
    handoff: [],
  };
  for (let rep = 0; rep < reps; rep++) {
    for (const mode of MODES) {
      const r = await measure(mode, conns);
      results[mode].push(r);
      console.log(`# ${mode} #${rep + 1}: ${JSON.stringify(r)}`);
    }
  }
  const median = (xs: number[]) => quantile(xs, 0.5);
  for (const mode of MODES) {
    const rs = results[mode];
    const figure = (name: string, values: number[], digits: number) =>
      console.log(
        `FIGURE handoff_bench_${name}_${mode}=${
          median(values).toFixed(digits)
        } (min ${Math.min(...values).toFixed(digits)}, max ${
          Math.max(...values).toFixed(digits)
        })`,
      );
    figure("hop_p50_ms", rs.map((r) => r.hopP50), 3);
    figure("hop_p99_ms", rs.map((r) => r.hopP99), 3);
    figure("idle_kib_per_conn", rs.map((r) => r.kibPerConn), 1);
  }
}
