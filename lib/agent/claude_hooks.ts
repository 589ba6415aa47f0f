/**
 * Claude Code hooks as a precise activity signal for `--type claude`
 * sessions. The wrapper listens on a loopback HTTP endpoint with a random
 * secret ({@link startClaudeHookServer}) and starts `claude` with
 * `--settings` holding one `http` hook per event it reads
 * ({@link claudeHookSettings}); Claude Code POSTs each event's JSON there and
 * {@link hookActivity} maps it to activity:
 *
 * | event | activity |
 * | --- | --- |
 * | `UserPromptSubmit`, `PreToolUse`, `PostToolUse` | `working` |
 * | `Notification` `permission_prompt`, `elicitation_dialog`, `worker_permission_prompt` | `needs-input`, its `message` as attention |
 * | `Notification` `idle_prompt` | `waiting` |
 * | `Stop`, `StopFailure` (turn ended by an API error) | `waiting` |
 *
 * The secret reaches Claude Code in its environment (`FLIGHTDECK_HOOK_SECRET`,
 * named in the hook's `allowedEnvVars`), never on its command line, so other
 * users of the machine cannot read it with `ps`. The hooks only observe: the
 * endpoint answers 200 with an empty body (Claude Code's "no decision").
 *
 * A user's own settings keep working: Claude Code adds hooks from every
 * settings source (user, project, local, `--settings`), and a `--settings`
 * the user already passed is merged into ours rather than replaced
 * ({@link withClaudeHooks}). Checked against Claude Code 2.1.197.
 *
 * @module
 */
import { LIMITS } from "../protocol.ts";
import type { ActivityState } from "./activity.ts";
import type { Logger } from "./logger.ts";

/** Environment variable that carries the secret to Claude Code. */
export const HOOK_SECRET_ENV = "FLIGHTDECK_HOOK_SECRET";

/** The Claude Code hook events the wrapper subscribes to. */
export const HOOK_EVENTS = [
  "UserPromptSubmit",
  "PreToolUse",
  "PostToolUse",
  "Notification",
  "Stop",
  "StopFailure",
] as const;

/** One of {@link HOOK_EVENTS}. */
export type HookEvent = typeof HOOK_EVENTS[number];

/** Largest hook body read (a `PreToolUse` carries the tool's input). */
export const MAX_HOOK_BODY_BYTES = 1024 * 1024;

/** Seconds Claude Code waits for the endpoint before going on without it. */
const HOOK_TIMEOUT_S = 5;

/** `text` cut to at most `maxBytes` UTF-8 bytes, on a character boundary. */
function cutUtf8(text: string, maxBytes: number): string {
  const bytes = new TextEncoder().encode(text);
  if (bytes.length <= maxBytes) return text;
  let end = maxBytes;
  while (end > 0 && (bytes[end] & 0xc0) === 0x80) end--;
  return new TextDecoder().decode(bytes.subarray(0, end));
}

/** Notification types that mean Claude Code is blocked on a person. */
const NEEDS_INPUT_TYPES = new Set([
  "permission_prompt",
  "elicitation_dialog",
  "worker_permission_prompt",
]);

/** A settings object as Claude Code reads it (only `hooks` is touched). */
export type ClaudeSettings = Record<string, unknown>;

/**
 * The settings that make Claude Code POST every event of
 * {@link HOOK_EVENTS} to `${baseUrl}/<event>` with the secret from
 * {@link HOOK_SECRET_ENV} as a bearer token.
 *
 * @example
 * ```ts
 * claudeHookSettings("http://127.0.0.1:4321/hook").hooks.Stop;
 * // [{ hooks: [{ type: "http", url: "http://127.0.0.1:4321/hook/Stop", ... }] }]
 * ```
 */
