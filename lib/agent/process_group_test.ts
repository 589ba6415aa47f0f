import assert from "node:assert/strict";
import FakeTimers from "@sinonjs/fake-timers";
import { ProcessGroup } from "./process_group.ts";
import { within } from "./test_timing.ts";

Deno.test("ProcessGroup.escalate() sends SIGTERM after graceMs and SIGKILL after another graceMs", async () => {
  const child = new Deno.Command("setsid", {
    args: [
      "bash",
      "-c",
      "trap 'echo got-int' INT; trap 'echo got-term' TERM; echo ready; " +
      "while :; do sleep 1; done",
    ],
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const group = new ProcessGroup(child.pid);
  const out = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  const until = async (needle: string) => {
    while (!text.includes(needle)) {
      const { value, done } = await out.read();
      if (done) throw new Error(`Output ended before "${needle}"`);
      text += value;
    }
  };
  await until("ready"); // the traps are set
  assert.equal(group.alive(), true);
  const clock = FakeTimers.install({ toFake: ["setTimeout", "clearTimeout"] });
  try {
    const start = clock.now;
    group.escalate(150);
    await within(until("got-int"), 10_000, "SIGINT handled");
    assert.equal(clock.countTimers(), 1, "SIGTERM scheduled");
    await clock.tickAsync(150);
    await within(until("got-term"), 10_000, "SIGTERM handled");
    assert.equal(clock.countTimers(), 1, "SIGKILL scheduled");
    await clock.tickAsync(149);
    assert.equal(clock.countTimers(), 1, "not yet");
    await clock.tickAsync(1);
    const status = await within(child.status, 10_000, "killed");
    assert.equal(status.signal, "SIGKILL");
    assert.equal(clock.now - start, 300, "two grace periods");
  } finally {
    clock.uninstall();
    group.clearTimers();
    group.signal("SIGKILL"); // after a failure: leave nothing running
    await out.cancel().catch(() => {});
  }
});
