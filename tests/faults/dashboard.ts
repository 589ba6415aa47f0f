/**
 * Dashboards built from the REAL client code (`DashboardClient`,
 * `createStores`, `bindStores`, `resumeMap`), many per process. Each one
 * records what arrived on the wire (`terminal:output` per seq), what the
 * output store rendered (per seq), every close code its sockets saw, and
 * agent status changes with timestamps.
 *
 * @module
 */
import assert from "node:assert/strict";
import { DashboardClient } from "../../lib/client/socket.ts";
import type {
  SocketConstructor,
  Timers,
} from "../../lib/client/socket_types.ts";
import {
  bindStores,
  createStores,
  resumeMap,
  type Stores,
} from "../../lib/client/stores.ts";
import type { CommandInfo, Priority } from "../../lib/protocol.ts";

/** Deno's WebSocket accepts headers; the DOM typings here do not say so. */
const WebSocketWithHeaders = WebSocket as unknown as new (
  url: string,
  options: { headers: Record<string, string> },
) => WebSocket;

/** Options of {@link createDashboard}. */
export interface DashboardOptions {
  /** `ws://host:port` of the server (or of a proxy in front of it). */
  wsUrl: string;
  /** Bearer token. */
  token: string;
  /** A name for messages. */
  name?: string;
  /**
   * Divide the client's retry delays (its only `setTimeout`) by this. The
   * backoff schedule itself is the real one; 1 (default) keeps real time.
   */
  retryTimeScale?: number;
}

/** A close seen by one of the dashboard's sockets. */
export interface CloseRecord {
  code: number;
  reason: string;
  at: number;
}

/** One real-client dashboard with recorders. */
export class RealDashboard {
  readonly name: string;
  readonly client: DashboardClient;
  readonly stores: Stores;
  /** Raw `terminal:output` arrivals: commandId → seq → count. */
  readonly arrivals = new Map<string, Map<number, number>>();
  /** Output rendered by the store: commandId → seq → count. */
  readonly rendered = new Map<string, Map<number, number>>();
  /** Order in which seqs were rendered, per command. */
  readonly renderOrder = new Map<string, number[]>();
  /** Every socket the client opened (the newest last). */
  readonly sockets: WebSocket[] = [];
  /** Close events of those sockets. */
  readonly closes: CloseRecord[] = [];
  /** `connection:ack`s received (one per successful (re)connect). */
  acks = 0;
  /** When each `connection:ack` arrived. */
  readonly ackTimes: number[] = [];
  /** Agent status changes: agentId → [status, time] in arrival order. */
  readonly agentEvents = new Map<string, { status: string; at: number }[]>();
  /** Statuses seen per command (consecutive repeats folded). */
  readonly statusHistory = new Map<string, string[]>();
  /** Commands by envelope id of the request that created them. */
  readonly replies = new Map<string, string>();
  /** Exceptions thrown by the client's message handlers (stores). */
  readonly handlerErrors: unknown[] = [];
  /** `error` payloads received. */
  readonly errors: { code: string; message: string; replyTo?: string }[] = [];
  #offs: (() => void)[] = [];

