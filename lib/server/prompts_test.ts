/**
 * The server's rules for prompts to a session (CommandService with real KV,
 * registry and broadcaster): a prompt is queued with kind `prompt` in its
 * priority place and dispatched only while the session runs, no prompt is in
 * flight and the agent reports `waiting`; its turn's seq range is recorded;
 * interrupts become one Ctrl-C; a restart puts an untyped prompt back.
 */
import assert from "node:assert/strict";
import type { Activity, CommandInfo, Priority } from "../protocol.ts";
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
const AGENT = "s1";

async function setup(kv?: Deno.Kv) {
  kv ??= await Deno.openKv(":memory:");
  const registry = new Registry();
  const dashboards = new Broadcaster({ maxBufferedBytes: 1 << 24 });
  const dashboard = new RecordingPeer("dashboard");
  dashboards.add(dashboard);
  const sent: Sent[] = [];
  const commands = await CommandService.create({
    storage: new Storage(kv),
    registry,
    dashboards,
    sendToAgent(agentId, message) {
      if (!registry.isOnline(agentId)) return false;
      sent.push({ ...JSON.parse(JSON.stringify(message)), agentId });
      return true;
    },
    maxQueuePerAgent: 10,
    interruptGraceMs: 1000,
  });
  const connect = (capabilities = ["claude", "session"]) => {
    const peer = new RecordingPeer();
    registry.connect({
      id: AGENT,
      name: AGENT,
      type: "claude",
      capabilities,
      hostname: "host",
    }, peer);
    return peer;
  };
  const activity = async (state: Activity) => {
    registry.setActivity(AGENT, { activity: state });
    await commands.activityChanged(AGENT);
  };
  const ask = async (command: string, priority: Priority = "normal") =>
    (await commands.request(USER, { agentId: AGENT, command, priority }))
      .command;
  /** Prompts sent with command:execute, by text. */
  const executed = () =>
    sent.filter((m) => m.type === "command:execute").map((m) =>
      (m.payload.command as CommandInfo).command
    );
  const of = (type: string) => sent.filter((m) => m.type === type);
  const finish = (
    commandId: string,
    status: "completed" | "interrupted" = "completed",
    toSeq?: number,
  ) =>
    commands.completed(AGENT, {
      commandId,
      exitCode: status === "completed" ? 0 : null,
      status,
      completedAt: Date.now(),
      lastSeq: 0,
      ...(toSeq === undefined ? {} : { toSeq }),
    });
  const close = () => {
    commands.close();
    kv.close();
  };
  return {
    kv,
    registry,
    commands,
    sent,
    connect,
    activity,
    ask,
    executed,
    of,
    finish,
    close,
  };
}

Deno.test("prompts: refused with NOT_FOUND while the session agent runs no session; nothing is queued", async () => {
  const t = await setup();
  try {
    t.connect();
    await assert.rejects(
      t.ask("hello"),
      (e) =>
        e instanceof FlightdeckError && e.code === "NOT_FOUND" &&
        /runs no session/.test(e.message),
    );
    assert.deepEqual(t.commands.queueOf(AGENT), []);
    // An exec agent's commands are no prompts.
    t.registry.connect({
      id: "x1",
      name: "x1",
      type: "shell",
      capabilities: ["shell"],
      hostname: "h",
    }, new RecordingPeer());
    const { command } = await t.commands.request(USER, {
      agentId: "x1",
      command: "echo",
      priority: "normal",
    });
    assert.equal(command.kind, undefined);
  } finally {
    t.close();
  }
});

Deno.test("prompts: dispatched only while the session runs, none is in flight and the agent reports waiting; in priority order, then first come", async () => {
  const t = await setup();
  try {
    t.connect();
    const session = await t.commands.startSession(AGENT, "agent:s1", "claude");
    const a = await t.ask("a");
    assert.equal(a.kind, "prompt");
    assert.equal(a.status, "queued");
    // No activity reported yet, then working, then a question: nothing goes.
    assert.deepEqual(t.executed(), []);
    await t.activity("working");
    await t.activity("needs-input");
    await t.activity("stalled");
    assert.deepEqual(t.executed(), []);
    await t.activity("waiting");
    assert.deepEqual(t.executed(), ["a"]);
    // One in flight: later ones wait even while the agent says waiting.
    await t.ask("low", "low");
    await t.ask("normal", "normal");
    await t.ask("high", "high");
    await t.activity("working");
    await t.activity("waiting");
    assert.deepEqual(t.executed(), ["a"]);
    // The session stays the agent's running command.
    assert.equal(t.registry.get(AGENT)?.currentCommandId, session.id);
    assert.equal(t.registry.get(AGENT)?.status, "busy");

    await t.commands.started(AGENT, a.id, 5);
    await t.finish(a.id, "completed", 9);
    assert.deepEqual(t.executed(), ["a", "high"]);
    const next = (n: number) =>
      (t.of("command:execute")[n].payload.command as CommandInfo).id;
    // Its end while the agent no longer waits: the next one waits for it.
    await t.activity("working");
    await t.finish(next(1));
    assert.deepEqual(t.executed(), ["a", "high"]);
    await t.activity("waiting");
    assert.deepEqual(t.executed(), ["a", "high", "normal"]);
    await t.finish(next(2));
    assert.deepEqual(t.executed(), ["a", "high", "normal", "low"]);
    assert.equal(t.registry.get(AGENT)?.currentCommandId, session.id);
  } finally {
    t.close();
  }
});