export function claudeHookSettings(
  baseUrl: string,
): { hooks: Record<HookEvent, unknown[]> } {
  const hooks = {} as Record<HookEvent, unknown[]>;
  for (const event of HOOK_EVENTS) {
    hooks[event] = [{
      // Tool events match every tool; the others ignore the matcher.
      matcher: "*",
      hooks: [{
        type: "http",
        url: `${baseUrl}/${event}`,
        headers: { Authorization: `Bearer $${HOOK_SECRET_ENV}` },
        allowedEnvVars: [HOOK_SECRET_ENV],
        timeout: HOOK_TIMEOUT_S,
      }],
    }];
  }
  return { hooks };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * `user` with the hooks of `ours` added: every other key of `user` is kept,
 * and for each event the user's matchers come first, then ours.
 *
 * @throws {TypeError} When `user` is not an object, or its `hooks` (or one
 * event's list) has the wrong shape.
 */
export function mergeClaudeSettings(
  user: unknown,
  ours: { hooks: Record<string, unknown[]> },
): ClaudeSettings {
  if (!isObject(user)) throw new TypeError("Settings must be a JSON object");
  const userHooks = user.hooks ?? {};
  if (!isObject(userHooks)) {
    throw new TypeError('"hooks" in the settings must be an object');
  }
  const hooks: Record<string, unknown> = { ...userHooks };
  for (const [event, matchers] of Object.entries(ours.hooks)) {
    const theirs = userHooks[event] ?? [];
    if (!Array.isArray(theirs)) {
      throw new TypeError(`"hooks.${event}" in the settings must be a list`);
    }
    hooks[event] = [...theirs, ...matchers];
  }
  return { ...user, hooks };
}

/** Whether `argv` runs Claude Code (its program's file name is `claude`). */
export function runsClaude(argv: readonly string[]): boolean {
  const program = argv[0] ?? "";
  return program.split(/[\\/]/).at(-1) === "claude";
}

/**
 * `argv` (a `claude` command line) with `ours` added as `--settings`. When
 * the user already passed `--settings FILE-OR-JSON` (or `--settings=...`),
 * that value is read (a path relative to `cwd`, or JSON when it starts with
 * `{`), our hooks are merged into it ({@link mergeClaudeSettings}) and the
 * merged JSON replaces it, so Claude Code still sees every setting of the
 * user's. Returns `{ error }` and leaves the user's settings alone when they
 * cannot be read or parsed.
 *
 * @example
 * ```ts
 * withClaudeHooks(["claude", "--model", "opus"], ours, "/src");
 * // { argv: ["claude", "--settings", "{\"hooks\":…}", "--model", "opus"] }
 * ```
 */
export function withClaudeHooks(
  argv: readonly string[],
  ours: { hooks: Record<string, unknown[]> },
  cwd: string,
): { argv: string[] } | { error: string } {
  // Options end at `--`; a `--settings` after it is a prompt.
  const end = argv.indexOf("--") < 0 ? argv.length : argv.indexOf("--");
  let at = -1;
  let value: string | undefined;
  let width = 0;
  for (let i = 1; i < end; i++) {
    if (argv[i] === "--settings") {
      at = i;
      value = argv[i + 1];
      width = 2;
    } else if (argv[i].startsWith("--settings=")) {
      at = i;
      value = argv[i].slice("--settings=".length);
      width = 1;
    }
  }
  if (at < 0) {
    return {
      argv: [argv[0], "--settings", JSON.stringify(ours), ...argv.slice(1)],
    };
  }
  if (value === undefined) return { error: "--settings has no value" };
  let user: unknown;
  try {
    const text = value.trimStart().startsWith("{")
      ? value
      : Deno.readTextFileSync(
        value.startsWith("/") ? value : `${cwd}/${value}`,
      );
    user = JSON.parse(text);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    return { error: `Cannot read --settings "${value}": ${reason}` };
  }
  let merged: ClaudeSettings;
  try {
    merged = mergeClaudeSettings(user, ours);
  } catch (error) {
    return { error: `Cannot merge --settings "${value}": ${error}` };
  }
  return {
    argv: [
      ...argv.slice(0, at),
      "--settings",
      JSON.stringify(merged),
      ...argv.slice(at + width),
    ],
  };
}

/**
 * The activity a hook event means, or null when it says nothing about it
 * (`auth_success`, an unknown notification type, an unknown event).
 */
export function hookActivity(
  event: string,
  payload: unknown,
): ActivityState | null {
  const body = isObject(payload) ? payload : {};
  switch (event) {
    case "UserPromptSubmit":
    case "PreToolUse":
    case "PostToolUse":
      return { activity: "working", attention: null, options: [] };
    case "Stop":
    case "StopFailure":
      return { activity: "waiting", attention: null, options: [] };
    case "Notification": {
      const type = typeof body.notification_type === "string"
        ? body.notification_type
        : "";
      const message = typeof body.message === "string"
        ? cutUtf8(body.message.trim(), LIMITS.maxAttentionBytes)
        : "";
      if (NEEDS_INPUT_TYPES.has(type)) {
        return {
          activity: "needs-input",
          attention: message || "Claude Code needs your input",
          options: [],
        };
      }
      if (type === "idle_prompt") {
        return { activity: "waiting", attention: null, options: [] };
      }
      if (type === "elicitation_complete" || type === "elicitation_response") {
        return { activity: "working", attention: null, options: [] };
      }
      return null;
    }
    default:
      return null;
  }
}

/** A running hook endpoint. */
export interface ClaudeHookServer {
  /** Base URL of the hooks, `http://127.0.0.1:PORT/hook`. */
  readonly url: string;
  /** Environment Claude Code needs: the secret in {@link HOOK_SECRET_ENV}. */
  readonly env: Record<string, string>;
  /** The `--settings` object naming this endpoint. */
  readonly settings: { hooks: Record<HookEvent, unknown[]> };
  /** Stop listening; resolves once closed. */
  close(): Promise<void>;
}

/** Options of {@link startClaudeHookServer}. */
export interface ClaudeHookServerOptions {
  /** Called with each event's activity (events that mean none are skipped). */
  onActivity: (state: ActivityState, event: HookEvent) => void;
  logger?: Logger;
}

/** Equal strings in time that does not depend on where they differ. */
function sameSecret(a: string, b: string): boolean {
  const x = new TextEncoder().encode(a);
  const y = new TextEncoder().encode(b);
  let diff = x.length ^ y.length;
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    diff |= (x[i] ?? 0) ^ (y[i] ?? 0);
  }
  return diff === 0;
}

/** The body as JSON, or null when it is larger than the limit or not JSON. */
async function readJson(request: Request): Promise<unknown> {
  const reader = request.body?.getReader();
  if (!reader) return null;
  const parts: Uint8Array[] = [];
  let size = 0;
  while (true) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.length;
    if (size > MAX_HOOK_BODY_BYTES) {
      await reader.cancel();
      return null;
    }
    parts.push(value);
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const part of parts) {
    bytes.set(part, offset);
    offset += part.length;
  }
  try {
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return null;
  }
}

