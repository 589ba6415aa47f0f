import assert from "node:assert/strict";
import type { AgentInfo } from "../protocol.ts";
import { FlightdeckError } from "./errors.ts";
import { RecordingPeer } from "./peer.ts";
import { type AgentHello, Registry } from "./registry.ts";

function hello(id: string, name = id): AgentHello {
  return {
    id,
    name,
    type: "shell",
    capabilities: ["pty"],
    hostname: "host-1",
  };
}

function setup() {
  const changes: AgentInfo[] = [];
  let now = 1_000;
  const registry = new Registry((info) => changes.push(info), () => now);
  return {
    registry,
    changes,
    setNow(value: number) {
      now = value;
    },
  };
}

Deno.test("Registry.connect() reports the new agent once via onChange", () => {
  const { registry, changes } = setup();
  const peer = new RecordingPeer("p1");
  const { info, replaced } = registry.connect(hello("a1", "Alpha"), peer);
  const expected: AgentInfo = {
    id: "a1",
    name: "Alpha",
    type: "shell",
    capabilities: ["pty"],
    hostname: "host-1",
    status: "online",
    connectedAt: 1_000,
    lastSeenAt: 1_000,
    currentCommandId: null,
    since: 1_000,
  };
  assert.deepEqual(info, expected);
  assert.equal(replaced, null);
  assert.deepEqual(changes, [expected]);
  assert.equal(registry.peerOf("a1"), peer);
  assert.equal(registry.agentOf(peer), "a1");
  assert.equal(registry.isOnline("a1"), true);
  assert.deepEqual(registry.onlineIds(), ["a1"]);
});

Deno.test("Registry.disconnect() marks the agent offline and reports it once", () => {
  const { registry, changes, setNow } = setup();
  const peer = new RecordingPeer("p1");
  registry.connect(hello("a1"), peer);
  changes.length = 0;
  setNow(2_000);
  assert.equal(registry.disconnect(peer), true);
  assert.equal(changes.length, 1);
  assert.equal(changes[0].status, "offline");
  assert.equal(changes[0].lastSeenAt, 2_000);
  assert.equal(changes[0].connectedAt, 1_000);
  assert.deepEqual(registry.get("a1"), changes[0]);
  assert.equal(registry.peerOf("a1"), null);
  assert.equal(registry.agentOf(peer), undefined);
  assert.equal(registry.isOnline("a1"), false);
  assert.deepEqual(registry.onlineIds(), []);
});

Deno.test("Registry.disconnect() returns false for a peer twice and reports nothing", () => {
  const { registry, changes } = setup();
  const peer = new RecordingPeer("p1");
  registry.connect(hello("a1"), peer);
  registry.disconnect(peer);
  changes.length = 0;
  assert.equal(registry.disconnect(peer), false);
  assert.deepEqual(changes, []);
});

Deno.test("Registry.disconnect() returns false for an unknown peer and reports nothing", () => {
  const { registry, changes } = setup();
  registry.connect(hello("a1"), new RecordingPeer("p1"));
  changes.length = 0;
  assert.equal(registry.disconnect(new RecordingPeer("stranger")), false);
  assert.deepEqual(changes, []);
  assert.equal(registry.get("a1")?.status, "online");
});

Deno.test("Registry.connect() returns the replaced peer", () => {
  const { registry, changes, setNow } = setup();
  const first = new RecordingPeer("p1");
  const second = new RecordingPeer("p2");
  registry.connect(hello("a1"), first);
  changes.length = 0;
  setNow(5_000);
  const { info, replaced } = registry.connect(hello("a1"), second);
  assert.equal(replaced, first);
  assert.equal(info.status, "online");
  assert.equal(info.connectedAt, 5_000);
  assert.deepEqual(changes, [info]);
  assert.equal(registry.peerOf("a1"), second);
  assert.equal(registry.agentOf(first), undefined);
  assert.equal(registry.agentOf(second), "a1");
});

Deno.test("Registry.connect() with the same peer again replaces nothing", () => {
  const { registry } = setup();
  const peer = new RecordingPeer("p1");
  registry.connect(hello("a1"), peer);
  assert.equal(registry.connect(hello("a1"), peer).replaced, null);
  assert.equal(registry.peerOf("a1"), peer);
});