Deno.test("prompts: started records the turn's fromSeq once, completed its toSeq", async () => {
  const t = await setup();
  try {
    t.connect();
    const session = await t.commands.startSession(AGENT, "agent:s1", "claude");
    await t.activity("waiting");
    const p = await t.ask("hi");
    await t.commands.started(AGENT, p.id, 7);
    let info = (await t.commands.get(p.id))!;
    assert.equal(info.status, "running");
    assert.deepEqual(info.session, {
      commandId: session.id,
      fromSeq: 7,
      toSeq: null,
    });
    // Said again after a reconnect: unchanged.
    await t.commands.started(AGENT, p.id, 12);
    assert.deepEqual((await t.commands.get(p.id))!.session?.fromSeq, 7);
    await t.finish(p.id, "completed", 15);
    info = (await t.commands.get(p.id))!;
    assert.equal(info.status, "completed");
    assert.equal(info.exitCode, 0);
    assert.deepEqual(info.session, {
      commandId: session.id,
      fromSeq: 7,
      toSeq: 15,
    });
    // A turn that printed nothing: toSeq = fromSeq - 1, never less.
    const q = await t.ask("quiet");
    await t.commands.started(AGENT, q.id, 16);
    await t.finish(q.id, "completed", 3);
    assert.equal((await t.commands.get(q.id))!.session?.toSeq, 15);
  } finally {
    t.close();
  }
});

Deno.test("prompts: interrupting the session sends one Ctrl-C and it keeps running; a typed prompt gets it through its own interrupt; a queued one is removed", async () => {
  const t = await setup();
  try {
    t.connect();
    const session = await t.commands.startSession(AGENT, "agent:s1", "claude");
    // Nothing in flight: Ctrl-C into the session.
    const after = await t.commands.interrupt(session.id);
    assert.equal(after.status, "running");
    assert.deepEqual(
      t.of("terminal:input").map((m) => m.payload),
      [{ commandId: session.id, data: "\x03" }],
    );
    // A typed prompt in flight: only the prompt's interrupt (the agent types
    // its Ctrl-C), the prompt ends when the agent says so.
    await t.activity("waiting");
    const p = await t.ask("work");
    await t.commands.started(AGENT, p.id, 1);
    await t.activity("working");
    const queued = await t.ask("later");
    await t.commands.interrupt(session.id);
    assert.equal(t.of("terminal:input").length, 1);
    assert.deepEqual(
      t.of("command:interrupt").map((m) => m.payload.commandId),
      [p.id],
    );
    assert.equal((await t.commands.get(session.id))!.status, "running");
    await t.finish(p.id, "interrupted", 4);
    const ended = (await t.commands.get(p.id))!;
    assert.deepEqual([ended.status, ended.session?.toSeq], ["interrupted", 4]);
    // The queued one stays; interrupting it removes it.
    assert.deepEqual(t.commands.queueOf(AGENT).map((q) => q.commandId), [
      queued.id,
    ]);
    const removed = await t.commands.interrupt(queued.id);
    assert.deepEqual([removed.status, removed.startedAt], [
      "cancelled",
      null,
    ]);
    assert.deepEqual(t.commands.queueOf(AGENT), []);
  } finally {
    t.close();
  }
});

Deno.test("prompts: emergency stop cancels queued prompts and gives each session exactly one Ctrl-C", async () => {
  const t = await setup();
  try {
    t.connect();
    const session = await t.commands.startSession(AGENT, "agent:s1", "claude");
    await t.activity("waiting");
    const typed = await t.ask("typed");
    await t.commands.started(AGENT, typed.id, 1);
    const queued = await t.ask("queued");
    const result = await t.commands.emergencyStop();
    assert.deepEqual(result, { interrupted: 1, removed: 1 });
    assert.equal((await t.commands.get(queued.id))!.status, "cancelled");
    // One Ctrl-C: the typed prompt's (command:interrupt), none directly.
    assert.deepEqual(
      t.of("command:interrupt").map((m) => m.payload.commandId),
      [typed.id],
    );
    assert.equal(t.of("terminal:input").length, 0);
    assert.equal((await t.commands.get(session.id))!.status, "running");
    await t.finish(typed.id, "interrupted");
    // Idle session: the Ctrl-C goes in directly.
    await t.commands.emergencyStop();
    assert.deepEqual(
      t.of("terminal:input").map((m) => m.payload),
      [{ commandId: session.id, data: "\x03" }],
    );
    assert.equal(t.of("command:interrupt").length, 1);
  } finally {
    t.close();
  }
});

