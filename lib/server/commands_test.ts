import assert from "node:assert/strict";
import FakeTimers from "@sinonjs/fake-timers";
import {
  type CommandInfo,
  CommandInfoSchema,
  type Priority,
} from "../protocol.ts";
import { Broadcaster } from "./broadcaster.ts";
import { CommandService } from "./commands.ts";
import { FlightdeckError } from "./errors.ts";
import { RecordingPeer } from "./peer.ts";
import { Registry } from "./registry.ts";
import { Storage } from "./storage.ts";

interface Sent {
  type: string;
  payload: Record<string, unknown>;
}

const USER = { id: "op" };
const GRACE_MS = 1500;

/**
 * `commands.output` that resolves once the chunk is stored, with the seq
 * to acknowledge.
 */
function storedOutput(commands: CommandService) {
  return async (
    agentId: string,
    chunk: Parameters<CommandService["output"]>[1],
  ): Promise<number> => {
    const accepted = await commands.output(agentId, chunk);
    await accepted.stored;
    return accepted.seq;
  };
}

async function setup(
  options: {
    kv?: Deno.Kv;
    maxQueuePerAgent?: number;
    maxCommandOutputBytes?: number;
    lostAfterMs?: number;
    defaultTimeoutMs?: number | null;
    onTimeout?: (command: CommandInfo) => void;
  } = {},
) {
  const kv = options.kv ?? await Deno.openKv(":memory:");
  const storage = new Storage(kv);
  const registry = new Registry();
  const dashboards = new Broadcaster({ maxBufferedBytes: 1 << 24 });
  const dashboard = new RecordingPeer("dashboard");
  dashboards.add(dashboard);
  const sent = new Map<string, Sent[]>();
  const commands = await CommandService.create({
    storage,
    registry,
    dashboards,
    sendToAgent(agentId, message) {
      if (!registry.isOnline(agentId)) return false;
      const list = sent.get(agentId) ?? [];
      list.push(JSON.parse(JSON.stringify(message)));
      sent.set(agentId, list);
      return true;
    },
    maxQueuePerAgent: options.maxQueuePerAgent ?? 10,
    interruptGraceMs: GRACE_MS,
    maxCommandOutputBytes: options.maxCommandOutputBytes,
    lostAfterMs: options.lostAfterMs,
    defaultTimeoutMs: options.defaultTimeoutMs,
    onTimeout: options.onTimeout,
  });
  const connect = (
    agentId: string,
    peer = new RecordingPeer(),
    extra: { defaultTimeoutMs?: number } = {},
  ) => {
    registry.connect({
      id: agentId,
      name: agentId,
      type: "shell",
      capabilities: [],
      hostname: "host",
      ...extra,
    }, peer);
    return peer;
  };
  /** Messages of `type` the agent received. */
  const toAgent = (agentId: string, type?: string) =>
    (sent.get(agentId) ?? []).filter((m) => !type || m.type === type);
  /** Messages of `type` the dashboard received. */
  const toDashboard = (type: string) =>
    dashboard.messages().filter((m) => m.type === type).map((m) =>
      m.payload as Record<string, unknown>
    );
  const statuses = (commandId?: string) =>
    toDashboard("command:status").map((p) => p.command as CommandInfo)
      .filter((c) => !commandId || c.id === commandId);
  const ask = (
    command: string,
    priority: Priority = "normal",
    agentId = "a1",
  ) => commands.request(USER, { agentId, command, priority });
  const finish = async (
    agentId: string,
    commandId: string,
    exitCode: number | null = 0,
    status: "completed" | "failed" | "interrupted" | "timeout" = exitCode === 0
      ? "completed"
      : "failed",
  ) =>
    await commands.completed(agentId, {
      commandId,
      exitCode,
      status,
      completedAt: Date.now(),
      lastSeq: 0,
    });
  const close = () => {
    commands.close();
    kv.close();
  };
  return {
    kv,
    storage,
    registry,
    dashboards,
    dashboard,
    commands,
    sent,
    connect,
    toAgent,
    toDashboard,
    statuses,
    ask,
    finish,
    close,
  };
}

function executedCommands(messages: Sent[]): string[] {
  return messages.filter((m) => m.type === "command:execute").map((m) =>
    (m.payload.command as CommandInfo).command
  );
}

Deno.test("CommandService.request() runs the queue by priority, then first come", async () => {
  const t = await setup();
  try {
    t.connect("a1");
    const first = await t.ask("first");
    await t.commands.started("a1", first.command.id);
    await t.ask("low-1", "low");
    await t.ask("normal-1", "normal");
    await t.ask("high-1", "high");
    await t.ask("low-2", "low");
    await t.ask("normal-2", "normal");
    await t.ask("high-2", "high");
    assert.deepEqual(
      t.commands.queueOf("a1").map((q) => [q.priority, q.position]),
      [["high", 0], ["high", 1], ["normal", 2], ["normal", 3], ["low", 4], [
        "low",
        5,
      ]],
    );
    let current = first.command.id;
    for (let i = 0; i < 6; i++) {
      await t.finish("a1", current);
      const executes = t.toAgent("a1", "command:execute");
      current = (executes.at(-1)!.payload.command as CommandInfo).id;
      await t.commands.started("a1", current);
    }
    await t.finish("a1", current);
    assert.deepEqual(executedCommands(t.toAgent("a1")), [
      "first",
      "high-1",
      "high-2",
      "normal-1",
      "normal-2",
      "low-1",
      "low-2",
    ]);
    assert.deepEqual(t.commands.queueOf("a1"), []);
    assert.deepEqual(t.commands.queuedAgents(), []);
    assert.equal(t.registry.get("a1")?.status, "online");
  } finally {
    t.close();
  }
});

Deno.test("CommandService.request() sends one command:execute at a time", async () => {
  const t = await setup();
  try {
    t.connect("a1");
    const one = await t.ask("one");
    await t.ask("two");
    assert.deepEqual(executedCommands(t.toAgent("a1")), ["one"]);
    assert.equal(t.registry.get("a1")?.status, "busy");
    assert.equal(t.registry.get("a1")?.currentCommandId, one.command.id);
    // Not started yet: still one at a time.
    await t.finish("a1", one.command.id);
    assert.deepEqual(executedCommands(t.toAgent("a1")), ["one", "two"]);
  } finally {
    t.close();
  }
});

Deno.test("CommandService.request() broadcasts command:queue on every queue change", async () => {
  const t = await setup();
  try {
    t.connect("a1");
    const one = await t.ask("one");
    const two = await t.ask("two", "low");
    const three = await t.ask("three", "high");
    const queues = t.toDashboard("command:queue");
    assert.deepEqual(queues, [
      // "one" is queued, then dispatched at once.
      {
        agentId: "a1",
        queue: [{ commandId: one.command.id, priority: "normal", position: 0 }],
      },
      { agentId: "a1", queue: [] },
      {
        agentId: "a1",
        queue: [{ commandId: two.command.id, priority: "low", position: 0 }],
      },
      {
        agentId: "a1",
        queue: [
          { commandId: three.command.id, priority: "high", position: 0 },
          { commandId: two.command.id, priority: "low", position: 1 },
        ],
      },
    ]);
  } finally {
    t.close();
  }
});