  constructor(options: DashboardOptions) {
    this.name = options.name ?? "dashboard";
    const { token } = options;
    const sockets = this.sockets;
    const closes = this.closes;
    class BearerSocket {
      constructor(url: string) {
        const ws = new WebSocketWithHeaders(url, {
          headers: { authorization: `Bearer ${token}` },
        });
        sockets.push(ws);
        ws.addEventListener("close", (event) => {
          closes.push({ code: event.code, reason: event.reason, at: now() });
        });
        return ws;
      }
    }
    const scale = options.retryTimeScale ?? 1;
    const timers: Timers = {
      setTimeout: (fn, ms) => setTimeout(fn, ms / scale),
      clearTimeout: (h) => clearTimeout(h as number),
      setInterval: (fn, ms) => setInterval(fn, ms),
      clearInterval: (h) => clearInterval(h as number),
      now: () => Date.now(),
    };
    this.stores = createStores({
      maxCachedBytesPerCommand: Infinity,
      maxCachedCommands: Infinity,
    });
    this.client = new DashboardClient({
      url: `${options.wsUrl}/ws/dashboard`,
      WebSocket: BearerSocket as unknown as SocketConstructor,
      EventSource: null,
      timers,
      resume: () => resumeMap(this.stores),
      // Never give up while a fault test is breaking things on purpose.
      maxFailures: 1_000,
      onHandlerError: (error) => this.handlerErrors.push(error),
    });
    this.#offs.push(bindStores(this.stores, this.client));
    this.#offs.push(
      this.client.on("terminal:output", (m) => {
        bump(this.arrivals, m.payload.commandId, m.payload.seq);
      }),
      this.client.on("connection:ack", () => {
        this.acks++;
        this.ackTimes.push(now());
      }),
      this.client.on("agent:list", (m) => {
        for (const a of m.payload.agents) this.#agentEvent(a.id, a.status);
      }),
      this.client.on("agent:status", (m) => {
        this.#agentEvent(m.payload.agent.id, m.payload.agent.status);
      }),
      this.client.on("command:status", (m) => {
        const { id, status } = m.payload.command;
        let history = this.statusHistory.get(id);
        if (!history) this.statusHistory.set(id, history = []);
        if (history.at(-1) !== status) history.push(status);
        if (m.payload.replyTo !== undefined) {
          this.replies.set(m.payload.replyTo, m.payload.command.id);
        }
      }),
      this.client.on("error", (m) => {
        const { code, message, replyTo } = m.payload;
        this.errors.push({ code, message, replyTo });
      }),
      this.stores.output.subscribe((event) => {
        if (event.kind !== "output") return;
        bump(this.rendered, event.commandId, event.seq);
        let order = this.renderOrder.get(event.commandId);
        if (!order) this.renderOrder.set(event.commandId, order = []);
        order.push(event.seq);
      }),
    );
  }

  #agentEvent(id: string, status: string): void {
    let list = this.agentEvents.get(id);
    if (!list) this.agentEvents.set(id, list = []);
    if (list.at(-1)?.status !== status) list.push({ status, at: now() });
  }

  /** Current status of agent `id` in the store. */
  agentStatus(id: string): string | undefined {
    return this.stores.agents.value.get(id)?.status;
  }

  /** The command as the store has it. */
  command(id: string): CommandInfo | undefined {
    return this.stores.commands.value.get(id);
  }

  /** Whether the client is connected now. */
  get connected(): boolean {
    return this.client.connection.value.state === "connected" &&
      this.client.isOpen;
  }

  /** The socket in use now (the newest one). */
  get socket(): WebSocket | undefined {
    return this.sockets.at(-1);
  }

  /** Start connecting; resolves once acknowledged and the agent list came. */
  async start(timeoutMs = 10_000): Promise<void> {
    this.client.start();
    await waitUntil(
      () => this.acks > 0 && this.connected,
      timeoutMs,
      `${this.name} connected`,
    );
  }

  /**
   * Request a command through the real client (`command:request`, resent
   * after reconnects until answered); resolves with the command id.
   */
  async request(
    agentId: string,
    command: string,
    priority: Priority = "normal",
    timeoutMs = 10_000,
  ): Promise<string> {
    const id = this.client.send("command:request", {
      agentId,
      command,
      priority,
    });
    return await waitUntil(
      () => this.replies.get(id),
      timeoutMs,
      `${this.name}: answer to ${command.slice(0, 40)}`,
      () => JSON.stringify(this.errors),
    );
  }

  /** Whether the command is final here and all its output rendered. */
  complete(commandId: string): boolean {
    const c = this.command(commandId);
    // `>=`: a wrong `outputBytes` must fail the byte assertions, not hang.
    return c !== undefined && c.status !== "queued" &&
      c.status !== "running" && !this.stores.output.isWaiting(commandId) &&
      this.stores.output.receivedBytes(commandId) >= c.outputBytes;
  }

  /** Wait until {@link complete}; returns the final command. */
  async waitComplete(
    commandId: string,
    timeoutMs = 30_000,
  ): Promise<CommandInfo> {
    await waitUntil(
      () => this.complete(commandId),
      timeoutMs,
      `${this.name}: ${commandId} complete`,
      () => {
        const c = this.command(commandId);
        return `status ${c?.status} outputBytes ${c?.outputBytes} received ${
          this.stores.output.receivedBytes(commandId)
        } lastSeq ${this.stores.output.lastSeq(commandId)} state ${
          JSON.stringify(this.client.connection.value)
        }`;
      },
    );
    return this.command(commandId)!;
  }

  /** Stop the client (closes its socket, clears its timers) and the hooks. */
  stop(): void {
    this.client.stop();
    for (const off of this.#offs.splice(0)) off();
    for (const ws of this.sockets) {
      if (ws.readyState <= WebSocket.OPEN) {
        try {
          ws.close();
        } catch {
          // Closing already.
        }
      }
    }
  }

  /** Wait until every socket of this dashboard reports closed (bounded). */
  async waitSocketsClosed(timeoutMs = 5_000): Promise<void> {
    await waitUntil(
      () => this.sockets.every((ws) => ws.readyState === WebSocket.CLOSED),
      timeoutMs,
      `${this.name}: sockets closed`,
    ).catch(() => {});
  }

  [Symbol.dispose](): void {
    this.stop();
  }
}

function bump(map: Map<string, Map<number, number>>, id: string, seq: number) {
  let counts = map.get(id);
  if (!counts) map.set(id, counts = new Map());
  counts.set(seq, (counts.get(seq) ?? 0) + 1);
}

/** Milliseconds since the epoch (high resolution). */
export function now(): number {
  return performance.timeOrigin + performance.now();
}

/** Create and start a dashboard. */
export async function createDashboard(
  options: DashboardOptions,
): Promise<RealDashboard> {
  const dashboard = new RealDashboard(options);
  try {
    await dashboard.start();
  } catch (error) {
    dashboard.stop();
    throw error;
  }
  return dashboard;
}

