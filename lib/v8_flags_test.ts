import assert from "node:assert/strict";
import { V8_AGENT_FLAG_ARGS, V8_FLAG_ARGS } from "./v8_flags.ts";

Deno.test("deno task start and deno task agent run with the V8 flags the spawners use", async () => {
  const config = JSON.parse(
    await Deno.readTextFile(new URL("../deno.json", import.meta.url)),
  );
  assert.equal(
    config.tasks.start,
    `deno run -A ${V8_FLAG_ARGS.join(" ")} main.ts`,
  );
  assert.equal(
    config.tasks.agent,
    `deno run -A ${V8_AGENT_FLAG_ARGS.join(" ")} agent.ts`,
  );
});