Deno.test("CommandService.request() throws AGENT_OFFLINE for an unknown agent", async () => {
  const t = await setup();
  try {
    await assert.rejects(
      t.ask("ls", "normal", "ghost"),
      (error: unknown) => {
        assert.ok(error instanceof FlightdeckError);
        assert.equal(error.code, "AGENT_OFFLINE");
        assert.equal(error.message, 'Agent "ghost" is not connected');
        return true;
      },
    );
    assert.deepEqual(t.dashboard.frames, []);
    assert.deepEqual(await t.commands.listRecent({ limit: 10 }), []);
  } finally {
    t.close();
  }
});

Deno.test("CommandService.request() throws AGENT_OFFLINE for a disconnected agent", async () => {
  const t = await setup();
  try {
    const peer = t.connect("a1");
    t.registry.disconnect(peer);
    await assert.rejects(
      t.ask("ls"),
      (error: unknown) =>
        error instanceof FlightdeckError && error.code === "AGENT_OFFLINE",
    );
    assert.deepEqual(t.commands.queueOf("a1"), []);
  } finally {
    t.close();
  }
});

Deno.test("CommandService.request() throws QUEUE_FULL at maxQueuePerAgent", async () => {
  const t = await setup({ maxQueuePerAgent: 2 });
  try {
    t.connect("a1");
    await t.ask("running");
    await t.ask("queued-1");
    await t.ask("queued-2");
    const framesBefore = t.dashboard.frames.length;
    await assert.rejects(
      t.ask("one too many"),
      (error: unknown) => {
        assert.ok(error instanceof FlightdeckError);
        assert.equal(error.code, "QUEUE_FULL");
        assert.equal(error.message, 'Queue of agent "a1" is full (2)');
        return true;
      },
    );
    assert.equal(t.dashboard.frames.length, framesBefore);
    assert.equal(t.commands.queueOf("a1").length, 2);
  } finally {
    t.close();
  }
});

Deno.test("CommandService command:status goes queued, running, completed with exitCode 0", async () => {
  const t = await setup();
  try {
    t.connect("a1");
    const { command } = await t.ask("echo hi");
    await t.commands.started("a1", command.id);
    assert.equal(await t.finish("a1", command.id, 0), true);
    const list = t.statuses(command.id);
    assert.deepEqual(list.map((c) => [c.status, c.exitCode]), [
      ["queued", null],
      ["running", null],
      ["completed", 0],
    ]);
    const [queued, running, done] = list;
    assert.deepEqual(queued, {
      id: command.id,
      agentId: "a1",
      command: "echo hi",
      priority: "normal",
      status: "queued",
      requestedBy: "op",
      requestedAt: queued.requestedAt,
      startedAt: null,
      completedAt: null,
      exitCode: null,
      outputBytes: 0,
    });
    assert.equal(typeof running.startedAt, "number");
    assert.equal(done.startedAt, running.startedAt);
    assert.equal(typeof done.completedAt, "number");
    assert.deepEqual(await t.commands.get(command.id), done);
    assert.equal(t.registry.get("a1")?.status, "online");
  } finally {
    t.close();
  }
});

Deno.test("CommandService.completed() reports failed with a non-zero exitCode", async () => {
  const t = await setup();
  try {
    t.connect("a1");
    const { command } = await t.ask("false");
    await t.commands.started("a1", command.id);
    await t.finish("a1", command.id, 2);
    assert.deepEqual(
      t.statuses(command.id).map((c) => [c.status, c.exitCode]),
      [
        ["queued", null],
        ["running", null],
        ["failed", 2],
      ],
    );
  } finally {
    t.close();
  }
});

Deno.test("CommandService.completed() corrects the status to match the exitCode", async () => {
  const t = await setup();
  try {
    t.connect("a1");
    const a = await t.ask("a");
    await t.commands.started("a1", a.command.id);
    await t.finish("a1", a.command.id, 0, "failed");
    const b = await t.ask("b");
    await t.commands.started("a1", b.command.id);
    await t.finish("a1", b.command.id, 3, "completed");
    assert.deepEqual(
      [t.statuses(a.command.id).at(-1), t.statuses(b.command.id).at(-1)].map(
        (c) => [c?.status, c?.exitCode],
      ),
      [["completed", 0], ["failed", 3]],
    );
  } finally {
    t.close();
  }
});

Deno.test("CommandService.completed() reports interrupted with a null exitCode", async () => {
  const t = await setup();
  try {
    t.connect("a1");
    const { command } = await t.ask("sleep 100");
    await t.commands.started("a1", command.id);
    await t.finish("a1", command.id, 130, "interrupted");
    assert.deepEqual(
      t.statuses(command.id).map((c) => [c.status, c.exitCode]),
      [
        ["queued", null],
        ["running", null],
        ["interrupted", null],
      ],
    );
  } finally {
    t.close();
  }
});

Deno.test("CommandService.completed() returns false for an already final command", async () => {
  const t = await setup();
  try {
    t.connect("a1");
    const { command } = await t.ask("true");
    await t.commands.started("a1", command.id);
    assert.equal(await t.finish("a1", command.id), true);
    const frames = t.dashboard.frames.length;
    assert.equal(await t.finish("a1", command.id), false);
    assert.equal(t.dashboard.frames.length, frames);
    await assert.rejects(
      t.finish("a1", "no-such-command"),
      (error: unknown) =>
        error instanceof FlightdeckError && error.code === "NOT_FOUND",
    );
  } finally {
    t.close();
  }
});

Deno.test("CommandService.started() throws NOT_FOUND for another agent's command", async () => {
  const t = await setup();
  try {
    t.connect("a1");
    t.connect("a2");
    const { command } = await t.ask("ls");
    await assert.rejects(
      t.commands.started("a2", command.id),
      (error: unknown) =>
        error instanceof FlightdeckError && error.code === "NOT_FOUND",
    );
  } finally {
    t.close();
  }
});

Deno.test("CommandService timestamps never go backwards when the clock does", async () => {
  const clock = FakeTimers.install({ now: 1_000_000, toFake: ["Date"] });
  const t = await setup();
  try {
    t.connect("a1");
    const { command } = await t.ask("ls");
    clock.setSystemTime(500_000);
    await t.commands.started("a1", command.id);
    clock.setSystemTime(200_000);
    await t.finish("a1", command.id);
    const queued = await t.ask("queued behind nothing");
    await t.commands.started("a1", queued.command.id);
    const removed = await t.ask("removed");
    clock.setSystemTime(100_000);
    await t.commands.interrupt(removed.command.id);
    for (const info of t.statuses()) {
      const times = [info.requestedAt, info.startedAt, info.completedAt]
        .filter((n): n is number => n !== null);
      assert.deepEqual(times, [...times].sort((a, b) => a - b), info.status);
    }
    const final = t.statuses(command.id).at(-1)!;
    assert.deepEqual(
      [final.requestedAt, final.startedAt, final.completedAt],
      [1_000_000, 1_000_000, 1_000_000],
    );
  } finally {
    t.close();
    clock.uninstall();
  }
});

