import assert from "node:assert/strict";
import { toAgent } from "../protocol.ts";
import { startAgent } from "./connection.ts";
import { createMemoryLogger } from "./logger.ts";
import {
  ack,
  command,
  fakeServer,
  type Frame,
  waitFor,
} from "./test_agent_server.ts";
import { blockedOnPipe } from "./test_procs.ts";

function agentFor(url: string) {
  const logger = createMemoryLogger();
  const agent = startAgent({
    serverUrl: url,
    token: "tok",
    agentId: "a1",
    name: "Agent One",
    type: "shell",
    cwd: Deno.cwd(),
    templates: {},
    graceMs: 300,
    random: () => 0.5,
    logger,
  });
  return { agent, logger };
}

const strip = (frames: Frame[]) =>
  frames.map(({ type, payload }) => {
    const { startedAt: _s, completedAt: _c, ...rest } = payload;
    return { type, payload: rest };
  });

Deno.test("startAgent() runs a command, resends unacked output after a reconnect", async () => {
  const { peers, server, url } = fakeServer();
  const { agent, logger } = agentFor(url);
  const first = await waitFor(() => peers[0]?.frames[0] && peers[0], "connect");
  assert.equal(first.auth, "Bearer tok");
  assert.deepEqual(first.frames[0], {
    ...first.frames[0],
    type: "agent:connect",
    payload: {
      token: "tok",
      agentId: "a1",
      name: "Agent One",
      type: "shell",
      capabilities: ["shell", "interrupt"],
      hostname: Deno.hostname(),
      version: "1.0.0",
      running: [],
      cwd: Deno.cwd(),
    },
  });
  first.send(toAgent("connection:ack", ack));
  first.send(toAgent("command:execute", {
    command: command("c1", "printf 'h\\303\\251\\n'; printf x >&2; exit 3"),
  }));
  await waitFor(() => first.frames.length >= 5, "completion");
  const run = [
    { type: "command:started", payload: { commandId: "c1" } },
    {
      type: "terminal:output",
      payload: { commandId: "c1", seq: 1, stream: "stdout", data: "hé\n" },
    },
    {
      type: "terminal:output",
      payload: { commandId: "c1", seq: 2, stream: "stderr", data: "x" },
    },
    {
      type: "command:completed",
      payload: { commandId: "c1", exitCode: 3, status: "failed", lastSeq: 2 },
    },
  ];
  assert.deepEqual(strip(first.frames.slice(1)), run);

  first.ws.close(1001, "restart");
  const second = await waitFor(() => peers[1]?.frames[0] && peers[1], "again");
  assert.deepEqual(second.frames[0].payload.running, [
    { commandId: "c1", lastSeq: 2 },
  ]);
  second.send(toAgent("connection:ack", ack));
  await waitFor(() => second.frames.length >= 4, "resend");
  assert.deepEqual(strip(second.frames.slice(1)), run.slice(1));
  second.send(
    toAgent("terminal:ack", { commandId: "c1", seq: 2, completed: true }),
  );
  second.send(
    toAgent("command:execute", { command: command("c2", "sleep 30") }),
  );
  await waitFor(() => second.frames.length >= 5, "started");
  second.send(
    toAgent("command:interrupt", { commandId: "c2", reason: "timeout" }),
  );
  await waitFor(() => second.frames.length >= 6, "interrupted");
  // An interrupt that lands while `bash -l` is still starting is ignored by
  // the shell, so the grace period's SIGTERM ends it: either names a signal.
  const ended = second.frames[5]?.payload as { signal?: string } | undefined;
  assert.ok(
    ended?.signal === "SIGINT" || ended?.signal === "SIGTERM",
    JSON.stringify(ended),
  );
  if (ended) ended.signal = "SIGINT";
  assert.deepEqual(strip(second.frames.slice(4)), [
    { type: "command:started", payload: { commandId: "c2" } },
    {
      type: "command:completed",
      payload: {
        commandId: "c2",
        exitCode: null,
        status: "timeout",
        lastSeq: 0,
        signal: "SIGINT",
      },
    },
  ]);
  second.ws.close(1000, "bye");
  assert.equal(await agent.done, 0);
  await server.shutdown();
  assert.deepEqual(logger.lines.filter((l) => !l.includes("running c")), [
    `flightdeck-agent: connected to ${url} as Agent One (id a1)`,
    "flightdeck-agent: c1 failed (exit 3)",
    "flightdeck-agent: connection closed (code 1001: restart); reconnecting in 0 ms (attempt 1)",
    `flightdeck-agent: connected to ${url} as Agent One (id a1)`,
    // Resent after the reconnect, still counted once; nothing dropped.
    "flightdeck-agent: output of c1: 2 chunks, 4 characters; reading paused 0 times (window full); 0 chunks dropped unacknowledged",
    "flightdeck-agent: interrupting c2 (timeout)",
    "flightdeck-agent: c2 timeout",
    "flightdeck-agent: connection closed (code 1000: bye); exiting",
  ]);
});

