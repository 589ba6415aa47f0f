/**
 * `AgentInfo.ended` (how an agent's last session ended) belongs to session
 * mode: an agent that reconnects with the `session` capability keeps it; one
 * that comes back in exec mode has none, and the dashboard's badge
 * (`sessionEndView`) never shows it for an agent without the capability.
 */
import assert from "node:assert/strict";
import { sessionEndView } from "../client/session_restart.ts";
import { RecordingPeer } from "./peer.ts";
import { type AgentHello, Registry } from "./registry.ts";

const hello = (capabilities: string[]): AgentHello => ({
  id: "a1",
  name: "a1",
  type: "shell",
  capabilities,
  hostname: "h",
});

const SESSION = ["shell", "interrupt", "pty", "session"];
const EXEC = ["shell", "interrupt"];

Deno.test("Registry.connect(): ended is kept for a session agent, dropped when it comes back in exec mode", () => {
  const registry = new Registry();
  const end = { commandId: "s1", status: "completed" as const, exitCode: 0 };
  const first = new RecordingPeer("p1");
  registry.connect(hello(SESSION), first);
  registry.setCurrentCommand("a1", "s1");
  registry.endSession("a1", end);
  registry.disconnect(first);
  // Back in session mode: how the session ended still shows.
  const second = new RecordingPeer("p2");
  assert.deepEqual(registry.connect(hello(SESSION), second).info.ended, end);
  registry.disconnect(second);
  // Back in exec mode: nothing to restart, no badge, prompts not refused.
  const info = registry.connect(hello(EXEC), new RecordingPeer("p3")).info;
  assert.equal(info.ended, undefined);
  assert.equal("ended" in info, false);
  assert.equal(sessionEndView(info), null);
});

Deno.test("sessionEndView(): an agent without the session capability shows no session end", () => {
  const registry = new Registry();
  registry.connect(hello(SESSION), new RecordingPeer("p1"));
  registry.setCurrentCommand("a1", "s1");
  registry.endSession("a1", { commandId: "s1", status: "failed", exitCode: 3 });
  const info = registry.get("a1")!;
  assert.equal(sessionEndView(info)?.text, "Session failed (exit 3)");
  // The same state as an exec agent (e.g. a dashboard that kept the old
  // `ended` of an agent that now reports exec capabilities).
  assert.equal(sessionEndView({ ...info, capabilities: EXEC }), null);
});

Deno.test("Registry.endSession(): the old session of an agent back in exec mode ends without giving it an ended", () => {
  const registry = new Registry();
  const first = new RecordingPeer("p1");
  registry.connect(hello(SESSION), first);
  registry.setCurrentCommand("a1", "s1");
  registry.disconnect(first);
  // Back in exec mode; its session is found lost and ends now.
  registry.connect(hello(EXEC), new RecordingPeer("p2"));
  registry.endSession("a1", {
    commandId: "s1",
    status: "interrupted",
    exitCode: null,
  });
  const info = registry.get("a1")!;
  assert.equal(info.currentCommandId, null);
  assert.equal(info.status, "online");
  assert.equal("ended" in info, false);
});