Deno.test("CommandService.interrupt() cancels a queued command (by whom, why) and broadcasts command:queue", async () => {
  const t = await setup();
  try {
    t.connect("a1");
    await t.ask("running");
    const keep = await t.ask("keep");
    const drop = await t.ask("drop");
    t.dashboard.frames.length = 0;
    const info = await t.commands.interrupt(drop.command.id, "not needed", {
      actor: "bob",
      role: "operator",
    });
    assert.equal(info.status, "cancelled");
    assert.deepEqual(info.endedBy, {
      actor: "bob",
      role: "operator",
      reason: "not needed",
    });
    assert.equal(info.exitCode, null);
    assert.equal(info.startedAt, null);
    assert.deepEqual(t.dashboard.messages().map((m) => m.type), [
      "command:status",
      "command:queue",
    ]);
    assert.deepEqual(t.statuses(drop.command.id), [info]);
    assert.deepEqual(t.toDashboard("command:queue"), [{
      agentId: "a1",
      queue: [{ commandId: keep.command.id, priority: "normal", position: 0 }],
    }]);
    assert.deepEqual(t.toAgent("a1", "command:interrupt"), []);
    assert.equal(
      (await t.commands.get(drop.command.id))?.status,
      "cancelled",
    );
    await assert.rejects(
      t.commands.interrupt(drop.command.id),
      (error: unknown) =>
        error instanceof FlightdeckError && error.code === "NOT_FOUND",
    );
  } finally {
    t.close();
  }
});

Deno.test("CommandService.interrupt() sends command:interrupt with graceMs for a running command", async () => {
  const t = await setup();
  try {
    t.connect("a1");
    const { command } = await t.ask("sleep 100");
    await t.commands.started("a1", command.id);
    const info = await t.commands.interrupt(command.id, "stop it");
    assert.equal(info.status, "running");
    assert.deepEqual(
      t.toAgent("a1", "command:interrupt").map((m) => m.payload),
      [
        { commandId: command.id, reason: "stop it", graceMs: GRACE_MS },
      ],
    );
    // The state changes only when the agent reports completion.
    await t.finish("a1", command.id, null, "interrupted");
    assert.equal(t.statuses(command.id).at(-1)?.status, "interrupted");
  } finally {
    t.close();
  }
});

Deno.test("CommandService.interrupt() throws NOT_FOUND for an unknown command", async () => {
  const t = await setup();
  try {
    await assert.rejects(
      t.commands.interrupt("nope"),
      (error: unknown) => {
        assert.ok(error instanceof FlightdeckError);
        assert.equal(error.code, "NOT_FOUND");
        assert.equal(error.message, 'Command "nope" is not queued or running');
        return true;
      },
    );
  } finally {
    t.close();
  }
});

Deno.test("CommandService.emergencyStop() interrupts running commands and empties every queue", async () => {
  const t = await setup();
  try {
    t.connect("a1");
    t.connect("a2");
    const r1 = await t.ask("r1", "normal", "a1");
    await t.commands.started("a1", r1.command.id);
    const q1 = await t.ask("q1", "normal", "a1");
    const q2 = await t.ask("q2", "low", "a1");
    const r2 = await t.ask("r2", "normal", "a2");
    const q3 = await t.ask("q3", "normal", "a2");
    const admin = { actor: "ada", role: "admin" } as const;
    const result = await t.commands.emergencyStop("panic", admin);
    assert.deepEqual(result, { interrupted: 2, removed: 3 });
    assert.deepEqual(t.commands.queuedAgents(), []);
    for (const id of [q1, q2, q3].map((r) => r.command.id)) {
      const last = t.statuses(id).at(-1);
      assert.equal(last?.status, "cancelled");
      assert.deepEqual(last?.endedBy, { ...admin, reason: "panic" });
    }
    assert.deepEqual(
      t.toAgent("a1", "command:interrupt").map((m) => m.payload),
      [{ commandId: r1.command.id, reason: "panic", graceMs: GRACE_MS }],
    );
    assert.deepEqual(
      t.toAgent("a2", "command:interrupt").map((m) => m.payload),
      [{ commandId: r2.command.id, reason: "panic", graceMs: GRACE_MS }],
    );
    // Finishing the running commands dispatches nothing more.
    await t.finish("a1", r1.command.id, null, "interrupted");
    await t.finish("a2", r2.command.id, null, "interrupted");
    // r2 was sent and never started: it never ran.
    for (
      const [r, status] of [[r1, "interrupted"], [r2, "cancelled"]] as const
    ) {
      const last = t.statuses(r.command.id).at(-1);
      assert.equal(last?.status, status);
      assert.deepEqual(last?.endedBy, { ...admin, reason: "panic" });
    }
    assert.deepEqual(executedCommands(t.toAgent("a1")), ["r1"]);
    assert.deepEqual(executedCommands(t.toAgent("a2")), ["r2"]);
  } finally {
    t.close();
  }
});

Deno.test("CommandService.request() with a repeated requestId returns the same command without queuing", async () => {
  const t = await setup();
  try {
    t.connect("a1");
    await t.ask("busy");
    const input = { agentId: "a1", command: "ls", priority: "normal" as const };
    const first = await t.commands.request(USER, input, { requestId: "r-1" });
    const frames = t.dashboard.frames.length;
    const again = await t.commands.request(USER, input, { requestId: "r-1" });
    assert.equal(first.duplicate, false);
    assert.equal(again.duplicate, true);
    assert.deepEqual(again.command, first.command);
    assert.equal(t.commands.queueOf("a1").length, 1);
    assert.equal(t.dashboard.frames.length, frames);
    // Another user with the same request id gets a new command.
    const other = await t.commands.request({ id: "other" }, input, {
      requestId: "r-1",
    });
    assert.equal(other.duplicate, false);
    assert.notEqual(other.command.id, first.command.id);
    assert.equal(t.commands.queueOf("a1").length, 2);
  } finally {
    t.close();
  }
});

Deno.test("CommandService.request() with a repeated requestId returns the live state", async () => {
  const t = await setup();
  try {
    t.connect("a1");
    const input = { agentId: "a1", command: "ls", priority: "normal" as const };
    const first = await t.commands.request(USER, input, { requestId: "r-1" });
    await t.commands.started("a1", first.command.id);
    const again = await t.commands.request(USER, input, { requestId: "r-1" });
    assert.equal(again.duplicate, true);
    assert.equal(again.command.id, first.command.id);
    assert.equal(again.command.status, "running");
  } finally {
    t.close();
  }
});