/**
 * Poll `check` (awaited when async) every 10 ms until it returns a truthy
 * value; reject after `timeoutMs` naming `what` (plus `detail()` when given).
 */
export async function waitUntil<T>(
  check: () =>
    | T
    | undefined
    | null
    | false
    | Promise<T | undefined | null | false>,
  timeoutMs: number,
  what: string,
  detail?: () => string,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) {
      throw new Error(
        `Timed out after ${timeoutMs} ms waiting for ${what}${
          detail ? `: ${detail()}` : ""
        }`,
      );
    }
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Summary of what a dashboard got for one command. */
export interface OutputReport {
  text: string;
  /** Seqs rendered, in render order. */
  renderOrder: number[];
  /** Seqs rendered more than once. */
  renderedTwice: number[];
  /** Seqs that arrived on the wire more than once (dropped by the store). */
  wireDuplicates: number;
  /** Arrivals in total. */
  arrivals: number;
}

/** What `dashboard` has for `commandId`. */
export function reportOf(
  dashboard: RealDashboard,
  commandId: string,
): OutputReport {
  const rendered = dashboard.rendered.get(commandId) ?? new Map();
  const arrivals = dashboard.arrivals.get(commandId) ?? new Map();
  let wireDuplicates = 0;
  let total = 0;
  for (const count of arrivals.values()) {
    total += count;
    wireDuplicates += count - 1;
  }
  return {
    text: dashboard.stores.output.fullText(commandId),
    renderOrder: dashboard.renderOrder.get(commandId) ?? [],
    renderedTwice: [...rendered].filter(([, n]) => n > 1).map(([s]) => s),
    wireDuplicates,
    arrivals: total,
  };
}

/**
 * Assert `dashboard` rendered exactly `expected` for `commandId`: the same
 * bytes, seqs 1..n each rendered once in order, no gap marker, every seq
 * seen on the wire, and the final status / exit code. Returns the report.
 */
export function assertCompleteOutput(
  dashboard: RealDashboard,
  commandId: string,
  expected: string,
  final: { status: string; exitCode: number | null },
  options: {
    allowWireDuplicates?: boolean;
    /** Compare the server's `outputBytes` too (default true). */
    checkOutputBytes?: boolean;
  } = {},
): OutputReport {
  const label = `${dashboard.name} ${commandId}`;
  const report = reportOf(dashboard, commandId);
  const command = dashboard.command(commandId);
  assert.ok(command, `${label}: command unknown`);
  assert.equal(command.status, final.status, `${label}: status`);
  assert.equal(command.exitCode, final.exitCode, `${label}: exit code`);
  assert.deepEqual(dashboard.handlerErrors, [], `${label}: handler errors`);
  assert.equal(
    dashboard.stores.output.hasGap(commandId),
    false,
    `${label}: has a retention gap`,
  );
  if (report.text !== expected) {
    const at = firstDifference(report.text, expected);
    assert.fail(
      `${label}: output differs at char ${at} (got ${report.text.length} chars, want ${expected.length}): got ${
        JSON.stringify(report.text.slice(at, at + 60))
      }, want ${JSON.stringify(expected.slice(at, at + 60))}`,
    );
  }
  const n = report.renderOrder.length;
  assert.ok(n > 0, `${label}: nothing rendered`);
  assert.deepEqual(report.renderedTwice, [], `${label}: rendered twice`);
  for (let i = 0; i < n; i++) {
    if (report.renderOrder[i] !== i + 1) {
      assert.fail(
        `${label}: render order broken at index ${i}: seq ${
          report.renderOrder[i]
        }`,
      );
    }
  }
  const arrivals = dashboard.arrivals.get(commandId) ?? new Map();
  for (let seq = 1; seq <= n; seq++) {
    assert.ok(arrivals.has(seq), `${label}: seq ${seq} never arrived`);
  }
  assert.ok(!arrivals.has(n + 1), `${label}: seq beyond the last rendered`);
  if (!options.allowWireDuplicates) {
    assert.equal(report.wireDuplicates, 0, `${label}: duplicates on the wire`);
  }
  if (options.checkOutputBytes === false) return report;
  assert.equal(
    command.outputBytes,
    new TextEncoder().encode(expected).length,
    `${label}: outputBytes`,
  );
  return report;
}

function firstDifference(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return n;
}

/** `line 1\n` … `line n\n`: what `seq`-numbered loops print. */
export function numberedLines(n: number, prefix = "line "): string {
  const parts: string[] = new Array(n);
  for (let i = 0; i < n; i++) parts[i] = `${prefix}${i + 1}\n`;
  return parts.join("");
}

/** SHA-256 of `text` (UTF-8) in hex. */
export async function sha256(text: string): Promise<string> {
  const digest = await crypto.subtle.digest(
    "SHA-256",
    new TextEncoder().encode(text),
  );
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0"))
    .join("");
}
