import assert from "node:assert/strict";
import type { CommandInfo } from "../protocol.ts";
import { Executor, type ExecutorPayloads } from "./executor.ts";
import { createMemoryLogger } from "./logger.ts";

const command = (id: string, text: string): CommandInfo => ({
  id,
  agentId: "a1",
  command: text,
  priority: "normal",
  status: "running",
  requestedBy: "u1",
  requestedAt: 1,
  startedAt: null,
  completedAt: null,
  exitCode: null,
  outputBytes: 0,
});

function setup(templates: Record<string, string[]>, type = "claude") {
  const sent: { type: string; payload: Record<string, unknown> }[] = [];
  let connected = true;
  const executor = new Executor({
    type,
    cwd: Deno.cwd(),
    graceMs: 200,
    maxBufferBytes: 1024,
    templates,
    logger: createMemoryLogger(),
    send: <K extends keyof ExecutorPayloads>(
      type: K,
      payload: ExecutorPayloads[K],
    ) => {
      if (!connected) return false;
      // Timestamps vary: compare everything else exactly.
      const rest = Object.fromEntries(
        Object.entries(payload).filter(([key]) => !key.endsWith("edAt")),
      );
      sent.push({ type, payload: rest });
      return true;
    },
  });
  return { executor, sent, setConnected: (v: boolean) => connected = v };
}

Deno.test("Executor reports a missing binary as failed with exit code 127", async () => {
  const { executor, sent } = setup({
    claude: ["flightdeck-no-such-bin", "-p"],
  });
  executor.execute(command("c1", "hello"));
  await executor.idle();
  assert.deepEqual(sent, [
    { type: "command:started", payload: { commandId: "c1" } },
    {
      type: "terminal:output",
      payload: {
        commandId: "c1",
        seq: 1,
        stream: "stderr",
        data:
          'flightdeck-agent: Command "flightdeck-no-such-bin" not found\r\n',
      },
    },
    {
      type: "command:completed",
      payload: { commandId: "c1", exitCode: 127, status: "failed", lastSeq: 1 },
    },
  ]);
});

Deno.test("Executor appends the prompt as one argument, never through a shell", async () => {
  const { executor, sent } = setup({ claude: ["printf", "[%s]"] });
  executor.execute(command("c1", "a b; echo $HOME"));
  await executor.idle();
  assert.deepEqual(sent.slice(1), [
    {
      type: "terminal:output",
      payload: {
        commandId: "c1",
        seq: 1,
        stream: "stdout",
        data: "[a b; echo $HOME]",
      },
    },
    {
      type: "command:completed",
      payload: {
        commandId: "c1",
        exitCode: 0,
        status: "completed",
        lastSeq: 1,
      },
    },
  ]);
});

Deno.test("Executor keeps output produced while disconnected and resends it", async () => {
  const { executor, sent, setConnected } = setup({}, "shell");
  setConnected(false);
  executor.execute(command("c1", "echo one"));
  await executor.idle();
  assert.deepEqual(executor.running(), [{ commandId: "c1", lastSeq: 1 }]);
  setConnected(true);
  executor.resend();
  assert.deepEqual(sent.map((m) => m.type), [
    "command:started",
    "terminal:output",
    "command:completed",
  ]);
  executor.ack("c1", 1);
  sent.length = 0;
  executor.resend();
  assert.deepEqual(sent.map((m) => m.type), ["command:completed"]);
  executor.ack("c1", 1, true);
  sent.length = 0;
  executor.resend();
  assert.deepEqual(sent, []);
  assert.deepEqual(executor.running(), []);
});
