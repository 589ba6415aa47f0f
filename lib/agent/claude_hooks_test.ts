import assert from "node:assert/strict";
import { LIMITS } from "../protocol.ts";
import type { ActivityState } from "./activity.ts";
import {
  claudeHookSettings,
  HOOK_EVENTS,
  HOOK_SECRET_ENV,
  hookActivity,
  MAX_HOOK_BODY_BYTES,
  mergeClaudeSettings,
  runsClaude,
  startClaudeHookServer,
  withClaudeHooks,
} from "./claude_hooks.ts";

const OURS = claudeHookSettings("http://127.0.0.1:9/hook");

Deno.test("claudeHookSettings() posts every event to its own path with the secret from the environment", () => {
  assert.deepEqual(Object.keys(OURS.hooks), [...HOOK_EVENTS]);
  assert.deepEqual(OURS.hooks.Notification, [{
    matcher: "*",
    hooks: [{
      type: "http",
      url: "http://127.0.0.1:9/hook/Notification",
      headers: { Authorization: `Bearer $${HOOK_SECRET_ENV}` },
      allowedEnvVars: [HOOK_SECRET_ENV],
      timeout: 5,
    }],
  }]);
});

Deno.test("mergeClaudeSettings() keeps the user's settings and hooks and adds ours after theirs", () => {
  const theirs = {
    matcher: "Bash",
    hooks: [{ type: "command", command: "x" }],
  };
  const merged = mergeClaudeSettings({
    model: "opus",
    hooks: { PreToolUse: [theirs], SessionStart: [theirs] },
  }, OURS);
  assert.equal(merged.model, "opus");
  const hooks = merged.hooks as Record<string, unknown[]>;
  assert.deepEqual(hooks.PreToolUse, [theirs, ...OURS.hooks.PreToolUse]);
  assert.deepEqual(hooks.SessionStart, [theirs]);
  assert.deepEqual(hooks.Stop, OURS.hooks.Stop);
});

Deno.test("mergeClaudeSettings() refuses settings of the wrong shape", () => {
  assert.throws(() => mergeClaudeSettings([], OURS), TypeError);
  assert.throws(() => mergeClaudeSettings({ hooks: [] }, OURS), TypeError);
  assert.throws(
    () => mergeClaudeSettings({ hooks: { Stop: {} } }, OURS),
    /"hooks.Stop" in the settings must be a list/,
  );
});

Deno.test("runsClaude() looks at the program's file name", () => {
  assert.equal(runsClaude(["claude"]), true);
  assert.equal(runsClaude(["/opt/bin/claude", "--model", "x"]), true);
  assert.equal(runsClaude(["claude-wrapper"]), false);
  assert.equal(runsClaude(["bash", "-lc", "claude"]), false);
  assert.equal(runsClaude([]), false);
});

Deno.test("withClaudeHooks() adds --settings right after the program", () => {
  const result = withClaudeHooks(["claude", "--model", "opus"], OURS, "/");
  assert.deepEqual(result, {
    argv: ["claude", "--settings", JSON.stringify(OURS), "--model", "opus"],
  });
});