Deno.test("CommandService.request() answers the origin with replyTo and skips it in the broadcast", async () => {
  const t = await setup();
  try {
    t.connect("a1");
    const origin = new RecordingPeer("origin");
    t.dashboards.add(origin);
    const { command } = await t.commands.request(USER, {
      agentId: "a1",
      command: "ls",
      priority: "normal",
    }, { requestId: "req-9", origin });
    const originStatuses = origin.messages().filter((m) =>
      m.type === "command:status"
    ).map((m) => m.payload);
    assert.deepEqual(originStatuses, [{ command, replyTo: "req-9" }]);
    assert.deepEqual(t.toDashboard("command:status"), [{ command }]);
  } finally {
    t.close();
  }
});

Deno.test("CommandService.output() drops a duplicate seq without broadcasting", async () => {
  const clock = FakeTimers.install({ now: 5_000_000, toFake: ["Date"] });
  const t = await setup();
  try {
    t.connect("a1");
    const { command } = await t.ask("ls");
    await t.commands.started("a1", command.id);
    const chunk = (seq: number, data: string) => ({
      commandId: command.id,
      seq,
      stream: "stdout" as const,
      data,
    });
    assert.equal(await storedOutput(t.commands)("a1", chunk(1, "one\n")), 1);
    clock.tick(250);
    assert.equal(await storedOutput(t.commands)("a1", chunk(2, "two\n")), 2);
    clock.tick(250);
    assert.equal(await storedOutput(t.commands)("a1", chunk(1, "again\n")), 2);
    assert.equal(await storedOutput(t.commands)("a1", chunk(2, "again\n")), 2);
    assert.deepEqual(t.toDashboard("terminal:output"), [
      {
        agentId: "a1",
        commandId: command.id,
        seq: 1,
        stream: "stdout",
        data: "one\n",
      },
      {
        agentId: "a1",
        commandId: command.id,
        seq: 2,
        stream: "stdout",
        data: "two\n",
      },
    ]);
    const stored = [];
    for await (const c of t.commands.readOutput(command.id, 0)) stored.push(c);
    // Each chunk keeps the time the server received it.
    assert.deepEqual(stored, [
      { seq: 1, stream: "stdout", data: "one\n", at: 5_000_000 },
      { seq: 2, stream: "stdout", data: "two\n", at: 5_000_250 },
    ]);
    assert.equal(await t.commands.lastSeq(command.id), 2);
  } finally {
    t.close();
    clock.uninstall();
  }
});

Deno.test("CommandService.output() broadcasts terminal:gap before a chunk after a gap", async () => {
  const t = await setup();
  try {
    t.connect("a1");
    const { command } = await t.ask("ls");
    await t.commands.started("a1", command.id);
    const send = (seq: number) =>
      storedOutput(t.commands)("a1", {
        commandId: command.id,
        seq,
        stream: "stderr",
        data: `#${seq}`,
      });
    await send(1);
    t.dashboard.frames.length = 0;
    assert.equal(await send(5), 5);
    assert.deepEqual(
      t.dashboard.messages().map((m) => [m.type, m.payload]),
      [
        ["terminal:gap", {
          agentId: "a1",
          commandId: command.id,
          fromSeq: 2,
          toSeq: 4,
        }],
        ["terminal:output", {
          agentId: "a1",
          commandId: command.id,
          seq: 5,
          stream: "stderr",
          data: "#5",
        }],
      ],
    );
  } finally {
    t.close();
  }
});

Deno.test("CommandService.output() counts outputBytes in UTF-8 bytes", async () => {
  const t = await setup();
  try {
    t.connect("a1");
    const { command } = await t.ask("ls");
    await t.commands.started("a1", command.id);
    // "é" is 2 bytes, "€" 3, "🚀" 4 (2 UTF-16 units): 1 + 2 + 3 + 4 = 10.
    await storedOutput(t.commands)("a1", {
      commandId: command.id,
      seq: 1,
      stream: "pty",
      data: "aé€🚀",
    });
    await storedOutput(t.commands)("a1", {
      commandId: command.id,
      seq: 2,
      stream: "pty",
      data: "\x1b[0m",
    });
    assert.equal((await t.commands.get(command.id))?.outputBytes, 14);
    await t.finish("a1", command.id);
    assert.equal(t.statuses(command.id).at(-1)?.outputBytes, 14);
    assert.equal(
      (await t.storage.getCommand(command.id))?.info.outputBytes,
      14,
    );
  } finally {
    t.close();
  }
});

Deno.test("CommandService.output() throws NOT_FOUND for a command the agent does not run", async () => {
  const t = await setup();
  try {
    t.connect("a1");
    await assert.rejects(
      storedOutput(t.commands)("a1", {
        commandId: "nope",
        seq: 1,
        stream: "stdout",
        data: "x",
      }),
      (error: unknown) =>
        error instanceof FlightdeckError && error.code === "NOT_FOUND",
    );
  } finally {
    t.close();
  }
});

Deno.test("CommandService.create() restores queued commands in the same order after a restart", async () => {
  const kv = await Deno.openKv(":memory:");
  const first = await setup({ kv });
  first.connect("a1");
  const running = await first.ask("running");
  await first.commands.started("a1", running.command.id);
  await first.ask("low", "low");
  await first.ask("normal-1");
  await first.ask("high", "high");
  await first.ask("normal-2");
  const before = first.commands.queueOf("a1");
  first.commands.close();

  const second = await setup({ kv });
  try {
    assert.deepEqual(second.commands.queueOf("a1"), before);
    assert.deepEqual(second.commands.queuedAgents(), ["a1"]);
    const restored = await second.commands.get(running.command.id);
    assert.equal(restored?.status, "running");
    // The agent reconnects still running its command: it is not sent again.
    second.connect("a1");
    await second.commands.agentConnected("a1", [{
      commandId: running.command.id,
      lastSeq: 0,
    }]);
    assert.deepEqual(executedCommands(second.toAgent("a1")), []);
    assert.deepEqual(
      second.toAgent("a1", "terminal:ack").map((m) => m.payload),
      [
        { commandId: running.command.id, seq: 0 },
      ],
    );
    let current = running.command.id;
    for (let i = 0; i < 4; i++) {
      await second.finish("a1", current);
      current = (second.toAgent("a1", "command:execute").at(-1)!.payload
        .command as CommandInfo).id;
      await second.commands.started("a1", current);
    }
    await second.finish("a1", current);
    assert.deepEqual(executedCommands(second.toAgent("a1")), [
      "high",
      "normal-1",
      "normal-2",
      "low",
    ]);
  } finally {
    second.close();
  }
});

