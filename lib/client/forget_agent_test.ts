import assert from "node:assert/strict";
import { signal } from "@preact/signals";
import { AgentForgetter, forgetErrorText } from "./forget_agent.ts";
import type { ConnectionState } from "./socket_types.ts";
import { fakeClient } from "./test_fakes.ts";

/** An {@link AgentForgetter} bound to a client double. */
function setup(state: ConnectionState = "connected") {
  const { client, sent, emit, handlers } = fakeClient();
  const connection = signal<{ state: ConnectionState }>({ state });
  const forgetter = new AgentForgetter();
  const unbind = forgetter.bind(client, connection);
  return { forgetter, sent, emit, connection, unbind, handlers };
}

Deno.test("AgentForgetter asks, sends agent:forget on confirm, and clears on agent:removed", () => {
  const { forgetter, sent, emit } = setup();
  forgetter.ask("b-1", "build-1");
  assert.deepEqual(forgetter.state.value, {
    phase: "confirm",
    agentId: "b-1",
    name: "build-1",
  });
  assert.equal(sent.length, 0, "asking sends nothing");
  forgetter.confirm();
  assert.equal(sent.length, 1);
  assert.equal(sent[0].type, "agent:forget");
  assert.deepEqual(sent[0].payload, { agentId: "b-1" });
  assert.deepEqual(forgetter.state.value, {
    phase: "pending",
    agentId: "b-1",
    name: "build-1",
    requestId: sent[0].id,
  });
  // A second confirm while in flight sends nothing more.
  forgetter.confirm();
  forgetter.ask("b-2", "build-2");
  assert.equal(sent.length, 1);
  emit("agent:removed", { agentId: "other" });
  assert.equal(forgetter.state.value?.phase, "pending");
  emit("agent:removed", { agentId: "b-1" });
  assert.deepEqual(forgetter.state.value, {
    phase: "done",
    agentId: "b-1",
    name: "build-1",
  });
  forgetter.cancel();
  assert.equal(forgetter.state.value, null);
});

Deno.test("AgentForgetter closes an open question when another page forgets the agent", () => {
  const { forgetter, sent, emit } = setup();
  forgetter.ask("b-1", "build-1");
  emit("agent:removed", { agentId: "b-1" });
  assert.equal(forgetter.state.value, null);
  assert.equal(sent.length, 0);
});

Deno.test("AgentForgetter.cancel() closes the question without sending", () => {
  const { forgetter, sent } = setup();
  forgetter.ask("b-1", "build-1");
  forgetter.cancel();
  assert.equal(forgetter.state.value, null);
  forgetter.confirm();
  assert.equal(sent.length, 0);
});

Deno.test("AgentForgetter shows the refusal answering its request only", () => {
  const { forgetter, sent, emit } = setup();
  forgetter.ask("b-1", "build-1");
  forgetter.confirm();
  const id = sent[0].id!;
  emit("error", {
    code: "AGENT_ONLINE",
    message: "x",
    recoverable: true,
    replyTo: "other",
  });
  emit("error", { code: "AGENT_ONLINE", message: "x", recoverable: true });
  assert.equal(forgetter.state.value?.phase, "pending");
  emit("error", {
    code: "AGENT_ONLINE",
    message: 'Agent "b-1" is connected; stop it before forgetting it',
    recoverable: true,
    replyTo: id,
  });
  assert.deepEqual(forgetter.state.value, {
    phase: "error",
    agentId: "b-1",
    name: "build-1",
    text: "build-1 is connected again; stop it before forgetting it",
  });
  forgetter.cancel();
  assert.equal(forgetter.state.value, null);
});

Deno.test("AgentForgetter reports a request the lost connection leaves unanswered", () => {
  const { forgetter, connection } = setup();
  forgetter.ask("b-1", "build-1");
  forgetter.confirm();
  connection.value = { state: "reconnecting" };
  assert.deepEqual(forgetter.state.value, {
    phase: "error",
    agentId: "b-1",
    name: "build-1",
    text: "Not confirmed: the connection was lost before build-1 was forgotten",
  });
});

Deno.test("AgentForgetter.confirm() sends nothing while disconnected", () => {
  const { forgetter, sent } = setup("reconnecting");
  forgetter.ask("b-1", "build-1");
  forgetter.confirm();
  assert.equal(sent.length, 0);
  assert.deepEqual(forgetter.state.value, {
    phase: "error",
    agentId: "b-1",
    name: "build-1",
    text: "Not connected to the server; build-1 was not forgotten",
  });
});

Deno.test("AgentForgetter unbinds its handlers", () => {
  const { unbind, handlers } = setup();
  unbind();
  for (const set of handlers.values()) assert.equal(set.size, 0);
});

Deno.test("forgetErrorText() names the agent and the reason", () => {
  assert.equal(
    forgetErrorText("build-1", "AGENT_ONLINE", "m"),
    "build-1 is connected again; stop it before forgetting it",
  );
  assert.equal(
    forgetErrorText("build-1", "NOT_FOUND", "m"),
    "build-1 is already gone",
  );
  assert.equal(
    forgetErrorText("build-1", "FORBIDDEN", "m"),
    "Only admins can forget agents",
  );
  assert.equal(
    forgetErrorText("build-1", "RATE_LIMIT", "Too many"),
    "Could not forget build-1: Too many (RATE_LIMIT)",
  );
});