Deno.test("Registry.disconnect() returns false for a replaced peer and reports nothing", () => {
  const { registry, changes } = setup();
  const first = new RecordingPeer("p1");
  const second = new RecordingPeer("p2");
  registry.connect(hello("a1"), first);
  registry.connect(hello("a1"), second);
  changes.length = 0;
  assert.equal(registry.disconnect(first), false);
  assert.deepEqual(changes, []);
  assert.equal(registry.get("a1")?.status, "online");
  assert.equal(registry.peerOf("a1"), second);
  assert.equal(registry.disconnect(second), true);
  assert.equal(changes.length, 1);
});

Deno.test("Registry.setCurrentCommand() toggles busy and online", () => {
  const { registry, changes } = setup();
  registry.connect(hello("a1"), new RecordingPeer("p1"));
  changes.length = 0;
  assert.equal(registry.setCurrentCommand("a1", "c1"), true);
  assert.equal(registry.get("a1")?.status, "busy");
  assert.equal(registry.get("a1")?.currentCommandId, "c1");
  assert.equal(registry.setCurrentCommand("a1", null), true);
  assert.equal(registry.get("a1")?.status, "online");
  assert.equal(registry.get("a1")?.currentCommandId, null);
  assert.deepEqual(
    changes.map((c) => [c.status, c.currentCommandId]),
    [["busy", "c1"], ["online", null]],
  );
});

Deno.test("Registry.setCurrentCommand() returns false when nothing changed", () => {
  const { registry, changes } = setup();
  registry.connect(hello("a1"), new RecordingPeer("p1"));
  registry.setCurrentCommand("a1", "c1");
  changes.length = 0;
  assert.equal(registry.setCurrentCommand("a1", "c1"), false);
  assert.equal(registry.setCurrentCommand("unknown", "c1"), false);
  assert.deepEqual(changes, []);
});

Deno.test("Registry.setCurrentCommand() keeps an offline agent offline", () => {
  const { registry } = setup();
  const peer = new RecordingPeer("p1");
  registry.connect(hello("a1"), peer);
  registry.disconnect(peer);
  assert.equal(registry.setCurrentCommand("a1", "c1"), true);
  assert.equal(registry.get("a1")?.status, "offline");
  assert.equal(registry.get("a1")?.currentCommandId, "c1");
});

Deno.test("Registry.connect() keeps the current command and reports busy", () => {
  const { registry } = setup();
  const first = new RecordingPeer("p1");
  registry.connect(hello("a1"), first);
  registry.setCurrentCommand("a1", "c1");
  registry.disconnect(first);
  const { info } = registry.connect(hello("a1"), new RecordingPeer("p2"));
  assert.equal(info.status, "busy");
  assert.equal(info.currentCommandId, "c1");
});

Deno.test("Registry.list() puts online agents first, then sorts by name", () => {
  const { registry } = setup();
  const gone = new RecordingPeer("p-gone");
  registry.connect(hello("a1", "zulu"), new RecordingPeer("p1"));
  registry.connect(hello("a2", "alpha"), gone);
  registry.connect(hello("a3", "mike"), new RecordingPeer("p3"));
  registry.connect(hello("a4", "bravo"), new RecordingPeer("p4"));
  registry.setCurrentCommand("a1", "c1");
  registry.disconnect(gone);
  assert.deepEqual(
    registry.list().map((a) => [a.name, a.status]),
    [["bravo", "online"], ["mike", "online"], ["zulu", "busy"], [
      "alpha",
      "offline",
    ]],
  );
});

Deno.test("Registry.list() orders agents with the same name by id", () => {
  const { registry } = setup();
  registry.connect(hello("b", "same"), new RecordingPeer("p1"));
  registry.connect(hello("a", "same"), new RecordingPeer("p2"));
  assert.deepEqual(registry.list().map((a) => a.id), ["a", "b"]);
});

Deno.test("Registry.restore() marks agents offline without reporting", () => {
  const { registry, changes } = setup();
  const stored: AgentInfo = {
    ...hello("a1"),
    status: "online",
    connectedAt: 10,
    lastSeenAt: 20,
    currentCommandId: null,
  };
  registry.restore([stored]);
  assert.deepEqual(registry.get("a1"), {
    ...stored,
    status: "offline",
    since: 20,
  });
  assert.equal(registry.isOnline("a1"), false);
  assert.deepEqual(changes, []);
});

Deno.test("Registry.restore() does not overwrite a connected agent", () => {
  const { registry } = setup();
  registry.connect(hello("a1", "live"), new RecordingPeer("p1"));
  registry.restore([{
    ...hello("a1", "stale"),
    status: "online",
    connectedAt: 10,
    lastSeenAt: 20,
    currentCommandId: null,
  }]);
  assert.equal(registry.get("a1")?.name, "live");
  assert.equal(registry.get("a1")?.status, "online");
});

