/**
 * Test harness: a real server on an ephemeral port with in-memory KV, real
 * WebSocket clients that record every message, and real agent processes.
 *
 * @module
 */
import assert from "node:assert/strict";
import manifest from "../fresh.gen.ts";
import { type RunningServer, startServer } from "../lib/server/app.ts";
import type { ConfigInput } from "../lib/server/config.ts";
import { V8_AGENT_FLAG_ARGS } from "../lib/v8_flags.ts";
import {
  createLogger,
  type Logger,
  silentLogger,
} from "../lib/server/logger.ts";
import {
  envelope,
  parseServerMessage,
  type ServerToDashboardMessage,
  toDashboard,
} from "../lib/protocol.ts";
import type { Role } from "../lib/protocol.ts";

Deno.env.set("NO_PROXY", "127.0.0.1,localhost");

/** Project root (absolute path, with trailing slash). */
export const ROOT = new URL("../", import.meta.url).pathname;

/** A server for one test. */
export interface TestServer extends RunningServer {
  /** `ws://host:port` */
  wsUrl: string;
  /** Sign a token with this server's secret. */
  token(role: Role, agentId?: string): Promise<string>;
  /** Shut down and close KV. */
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * Start a server on port 0 with in-memory KV (or `dataDir` for restarts).
 * Its log is dropped (printed with FLIGHTDECK_TEST_LOG set), or given to
 * `log`.
 */
export async function startTestServer(
  config: ConfigInput = {},
  log: Logger | undefined = Deno.env.get("FLIGHTDECK_TEST_LOG")
    ? undefined
    : silentLogger,
): Promise<TestServer> {
  const server = await startServer(manifest, {
    ignoreEnv: true,
    log,
    config: {
      port: 0,
      dataDir: ":memory:",
      secret: "test-secret-test-secret-test-secret-0123456789",
      printLoginUrl: false,
      ...config,
    },
  });
  return {
    ...server,
    wsUrl: server.url.replace(/^http/, "ws"),
    token: (role, agentId) => server.services.auth.sign({ role, agentId }),
    [Symbol.asyncDispose]: () => server.shutdown(),
  };
}

/** A test server whose log lines (level info and up) are kept in `lines`. */
export async function loggedTestServer(
  config: ConfigInput = {},
): Promise<TestServer & { lines: string[] }> {
  const lines: string[] = [];
  const server = await startTestServer(
    config,
    createLogger("info", (line) => lines.push(line)),
  );
  return { ...server, lines };
}

type Message = ServerToDashboardMessage;

type PayloadByType = {
  [K in Message["type"]]: Extract<Message, { type: K }>["payload"];
};

/** Deno's WebSocket accepts headers; the DOM typings in this project do not say so. */
const WebSocketWithHeaders = WebSocket as unknown as new (
  url: string,
  options: { headers: Record<string, string> },
) => WebSocket;

/** A WebSocket client that records every parsed message. */
export class TestClient {
  readonly socket: WebSocket;
  readonly messages: Message[] = [];
  readonly raw: unknown[] = [];
  closed: { code: number; reason: string } | null = null;
  #waiters = new Set<() => void>();
  #opened: Promise<void>;