Deno.test("startAgent() exits 3 with a clear message when the token is rejected", async () => {
  const { peers, server, url } = fakeServer();
  const { agent, logger } = agentFor(url);
  const peer = await waitFor(() => peers[0]?.frames[0] && peers[0], "connect");
  peer.send(toAgent("error", {
    code: "AUTH_FAILED",
    message: "Token expired",
    recoverable: false,
  }));
  peer.ws.close(4401, "Token expired");
  assert.equal(await agent.done, 3);
  await server.shutdown();
  assert.deepEqual(logger.lines, [
    "flightdeck-agent: the server rejected the token (AUTH_FAILED): Token expired. Create a new one with: deno task token --role agent --agent-id a1",
  ]);
});

Deno.test("startAgent() exits 4 when replaced by another agent", async () => {
  const { peers, server, url } = fakeServer();
  const { agent, logger } = agentFor(url);
  const peer = await waitFor(() => peers[0]?.frames[0] && peers[0], "connect");
  peer.ws.close(4409, "replaced");
  assert.equal(await agent.done, 4);
  await server.shutdown();
  assert.deepEqual(logger.lines, [
    "flightdeck-agent: connection closed (code 4409: replaced): REPLACED by another agent that connected with id a1; exiting. Give each agent its own id (--id)",
  ]);
});

Deno.test("startAgent() reconnects when the server stays silent", async () => {
  const { peers, server, url } = fakeServer();
  const logger = createMemoryLogger();
  const agent = startAgent({
    serverUrl: url,
    token: "tok",
    agentId: "a1",
    name: "a1",
    type: "shell",
    cwd: Deno.cwd(),
    templates: {},
    deadAfterMs: 200,
    random: () => 0.5,
    logger,
  });
  await waitFor(() => peers.length >= 3 && peers[2].frames.length > 0, "3rd");
  await agent.stop();
  assert.equal(await agent.done, 0);
  await server.shutdown();
  assert.deepEqual(logger.lines, [
    "flightdeck-agent: no frame from the server for 200 ms; reconnecting in 0 ms (attempt 1)",
    "flightdeck-agent: no frame from the server for 200 ms; reconnecting in 1000 ms (attempt 2)",
  ]);
});

Deno.test("startAgent() keeps unacknowledged output within the server's window and stops while paused", async () => {
  const window = 256 * 1024;
  const { peers, server, url } = fakeServer();
  const { agent, logger } = agentFor(url);
  const peer = await waitFor(() => peers[0]?.frames[0] && peers[0], "connect");
  peer.send(toAgent("connection:ack", { ...ack, outputWindowBytes: window }));
  peer.send(toAgent("command:execute", {
    command: command("c1", "head -c 8000000 /dev/zero | tr '\\0' a"),
  }));
  const pid = await waitFor(() => {
    const line = logger.lines.find((l) => l.includes("running c1 (pid "));
    return line ? Number(/pid (\d+)/.exec(line)![1]) : undefined;
  }, "started");
  const inFlight = (ackedSeq: number) =>
    [...peer.outputBytes].filter(([seq]) => seq > ackedSeq)
      .reduce((sum, [, bytes]) => sum + bytes, 0);
  let ackedSeq = 0;
  for (let round = 0; round < 3; round++) {
    // Paused: the window is used up and the program waits on its pipe.
    await waitFor(
      () => inFlight(ackedSeq) >= window && blockedOnPipe(pid),
      `round ${round}: window used and the program blocked`,
    );
    // Sent while under the window: at most one frame over (its data at
    // most a quarter of the window, see Executor's frame size).
    assert.ok(
      inFlight(ackedSeq) < window + window / 4 + 1024,
      `${inFlight(ackedSeq)} bytes in flight`,
    );
    ackedSeq = Math.max(...peer.outputBytes.keys());
    peer.send(toAgent("terminal:ack", { commandId: "c1", seq: ackedSeq }));
  }
  // Stopping while paused interrupts the command and exits.
  await waitFor(
    () => inFlight(ackedSeq) >= window && blockedOnPipe(pid),
    "paused again",
  );
  let timer: ReturnType<typeof setTimeout> | undefined;
  const stopped = await Promise.race([
    agent.stop().then(() => true),
    new Promise<false>((resolve) => timer = setTimeout(resolve, 10_000, false)),
  ]);
  clearTimeout(timer);
  assert.equal(stopped, true, "agent.stop() hung on the paused command");
  assert.equal(await agent.done, 0);
  await server.shutdown();
  const seqs = peer.frames.filter((f) => f.type === "terminal:output")
    .map((f) => f.payload.seq);
  assert.deepEqual(seqs, seqs.map((_, i) => i + 1));
});
