/**
 * The systems `deno task bench` compares, each started fresh for a run as
 * processes on 127.0.0.1: Flightdeck (the real server, `main.ts`, with its
 * default file-backed KV in a temporary data dir, and a real agent,
 * `agent.ts`), a trivial Deno WebSocket relay (bench/relay_deno.ts) and a
 * Node `ws` relay (bench/relay_node.mjs), whose output comes from
 * bench/producer.ts running the same command.
 *
 * @module
 */
import { ROOT } from "../tests/helpers.ts";
import { V8_AGENT_FLAG_ARGS } from "../lib/v8_flags.ts";
import { ServerProcess } from "../tests/faults/server_process.ts";
import { checkNotStopping, Child, onKillAll } from "./proc.ts";
import { now } from "./client.ts";

/** The systems compared. */
export type SystemName = "flightdeck" | "deno_relay" | "node_relay";

/** The references, in the order they run after Flightdeck in a batch. */
export const REFERENCES: SystemName[] = ["deno_relay", "node_relay"];

/** The hard open-file limit, for children that hold many sockets. */
export function fileLimit(): number {
  try {
    const out = new Deno.Command("bash", { args: ["-c", "ulimit -Hn"] })
      .outputSync();
    const n = Number(new TextDecoder().decode(out.stdout).trim());
    return Number.isFinite(n) && n > 0 ? n : 1024;
  } catch {
    return 1024;
  }
}

/** Spawn `deno run -A <script> ...args` under the hard open-file limit. */
export function spawnDeno(
  name: string,
  script: string,
  args: string[],
  options: {
    stdin?: boolean;
    env?: Record<string, string>;
    /** Flags before the script, e.g. {@link V8_AGENT_FLAG_ARGS}. */
    flags?: readonly string[];
  } = {},
): Child {
  return Child.spawn(name, "bash", [
    "-c",
    `ulimit -n ${fileLimit()} 2>/dev/null; exec "$0" "$@"`,
    Deno.execPath(),
    "run",
    "-A",
    ...options.flags ?? [],
    `${ROOT}${script}`,
    ...args,
  ], { stdin: options.stdin, env: options.env, cwd: ROOT });
}

/** Path of the npm `ws` package in Deno's cache (from deno.json's import). */
let wsPath: string | undefined;
async function wsPackage(): Promise<string> {
  if (wsPath) return wsPath;
  const config = JSON.parse(await Deno.readTextFile(`${ROOT}deno.json`));
  const specifier: string = config.imports.ws;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", specifier],
    cwd: ROOT,
  }).output();
  const info = JSON.parse(new TextDecoder().decode(out.stdout));
  const name = specifier.replace(/^npm:/, "");
  const path = info.npmPackages?.[name]?.localPath;
  if (!path) throw new Error(`No local copy of ${specifier} (deno info)`);
  return wsPath = path;
}

/** Whether `node` is on PATH. */
export function hasCommand(name: string): boolean {
  try {
    return new Deno.Command("bash", { args: ["-c", `command -v ${name}`] })
      .outputSync().success;
  } catch {
    return false;
  }
}

/** Settings of the bench's Flightdeck server: caps raised for 1,000 sockets. */
const FLIGHTDECK_ENV: Record<string, string> = {
  FLIGHTDECK_MAX_CONNECTIONS_PER_USER: "20000",
  FLIGHTDECK_MAX_CONNECTIONS_PER_ADDRESS: "20000",
  FLIGHTDECK_MAX_UNAUTH_PER_ADDRESS: "10000",
  FLIGHTDECK_MAX_UNAUTH: "20000",
  FLIGHTDECK_MAX_TCP_CONNECTIONS: "40000",
  FLIGHTDECK_MAX_TCP_PER_ADDRESS: "40000",
};

/** One system running for one run. */
export interface Running extends AsyncDisposable {
  name: SystemName;
  /** ws://127.0.0.1:PORT */
  wsUrl: string;
  /** The server (or relay) process. */
  serverPid: number;
  /** The agent (Flightdeck) or the producer (relays), once there is one. */
  agentPid(): number | undefined;
  /** Token for dashboard clients (Flightdeck). */
  dashboardToken?: string;
  /**
   * Make `command`'s stdout the stream: Flightdeck, `requester` (a client
   * process started with `control: true`) sends `command:request`; relays,
   * the producer runs it. Resolves with the epoch time it was asked for.
   */
  produce(command: string, requester: Child): Promise<number>;
  /** Flightdeck: the agent's log lines; relays: the producer's. */
  agentLines(): string[];
  /**
   * Relays: the producer's CPU seconds and peak memory, reported by it once
   * it sent everything. Flightdeck: null (its agent lives on; read /proc).
   */
  producerTotals(): Promise<
    { cpuSeconds: number; peakRssBytes: number } | null
  >;
}