Deno.test("CommandService.agentConnected() puts a dispatched, never started command back at the head of the queue", async () => {
  const kv = await Deno.openKv(":memory:");
  const first = await setup({ kv });
  first.connect("a1");
  const dispatched = await first.ask("dispatched");
  const queued = await first.ask("queued");
  assert.deepEqual(executedCommands(first.toAgent("a1")), ["dispatched"]);
  first.commands.close();

  const second = await setup({ kv });
  try {
    assert.deepEqual(second.commands.queueOf("a1").map((q) => q.commandId), [
      queued.command.id,
    ]);
    second.connect("a1");
    await second.commands.agentConnected("a1", []);
    // Back at the head of the queue (it is older), then dispatched again.
    const queues = second.toDashboard("command:queue");
    assert.deepEqual(queues, [
      {
        agentId: "a1",
        queue: [
          {
            commandId: dispatched.command.id,
            priority: "normal",
            position: 0,
          },
          { commandId: queued.command.id, priority: "normal", position: 1 },
        ],
      },
      {
        agentId: "a1",
        queue: [{
          commandId: queued.command.id,
          priority: "normal",
          position: 0,
        }],
      },
    ]);
    const executes = second.toAgent("a1", "command:execute");
    assert.equal(executes.length, 1);
    assert.equal(
      (executes[0].payload.command as CommandInfo).id,
      dispatched.command.id,
    );
    assert.equal(
      second.registry.get("a1")?.currentCommandId,
      dispatched.command.id,
    );
    assert.deepEqual(second.statuses(), []);
  } finally {
    second.close();
  }
});

Deno.test("CommandService.agentConnected() finishes a started command the agent no longer reports as lost", async () => {
  const t = await setup();
  try {
    const oldPeer = t.connect("a1");
    const lost = await t.ask("lost");
    await t.commands.started("a1", lost.command.id);
    await t.ask("next");
    t.registry.disconnect(oldPeer);
    t.connect("a1");
    await t.commands.agentConnected("a1", []);
    const final = t.statuses(lost.command.id).at(-1)!;
    assert.equal(final.status, "lost");
    assert.deepEqual(final.endedBy, {
      actor: "server",
      role: "system",
      reason: "the agent reconnected without it (it had stopped)",
    });
    assert.equal(final.exitCode, null);
    assert.ok(final.completedAt! >= final.startedAt!);
    assert.deepEqual(executedCommands(t.toAgent("a1")), ["lost", "next"]);
  } finally {
    t.close();
  }
});

Deno.test("CommandService.interrupt() settles a running command of an offline agent and stops it on reconnect", async () => {
  const t = await setup();
  try {
    const oldPeer = t.connect("a1");
    const { command } = await t.ask("sleep 100");
    await t.commands.started("a1", command.id);
    await storedOutput(t.commands)("a1", {
      commandId: command.id,
      seq: 1,
      stream: "stdout",
      data: "x",
    });
    t.registry.disconnect(oldPeer);
    const settled = await t.commands.interrupt(command.id, "stop");
    assert.equal(settled.status, "interrupted");
    assert.equal(settled.exitCode, null);
    assert.equal(t.registry.get("a1")?.currentCommandId, null);
    t.sent.clear();
    t.connect("a1");
    await t.commands.agentConnected("a1", [{
      commandId: command.id,
      lastSeq: 3,
    }]);
    assert.deepEqual(t.toAgent("a1").map((m) => [m.type, m.payload]), [
      ["command:interrupt", {
        commandId: command.id,
        reason: "finished on the server",
        graceMs: GRACE_MS,
      }],
    ]);
    // Late output and the completion are acknowledged and dropped.
    assert.equal(
      await storedOutput(t.commands)("a1", {
        commandId: command.id,
        seq: 2,
        stream: "stdout",
        data: "y",
      }),
      2,
    );
    assert.equal(
      await t.commands.completed("a1", {
        commandId: command.id,
        exitCode: null,
        status: "interrupted",
        completedAt: Date.now(),
        lastSeq: 3,
      }),
      false,
    );
    assert.equal((await t.commands.get(command.id))?.status, "interrupted");
  } finally {
    t.close();
  }
});

Deno.test("CommandService.started() with timeoutMs interrupts and finishes as timeout", async () => {
  const clock = FakeTimers.install({
    toFake: ["setTimeout", "clearTimeout"],
  });
  const t = await setup();
  try {
    t.connect("a1");
    const { command } = await t.commands.request(USER, {
      agentId: "a1",
      command: "sleep 100",
      priority: "normal",
      timeoutMs: 5_000,
    });
    await t.commands.started("a1", command.id);
    clock.tick(4_999);
    assert.deepEqual(t.toAgent("a1", "command:interrupt"), []);
    clock.tick(1);
    await t.commands.idle();
    assert.deepEqual(
      t.toAgent("a1", "command:interrupt").map((m) => m.payload),
      [
        { commandId: command.id, reason: "timeout", graceMs: GRACE_MS },
      ],
    );
    await t.finish("a1", command.id, null, "interrupted");
    const final = t.statuses(command.id).at(-1)!;
    assert.deepEqual([final.status, final.exitCode], ["timeout", null]);
  } finally {
    t.close();
    clock.uninstall();
  }
});

Deno.test("CommandService.output() stores overlapping deliveries once, in order", async () => {
  const t = await setup();
  try {
    t.connect("a1");
    const { command } = await t.ask("x");
    await t.commands.started("a1", command.id);
    const chunk = (seq: number) => ({
      commandId: command.id,
      seq,
      stream: "stdout" as const,
      data: `${seq}é`,
    });
    // Two sockets of the same agent delivering at once (old and new).
    const acks = await Promise.all(
      [1, 1, 2, 2, 3].map((seq) => storedOutput(t.commands)("a1", chunk(seq))),
    );
    assert.deepEqual(acks, [1, 1, 2, 2, 3]);
    assert.deepEqual(
      t.toDashboard("terminal:output").map((p) => p.seq),
      [1, 2, 3],
    );
    assert.deepEqual(t.toDashboard("terminal:gap"), []);
    await t.finish("a1", command.id);
    assert.equal((await t.commands.get(command.id))?.outputBytes, 9);
  } finally {
    t.close();
  }
});

Deno.test("CommandService: a timeout that fires while the agent is offline ends as timeout", async () => {
  const clock = FakeTimers.install({ toFake: ["setTimeout", "clearTimeout"] });
  const t = await setup();
  try {
    const peer = t.connect("a1");
    const { command } = await t.commands.request(USER, {
      agentId: "a1",
      command: "sleep 100",
      priority: "normal",
      timeoutMs: 1_000,
    });
    await t.commands.started("a1", command.id);
    t.registry.disconnect(peer);
    clock.tick(1_000);
    await t.commands.idle();
    const final = t.statuses(command.id).at(-1)!;
    assert.deepEqual([final.status, final.exitCode], ["timeout", null]);
  } finally {
    t.close();
    clock.uninstall();
  }
});

Deno.test("CommandService.completed() announces output the agent lost at the end", async () => {
  const t = await setup();
  try {
    t.connect("a1");
    const { command } = await t.ask("x");
    await t.commands.started("a1", command.id);
    await storedOutput(t.commands)("a1", {
      commandId: command.id,
      seq: 1,
      stream: "stdout",
      data: "a",
    });
    await t.commands.completed("a1", {
      commandId: command.id,
      exitCode: 0,
      status: "completed",
      completedAt: Date.now(),
      lastSeq: 5,
    });
    assert.deepEqual(t.toDashboard("terminal:gap"), [{
      agentId: "a1",
      commandId: command.id,
      fromSeq: 2,
      toSeq: 5,
    }]);
    assert.equal(await t.commands.lastSeq(command.id), 5);
  } finally {
    t.close();
  }
});

