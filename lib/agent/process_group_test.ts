import assert from "node:assert/strict";
import { ProcessGroup } from "./process_group.ts";

Deno.test("ProcessGroup.escalate() ends a group that ignores SIGINT and SIGTERM with SIGKILL", async () => {
  const child = new Deno.Command("setsid", {
    args: ["bash", "-c", "trap '' INT TERM; sleep 30 & wait"],
    stdout: "null",
    stderr: "null",
  }).spawn();
  const group = new ProcessGroup(child.pid);
  await new Promise((resolve) => setTimeout(resolve, 200));
  assert.equal(group.alive(), true);
  const started = Date.now();
  group.escalate(150);
  const status = await child.status;
  assert.equal(status.signal, "SIGKILL");
  assert.ok(Date.now() - started >= 250, "waited two grace periods");
  group.clearTimers();
});