/** Start `name` fresh. */
/**
 * Start `name` fresh; `env` is added to a Flightdeck server's environment
 * (e.g. `FLIGHTDECK_CONN_GUARD: "off"`).
 */
export function startSystem(
  name: SystemName,
  env: Record<string, string> = {},
): Promise<Running> {
  return name === "flightdeck" ? startFlightdeck(env) : startRelay(name);
}

/** The agent id of the bench's agent. */
export const AGENT_ID = "bench-agent";

/** A Flightdeck server process, killed by `killAll` too. */
export async function startServer(
  env: Record<string, string> = {},
): Promise<ServerProcess & AsyncDisposable> {
  checkNotStopping();
  const server = await ServerProcess.start({
    env: { ...FLIGHTDECK_ENV, ...env },
    fileLimit: fileLimit(),
  });
  try {
    checkNotStopping();
  } catch (error) {
    await server.dispose();
    throw error;
  }
  const forget = onKillAll(() => server.dispose());
  const dispose = server.dispose.bind(server);
  server.dispose = async () => {
    forget();
    await dispose();
  };
  return server;
}

async function startFlightdeck(
  env: Record<string, string>,
): Promise<Running> {
  const server = await startServer(env);
  let agent: Child | undefined;
  try {
    const viewer = await server.token("viewer");
    const agentToken = await server.token("agent", AGENT_ID);
    agent = spawnDeno("agent", "agent.ts", [
      "--server",
      server.url,
      "--token",
      agentToken,
      "--name",
      AGENT_ID,
    ], { flags: V8_AGENT_FLAG_ARGS });
    await agentOnline(server.url, viewer, agent);
    const dashboardToken = await server.token("operator");
    const running: Running = {
      name: "flightdeck",
      wsUrl: server.wsUrl,
      serverPid: server.pid,
      dashboardToken,
      agentPid: () => agent?.pid,
      agentLines: () => agent?.lines ?? [],
      producerTotals: () => Promise.resolve(null),
      async produce(command, requester) {
        const from = requester.lines.length;
        await requester.write(
          `RUN ${JSON.stringify({ agentId: AGENT_ID, command })}`,
        );
        const sent = await requester.waitLine("SENT ", 30_000, from);
        return Number(sent.slice(5));
      },
      async [Symbol.asyncDispose]() {
        await agent?.stop();
        await server.dispose();
      },
    };
    return running;
  } catch (error) {
    await agent?.stop();
    await server.dispose();
    throw error;
  }
}

/** Poll `GET /api/agents` until the bench agent is online (at most 30 s). */
async function agentOnline(
  url: string,
  token: string,
  agent: Child,
): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (agent.exited) break;
    const res = await fetch(`${url}/api/agents`, {
      headers: { authorization: `Bearer ${token}` },
    }).catch(() => null);
    const body = res?.ok ? await res.json() : await res?.body?.cancel();
    const found = body?.agents?.find((a: { id: string }) => a.id === AGENT_ID);
    if (found?.status === "online") return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(
    `Agent not online within 30 s:\n  ${agent.lines.slice(-10).join("\n  ")}`,
  );
}

async function startRelay(name: SystemName): Promise<Running> {
  const relay = name === "node_relay"
    ? Child.spawn("node relay", "bash", [
      "-c",
      `ulimit -n ${fileLimit()} 2>/dev/null; exec node "$@"`,
      "node",
      `${ROOT}bench/relay_node.mjs`,
      await wsPackage(),
    ])
    : spawnDeno("deno relay", "bench/relay_deno.ts", []);
  let producer: Child | undefined;
  try {
    const port = Number(
      (await relay.waitLine("LISTENING ", 30_000)).split(" ")[1],
    );
    const wsUrl = `ws://127.0.0.1:${port}`;
    return {
      name,
      wsUrl,
      serverPid: relay.pid,
      agentPid: () => producer?.pid,
      agentLines: () => producer?.lines ?? [],
      producerTotals: () => {
        if (!producer) return Promise.resolve(null);
        return producer.done(30_000);
      },
      async produce(command) {
        producer = spawnDeno("producer", "bench/producer.ts", [
          wsUrl,
          command,
        ], { stdin: true });
        await producer.waitLine("OPEN", 30_000);
        const at = now();
        await producer.write("GO");
        return at;
      },
      async [Symbol.asyncDispose]() {
        await producer?.stop();
        await relay.stop();
      },
    };
  } catch (error) {
    await relay.stop();
    throw error;
  }
}