Deno.test("CommandService.completed() without started still passes through running", async () => {
  const t = await setup();
  try {
    t.connect("a1");
    const { command } = await t.ask("x");
    await t.finish("a1", command.id, 0);
    const seen = t.statuses(command.id);
    assert.deepEqual(seen.map((c) => c.status), [
      "queued",
      "running",
      "completed",
    ]);
    assert.ok(
      seen[2].startedAt !== null && seen[2].startedAt <= seen[2].completedAt!,
    );
  } finally {
    t.close();
  }
});

Deno.test("CommandService.snapshot() includes unfinished commands beyond the recent limit", async () => {
  const t = await setup({ maxQueuePerAgent: 100 });
  try {
    t.connect("a1");
    const { command: first } = await t.ask("long-running");
    await t.commands.started("a1", first.id);
    for (let i = 0; i < 5; i++) await t.ask(`queued-${i}`);
    let seen: string[] = [];
    await t.commands.snapshot(
      2,
      (recent) => seen = recent.map((c) => c.command),
    );
    assert.deepEqual(seen, [
      "long-running",
      "queued-0",
      "queued-1",
      "queued-2",
      "queued-3",
      "queued-4",
    ]);
  } finally {
    t.close();
  }
});

Deno.test("CommandService.output() past maxCommandOutputBytes drops the oldest chunks, counts every byte, and a restart goes on from the stored bookkeeping", async () => {
  const kv = await Deno.openKv(":memory:");
  const first = await setup({ kv, maxCommandOutputBytes: 80 });
  first.connect("a1");
  const { command } = await first.ask("yes");
  await first.commands.started("a1", command.id);
  const output = (t: typeof first, seq: number, data: string) =>
    storedOutput(t.commands)("a1", {
      commandId: command.id,
      seq,
      stream: "stdout",
      data,
    });
  const stored = async () => {
    const seqs: number[] = [];
    for await (const chunk of first.storage.output.read(command.id, 0)) {
      seqs.push(chunk.seq);
    }
    return seqs;
  };
  for (let seq = 1; seq <= 11; seq++) {
    assert.equal(await output(first, seq, `${seq}`.padEnd(10, ".")), seq);
  }
  // Chunk 9 made 90 bytes: trimmed to 70 (7/8 of the cap), chunks 1-2 gone;
  // chunk 11 made 90 again: chunks 3-4 gone.
  assert.deepEqual(await stored(), [5, 6, 7, 8, 9, 10, 11]);
  assert.equal((await first.commands.get(command.id))?.outputBytes, 110);
  assert.deepEqual(await first.storage.output.meta(command.id), {
    lastSeq: 11,
    outputBytes: 110,
    storedBytes: 70,
  });
  // Dashboards got every chunk live.
  assert.equal(first.toDashboard("terminal:output").length, 11);
  first.commands.close();

  const second = await setup({ kv, maxCommandOutputBytes: 80 });
  try {
    assert.equal((await second.commands.get(command.id))?.outputBytes, 110);
    second.connect("a1");
    await second.commands.agentConnected("a1", [{
      commandId: command.id,
      lastSeq: 11,
    }]);
    // The stored count survived the restart: 70 + 50 is over 80.
    await output(second, 12, "y".repeat(50));
    assert.deepEqual(await stored(), [10, 11, 12]);
    // A chunk larger than the cap is kept alone (the newest is never dropped).
    await output(second, 13, "x".repeat(100));
    assert.deepEqual(await stored(), [13]);
    await second.finish("a1", command.id);
    const record = await second.storage.getCommand(command.id);
    assert.equal(record?.info.outputBytes, 260);
    assert.equal(record?.storedBytes, 100);
    assert.equal(await second.storage.keptBytes(), 100);
  } finally {
    second.close();
  }
});

Deno.test("CommandService.snapshot() reads history without holding the lock and applies changes made meanwhile", async () => {
  const t = await setup();
  try {
    t.connect("a1");
    const { command } = await t.ask("first");
    await t.commands.started("a1", command.id);
    // Hold the snapshot's history read, done, until released: what it
    // read is stale by then.
    const gate = Promise.withResolvers<void>();
    const reached = Promise.withResolvers<void>();
    const getMany = t.kv.getMany.bind(t.kv);
    Object.assign(t.kv, {
      getMany: async (keys: Deno.KvKey[]) => {
        const entries = await getMany(keys);
        reached.resolve();
        await gate.promise;
        return entries;
      },
    });
    let seen: CommandInfo[] = [];
    const snapshot = t.commands.snapshot(50, (recent) => seen = recent);
    await reached.promise;
    // Deadlock guard only: before reads moved out of the lock, finishing
    // waited for the snapshot, which waited for this gate.
    let guardFired = false;
    const guard = setTimeout(() => {
      guardFired = true;
      gate.resolve();
    }, 10_000);
    await t.finish("a1", command.id);
    const { command: second } = await t.ask("second");
    assert.equal(guardFired, false, "the finish waited for the snapshot read");
    clearTimeout(guard);
    gate.resolve();
    assert.equal(
      (await t.storage.getCommand(command.id))?.info.status,
      "completed",
    );
    await snapshot;
    // The finish and the new (dispatched, not started) command, as now.
    assert.deepEqual(seen.map((c) => [c.id, c.status]), [
      [command.id, "completed"],
      [second.id, "queued"],
    ]);
  } finally {
    t.close();
  }
});

Deno.test("CommandService.snapshot() reads again under the lock when more changes happened during its read than it remembers", async () => {
  const t = await setup();
  try {
    t.connect("a1");
    const { command } = await t.ask("first");
    await t.commands.started("a1", command.id);
    const gate = Promise.withResolvers<void>();
    const reached = Promise.withResolvers<void>();
    const getMany = t.kv.getMany.bind(t.kv);
    let gated = true;
    Object.assign(t.kv, {
      getMany: async (keys: Deno.KvKey[]) => {
        const entries = await getMany(keys);
        if (gated) {
          gated = false;
          reached.resolve();
          await gate.promise;
        }
        return entries;
      },
    });
    let seen: CommandInfo[] = [];
    const snapshot = t.commands.snapshot(3, (recent) => seen = recent);
    await reached.promise;
    // The first change, then over 5,000 more (queued and removed): the
    // first falls out of what the snapshot remembers.
    await t.finish("a1", command.id);
    for (let i = 0; i < 2_600; i++) {
      const { command: extra } = await t.ask(`extra-${i}`);
      await t.commands.interrupt(extra.id);
    }
    gate.resolve();
    await snapshot;
    // Read again: the newest three and the unfinished one (extra-0 was sent
    // to the agent, which has not confirmed the interrupt), none stale.
    assert.deepEqual(seen.map((c) => [c.command, c.status]), [
      ["extra-0", "queued"],
      ["extra-2597", "cancelled"],
      ["extra-2598", "cancelled"],
      ["extra-2599", "cancelled"],
    ]);
  } finally {
    t.close();
  }
});