Deno.test("Registry.touch() updates lastSeenAt without reporting", () => {
  const { registry, changes, setNow } = setup();
  registry.connect(hello("a1"), new RecordingPeer("p1"));
  changes.length = 0;
  setNow(9_000);
  registry.touch("a1");
  registry.touch("unknown");
  assert.equal(registry.get("a1")?.lastSeenAt, 9_000);
  assert.deepEqual(changes, []);
});

Deno.test("Registry reports activity changes as such, everything else as state", () => {
  const kinds: string[] = [];
  const registry = new Registry((_info, change) => kinds.push(change));
  const peer = new RecordingPeer("p1");
  registry.connect(hello("a1"), peer);
  registry.setActivity("a1", { activity: "working" });
  registry.setCurrentCommand("a1", "c1");
  registry.disconnect(peer);
  assert.deepEqual(kinds, ["state", "activity", "state", "state"]);
});

Deno.test("Registry.setActivity() reports changes only, keeps attention and options only with needs-input, and offline clears them", () => {
  const { registry, changes } = setup();
  const peer = new RecordingPeer("p1");
  registry.connect(hello("a1"), peer);
  const options = [{ key: "1", label: "Yes" }, { key: "2", label: "No" }];
  const from = changes.length;
  assert.equal(
    registry.setActivity("a1", {
      activity: "needs-input",
      attention: "Create hello.txt?",
      options,
    }),
    true,
  );
  assert.equal(
    registry.setActivity("a1", {
      activity: "needs-input",
      attention: "Create hello.txt?",
      options: options.map((o) => ({ ...o })),
    }),
    false,
  );
  assert.equal(
    registry.setActivity("a1", {
      activity: "working",
      attention: "ignored",
      options,
    }),
    true,
  );
  assert.equal(registry.setActivity("a1", { activity: "working" }), false);
  assert.equal(registry.setActivity("nobody", { activity: "working" }), false);
  assert.deepEqual(
    changes.slice(from).map((c) => [c.activity, c.attention, c.options]),
    [
      ["needs-input", "Create hello.txt?", options],
      ["working", undefined, undefined],
    ],
  );
  assert.equal("attention" in registry.get("a1")!, false);
  registry.disconnect(peer);
  assert.equal("activity" in registry.get("a1")!, false);
  assert.equal(registry.setActivity("a1", { activity: "waiting" }), false);
});

Deno.test("Registry.restore() drops activity saved with an agent", () => {
  const { registry } = setup();
  registry.restore([{
    ...hello("a1"),
    status: "online",
    connectedAt: 1,
    lastSeenAt: 2,
    currentCommandId: null,
    activity: "needs-input",
    attention: "old question",
    options: [{ key: "y", label: "Yes" }],
  }]);
  const info = registry.get("a1")!;
  assert.equal(info.status, "offline");
  assert.deepEqual(
    [info.activity, info.attention, info.options],
    [undefined, undefined, undefined],
  );
  assert.equal("activity" in info, false);
});

Deno.test("Registry.endSession(): one change with no activity, the session's end, no current command; kept across a reconnect and a restore; a new command clears it", () => {
  const { registry, changes } = setup();
  const peer = new RecordingPeer("p1");
  const sessionHello = { ...hello("a1"), capabilities: ["pty", "session"] };
  registry.connect(sessionHello, peer);
  registry.setCurrentCommand("a1", "s1");
  registry.setActivity("a1", { activity: "waiting" });
  const before = changes.length;
  const end = { commandId: "s1", status: "failed" as const, exitCode: 3 };
  registry.endSession("a1", end);
  assert.equal(changes.length, before + 1);
  const info = registry.get("a1")!;
  assert.deepEqual(
    [info.status, info.currentCommandId, info.activity, info.ended],
    ["online", null, undefined, end],
  );
  registry.disconnect(peer);
  assert.deepEqual(registry.get("a1")?.ended, end);
  registry.connect(sessionHello, new RecordingPeer("p2"));
  assert.deepEqual(registry.get("a1")?.ended, end);
  const restored = new Registry();
  restored.restore([registry.get("a1")!]);
  assert.deepEqual(restored.get("a1")?.ended, end);
  registry.setCurrentCommand("a1", "s2");
  assert.equal(registry.get("a1")?.ended, undefined);
});

