/**
 * Small-message scenarios of `deno task bench`, measured from the harness
 * process (the server or relay is a process of its own):
 *
 * - **64 B hop**: one message with 64 bytes of data from a producer socket
 *   to a dashboard socket, the next sent once the previous arrived.
 *   Flightdeck: a protocol-level agent socket sends `terminal:output` of a
 *   running command, a dashboard receives it (the server stores and fans
 *   it out). Relays: `/src` to `/sink`.
 * - **Command round trip** (Flightdeck only): `command:request` of `true`
 *   to the requesting dashboard's `command:status completed`, with the
 *   real agent.
 *
 * @module
 */
import { now } from "./client.ts";
import {
  AGENT_ID,
  startServer,
  startSystem,
  type SystemName,
} from "./systems.ts";
import { Wire } from "./wire.ts";

/** 64 characters of data. */
const DATA_64 = "x".repeat(63) + "\n";

/**
 * `count` hops of 64 B through `system`; ms each (`env`: added to a
 * Flightdeck server's environment).
 */
export async function hopRun(
  system: SystemName,
  count: number,
  env: Record<string, string> = {},
): Promise<number[]> {
  if (system === "flightdeck") return await flightdeckHops(count, env);
  await using running = await startSystem(system);
  const sink = await Wire.open(`${running.wsUrl}/sink`);
  const src = await Wire.open(`${running.wsUrl}/src`);
  try {
    // The relay adds a sink on open: one frame through proves it is listed.
    src.send({ seq: 0, data: DATA_64 });
    await sink.waitFor((f) => f.seq === 0);
    const times: number[] = [];
    for (let seq = 1; seq <= count; seq++) {
      const from = sink.frames.length;
      const t0 = now();
      src.send({ seq, data: DATA_64 });
      await sink.waitFor((f) => f.seq === seq, 10_000, from);
      times.push(now() - t0);
    }
    return times;
  } finally {
    await src.close();
    await sink.close();
  }
}

async function flightdeckHops(
  count: number,
  env: Record<string, string>,
): Promise<number[]> {
  // No real agent: the harness speaks the agent protocol itself, so the
  // hop is the server's alone.
  await using server = await startServer(env);
  const id = "hop-agent";
  const agent = await Wire.open(
    `${server.wsUrl}/ws/agent`,
    await server.token("agent", id),
  );
  const dashboard = await Wire.open(
    `${server.wsUrl}/ws/dashboard`,
    await server.token("operator"),
  );
  try {
    agent.sendMessage("agent:connect", {
      agentId: id,
      name: id,
      type: "shell",
      capabilities: ["shell"],
      hostname: "bench",
      version: "1.0.0",
    });
    await agent.waitFor((f) => f.type === "connection:ack");
    await dashboard.waitFor((f) => f.type === "agent:list");
    await dashboard.waitFor((f) =>
      (f.type === "agent:status" && f.payload.agent.id === id) ||
      (f.type === "agent:list" &&
        f.payload.agents.some((a: { id: string }) => a.id === id))
    );
    dashboard.sendMessage("command:request", { agentId: id, command: "hop" });
    const execute = await agent.waitFor((f) => f.type === "command:execute");
    const commandId: string = execute.payload.command.id;
    agent.sendMessage("command:started", { commandId, startedAt: Date.now() });
    const times: number[] = [];
    for (let seq = 1; seq <= count; seq++) {
      const from = dashboard.frames.length;
      const t0 = now();
      agent.sendMessage("terminal:output", {
        commandId,
        seq,
        stream: "stdout",
        data: DATA_64,
      });
      await dashboard.waitFor(
        (f) => f.type === "terminal:output" && f.payload.seq === seq,
        10_000,
        from,
      );
      times.push(now() - t0);
    }
    agent.sendMessage("command:completed", {
      commandId,
      exitCode: 0,
      status: "completed",
      completedAt: Date.now(),
      lastSeq: count,
    });
    return times;
  } finally {
    await agent.close();
    await dashboard.close();
  }
}

/** `count` command round trips (`true`) with the real agent; ms each. */
export async function roundTripRun(
  count: number,
  env: Record<string, string> = {},
): Promise<number[]> {
  await using running = await startSystem("flightdeck", env);
  const dashboard = await Wire.open(
    `${running.wsUrl}/ws/dashboard`,
    running.dashboardToken,
  );
  try {
    await dashboard.waitFor((f) => f.type === "agent:list");
    const times: number[] = [];
    for (let i = 0; i < count; i++) {
      const from = dashboard.frames.length;
      const t0 = now();
      dashboard.sendMessage("command:request", {
        agentId: AGENT_ID,
        command: "true",
      }, `rt-${i}`);
      const reply = await dashboard.waitFor(
        (f) => f.type === "command:status" && f.payload.replyTo === `rt-${i}`,
        10_000,
        from,
      );
      const id = reply.payload.command.id;
      await dashboard.waitFor(
        (f) =>
          f.type === "command:status" && f.payload.command.id === id &&
          f.payload.command.status === "completed",
        30_000,
        from,
      );
      times.push(now() - t0);
    }
    return times;
  } finally {
    await dashboard.close();
  }
}