Deno.test("CommandService.startSession() records a running kind:session command that is never dispatched, timed out or queued again", async () => {
  const kv = await Deno.openKv(":memory:");
  const t = await setup({ kv });
  let restarted: Awaited<ReturnType<typeof setup>> | undefined;
  try {
    await assert.rejects(
      t.commands.startSession("s1", "agent:s1", "claude"),
      (e) => e instanceof FlightdeckError && e.code === "AGENT_OFFLINE",
    );
    t.registry.connect({
      id: "s1",
      name: "s1",
      type: "claude",
      capabilities: ["claude", "interrupt", "pty", "session"],
      hostname: "host",
    }, new RecordingPeer());
    const session = await t.commands.startSession("s1", "agent:s1", "claude");
    assert.deepEqual(
      [session.kind, session.status, session.requestedBy, session.command],
      ["session", "running", "agent:s1", "claude"],
    );
    assert.equal(session.startedAt, session.requestedAt);
    assert.equal(t.registry.get("s1")?.currentCommandId, session.id);
    assert.deepEqual(
      t.statuses(session.id).map((c) => c.status),
      ["running"],
    );
    assert.deepEqual(await t.commands.get(session.id), session);
    // A second request while it runs: the same record, nothing new.
    const again = await t.commands.startSession("s1", "agent:s1", "bash");
    assert.equal(again.id, session.id);
    assert.equal(t.statuses(session.id).length, 1);

    // Commands for a session agent stay queued.
    const queued = await t.ask("echo hi", "normal", "s1");
    // The agent reconnects still running it: it stays running.
    await t.commands.agentConnected("s1", [
      { commandId: session.id, lastSeq: 0 },
    ]);
    assert.equal((await t.commands.get(session.id))?.status, "running");
    assert.deepEqual(t.toAgent("s1", "command:execute"), []);
    assert.deepEqual(t.toAgent("s1", "command:interrupt"), []);

    // A server restart restores it as the running command.
    restarted = await setup({ kv });
    assert.equal(
      (await restarted.commands.get(session.id))?.status,
      "running",
    );
    assert.equal(restarted.registry.get("s1"), undefined);

    // It ends with the program's exit code; the queue still waits.
    await t.finish("s1", session.id, 0);
    assert.deepEqual(
      t.statuses(session.id).map((c) => [c.status, c.exitCode, c.kind]),
      [["running", null, "session"], ["completed", 0, "session"]],
    );
    assert.deepEqual(t.toAgent("s1", "command:execute"), []);
    assert.deepEqual(t.commands.queueOf("s1").map((q) => q.commandId), [
      queued.command.id,
    ]);
    // No session now: a new request gets a new record.
    const next = await t.commands.startSession("s1", "agent:s1", "claude");
    assert.notEqual(next.id, session.id);
  } finally {
    restarted?.commands.close();
    t.close();
  }
});

Deno.test("CommandService.startSession() is refused for an agent not in session mode, and while an exec command runs on the agent", async () => {
  const t = await setup();
  try {
    t.connect("a1");
    await assert.rejects(
      t.commands.startSession("a1", "agent:a1", "claude"),
      (e) => e instanceof FlightdeckError && e.code === "FORBIDDEN",
    );
    assert.deepEqual(t.statuses(), []);
    const exec = await t.ask("sleep 1");
    // The same agent back in session mode, its exec command still running.
    t.registry.connect({
      id: "a1",
      name: "a1",
      type: "shell",
      capabilities: ["session"],
      hostname: "host",
    }, new RecordingPeer());
    await assert.rejects(
      t.commands.startSession("a1", "agent:a1", "claude"),
      (e) =>
        e instanceof FlightdeckError && e.code === "NOT_FOUND" &&
        e.message.includes(exec.command.id),
    );
    assert.equal(t.registry.get("a1")?.currentCommandId, exec.command.id);
  } finally {
    t.close();
  }
});

Deno.test("CommandService: a running command of an agent gone longer than lostAfterMs ends lost, by the server, with why", async () => {
  const clock = FakeTimers.install({ toFake: ["setTimeout", "clearTimeout"] });
  const t = await setup({ lostAfterMs: 30_000 });
  try {
    const peer = t.connect("a1");
    const { command } = await t.ask("sleep 100");
    await t.commands.started("a1", command.id);
    const next = await t.ask("next");
    t.registry.disconnect(peer);
    t.commands.agentDisconnected("a1");
    clock.tick(29_999);
    await t.commands.idle();
    assert.equal((await t.commands.get(command.id))?.status, "running");
    clock.tick(1);
    await t.commands.idle();
    const final = t.statuses(command.id).at(-1)!;
    assert.deepEqual(
      [final.status, final.exitCode, final.endedBy],
      ["lost", null, {
        actor: "server",
        role: "system",
        reason: "the agent went offline and was not back within 30 s",
      }],
    );
    assert.equal(t.registry.get("a1")?.currentCommandId, null);
    // The queued one waits for the agent and runs when it is back.
    assert.equal((await t.commands.get(next.command.id))?.status, "queued");
    t.connect("a1");
    await t.commands.agentConnected("a1", []);
    assert.deepEqual(executedCommands(t.toAgent("a1")), ["sleep 100", "next"]);
  } finally {
    t.close();
    clock.uninstall();
  }
});

Deno.test("CommandService: an agent back within lostAfterMs with its command still running resumes it; the timer is gone", async () => {
  const clock = FakeTimers.install({ toFake: ["setTimeout", "clearTimeout"] });
  const t = await setup({ lostAfterMs: 30_000 });
  try {
    const peer = t.connect("a1");
    const { command } = await t.ask("sleep 100");
    await t.commands.started("a1", command.id);
    t.registry.disconnect(peer);
    t.commands.agentDisconnected("a1");
    clock.tick(20_000);
    t.connect("a1");
    await t.commands.agentConnected("a1", [{
      commandId: command.id,
      lastSeq: 0,
    }]);
    clock.tick(60_000);
    await t.commands.idle();
    assert.equal((await t.commands.get(command.id))?.status, "running");
    await t.finish("a1", command.id, 0);
    assert.deepEqual(
      t.statuses(command.id).map((c) => [c.status, c.endedBy]),
      [["queued", undefined], ["running", undefined], [
        "completed",
        undefined,
      ]],
    );
  } finally {
    t.close();
    clock.uninstall();
  }
});

Deno.test("CommandService: timeouts come from the request, else the agent, else the server default; prompts take only the request's", async () => {
  const t = await setup({ defaultTimeoutMs: 60_000 });
  try {
    t.connect("a1");
    t.connect("a2", undefined, { defaultTimeoutMs: 5_000 });
    const ask = (agentId: string, timeoutMs?: number) =>
      t.commands.request(USER, {
        agentId,
        command: "x",
        priority: "normal",
        ...(timeoutMs ? { timeoutMs } : {}),
      });
    assert.equal((await ask("a1")).command.timeoutMs, 60_000);
    assert.equal((await ask("a1", 7_000)).command.timeoutMs, 7_000);
    assert.equal((await ask("a2")).command.timeoutMs, 5_000);
    assert.equal((await ask("a2", 9_000)).command.timeoutMs, 9_000);
  } finally {
    t.close();
  }
  const none = await setup();
  try {
    none.connect("a1");
    const { command } = await none.ask("x");
    assert.equal("timeoutMs" in command, false);
  } finally {
    none.close();
  }
});

