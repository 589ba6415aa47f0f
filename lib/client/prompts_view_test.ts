/**
 * Prompts on the client: the agent's view shows its session, not each
 * prompt again (a prompt's output is a slice of the session's); a prompt
 * whose slice a tab fetched while it ran fetches the rest when it ends.
 */
import assert from "node:assert/strict";
import type { CommandInfo } from "../protocol.ts";
import { bindStores, createStores } from "./stores.ts";
import { fakeClient } from "./test_fakes.ts";
import { viewCommandIds } from "./terminal_view.ts";

function info(id: string, extra: Partial<CommandInfo>): CommandInfo {
  return {
    id,
    agentId: "a-1",
    command: id,
    priority: "normal",
    status: "running",
    requestedBy: "op",
    requestedAt: 1,
    startedAt: 1,
    completedAt: null,
    exitCode: null,
    outputBytes: 0,
    ...extra,
  };
}

Deno.test("viewCommandIds() leaves prompts out of the agent's view, shows one when selected", () => {
  const session = info("s", { kind: "session", startedAt: 1 });
  const prompt = info("p", {
    kind: "prompt",
    startedAt: 2,
    session: { commandId: "s", fromSeq: 3, toSeq: null },
  });
  const exec = info("e", { startedAt: 3 });
  assert.deepEqual(
    viewCommandIds([session, prompt, exec], "a-1", null),
    ["s", "e"],
  );
  assert.deepEqual(viewCommandIds([session, prompt], "a-1", "p"), ["p"]);
});

Deno.test("bindStores(): a prompt that ends after its slice was fetched asks for the rest, once", () => {
  const { client, sent, emit } = fakeClient();
  const s = createStores();
  bindStores(s, client);
  const turn = { commandId: "s", fromSeq: 3, toSeq: null };
  const running = info("p", { kind: "prompt", session: turn });
  emit("command:status", { command: running });
  // Viewed while it ran: its slice so far.
  s.output.ensure("p");
  emit("terminal:output", {
    agentId: "a-1",
    commandId: "p",
    seq: 1,
    stream: "pty",
    data: "> hi\r\n",
  });
  const resumes = () =>
    sent.filter((m) => m.type === "terminal:resume").map((m) => m.payload);
  assert.deepEqual(resumes(), [{ commandId: "p", afterSeq: 0 }]);
  const done = {
    ...running,
    status: "completed",
    exitCode: 0,
    completedAt: 2,
    session: { ...turn, toSeq: 6 },
  };
  emit("command:status", { command: done });
  assert.deepEqual(resumes(), [
    { commandId: "p", afterSeq: 0 },
    { commandId: "p", afterSeq: 1 },
  ]);
  // The same final status again (a snapshot after a reconnect): no more.
  emit("command:status", { command: done });
  // A prompt never viewed asks for nothing.
  emit("command:status", { command: info("q", { kind: "prompt" }) });
  emit("command:status", {
    command: info("q", { kind: "prompt", status: "completed", exitCode: 0 }),
  });
  assert.equal(resumes().length, 2);
});
