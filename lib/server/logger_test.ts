import assert from "node:assert/strict";
import { createLogger, formatEntry } from "./logger.ts";

Deno.test("createLogger() writes one JSON object per entry with time, level, msg and fields", () => {
  const lines: string[] = [];
  const log = createLogger("info", (line) => lines.push(line));
  log.debug("hidden");
  log.info("Agent connected", { agentId: "a-1", name: "build" });
  log.error("Plain");
  assert.equal(lines.length, 2);
  const first = JSON.parse(lines[0]);
  assert.match(first.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  assert.deepEqual({ ...first, time: "t" }, {
    time: "t",
    level: "info",
    msg: "Agent connected",
    fields: { agentId: "a-1", name: "build" },
  });
  assert.deepEqual(Object.keys(JSON.parse(lines[1])), ["time", "level", "msg"]);
});

Deno.test("formatEntry() keeps forged line breaks inside one line", () => {
  const forged =
    'hi\n2026-01-01T00:00:00.000Z ERROR Emergency stop by="admin"\r\u2028\u2029x';
  const line = formatEntry("info", `Dashboard: ${forged}`, {
    context: { nested: forged },
    [forged]: 1,
  }, new Date(0));
  assert.doesNotMatch(line, /[\n\r\u2028\u2029]/);
  const entry = JSON.parse(line);
  assert.equal(entry.msg, `Dashboard: ${forged}`);
  assert.equal(entry.fields.context.nested, forged);
  assert.equal(entry.fields[forged], 1);
});

Deno.test("formatEntry() writes bigints and cycles as text instead of throwing", () => {
  const cycle: Record<string, unknown> = {};
  cycle.self = cycle;
  const entry = JSON.parse(
    formatEntry("warn", "m", { n: 10n, cycle }, new Date(0)),
  );
  assert.deepEqual(entry, {
    time: "1970-01-01T00:00:00.000Z",
    level: "warn",
    msg: "m",
    fields: { n: "10", cycle: "[object Object]" },
  });
});