Deno.test("withClaudeHooks() merges a --settings the user passed (JSON, file, --settings=)", () => {
  const dir = Deno.makeTempDirSync();
  try {
    const user = { env: { A: "1" }, hooks: { Stop: [{ hooks: [] }] } };
    Deno.writeTextFileSync(`${dir}/mine.json`, JSON.stringify(user));
    const expected = JSON.stringify(mergeClaudeSettings(user, OURS));
    for (
      const argv of [
        ["claude", "--settings", JSON.stringify(user), "-c"],
        ["claude", "--settings", "mine.json", "-c"],
        ["claude", `--settings=${dir}/mine.json`, "-c"],
      ]
    ) {
      assert.deepEqual(withClaudeHooks(argv, OURS, dir), {
        argv: ["claude", "--settings", expected, "-c"],
      });
    }
    // After `--` it is a prompt, not an option.
    assert.deepEqual(
      withClaudeHooks(["claude", "--", "--settings"], OURS, dir),
      {
        argv: [
          "claude",
          "--settings",
          JSON.stringify(OURS),
          "--",
          "--settings",
        ],
      },
    );
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("withClaudeHooks() leaves settings it cannot read alone and says why", () => {
  const missing = withClaudeHooks(
    ["claude", "--settings", "nope.json"],
    OURS,
    "/nonexistent",
  );
  assert.ok("error" in missing);
  assert.match(missing.error, /^Cannot read --settings "nope.json": /);
  const bad = withClaudeHooks(["claude", "--settings", "{oops"], OURS, "/");
  assert.ok("error" in bad);
  const noValue = withClaudeHooks(["claude", "--settings"], OURS, "/");
  assert.deepEqual(noValue, { error: "--settings has no value" });
});

Deno.test("hookActivity() maps Claude Code's events to activity", () => {
  const working = { activity: "working", attention: null, options: [] };
  const waiting = { activity: "waiting", attention: null, options: [] };
  assert.deepEqual(hookActivity("UserPromptSubmit", { prompt: "hi" }), working);
  assert.deepEqual(hookActivity("PreToolUse", {}), working);
  assert.deepEqual(hookActivity("PostToolUse", null), working);
  assert.deepEqual(hookActivity("Stop", {}), waiting);
  assert.deepEqual(
    hookActivity("StopFailure", { error: "rate_limit" }),
    waiting,
  );
  assert.deepEqual(
    hookActivity("Notification", {
      notification_type: "permission_prompt",
      message: "Claude needs your permission to use Bash",
    }),
    {
      activity: "needs-input",
      attention: "Claude needs your permission to use Bash",
      options: [],
    },
  );
  assert.deepEqual(
    hookActivity("Notification", { notification_type: "elicitation_dialog" }),
    {
      activity: "needs-input",
      attention: "Claude Code needs your input",
      options: [],
    },
  );
  assert.deepEqual(
    hookActivity("Notification", {
      notification_type: "idle_prompt",
      message: "Claude is waiting for your input",
    }),
    waiting,
  );
  assert.equal(
    hookActivity("Notification", { notification_type: "auth_success" }),
    null,
  );
  assert.equal(hookActivity("Notification", "junk"), null);
  assert.equal(hookActivity("SessionStart", {}), null);
  // Cut to the protocol's limit on a character boundary.
  const long = hookActivity("Notification", {
    notification_type: "permission_prompt",
    message: "é".repeat(1000),
  });
  assert.equal(long?.attention, "é".repeat(LIMITS.maxAttentionBytes / 2));
});

async function withServer(
  fn: (
    post: (path: string, init?: RequestInit) => Promise<Response>,
    seen: ActivityState[],
    secret: string,
  ) => Promise<void>,
) {
  const seen: ActivityState[] = [];
  const server = startClaudeHookServer({ onActivity: (s) => seen.push(s) });
  const secret = server.env[HOOK_SECRET_ENV];
  const base = new URL(server.url).origin;
  try {
    await fn(
      (path, init) => fetch(`${base}${path}`, { method: "POST", ...init }),
      seen,
      secret,
    );
  } finally {
    await server.close();
  }
}

Deno.test("The hook endpoint maps an authorized event and answers 200 with no body", async () => {
  await withServer(async (post, seen, secret) => {
    assert.match(secret, /^[0-9a-f-]{72}$/);
    const response = await post("/hook/Notification", {
      headers: { Authorization: `Bearer ${secret}` },
      body: JSON.stringify({
        hook_event_name: "Notification",
        notification_type: "permission_prompt",
        message: "Claude needs your permission to use Write",
      }),
    });
    assert.equal(response.status, 200);
    assert.equal(await response.text(), "");
    assert.deepEqual(seen, [{
      activity: "needs-input",
      attention: "Claude needs your permission to use Write",
      options: [],
    }]);
  });
});

Deno.test("The hook endpoint refuses a wrong secret, an unknown event and GET, changing nothing", async () => {
  await withServer(async (post, seen, secret) => {
    const body = JSON.stringify({ notification_type: "permission_prompt" });
    const cases: [string, RequestInit, number][] = [
      ["/hook/Notification", { body }, 401],
      [
        "/hook/Notification",
        { body, headers: { Authorization: `Bearer ${secret}x` } },
        401,
      ],
      [
        "/hook/Notification",
        { body, headers: { Authorization: secret } },
        401,
      ],
      [
        "/hook/SessionStart",
        { body, headers: { Authorization: `Bearer ${secret}` } },
        404,
      ],
      ["/other", { body }, 404],
      [
        "/hook/Stop",
        { method: "GET", headers: { Authorization: `Bearer ${secret}` } },
        405,
      ],
    ];
    for (const [path, init, status] of cases) {
      const response = await post(path, init);
      await response.body?.cancel();
      assert.equal(response.status, status, `${path} ${init.method ?? ""}`);
    }
    assert.deepEqual(seen, []);
  });
});

Deno.test("The hook endpoint maps an oversized or broken body without its payload", async () => {
  await withServer(async (post, seen, secret) => {
    const headers = { Authorization: `Bearer ${secret}` };
    const huge = JSON.stringify({
      notification_type: "permission_prompt",
      message: "x".repeat(MAX_HOOK_BODY_BYTES),
    });
    for (const body of [huge, "{not json"]) {
      const response = await post("/hook/Notification", { headers, body });
      assert.equal(response.status, 200);
      await response.body?.cancel();
    }
    const stop = await post("/hook/Stop", { headers, body: "{not json" });
    await stop.body?.cancel();
    // A notification with no payload says nothing; Stop needs none.
    assert.deepEqual(seen, [{
      activity: "waiting",
      attention: null,
      options: [],
    }]);
  });
});