  constructor(url: string, headers: Record<string, string> = {}) {
    this.socket = new WebSocketWithHeaders(url, { headers });
    this.#opened = new Promise((resolve, reject) => {
      this.socket.addEventListener("open", () => resolve(), { once: true });
      this.socket.addEventListener(
        "error",
        () => reject(new Error(`Cannot connect to ${url}`)),
        {
          once: true,
        },
      );
    });
    this.socket.addEventListener("message", (event) => {
      const value = JSON.parse(String(event.data));
      this.raw.push(value);
      const parsed = parseServerMessage(value);
      if (parsed.ok) this.messages.push(parsed.message);
      this.#wake();
    });
    this.socket.addEventListener("close", (event) => {
      this.closed = { code: event.code, reason: event.reason };
      this.#wake();
    });
  }

  /** Connect as a dashboard with a Bearer token. */
  static async dashboard(
    server: TestServer,
    role: Role = "operator",
  ): Promise<TestClient> {
    const token = await server.token(role);
    const client = new TestClient(`${server.wsUrl}/ws/dashboard`, {
      authorization: `Bearer ${token}`,
    });
    await client.opened();
    await client.waitFor((m) => m.type === "agent:list");
    // The snapshot's other frames (command:status, command:queue) follow
    // agent:list and may arrive in later reads (the connection guard relays
    // them): a heartbeat echo comes after all of them.
    await echoBarrier(client);
    return client;
  }

  opened(): Promise<void> {
    return this.#opened;
  }

  /**
   * Send an envelope of any type and payload, unchecked: tests send invalid
   * and foreign messages through it too.
   */
  send(type: string, payload: unknown, id?: string): void {
    this.socket.send(JSON.stringify(envelope(type, payload, id)));
  }

  /** Send a raw frame. */
  sendRaw(frame: string): void {
    this.socket.send(frame);
  }

  /** Messages of `type`, with their payloads typed. */
  of<T extends Message["type"]>(type: T): PayloadByType[T][] {
    return this.messages.filter((m) => m.type === type).map((m) =>
      m.payload as PayloadByType[T]
    );
  }

  /** Wait until `predicate` holds for some message received (from `from` on). */
  async waitFor(
    predicate: (m: Message) => boolean,
    options: { timeoutMs?: number; from?: number } = {},
  ): Promise<Message> {
    const found = await this.until(
      () => this.messages.slice(options.from ?? 0).find(predicate),
      {
        timeoutMs: options.timeoutMs,
        what: predicate.toString(),
      },
    );
    return found;
  }

  /** Wait until `check` returns a truthy value; re-checked on every message. */
  until<T>(
    check: () => T | undefined | null | false,
    options: { timeoutMs?: number; what?: string } = {},
  ): Promise<T> {
    const timeoutMs = options.timeoutMs ?? 10_000;
    return new Promise((resolve, reject) => {
      const attempt = () => {
        const value = check();
        if (value) {
          cleanup();
          resolve(value);
        } else if (this.closed && !options.what?.includes("closed")) {
          // Keep waiting: a check may be about the close itself.
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(
          new Error(
            `Timed out after ${timeoutMs} ms waiting for ${
              options.what ?? "condition"
            }`,
          ),
        );
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        this.#waiters.delete(attempt);
      };
      this.#waiters.add(attempt);
      attempt();
    });
  }

  /** Wait for the socket to close; returns the close code. */
  async waitClosed(
    timeoutMs = 10_000,
  ): Promise<{ code: number; reason: string }> {
    return await this.until(() => this.closed, { timeoutMs, what: "closed" });
  }

  /** Close and wait until closed. */
  async close(): Promise<void> {
    if (!this.closed) {
      this.socket.close(1000);
      await this.waitClosed().catch(() => {});
    }
  }

  #wake(): void {
    for (const waiter of [...this.#waiters]) waiter();
  }
}

/** Output of `commandId` as received by `client`, joined in seq order, with the seqs. */
export function outputOf(
  client: TestClient,
  commandId: string,
): { text: string; seqs: number[] } {
  const chunks = client.of("terminal:output").filter((c) =>
    c.commandId === commandId
  );
  return {
    text: chunks.map((c) => c.data).join(""),
    seqs: chunks.map((c) => c.seq),
  };
}

/** Wait for a command's final status at `client`. */
export async function waitFinal(
  client: TestClient,
  commandId: string,
  timeoutMs = 20_000,
) {
  const message = await client.waitFor(
    (m) =>
      m.type === "command:status" && m.payload.command.id === commandId &&
      !["queued", "running"].includes(m.payload.command.status),
    { timeoutMs },
  );
  if (message.type !== "command:status") throw new Error("unreachable");
  return message.payload.command;
}

/** A real agent process (`deno run -A agent.ts`), with its stderr captured. */
export class AgentProcess {
  readonly child: Deno.ChildProcess;
  stderr = "";
  readonly #done: Promise<Deno.CommandStatus>;
  /** Called after each stderr chunk, and once more (ended) at its end. */
  readonly #onStderr = new Set<(ended: boolean) => void>();
  #stderrEnded = false;

  /**
   * `env` is added to this process's environment; with `clearEnv` it is the
   * whole environment (plus `NO_PROXY`).
   */
  constructor(
    args: string[],
    env: Record<string, string> = {},
    options: { clearEnv?: boolean } = {},
  ) {
    this.child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", ...V8_AGENT_FLAG_ARGS, `${ROOT}agent.ts`, ...args],
      cwd: ROOT,
      stdin: "null",
      stdout: "null",
      stderr: "piped",
      clearEnv: options.clearEnv ?? false,
      env: { NO_PROXY: "127.0.0.1,localhost", ...env },
    }).spawn();
    const reader = this.child.stderr.pipeThrough(new TextDecoderStream())
      .getReader();
    (async () => {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        this.stderr += value;
        for (const listener of [...this.#onStderr]) listener(false);
      }
      this.#stderrEnded = true;
      for (const listener of [...this.#onStderr]) listener(true);
    })();
    this.#done = this.child.status;
  }

  /** Start an agent for `server` named `name` (id = name). */
  static async start(
    server: Pick<TestServer, "url" | "token">,
    name: string,
    extra: string[] = [],
  ): Promise<AgentProcess> {
    const token = await server.token("agent", name);
    return new AgentProcess([
      "--server",
      server.url,
      "--token",
      token,
      "--name",
      name,
      ...extra,
    ]);
  }

  get status(): Promise<Deno.CommandStatus> {
    return this.#done;
  }

  /**
   * Resolve when stderr contains `text` (a string) or matches it (a RegExp),
   * checked at each chunk read; reject with what was printed when stderr
   * ends without it or after `timeoutMs`.
   */
  waitStderr(text: string | RegExp, timeoutMs = 10_000): Promise<void> {
    const found = () =>
      typeof text === "string"
        ? this.stderr.includes(text)
        : text.test(this.stderr);
    if (found()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const finish = (error?: Error) => {
        clearTimeout(timer);
        this.#onStderr.delete(listener);
        if (error) reject(error);
        else resolve();
      };
      const fail = (why: string) =>
        finish(new Error(`${why} waiting for ${text} in:\n${this.stderr}`));
      const listener = (ended: boolean) => {
        if (found()) finish();
        else if (ended) fail("stderr ended");
      };
      const timer = setTimeout(() => fail("Timed out"), timeoutMs);
      this.#onStderr.add(listener);
      if (this.#stderrEnded) listener(true);
    });
  }

  /** Send `signal` and (unless SIGSTOP) wait for the exit. */
  async kill(signal: Deno.Signal = "SIGTERM"): Promise<void> {
    try {
      this.child.kill(signal);
    } catch {
      // Already gone.
    }
    if (signal !== "SIGSTOP" && signal !== "SIGCONT") await this.#done;
  }
}

/** Wait until `client` sees agent `id` with `status`. */
export async function waitAgentStatus(
  client: TestClient,
  id: string,
  status: "online" | "busy" | "offline",
  timeoutMs = 15_000,
): Promise<void> {
  await client.until(() => {
    let last: string | undefined;
    for (const m of client.messages) {
      if (m.type === "agent:list") {
        last = m.payload.agents.find((a) => a.id === id)?.status ?? last;
      } else if (m.type === "agent:status" && m.payload.agent.id === id) {
        last = m.payload.agent.status;
      }
    }
    return last === status;
  }, { timeoutMs, what: `agent ${id} ${status}` });
}

// ---------------------------------------------------------------------------
// Additions for the integration suites (dashboard, commands, fanout, bad input,
// cli). Everything above is unchanged.

/**
 * What `client` got for `commandId` from index `from` on, in order:
 * `screen N` (a snapshot at seq N), `N` (output chunk N), `gap A-B`.
 */
export function received(
  client: TestClient,
  commandId: string,
  from = 0,
): string[] {
  return (client.raw as RawMessage[]).slice(from).flatMap((m) => {
    if (m.payload?.commandId !== commandId) return [];
    if (m.type === "terminal:snapshot") return [`screen ${m.payload.seq}`];
    if (m.type === "terminal:output") return [String(m.payload.seq)];
    if (m.type === "terminal:gap") {
      return [`gap ${m.payload.fromSeq}-${m.payload.toSeq}`];
    }
    return [];
  });
}

/** A raw server message as received (envelope fields included). */
export interface RawMessage {
  version: string;
  type: string;
  id?: string;
  timestamp: number;
  // deno-lint-ignore no-explicit-any
  payload: any;
}

/** Raw messages of `type` received by `client`. */
export function rawOf(client: TestClient, type: string): RawMessage[] {
  return (client.raw as RawMessage[]).filter((m) => m.type === type);
}

/** Wait for a raw message matching `predicate` (from index `from` on). */
export function waitRaw(
  client: TestClient,
  predicate: (m: RawMessage) => boolean,
  options: { timeoutMs?: number; from?: number } = {},
): Promise<RawMessage> {
  return client.until(
    () => (client.raw as RawMessage[]).slice(options.from ?? 0).find(predicate),
    { timeoutMs: options.timeoutMs, what: predicate.toString() },
  );
}

/** A dashboard socket opened without any credentials. */
export async function anonymousDashboard(
  server: TestServer,
  headers: Record<string, string> = {},
): Promise<TestClient> {
  const client = new TestClient(`${server.wsUrl}/ws/dashboard`, headers);
  await client.opened();
  return client;
}

/**
 * Send `command:request` with envelope id `requestId` and wait for the direct
 * answer: the `command:status` or the `error` carrying `replyTo`.
 */
export async function requestCommand(
  client: TestClient,
  payload: {
    agentId: string;
    command: string;
    priority?: "high" | "normal" | "low";
    timeoutMs?: number;
  },
  requestId: string = crypto.randomUUID(),
  timeoutMs = 10_000,
): Promise<Message> {
  const from = client.messages.length;
  client.send("command:request", payload, requestId);
  return await client.waitFor(
    (m) =>
      (m.type === "command:status" || m.type === "error") &&
      m.payload.replyTo === requestId,
    { timeoutMs, from },
  );
}

/** Like {@link requestCommand}, but fails unless the command was accepted; returns its id. */
export async function queueCommand(
  client: TestClient,
  payload: Parameters<typeof requestCommand>[1],
  requestId?: string,
): Promise<string> {
  const reply = await requestCommand(client, payload, requestId);
  if (reply.type !== "command:status") {
    throw new Error(`Command refused: ${JSON.stringify(reply.payload)}`);
  }
  return reply.payload.command.id;
}

/** Every `command:status` of `commandId` seen by `client`, in order. */
export function statusesOf(
  client: TestClient,
  commandId: string,
): PayloadByType["command:status"][] {
  return client.of("command:status").filter((s) => s.command.id === commandId);
}

/** Wait until `client` saw `command:status` `status` for `commandId`. */
export async function waitStatus(
  client: TestClient,
  commandId: string,
  status: string,
  timeoutMs = 10_000,
) {
  const message = await client.waitFor(
    (m) =>
      m.type === "command:status" && m.payload.command.id === commandId &&
      m.payload.command.status === status,
    { timeoutMs },
  );
  if (message.type !== "command:status") throw new Error("unreachable");
  return message.payload.command;
}

let barrierSequence = 2 ** 40;

/**
 * Wait until `client` (a dashboard) has received every broadcast the server
 * sent before this call: the server broadcasts a marker `heartbeat` to
 * every dashboard, and frames on one connection arrive in order. Use it
 * after the answer to the last message under test arrived, instead of
 * sleeping, to check that nothing else was broadcast. Returns the marker's
 * index in `client.raw`: everything before it arrived before the marker.
 */
export async function broadcastBarrier(
  server: TestServer,
  client: TestClient,
): Promise<number> {
  const sequence = ++barrierSequence;
  const from = client.raw.length;
  server.services.dashboards.broadcast(toDashboard("heartbeat", { sequence }));
  const isMarker = (m: unknown) => {
    const { type, payload } = m as { type?: string; payload?: unknown };
    return type === "heartbeat" &&
      (payload as { sequence?: number })?.sequence === sequence;
  };
  const index = await client.until(() => {
    const i = client.raw.findIndex((m, i) => i >= from && isMarker(m));
    return i >= 0 ? i + 1 : null;
  }, { what: `broadcast barrier ${sequence}` });
  return index - 1;
}

/**
 * Wait until `client` has received every frame the server sent it before
 * this call: a `heartbeat` round trip (the echo comes after them on the
 * same connection).
 */
export async function echoBarrier(client: TestClient): Promise<void> {
  const sequence = ++barrierSequence;
  const from = client.raw.length;
  client.send("heartbeat", { sequence });
  await client.until(() =>
    client.raw.slice(from).some((m) => {
      const { type, payload } = m as { type?: string; payload?: unknown };
      return type === "heartbeat" &&
        (payload as { sequence?: number })?.sequence === sequence;
    }), { what: `heartbeat echo ${sequence}` });
}

/** `client` takes control of `agentId`'s terminal and waits until it is told it holds it. */
export async function takeControl(
  client: TestClient,
  agentId: string,
): Promise<void> {
  const ack = rawOf(client, "connection:ack")[0] as {
    payload: { connectionId: string };
  };
  client.send("session:control", { agentId, take: true });
  await client.until(
    () =>
      rawOf(client, "session:controller").some((m) =>
        m.payload.agentId === agentId &&
        m.payload.holder?.connectionId === ack.payload.connectionId
      ),
    { what: `control of ${agentId}` },
  );
}

/** Send `type` and check (after a heartbeat echo) that no error answered it. */
export async function sendOk(
  client: TestClient,
  type: string,
  payload: unknown,
): Promise<void> {
  const error = await errorReply(client, type, payload);
  assert.equal(error, null, JSON.stringify(error));
}

/**
 * Send `type` with a fresh envelope id; resolve with the `error` answering
 * it, or null when none came (every frame the server sent before a
 * heartbeat echo has arrived).
 */
export async function errorReply(
  client: TestClient,
  type: string,
  payload: unknown,
): Promise<RawMessage | null> {
  const id = crypto.randomUUID().slice(0, 8);
  const from = client.raw.length;
  client.send(type, payload, id);
  await echoBarrier(client);
  return (client.raw.slice(from) as RawMessage[]).find((m) =>
    m.type === "error" && m.payload.replyTo === id
  ) ?? null;
}

/** Resolve after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * A process that exists and is not a zombie. (PID 1 of a container may never
 * reap orphans, so a dead process can linger as a zombie.)
 */
export function processAlive(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const state = stat.slice(stat.lastIndexOf(")") + 2).split(" ")[0];
    return state !== "Z" && state !== "X";
  } catch {
    return false;
  }
}

/**
 * A raw WebSocket speaking the agent protocol, for scenarios a real agent
 * cannot produce (a second socket with the same id, bad frames). Heartbeats
 * every second once acknowledged, so the server keeps it online.
 */
export class RawAgent {
  readonly client: TestClient;
  readonly id: string;
  #heartbeat: ReturnType<typeof setInterval> | undefined;
  #sequence = 0;

  private constructor(client: TestClient, id: string) {
    this.client = client;
    this.id = id;
  }

  /** Open `/ws/agent` (optionally with a Bearer header). */
  static async open(
    server: TestServer,
    id: string,
    headers: Record<string, string> = {},
  ): Promise<RawAgent> {
    const client = new TestClient(`${server.wsUrl}/ws/agent`, headers);
    await client.opened();
    return new RawAgent(client, id);
  }

  /**
   * Open, send `agent:connect` for `id` with a valid token (or `token`) and
   * wait for the `connection:ack`.
   */
  static async connect(
    server: TestServer,
    id: string,
    options: { token?: string; name?: string } = {},
  ): Promise<RawAgent> {
    const agent = await RawAgent.open(server, id);
    agent.hello(options.token ?? await server.token("agent", id), options.name);
    await agent.waitFor((m) => m.type === "connection:ack");
    agent.startHeartbeat();
    return agent;
  }

  /** Send `agent:connect`. */
  hello(token: string | undefined, name = this.id, id?: string): void {
    this.send("agent:connect", {
      ...(token === undefined ? {} : { token }),
      agentId: this.id,
      name,
      type: "shell",
      capabilities: ["shell"],
      hostname: "raw-host",
      version: "1.0.0",
    }, id);
  }

  startHeartbeat(): void {
    this.#heartbeat ??= setInterval(() => {
      if (!this.client.closed) {
        this.send("heartbeat", { sequence: ++this.#sequence });
      }
    }, 1000);
  }

  send(type: string, payload: unknown, id?: string): void {
    this.client.send(type, payload, id);
  }

  get raw(): RawMessage[] {
    return this.client.raw as RawMessage[];
  }

  waitFor(
    predicate: (m: RawMessage) => boolean,
    timeoutMs = 10_000,
  ): Promise<RawMessage> {
    return waitRaw(this.client, predicate, { timeoutMs });
  }

  async close(): Promise<void> {
    clearInterval(this.#heartbeat);
    this.#heartbeat = undefined;
    await this.client.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** `promise`, or a rejection after `ms` (the timer is always cleared). */
export async function withTimeout<T>(
  promise: Promise<T>,
  ms: number,
  what = "operation",
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`Timed out after ${ms} ms: ${what}`)),
          ms,
        );
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