/**
 * Listen on `127.0.0.1` (a free port) for Claude Code's hook requests:
 * `POST /hook/<event>` with `Authorization: Bearer <secret>`. A request
 * without the secret gets 401, an unknown path 404, another method 405;
 * each of these changes nothing. An authorized event gets 200 with an empty
 * body, also when its body is too large or not JSON (then it is mapped
 * without its payload).
 */
export function startClaudeHookServer(
  options: ClaudeHookServerOptions,
): ClaudeHookServer {
  const secret = crypto.randomUUID() + crypto.randomUUID();
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen() {},
  }, async (request) => {
    const path = new URL(request.url).pathname;
    const name = /^\/hook\/([A-Za-z]+)$/.exec(path)?.[1];
    const event = HOOK_EVENTS.find((known) => known === name);
    if (!event) {
      return new Response("Unknown hook\n", { status: 404 });
    }
    if (request.method !== "POST") {
      return new Response("Use POST\n", { status: 405 });
    }
    const auth = request.headers.get("authorization") ?? "";
    if (!sameSecret(auth, `Bearer ${secret}`)) {
      await request.body?.cancel();
      return new Response("Unauthorized\n", { status: 401 });
    }
    const state = hookActivity(event, await readJson(request));
    if (state) {
      try {
        options.onActivity(state, event);
      } catch (error) {
        options.logger?.warn(`hook ${event} handler failed: ${error}`);
      }
    }
    return new Response(null, { status: 200 });
  });
  const { port } = server.addr;
  const url = `http://127.0.0.1:${port}/hook`;
  return {
    url,
    env: { [HOOK_SECRET_ENV]: secret },
    settings: claudeHookSettings(url),
    async close() {
      await server.shutdown();
    },
  };
}
