import assert from "node:assert/strict";
import type { AgentInfo, CommandInfo } from "../protocol.ts";
import {
  filterChoices,
  filterSearch,
  hasFailed,
  lastResults,
  matchesFilter,
  needsAttention,
  NO_FILTER,
  parseFilter,
  parsePinned,
  resultText,
  stableOrder,
  togglePinned,
} from "./fleet.ts";
import { FleetTails, PUBLISH_MS } from "./fleet_tails.ts";
import FakeTimers from "@sinonjs/fake-timers";

function agent(id: string, extra: Partial<AgentInfo> = {}): AgentInfo {
  return {
    id,
    name: id,
    type: "shell",
    status: "online",
    capabilities: [],
    hostname: "h",
    connectedAt: 0,
    lastSeenAt: 0,
    currentCommandId: null,
    ...extra,
  };
}

function command(
  id: string,
  agentId: string,
  status: CommandInfo["status"],
  completedAt: number | null,
  extra: Partial<CommandInfo> = {},
): CommandInfo {
  return {
    id,
    agentId,
    command: `cmd ${id}`,
    priority: "normal",
    status,
    requestedBy: "u",
    requestedAt: 1,
    startedAt: 1,
    completedAt,
    exitCode: status === "completed" ? 0 : status === "failed" ? 3 : null,
    outputBytes: 0,
    ...extra,
  };
}

Deno.test("parseFilter() and filterSearch() round-trip the filters and keep other parameters", () => {
  const filter = parseFilter("?state=failed&type=claude&tag=gpu&x=1");
  assert.deepEqual(filter, { state: "failed", type: "claude", tag: "gpu" });
  assert.equal(
    filterSearch(filter, "?x=1&state=busy"),
    "?x=1&state=failed&type=claude&tag=gpu",
  );
  assert.equal(filterSearch(NO_FILTER, "?state=busy"), "");
  assert.deepEqual(parseFilter("?state=bogus&tag="), NO_FILTER);
  assert.deepEqual(parseFilter(`?tag=${"x".repeat(65)}`), NO_FILTER);
});

Deno.test("lastResults() takes each agent's latest finished command; sessions and unfinished ones are skipped", () => {
  const results = lastResults([
    command("a", "one", "completed", 10),
    command("b", "one", "failed", 20),
    command("c", "one", "running", null),
    command("d", "two", "interrupted", 5),
    command("s", "two", "failed", 50, { kind: "session" }),
    command("e", "three", "completed", 30),
    command("f", "three", "timeout", 25),
  ]);
  assert.deepEqual(
    [...results].map(([id, r]) => [id, r.commandId, r.tone]),
    [["one", "b", "bad"], ["two", "d", "neutral"], ["three", "e", "ok"]],
  );
  assert.equal(resultText(results.get("one")!), "Failed (exit 3)");
  assert.equal(resultText(results.get("three")!), "Succeeded");
  assert.equal(resultText(results.get("two")!), "Interrupted");
});

Deno.test("matchesFilter() by state, type and tag", () => {
  const asking = agent("q", { activity: "needs-input", type: "claude" });
  const busy = agent("b", { status: "busy", currentCommandId: "c" });
  const off = agent("o", { status: "offline", tags: ["gpu"] });
  const failing = agent("f", { tags: ["gpu", "web"] });
  const last = lastResults([command("x", "f", "failed", 1)]);
  const pick = (filter: Partial<typeof NO_FILTER>) =>
    [asking, busy, off, failing].filter((a) =>
      matchesFilter(a, { ...NO_FILTER, ...filter }, last.get(a.id))
    ).map((a) => a.id);
  assert.deepEqual(pick({}), ["q", "b", "o", "f"]);
  assert.deepEqual(pick({ state: "attention" }), ["q"]);
  assert.deepEqual(pick({ state: "busy" }), ["b"]);
  assert.deepEqual(pick({ state: "failed" }), ["f"]);
  assert.deepEqual(pick({ state: "offline" }), ["o"]);
  assert.deepEqual(pick({ type: "claude" }), ["q"]);
  assert.deepEqual(pick({ tag: "gpu" }), ["o", "f"]);
  assert.deepEqual(pick({ tag: "gpu", state: "failed" }), ["f"]);
  assert.equal(needsAttention({ ...asking, status: "offline" }), false);
  assert.equal(
    hasFailed(
      agent("s", {
        ended: { commandId: "s1", status: "failed", exitCode: 1 },
      }),
      undefined,
    ),
    true,
  );
  assert.deepEqual(filterChoices([asking, busy, off, failing]), {
    types: ["claude", "shell"],
    tags: ["gpu", "web"],
  });
});

Deno.test("stableOrder() sorts by name with pinned agents first, whatever their status", () => {
  const list = [
    agent("c", { status: "busy" }),
    agent("a", { status: "offline" }),
    agent("b"),
  ];
  assert.deepEqual(stableOrder(list).map((a) => a.id), ["a", "b", "c"]);
  const flipped = list.map((a) => ({
    ...a,
    status: a.status === "busy" ? "offline" as const : "busy" as const,
  }));
  assert.deepEqual(stableOrder(flipped).map((a) => a.id), ["a", "b", "c"]);
  assert.deepEqual(stableOrder(list, ["c", "x"]).map((a) => a.id), [
    "c",
    "a",
    "b",
  ]);
  assert.deepEqual(togglePinned(["c"], "a"), ["c", "a"]);
  assert.deepEqual(togglePinned(["c", "a"], "c"), ["a"]);
  assert.deepEqual(parsePinned('["a","a",3,""]'), ["a"]);
  assert.deepEqual(parsePinned("{bad"), []);
  assert.deepEqual(parsePinned('{"a":1}'), []);
});

Deno.test("FleetTails seeds, appends in seq order, drops repeats, restarts on a new command, publishes at most every 250 ms", () => {
  const clock = FakeTimers.install();
  try {
    const tails = new FleetTails();
    tails.seed({
      a: { commandId: "c1", toSeq: 2, lines: [{ text: "old", err: false }] },
    });
    assert.deepEqual(tails.lines.value.get("a"), [{ text: "old", err: false }]);
    const chunk = (
      commandId: string,
      seq: number,
      data: string,
      stream: "stdout" | "stderr" = "stdout",
    ) => tails.output({ agentId: "a", commandId, seq, stream, data });
    chunk("c1", 2, "dup\n");
    chunk("c1", 3, "new\n");
    chunk("c1", 4, "bad\n", "stderr");
    assert.deepEqual(
      tails.lines.value.get("a"),
      [{ text: "old", err: false }],
      "not yet published",
    );
    clock.tick(PUBLISH_MS);
    assert.deepEqual(tails.lines.value.get("a"), [
      { text: "old", err: false },
      { text: "new", err: false },
      { text: "bad", err: true },
    ]);
    chunk("c2", 1, "second\n");
    clock.tick(PUBLISH_MS);
    assert.deepEqual(tails.lines.value.get("a"), [{
      text: "second",
      err: false,
    }]);
    tails.started(command("c3", "a", "running", null));
    clock.tick(PUBLISH_MS);
    assert.deepEqual(tails.lines.value.get("a"), []);
    tails.remove("a");
    clock.tick(PUBLISH_MS);
    assert.equal(tails.lines.value.has("a"), false);
    tails.dispose();
  } finally {
    clock.uninstall();
  }
});
