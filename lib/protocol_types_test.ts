/**
 * Compile-time contract of the sending side: every send path takes only the
 * messages of its direction, each with exactly its payload. Each line under a
 * `// @ts-expect-error` must fail type checking; if one stops failing (a
 * send path loosened to `unknown`, a builder that accepts any payload),
 * `deno check` and `deno test` report the unused directive and fail.
 *
 * The functions holding those lines are never called: they exist to be
 * checked. The tests below run the well-typed forms.
 */
import assert from "node:assert/strict";
import {
  fromAgent,
  fromDashboard,
  parseServerMessage,
  toAgent,
  toDashboard,
} from "./protocol.ts";
import { Broadcaster } from "./server/broadcaster.ts";
import type { AgentSession } from "./server/agent_session.ts";
import type { CommandServiceOptions } from "./server/commands.ts";
import type { DashboardSession } from "./server/dashboard_session.ts";
import { RecordingPeer } from "./server/peer.ts";
import type { SendFn } from "./agent/executor.ts";
import type { MessageClient } from "./client/socket_types.ts";
import type { Transport } from "./client/transport.ts";

const COMMAND = {
  id: "c-1",
  agentId: "a-1",
  command: "ls",
  priority: "normal",
  status: "queued",
  requestedBy: "u-1",
  requestedAt: 1,
  startedAt: null,
  completedAt: null,
  exitCode: null,
  outputBytes: 0,
} as const;

/** Builders: a wrong field type, a missing field, an unknown type. */
function _builderErrors(): void {
  // @ts-expect-error `sequence` is a number
  toDashboard("heartbeat", { sequence: "1" });
  // @ts-expect-error `agent` is required
  toDashboard("agent:status", {});
  // @ts-expect-error no such server → dashboard message
  toDashboard("agent:unknown", {});
  // @ts-expect-error `terminal:ack` goes to agents, not dashboards
  toDashboard("terminal:ack", { commandId: "c-1", seq: 1 });
  // @ts-expect-error `seq` is a number
  toAgent("terminal:ack", { commandId: "c-1", seq: "1" });
  // @ts-expect-error `command` is required
  toAgent("command:execute", {});
  fromDashboard("command:request", {
    agentId: "a-1",
    command: "ls",
    // @ts-expect-error `priority` is one of high, normal, low
    priority: "urgent",
  });
  // @ts-expect-error no such dashboard → server message
  fromDashboard("command:execute", { command: COMMAND });
  // @ts-expect-error `lastSeq` is required
  fromAgent("command:completed", {
    commandId: "c-1",
    exitCode: 0,
    status: "completed",
    completedAt: 1,
  });
  fromAgent("command:completed", {
    commandId: "c-1",
    exitCode: 0,
    // @ts-expect-error `status` is a final status
    status: "running",
    completedAt: 1,
    lastSeq: 0,
  });
}

/** Every send path takes only messages of its own direction. */
function _directionErrors(
  dashboards: Broadcaster,
  dashboard: DashboardSession,
  agent: AgentSession,
  sendToAgent: CommandServiceOptions["sendToAgent"],
  executorSend: SendFn,
  transport: Transport,
  client: MessageClient,
): void {
  const peer = new RecordingPeer();
  const toAgentAck = toAgent("terminal:ack", { commandId: "c-1", seq: 1 });
  const toDashboardGap = toDashboard("terminal:gap", {
    agentId: "a-1",
    commandId: "c-1",
    fromSeq: 1,
    toSeq: 2,
  });
  // @ts-expect-error a server → agent message to the dashboard broadcaster
  dashboards.broadcast(toAgentAck);
  // @ts-expect-error the same through sendTo
  dashboards.sendTo(peer, toAgentAck);
  // @ts-expect-error an untyped object is no message
  dashboards.broadcast({ type: "heartbeat", payload: { sequence: 1 } });
  // @ts-expect-error a server → agent message to a dashboard session
  dashboard.send(toAgentAck);
  // @ts-expect-error a server → dashboard message to an agent session
  agent.send(toDashboardGap);
  // @ts-expect-error a server → dashboard message to an agent
  sendToAgent("a-1", toDashboardGap);
  // @ts-expect-error the executor sends only its own agent → server messages
  executorSend(fromAgent("heartbeat", { sequence: 1 }));
  // @ts-expect-error a dashboard transport sends dashboard → server messages
  transport.send(toDashboardGap);
  // @ts-expect-error a dashboard transport takes messages, not frames
  transport.send("{}");
  // @ts-expect-error `agentId` is a string
  client.send("command:request", { agentId: 1, command: "ls" });
  // @ts-expect-error no such dashboard → server message
  client.send("command:execute", { command: COMMAND });
}

Deno.test("Broadcaster.broadcast() sends a toDashboard() message as one frame parseServerMessage() accepts", () => {
  const dashboards = new Broadcaster({ maxBufferedBytes: 1 << 20 });
  const peer = new RecordingPeer("p1");
  dashboards.add(peer);
  const message = toDashboard("command:status", {
    command: COMMAND,
    replyTo: "r-1",
  });
  assert.equal(dashboards.broadcast(message), 1);
  assert.deepEqual(peer.frames, [JSON.stringify(message)]);
  assert.deepEqual(parseServerMessage(peer.frames[0]), {
    ok: true,
    message,
  });
});

const PRODUCTION_ROOTS = [
  "lib",
  "routes",
  "islands",
  "components",
  "bench",
  "main.ts",
  "agent.ts",
  "token.ts",
  "dev.ts",
];

async function* sourceFiles(path: string): AsyncGenerator<string> {
  const info = await Deno.stat(path);
  if (info.isFile) {
    if (/\.tsx?$/.test(path)) yield path;
    return;
  }
  for await (const entry of Deno.readDir(path)) {
    yield* sourceFiles(`${path}/${entry.name}`);
  }
}

Deno.test("Only tests call the unchecked envelope(); code sends through the typed builders", async () => {
  const root = new URL("../", import.meta.url).pathname;
  const offenders: string[] = [];
  let scanned = 0;
  for (const start of PRODUCTION_ROOTS) {
    for await (const file of sourceFiles(`${root}${start}`)) {
      const name = file.slice(root.length);
      if (/(_test\.tsx?|test_fakes\.ts)$/.test(name)) continue;
      scanned++;
      const text = await Deno.readTextFile(file);
      if (/\benvelope\s*\(/.test(text)) offenders.push(name);
    }
  }
  assert.ok(scanned > 50, `only ${scanned} files scanned`);
  assert.deepEqual(offenders, []);
});