Deno.test("prompts: after a restart an untyped prompt goes back to its place and a typed one continues; neither is sent twice while in flight", async () => {
  const kv = await Deno.openKv(":memory:");
  const first = await setup(kv);
  first.connect();
  const session = await first.commands.startSession(AGENT, "agent:s1", "x");
  await first.activity("waiting");
  const held = await first.ask("held");
  await first.ask("behind", "low");
  assert.deepEqual(first.executed(), ["held"]);
  first.commands.close();

  // Restart: the agent reconnects reporting its session only (it forgot
  // the prompt it had not typed).
  const second = await setup(kv);
  try {
    second.connect();
    await second.commands.agentConnected(AGENT, [
      { commandId: session.id, lastSeq: 0 },
    ]);
    const queue = second.commands.queueOf(AGENT);
    assert.deepEqual(queue.map((q) => [q.commandId, q.priority]), [
      [held.id, "normal"],
      [queue[1].commandId, "low"],
    ]);
    assert.equal((await second.commands.get(held.id))!.status, "queued");
    assert.deepEqual(second.executed(), []);
    await second.activity("waiting");
    assert.deepEqual(second.executed(), ["held"]);
    await second.commands.started(AGENT, held.id, 3);

    // Another restart with it typed: it stays running, nothing is resent.
    second.commands.close();
    const third = await setup(kv);
    third.connect();
    await third.commands.agentConnected(AGENT, [
      { commandId: session.id, lastSeq: 0 },
      { commandId: held.id, lastSeq: 0 },
    ]);
    await third.activity("waiting");
    assert.deepEqual(third.executed(), []);
    const info = (await third.commands.get(held.id))!;
    assert.equal(info.status, "running");
    assert.equal(info.session?.fromSeq, 3);
    await third.finish(held.id, "completed", 8);
    assert.deepEqual(third.executed(), ["behind"]);
    third.commands.close();
  } finally {
    kv.close();
  }
});

Deno.test("prompts: queued ones wait while the session is gone and go to the next session", async () => {
  const t = await setup();
  try {
    t.connect();
    const session = await t.commands.startSession(AGENT, "agent:s1", "x");
    await t.activity("waiting");
    const p = await t.ask("one");
    await t.commands.started(AGENT, p.id, 1);
    const queued = await t.ask("two");
    await t.finish(session.id);
    await t.finish(p.id, "completed", 2);
    await t.activity("waiting");
    assert.deepEqual(t.executed(), ["one"]);
    assert.deepEqual(t.commands.queueOf(AGENT).map((q) => q.commandId), [
      queued.id,
    ]);
    // A new session starts working: the prompt waits for its first waiting.
    const next = await t.commands.startSession(AGENT, "agent:s1", "x");
    assert.notEqual(next.id, session.id);
    assert.equal(t.registry.get(AGENT)?.activity, "working");
    assert.deepEqual(t.executed(), ["one"]);
    await t.activity("waiting");
    assert.deepEqual(t.executed(), ["one", "two"]);
  } finally {
    t.close();
  }
});

Deno.test("prompts: forgetting an offline session agent settles its session, its prompt in flight and its queued prompts", async () => {
  const t = await setup();
  try {
    const peer = t.connect();
    const session = await t.commands.startSession(AGENT, "agent:s1", "x");
    await t.activity("waiting");
    const typed = await t.ask("typed");
    await t.commands.started(AGENT, typed.id, 1);
    const queued = await t.ask("queued");
    t.registry.disconnect(peer);
    // An offline agent's session cannot get Ctrl-C.
    await assert.rejects(
      t.commands.interrupt(session.id),
      (e) => e instanceof FlightdeckError && e.code === "AGENT_OFFLINE",
    );
    assert.equal((await t.commands.get(session.id))!.status, "running");
    await t.commands.forgetAgent(AGENT, "gone for good", {
      actor: "ada",
      role: "admin",
    });
    const by = { actor: "ada", role: "admin", reason: "gone for good" };
    for (const id of [session.id, typed.id]) {
      const info = (await t.commands.get(id))!;
      assert.deepEqual([info.status, info.endedBy], ["interrupted", by], id);
    }
    const cancelled = (await t.commands.get(queued.id))!;
    assert.deepEqual([cancelled.status, cancelled.endedBy], ["cancelled", by]);
  } finally {
    t.close();
  }
});