Deno.test("CommandService.completed() keeps the exit signal, the interrupter, and an agent's own reason", async () => {
  const t = await setup();
  try {
    t.connect("a1");
    const asked = await t.ask("sleep 100");
    await t.commands.started("a1", asked.command.id);
    await t.commands.interrupt(asked.command.id, "enough", {
      actor: "alice",
      role: "operator",
    });
    // A second interrupt by someone else does not change who ended it.
    await t.commands.interrupt(asked.command.id, "me too", {
      actor: "bob",
      role: "operator",
    });
    await t.commands.completed("a1", {
      commandId: asked.command.id,
      exitCode: null,
      status: "interrupted",
      completedAt: Date.now(),
      lastSeq: 0,
      signal: "SIGINT",
    });
    const interrupted = (await t.commands.get(asked.command.id))!;
    assert.deepEqual(
      [interrupted.status, interrupted.exitSignal, interrupted.endedBy],
      ["interrupted", "SIGINT", {
        actor: "alice",
        role: "operator",
        reason: "enough",
      }],
    );
    // Killed by a signal nobody sent through the server: failed, with it.
    const killed = await t.ask("kill -9 $$");
    await t.commands.started("a1", killed.command.id);
    await t.commands.completed("a1", {
      commandId: killed.command.id,
      exitCode: 137,
      status: "failed",
      completedAt: Date.now(),
      lastSeq: 0,
      signal: "SIGKILL",
    });
    const failed = (await t.commands.get(killed.command.id))!;
    assert.deepEqual(
      [failed.status, failed.exitCode, failed.exitSignal, failed.endedBy],
      ["failed", 137, "SIGKILL", undefined],
    );
    // The agent stopped it on its own (it was stopping).
    const own = await t.ask("sleep 100");
    await t.commands.started("a1", own.command.id);
    await t.commands.completed("a1", {
      commandId: own.command.id,
      exitCode: null,
      status: "interrupted",
      completedAt: Date.now(),
      lastSeq: 0,
      reason: "agent stopping",
    });
    assert.deepEqual((await t.commands.get(own.command.id))!.endedBy, {
      actor: "a1",
      role: "agent",
      reason: "agent stopping",
    });
  } finally {
    t.close();
  }
});

Deno.test("CommandService: a record stored before endedBy existed still loads and reads", async () => {
  const kv = await Deno.openKv(":memory:");
  const first = await setup({ kv });
  first.connect("a1");
  const { command } = await first.ask("old");
  first.commands.close();
  // As an older version wrote it: interrupted from the queue, no endedBy.
  const storage = new Storage(kv);
  const stored = (await storage.getCommand(command.id))!;
  const { endedBy: _e, timeoutMs: _t, ...oldInfo } = {
    ...stored.info,
    status: "interrupted" as const,
    completedAt: stored.info.requestedAt,
  };
  await storage.saveCommand({ ...stored, info: oldInfo }, true);
  const second = await setup({ kv });
  try {
    const read = (await second.commands.get(command.id))!;
    assert.deepEqual(CommandInfoSchema.parse(read), read);
    assert.equal(read.status, "interrupted");
    assert.equal(read.endedBy, undefined);
  } finally {
    second.close();
  }
});

Deno.test("CommandService.create() after a restart: a running command whose agent never comes back ends lost after lostAfterMs", async () => {
  const clock = FakeTimers.install({ toFake: ["setTimeout", "clearTimeout"] });
  const kv = await Deno.openKv(":memory:");
  const first = await setup({ kv });
  first.connect("a1");
  const { command } = await first.ask("sleep 100");
  await first.commands.started("a1", command.id);
  first.commands.close();
  const second = await setup({ kv, lostAfterMs: 5_000 });
  try {
    clock.tick(4_999);
    await second.commands.idle();
    assert.equal((await second.commands.get(command.id))?.status, "running");
    clock.tick(1);
    await second.commands.idle();
    const final = (await second.commands.get(command.id))!;
    assert.deepEqual([final.status, final.endedBy], ["lost", {
      actor: "server",
      role: "system",
      reason: "the agent went offline and was not back within 5 s",
    }]);
  } finally {
    second.close();
    clock.uninstall();
  }
});

Deno.test("CommandService.agentDisconnected() after close() starts no lost timer (agents' sockets close after shutdown)", async () => {
  const clock = FakeTimers.install({ toFake: ["setTimeout", "clearTimeout"] });
  try {
    const t = await setup({ lostAfterMs: 60_000 });
    const peer = t.connect("a1");
    const { command } = await t.ask("sleep 100");
    await t.commands.started("a1", command.id);
    t.close();
    t.registry.disconnect(peer);
    t.commands.agentDisconnected("a1");
    // A timer here would keep a shut-down server's process alive.
    assert.equal(clock.countTimers(), 0);
  } finally {
    clock.uninstall();
  }
});

Deno.test("CommandService: an operator's interrupt that came first is not turned into a timeout when the timer fires meanwhile", async () => {
  const clock = FakeTimers.install({ toFake: ["setTimeout", "clearTimeout"] });
  const timeouts: string[] = [];
  const t = await setup({ onTimeout: (c) => timeouts.push(c.id) });
  try {
    t.connect("a1");
    const { command } = await t.commands.request(USER, {
      agentId: "a1",
      command: "sleep 100",
      priority: "normal",
      timeoutMs: 5_000,
    });
    await t.commands.started("a1", command.id);
    await t.commands.interrupt(command.id, "enough", {
      actor: USER.id,
      role: "operator",
    });
    clock.tick(5_000);
    await t.commands.idle();
    assert.deepEqual(timeouts, []);
    assert.deepEqual(
      t.toAgent("a1", "command:interrupt").map((m) => m.payload.reason),
      ["enough"],
    );
    await t.finish("a1", command.id, null, "interrupted");
    const final = t.statuses(command.id).at(-1)!;
    assert.deepEqual(
      [final.status, final.endedBy?.actor, final.endedBy?.reason],
      ["interrupted", USER.id, "enough"],
    );
  } finally {
    t.close();
    clock.uninstall();
  }
});

Deno.test("CommandService: a command starting after close() arms no timeout timer (messages handled during shutdown)", async () => {
  const clock = FakeTimers.install({ toFake: ["setTimeout", "clearTimeout"] });
  try {
    const t = await setup();
    t.connect("a1");
    const { command } = await t.commands.request(USER, {
      agentId: "a1",
      command: "sleep 100",
      priority: "normal",
      timeoutMs: 5_000,
    });
    t.commands.close();
    await t.commands.started("a1", command.id);
    // A timer here would fire against a closed store.
    assert.equal(clock.countTimers(), 0);
    t.close();
  } finally {
    clock.uninstall();
  }
});
