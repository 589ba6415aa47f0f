/**
 * The agent's connection when it stops, and in session mode, against a
 * stand-in for the server's `/ws/agent` endpoint that records frames: a
 * stopping agent starts no command it is sent (the server keeps it queued for
 * the next connection), and a session agent refuses an exec command (it ends
 * `failed` at once instead of running with bash after the session).
 */
import assert from "node:assert/strict";
import { toAgent } from "../protocol.ts";
import { startAgent } from "./connection.ts";
import { createMemoryLogger } from "./logger.ts";
import { loadPty } from "./pty_runner.ts";
import {
  ack,
  command,
  fakeServer,
  type Peer,
  waitFor,
} from "./test_agent_server.ts";

const of = (peer: Peer, type: string, commandId: string) =>
  peer.frames.filter((f) =>
    f.type === type && f.payload.commandId === commandId
  );

Deno.test("a stopping agent starts no command sent while it stops (it stays queued on the server)", async () => {
  const { peers, server, url } = fakeServer();
  const dir = await Deno.makeTempDir({ prefix: "fd-stop-" });
  const logger = createMemoryLogger();
  const agent = startAgent({
    serverUrl: url,
    token: "tok",
    agentId: "a1",
    name: "a1",
    type: "shell",
    cwd: dir,
    templates: {},
    graceMs: 300,
    logger,
  });
  try {
    const peer = await waitFor(() => peers[0]?.frames[0] && peers[0], "hello");
    peer.send(toAgent("connection:ack", ack));
    peer.send(
      toAgent("command:execute", { command: command("c1", "sleep 60") }),
    );
    await waitFor(
      () => of(peer, "command:started", "c1").length > 0,
      "c1 runs",
    );
    const stopped = agent.stop();
    await waitFor(
      () => of(peer, "command:completed", "c1").length > 0,
      "c1 interrupted",
    );
    // What the server does when the running command ends: dispatch the next
    // one. It arrives while the agent waits for its last acks.
    peer.send(toAgent("command:execute", {
      command: command("c2", "echo ran > ran.txt"),
    }));
    peer.send(toAgent("session:started", {
      command: command("s1", "sh", "session"),
    }));
    peer.send(toAgent("terminal:ack", {
      commandId: "c1",
      seq: 0,
      completed: true,
    }));
    await stopped;
    await waitFor(() => peer.closed, "the agent closes");
    assert.equal(await agent.done, 0);
    assert.deepEqual(of(peer, "command:started", "c2"), []);
    assert.deepEqual(of(peer, "command:completed", "c2"), []);
    assert.deepEqual(
      peer.frames.filter((f) => f.payload.commandId === "s1"),
      [],
    );
    await assert.rejects(Deno.stat(`${dir}/ran.txt`), Deno.errors.NotFound);
    assert.ok(
      logger.lines.some((line) => line.includes("not starting c2")),
      logger.lines.join("\n"),
    );
  } finally {
    await agent.stop();
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a session agent refuses an exec command: it ends failed at once, never runs", async () => {
  const { peers, server, url } = fakeServer();
  const dir = await Deno.makeTempDir({ prefix: "fd-refuse-" });
  const agent = startAgent({
    serverUrl: url,
    token: "tok",
    agentId: "a1",
    name: "a1",
    type: "shell",
    cwd: dir,
    templates: {},
    graceMs: 300,
    pty: { api: await loadPty(), cols: 80, rows: 24 },
    session: { argv: ["sh", "-c", "sleep 60"] },
    logger: createMemoryLogger(),
  });
  try {
    const peer = await waitFor(() => peers[0]?.frames[0] && peers[0], "hello");
    peer.send(toAgent("connection:ack", ack));
    await waitFor(
      () => peer.frames.some((f) => f.type === "session:start"),
      "session:start",
    );
    peer.send(toAgent("session:started", {
      command: command("s1", "sh", "session"),
    }));
    await waitFor(
      () => of(peer, "command:started", "s1").length > 0,
      "session",
    );
    peer.send(toAgent("command:execute", {
      command: command("c1", "echo ran > ran.txt"),
    }));
    const [completed] = await waitFor(
      () =>
        of(peer, "command:completed", "c1").length > 0 &&
        of(peer, "command:completed", "c1"),
      "c1 refused",
    );
    assert.equal(of(peer, "command:started", "c1").length, 1);
    assert.equal(completed.payload.status, "failed");
    assert.equal(completed.payload.exitCode, null);
    const output = of(peer, "terminal:output", "c1")
      .map((f) => f.payload.data).join("");
    assert.match(output, /session mode \(--session\): exec commands/);
    // The session runs on.
    assert.deepEqual(of(peer, "command:completed", "s1"), []);
    await agent.stop();
    await assert.rejects(Deno.stat(`${dir}/ran.txt`), Deno.errors.NotFound);
  } finally {
    await agent.stop();
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});