Deno.test("Registry.requireOnline(): NOT_FOUND for an unknown agent, AGENT_OFFLINE for a disconnected one, the state of a connected one", () => {
  const { registry } = setup();
  const refusal = (id: string) => {
    try {
      registry.requireOnline(id);
    } catch (error) {
      assert.ok(error instanceof FlightdeckError);
      return { code: error.code, message: error.message };
    }
    assert.fail(`requireOnline("${id}") returned`);
  };
  assert.deepEqual(refusal("nobody"), {
    code: "NOT_FOUND",
    message: 'Unknown agent "nobody"',
  });
  const peer = new RecordingPeer("p1");
  const { info } = registry.connect(hello("a1"), peer);
  assert.equal(registry.requireOnline("a1"), info);
  registry.disconnect(peer);
  assert.deepEqual(refusal("a1"), {
    code: "AGENT_OFFLINE",
    message: 'Agent "a1" is not connected',
  });
});

Deno.test("Registry keeps tags, cwd and git from connect, and sets since on each status or activity change only", () => {
  const { registry, changes, setNow } = setup();
  const peer = new RecordingPeer("p1");
  registry.connect({
    ...hello("a1"),
    tags: ["gpu", "web"],
    cwd: "/src/app",
    git: { branch: "main", commit: "0123456789ab", dirty: false },
  }, peer);
  assert.deepEqual(registry.get("a1")?.tags, ["gpu", "web"]);
  assert.equal(registry.get("a1")?.cwd, "/src/app");
  assert.equal(registry.get("a1")?.since, 1_000);
  setNow(2_000);
  registry.setCurrentCommand("a1", "c1");
  assert.equal(registry.get("a1")?.status, "busy");
  assert.equal(registry.get("a1")?.since, 2_000);
  setNow(3_000);
  // Same status, same activity: how long it has been busy does not restart.
  registry.touch("a1");
  registry.setActivity("a1", { activity: "working" });
  assert.equal(registry.get("a1")?.since, 3_000);
  setNow(4_000);
  registry.setActivity("a1", { activity: "working" });
  assert.equal(registry.get("a1")?.since, 3_000);
  changes.length = 0;
  assert.equal(
    registry.setGit("a1", {
      branch: "main",
      commit: "0123456789ab",
      dirty: true,
    }),
    true,
  );
  assert.deepEqual(changes.map((c) => c.git), [
    { branch: "main", commit: "0123456789ab", dirty: true },
  ]);
  assert.equal(changes[0].since, 3_000, "a git change is no status change");
  assert.equal(
    registry.setGit("a1", {
      branch: "main",
      commit: "0123456789ab",
      dirty: true,
    }),
    false,
  );
  assert.equal(registry.setGit("a1", null), true);
  assert.equal("git" in registry.get("a1")!, false);
  assert.equal(changes.length, 2);
  setNow(5_000);
  registry.disconnect(peer);
  assert.equal(registry.get("a1")?.since, 5_000);
  assert.equal(registry.setGit("a1", { branch: "x", dirty: false }), false);
  assert.deepEqual(registry.get("a1")?.tags, ["gpu", "web"], "kept offline");
});

Deno.test("Registry.setPty() keeps the running command's terminal size until it ends, through activity changes", () => {
  const { registry, changes } = setup();
  const peer = new RecordingPeer("p1");
  registry.connect(hello("a1"), peer);
  assert.equal(registry.setPty("a1", "c1", { cols: 120, rows: 40 }), false);
  registry.setCurrentCommand("a1", "c1");
  changes.length = 0;
  assert.equal(registry.setPty("a1", "c1", { cols: 120, rows: 40 }), true);
  assert.equal(registry.setPty("a1", "c1", { cols: 120, rows: 40 }), false);
  assert.equal(registry.setPty("a1", "other", { cols: 80, rows: 24 }), false);
  assert.deepEqual(changes.map((c) => c.pty), [{ cols: 120, rows: 40 }]);
  registry.setActivity("a1", { activity: "working" });
  assert.deepEqual(registry.get("a1")?.pty, { cols: 120, rows: 40 });
  registry.setCurrentCommand("a1", null);
  assert.equal("pty" in registry.get("a1")!, false);
  registry.setCurrentCommand("a1", "c2");
  registry.setPty("a1", "c2", { cols: 90, rows: 30 });
  registry.disconnect(peer);
  assert.equal("pty" in registry.get("a1")!, false);
});
