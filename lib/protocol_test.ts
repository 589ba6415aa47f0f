/**
 * Contract tests for lib/protocol.ts: the version 1 wire contract the project
 * started from (its tables are written out below) and docs/protocol.md.
 * lib/protocol_docs_test.ts checks the document itself against the schemas.
 *
 * Every message type of every payload map has one valid example below; the
 * tables must cover every key of their map, so a new type without an example
 * fails here.
 */
import assert from "node:assert/strict";
import type { z } from "zod";
import {
  type AgentInfo,
  AgentPayloads,
  byteLength,
  CLOSE_CODES,
  type CommandInfo,
  DashboardPayloads,
  envelope,
  ERROR_CODES,
  type ErrorCode,
  errorMessage,
  errorPayload,
  fromAgent,
  fromDashboard,
  LIMITS,
  parseAgentMessage,
  parseDashboardMessage,
  type ParseResult,
  parseServerMessage,
  parseServerToAgentMessage,
  type PayloadOf,
  PROTOCOL_VERSION,
  ServerToAgentPayloads,
  ServerToDashboardPayloads,
  shouldReconnect,
  toAgent,
  toDashboard,
} from "./protocol.ts";

// ---------------------------------------------------------------------------
// Example tables: one valid payload per message type.

type Json = Record<string, unknown>;

interface Example<P> {
  /** A valid payload, with optional fields filled in where there are any. */
  payload: P;
  /** Fields docs/protocol.md marks as required (no `?`, no default). */
  required: readonly (keyof P & string)[];
  /** Fields the parser fills in when absent. */
  defaults?: Partial<P>;
}

type Examples<M extends Record<string, z.ZodType>> = {
  [K in keyof M & string]: Example<PayloadOf<M, K>>;
};

const T0 = 1732600000000;

const AGENT_INFO: AgentInfo = {
  id: "agent-1",
  name: "Build box",
  type: "shell",
  status: "busy",
  capabilities: ["pty", "git"],
  hostname: "build-01",
  connectedAt: T0,
  lastSeenAt: T0 + 1500,
  currentCommandId: "cmd-1",
};

const COMMAND_INFO: CommandInfo = {
  id: "cmd-1",
  agentId: "agent-1",
  command: "make test",
  priority: "normal",
  status: "running",
  requestedBy: "user-1",
  requestedAt: T0,
  startedAt: T0 + 20,
  completedAt: null,
  exitCode: null,
  outputBytes: 2048,
};

const DASHBOARD_EXAMPLES: Examples<typeof DashboardPayloads> = {
  "dashboard:connect": {
    payload: {
      token: "eyJhbGciOiJIUzI1NiJ9.e30.sig",
      clientInfo: { userAgent: "Mozilla/5.0", timezone: "Europe/Berlin" },
      resume: { "cmd-1": 12 },
    },
    required: [],
  },
  "command:request": {
    payload: { agentId: "agent-1", command: "ls -la", timeoutMs: 60_000 },
    required: ["agentId", "command"],
    defaults: { priority: "normal" },
  },
  "command:interrupt": {
    payload: { commandId: "cmd-1", reason: "stuck" },
    required: ["commandId"],
  },
  "emergency:stop": { payload: { reason: "runaway job" }, required: [] },
  "agent:forget": { payload: { agentId: "agent-1" }, required: ["agentId"] },
  "terminal:resume": {
    payload: { commandId: "cmd-1", afterSeq: 0, snapshot: true },
    required: ["commandId", "afterSeq"],
  },
  // Addition (docs/protocol.md): a page of older output.
  "terminal:earlier": {
    payload: { commandId: "cmd-1", beforeSeq: 120 },
    required: ["commandId", "beforeSeq"],
  },
  "heartbeat": { payload: { sequence: 7 }, required: ["sequence"] },
  // Addition (docs/protocol.md): without a token, renew the sign-in in place.
  "auth:refresh": {
    payload: { token: "eyJhbGciOiJIUzI1NiJ9.e30.sig2" },
    required: [],
  },
  "log:forward": {
    payload: {
      level: "warn",
      message: "socket reconnecting",
      context: { attempt: 3 },
    },
    required: ["level", "message"],
  },
  // Additions (docs/protocol.md): live terminals.
  "terminal:input": {
    payload: { agentId: "agent-1", data: "y\r\x1b[200~pasted €\x1b[201~" },
    required: ["agentId", "data"],
  },
  "terminal:resize": {
    payload: { agentId: "agent-1", cols: 120, rows: 40 },
    required: ["agentId", "cols", "rows"],
  },
  "session:control": {
    payload: { agentId: "agent-1", take: true },
    required: ["agentId", "take"],
  },
  // Addition: start an agent's ended session again.
  "session:restart": {
    payload: { agentId: "agent-1" },
    required: ["agentId"],
  },
};

const SERVER_TO_DASHBOARD_EXAMPLES: Examples<
  typeof ServerToDashboardPayloads
> = {
  "connection:ack": {
    payload: {
      connectionId: "conn-1",
      serverVersion: "1.0.0",
      heartbeatIntervalMs: 1500,
      user: { id: "user-1", role: "operator" },
      expiresAt: T0 + 900_000,
    },
    required: ["connectionId", "serverVersion", "heartbeatIntervalMs", "user"],
  },
  "agent:list": { payload: { agents: [AGENT_INFO] }, required: ["agents"] },
  "agent:status": { payload: { agent: AGENT_INFO }, required: ["agent"] },
  "agent:removed": { payload: { agentId: "agent-1" }, required: ["agentId"] },
  "command:status": {
    payload: { command: COMMAND_INFO, replyTo: "c-7f3a" },
    required: ["command"],
  },
  "command:queue": {
    payload: {
      agentId: "agent-1",
      queue: [{ commandId: "cmd-2", priority: "high", position: 0 }],
    },
    required: ["agentId", "queue"],
  },
  "terminal:output": {
    payload: {
      agentId: "agent-1",
      commandId: "cmd-1",
      seq: 1,
      stream: "pty",
      data: "\x1b[32mok\x1b[0m €\r\n",
    },
    required: ["agentId", "commandId", "seq", "stream", "data"],
  },
  "terminal:gap": {
    payload: { agentId: "agent-1", commandId: "cmd-1", fromSeq: 1, toSeq: 40 },
    required: ["agentId", "commandId", "fromSeq", "toSeq"],
  },
  // Additions (docs/protocol.md): the screen for late joiners, older pages.
  "terminal:snapshot": {
    payload: {
      agentId: "agent-1",
      commandId: "cmd-1",
      seq: 119,
      cols: 80,
      rows: 24,
      data: "\x1b[1m> \x1b[0mhello\r\n\x1b[1A\x1b[7C",
    },
    required: ["agentId", "commandId", "seq", "cols", "rows", "data"],
  },
  "terminal:earlier": {
    payload: {
      agentId: "agent-1",
      commandId: "cmd-1",
      fromSeq: 100,
      toSeq: 119,
      data: "older output\r\n",
      more: true,
    },
    required: ["agentId", "commandId", "fromSeq", "toSeq", "data", "more"],
  },
  "heartbeat": { payload: { sequence: 7 }, required: ["sequence"] },
  "auth:refreshed": {
    payload: { expiresAt: T0 + 3_600_000 },
    required: ["expiresAt"],
  },
  // Addition (docs/protocol.md): who controls an agent's terminal.
  "session:controller": {
    payload: {
      agentId: "agent-1",
      holder: { userId: "user-1", connectionId: "conn-1" },
    },
    required: ["agentId", "holder"],
  },
  "error": {
    payload: {
      code: "NOT_FOUND",
      message: "Unknown command cmd-9",
      recoverable: true,
      replyTo: "c-7f3a",
    },
    required: ["code", "message", "recoverable"],
  },
};

const AGENT_EXAMPLES: Examples<typeof AgentPayloads> = {
  "agent:connect": {
    payload: {
      token: "eyJhbGciOiJIUzI1NiJ9.e30.agent",
      agentId: "agent-1",
      name: "Build box",
      type: "shell",
      capabilities: ["pty"],
      hostname: "build-01",
      version: "1.0.0",
      running: [{ commandId: "cmd-1", lastSeq: 12 }],
      tags: ["gpu", "team:web"],
      cwd: "/src/app",
      git: { branch: "main", commit: "0123456789ab", dirty: true },
    },
    required: [
      "agentId",
      "name",
      "type",
      "capabilities",
      "hostname",
      "version",
    ],
  },
  "command:started": {
    payload: { commandId: "cmd-1", startedAt: T0 + 20 },
    required: ["commandId", "startedAt"],
  },
  "terminal:output": {
    payload: { commandId: "cmd-1", seq: 1, stream: "stdout", data: "ok\n" },
    required: ["commandId", "seq", "stream", "data"],
  },
  "command:completed": {
    payload: {
      commandId: "cmd-1",
      exitCode: 0,
      status: "completed",
      completedAt: T0 + 900,
      lastSeq: 12,
    },
    required: ["commandId", "exitCode", "status", "completedAt", "lastSeq"],
  },
  "heartbeat": { payload: { sequence: 7 }, required: ["sequence"] },
  // Addition (docs/protocol.md): ask for a fresh token of this sign-in.
  "auth:refresh": { payload: {}, required: [] },
  // Addition (docs/protocol.md): what the agent's program is doing.
  "agent:activity": {
    payload: {
      activity: "needs-input",
      attention: "Do you want to create hello.txt?",
      options: [{ key: "1", label: "Yes" }, { key: "2", label: "No" }],
    },
    required: ["activity"],
  },
  // Addition (docs/protocol.md): the git state of the agent's cwd changed.
  "agent:git": {
    payload: { git: { branch: "feature/x", dirty: false } },
    required: ["git"],
  },
  // Addition (docs/protocol.md): a session agent asks for its session.
  "session:start": {
    payload: { program: "claude", cols: 120, rows: 40 },
    required: ["program", "cols", "rows"],
  },
  // Addition (docs/protocol.md): the screen of the running command.
  "terminal:snapshot": {
    payload: {
      commandId: "cmd-1",
      seq: 119,
      cols: 80,
      rows: 24,
      data: "\x1b[1m> \x1b[0mhello",
    },
    required: ["commandId", "seq", "cols", "rows", "data"],
  },
};

const SERVER_TO_AGENT_EXAMPLES: Examples<typeof ServerToAgentPayloads> = {
  "connection:ack": {
    payload: {
      connectionId: "conn-2",
      serverVersion: "1.0.0",
      heartbeatIntervalMs: 1500,
      user: { id: "agent-1", role: "agent" },
      agentId: "agent-1",
      expiresAt: T0 + 86_400_000,
      replaced: true,
    },
    // docs/protocol.md: the agent's ack carries `agentId`.
    required: [
      "connectionId",
      "serverVersion",
      "heartbeatIntervalMs",
      "user",
      "agentId",
    ],
  },
  "command:execute": {
    payload: {
      command: { ...COMMAND_INFO, status: "queued", startedAt: null },
    },
    required: ["command"],
  },
  "terminal:ack": {
    payload: { commandId: "cmd-1", seq: 12, completed: true },
    required: ["commandId", "seq"],
  },
  "command:interrupt": {
    payload: { commandId: "cmd-1", reason: "operator", graceMs: 5000 },
    required: ["commandId"],
  },
  "heartbeat": { payload: { sequence: 7 }, required: ["sequence"] },
  // Addition (docs/protocol.md): the agent keeps the token for reconnects.
  "auth:refreshed": {
    payload: {
      expiresAt: T0 + 86_400_000,
      token: "eyJhbGciOiJIUzI1NiJ9.e30.fresh",
    },
    required: ["expiresAt", "token"],
  },
  // Additions (docs/protocol.md): the controller's keystrokes and size.
  "terminal:input": {
    payload: { commandId: "cmd-1", data: "\x03" },
    required: ["commandId", "data"],
  },
  "terminal:resize": {
    payload: { commandId: "cmd-1", cols: 80, rows: 24 },
    required: ["commandId", "cols", "rows"],
  },
  // Addition: the session record the agent runs its program under.
  "session:started": {
    payload: {
      command: {
        id: "cmd-9",
        agentId: "agent-1",
        command: "claude",
        priority: "normal",
        status: "running",
        requestedBy: "agent:agent-1",
        requestedAt: T0,
        startedAt: T0,
        completedAt: null,
        exitCode: null,
        outputBytes: 0,
        kind: "session",
      },
    },
    required: ["command"],
  },
  // Addition: a dashboard user asks for the ended session to start again.
  "session:restart": {
    payload: { requestedBy: "alice" },
    required: ["requestedBy"],
  },
  "error": {
    payload: {
      code: "AGENT_OFFLINE",
      message: "agent-2 is not connected",
      recoverable: true,
    },
    required: ["code", "message", "recoverable"],
  },
};

interface Direction {
  name: string;
  map: Record<string, unknown>;
  parse: (raw: unknown) => ParseResult<unknown>;
  examples: Record<string, Example<Json>>;
  /** Message types docs/protocol.md defines, written out. */
  types: string[];
}

const DIRECTIONS: Direction[] = [
  {
    name: "dashboard → server",
    map: DashboardPayloads,
    parse: parseDashboardMessage,
    examples: DASHBOARD_EXAMPLES as unknown as Record<string, Example<Json>>,
    types: [
      "dashboard:connect",
      "command:request",
      "command:interrupt",
      "emergency:stop",
      "agent:forget",
      "terminal:resume",
      "terminal:earlier",
      "heartbeat",
      "auth:refresh",
      "log:forward",
      "terminal:input",
      "terminal:resize",
      "session:control",
      "session:restart",
    ],
  },
  {
    name: "server → dashboard",
    map: ServerToDashboardPayloads,
    parse: parseServerMessage,
    examples: SERVER_TO_DASHBOARD_EXAMPLES as unknown as Record<
      string,
      Example<Json>
    >,
    types: [
      "connection:ack",
      "agent:list",
      "agent:status",
      "agent:removed",
      "command:status",
      "command:queue",
      "terminal:output",
      "terminal:snapshot",
      "terminal:earlier",
      "terminal:gap",
      "heartbeat",
      "auth:refreshed",
      "session:controller",
      "error",
    ],
  },
  {
    name: "agent → server",
    map: AgentPayloads,
    parse: parseAgentMessage,
    examples: AGENT_EXAMPLES as unknown as Record<string, Example<Json>>,
    types: [
      "agent:connect",
      "command:started",
      "terminal:output",
      "command:completed",
      "heartbeat",
      "auth:refresh",
      "agent:activity",
      "agent:git",
      "session:start",
      "terminal:snapshot",
    ],
  },
  {
    name: "server → agent",
    map: ServerToAgentPayloads,
    parse: parseServerToAgentMessage,
    examples: SERVER_TO_AGENT_EXAMPLES as unknown as Record<
      string,
      Example<Json>
    >,
    types: [
      "connection:ack",
      "command:execute",
      "terminal:ack",
      "command:interrupt",
      "heartbeat",
      "auth:refreshed",
      "terminal:input",
      "terminal:resize",
      "session:started",
      "session:restart",
      "error",
    ],
  },
];

// ---------------------------------------------------------------------------
// Helpers.

function frame(type: string, payload: unknown, extra: Json = {}): Json {
  return {
    version: PROTOCOL_VERSION,
    type,
    id: "m-1",
    timestamp: T0,
    payload,
    ...extra,
  };
}

function clone<T>(value: T): T {
  return structuredClone(value);
}

/** Parse `raw` (stringified unless already a string) and expect success. */
function expectOk(
  parse: Direction["parse"],
  raw: unknown,
  expected: Json,
  label: string,
): void {
  const result = parse(typeof raw === "string" ? raw : JSON.stringify(raw));
  assert.ok(result.ok, `${label}: ${JSON.stringify(result)}`);
  assert.deepEqual(result.message, expected, label);
}

/** Parse and expect a failure with exactly `code`, `field` and `replyTo`. */
function expectFailure(
  result: ParseResult<unknown>,
  code: string,
  field: string | undefined,
  replyTo: string | undefined,
  label: string,
): void {
  assert.equal(result.ok, false, `${label}: expected a failure`);
  if (result.ok) return;
  assert.equal(result.code, code, `${label}: ${result.message}`);
  assert.equal(result.field, field, `${label}: ${result.message}`);
  assert.equal(result.replyTo, replyTo, `${label}: replyTo`);
  assert.equal(typeof result.message, "string", label);
  if (field !== undefined) {
    assert.ok(
      result.message.includes(field),
      `${label}: message ${JSON.stringify(result.message)} names ${field}`,
    );
  }
}

function kind(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  return typeof value;
}

/** Values of a different JSON kind than `value` (never null: some fields are nullable). */
function wrongValues(value: unknown): unknown[] {
  return [{ nested: 1 }, 42, "text", true, [1]].filter((wrong) =>
    kind(wrong) !== kind(value)
  );
}

function only(payload: Json, keys: readonly string[]): Json {
  return Object.fromEntries(
    Object.entries(payload).filter(([key]) => keys.includes(key)),
  );
}

// ---------------------------------------------------------------------------
// Coverage and round trips.

for (const direction of DIRECTIONS) {
  Deno.test(`${direction.name}: example table covers every message type`, () => {
    const keys = Object.keys(direction.map).sort();
    assert.deepEqual(Object.keys(direction.examples).sort(), keys);
    assert.deepEqual([...direction.types].sort(), keys);
  });

  for (const [type, example] of Object.entries(direction.examples)) {
    const label = `${direction.name} ${type}`;
    const expectedPayload = { ...example.payload, ...example.defaults };

    Deno.test(`${label}: round-trips through JSON`, () => {
      const input = frame(type, clone(example.payload));
      expectOk(
        direction.parse,
        input,
        { ...input, payload: expectedPayload },
        label,
      );

      // Without an envelope id, and with any 1.x.y version.
      const { id: _id, ...noId } = frame(type, clone(example.payload), {
        version: "1.7.3",
      });
      expectOk(
        direction.parse,
        noId,
        { ...noId, payload: expectedPayload },
        `${label} (no id, 1.7.3)`,
      );

      // Already parsed values are accepted too.
      const parsed = direction.parse(input);
      assert.ok(parsed.ok, label);
    });

    Deno.test(`${label}: only the required fields are required`, () => {
      const minimal = only(example.payload, example.required);
      const input = frame(type, minimal);
      expectOk(
        direction.parse,
        input,
        { ...input, payload: { ...minimal, ...example.defaults } },
        `${label} (required fields only)`,
      );
    });

    for (const name of example.required) {
      Deno.test(`${label}: missing payload.${name} is INVALID_MESSAGE`, () => {
        const payload = clone(example.payload);
        delete payload[name];
        const result = direction.parse(JSON.stringify(frame(type, payload)));
        expectFailure(
          result,
          "INVALID_MESSAGE",
          `payload.${name}`,
          "m-1",
          label,
        );
      });
    }

    for (const [name, value] of Object.entries(example.payload)) {
      Deno.test(`${label}: wrong type for payload.${name} is INVALID_MESSAGE`, () => {
        for (const wrong of wrongValues(value)) {
          const payload = { ...clone(example.payload), [name]: wrong };
          const result = direction.parse(JSON.stringify(frame(type, payload)));
          expectFailure(
            result,
            "INVALID_MESSAGE",
            `payload.${name}`,
            "m-1",
            `${label} ${name}=${JSON.stringify(wrong)}`,
          );
        }
      });
    }

    Deno.test(`${label}: a payload that is not an object is INVALID_MESSAGE`, () => {
      for (const payload of [null, "text", 42, [example.payload]]) {
        const result = direction.parse(JSON.stringify(frame(type, payload)));
        expectFailure(
          result,
          "INVALID_MESSAGE",
          "payload",
          "m-1",
          `${label} payload=${JSON.stringify(payload)}`,
        );
      }
      const { payload: _payload, ...noPayload } = frame(type, {});
      expectFailure(
        direction.parse(JSON.stringify(noPayload)),
        "INVALID_MESSAGE",
        "payload",
        "m-1",
        `${label} without payload`,
      );
    });
  }
}

/** Message types of an example table (Object.keys only knows `string`). */
function typesOf<T extends object>(table: T): (keyof T & string)[] {
  return Object.keys(table) as (keyof T & string)[];
}

/**
 * `parse` accepts the JSON of `sent` and returns it unchanged, with the
 * parser's defaults filled in.
 */
function assertRoundTrip(
  sent: { type: string; payload: object },
  parse: (raw: unknown) => ParseResult<unknown>,
  defaults: object | undefined,
): void {
  assert.deepEqual(parse(JSON.stringify(sent)), {
    ok: true,
    message: { ...sent, payload: { ...defaults, ...sent.payload } },
  }, sent.type);
}

Deno.test("toDashboard() builds every server → dashboard message so parseServerMessage() accepts it", () => {
  const table = SERVER_TO_DASHBOARD_EXAMPLES;
  for (const type of typesOf(table)) {
    const sent = toDashboard(type, table[type].payload, "m-1");
    assert.equal(sent.version, PROTOCOL_VERSION);
    assert.equal(sent.id, "m-1");
    assertRoundTrip(sent, parseServerMessage, table[type].defaults);
  }
});

Deno.test("toAgent() builds every server → agent message so parseServerToAgentMessage() accepts it", () => {
  const table = SERVER_TO_AGENT_EXAMPLES;
  for (const type of typesOf(table)) {
    const sent = toAgent(type, table[type].payload, "m-1");
    assertRoundTrip(sent, parseServerToAgentMessage, table[type].defaults);
  }
});

Deno.test("fromDashboard() builds every dashboard → server message so parseDashboardMessage() accepts it", () => {
  const table = DASHBOARD_EXAMPLES;
  for (const type of typesOf(table)) {
    const sent = fromDashboard(type, table[type].payload, "m-1");
    assertRoundTrip(sent, parseDashboardMessage, table[type].defaults);
  }
});

Deno.test("fromAgent() builds every agent → server message so parseAgentMessage() accepts it", () => {
  const table = AGENT_EXAMPLES;
  for (const type of typesOf(table)) {
    const sent = fromAgent(type, table[type].payload, "m-1");
    assertRoundTrip(sent, parseAgentMessage, table[type].defaults);
  }
});

Deno.test("The builders leave out id when none is given and stamp the time", () => {
  const before = Date.now();
  const sent = fromDashboard("heartbeat", { sequence: 1 });
  assert.deepEqual(Object.keys(sent).sort(), [
    "payload",
    "timestamp",
    "type",
    "version",
  ]);
  assert.ok(sent.timestamp >= before && sent.timestamp <= Date.now());
});

Deno.test("errorMessage() is an error envelope both directions accept", () => {
  const sent = errorMessage("NOT_FOUND", 'Unknown agent "a-12"', "r-1");
  assert.deepEqual(sent.payload, {
    code: "NOT_FOUND",
    message: 'Unknown agent "a-12"',
    recoverable: true,
    replyTo: "r-1",
  });
  assertRoundTrip(sent, parseServerMessage, undefined);
  assertRoundTrip(sent, parseServerToAgentMessage, undefined);
});

Deno.test("AgentInfo and CommandInfo: every field is required", () => {
  const cases = [
    {
      parse: parseServerMessage,
      type: "agent:status",
      key: "agent",
      value: AGENT_INFO as Json,
    },
    {
      parse: parseServerMessage,
      type: "command:status",
      key: "command",
      value: COMMAND_INFO as Json,
    },
    {
      parse: parseServerToAgentMessage,
      type: "command:execute",
      key: "command",
      value: COMMAND_INFO as Json,
    },
  ];
  for (const { parse, type, key, value } of cases) {
    for (const name of Object.keys(value)) {
      const inner = clone(value);
      delete inner[name];
      expectFailure(
        parse(JSON.stringify(frame(type, { [key]: inner }))),
        "INVALID_MESSAGE",
        `payload.${key}.${name}`,
        "m-1",
        `${type} without ${key}.${name}`,
      );
    }
  }
});

Deno.test("command:request: priority defaults to normal, keeps an explicit one", () => {
  for (const priority of ["high", "normal", "low"]) {
    const input = frame("command:request", {
      agentId: "agent-1",
      command: "ls",
      priority,
    });
    expectOk(parseDashboardMessage, input, input, priority);
  }
  expectFailure(
    parseDashboardMessage(
      JSON.stringify(
        frame("command:request", {
          agentId: "agent-1",
          command: "ls",
          priority: "urgent",
        }),
      ),
    ),
    "INVALID_MESSAGE",
    "payload.priority",
    "m-1",
    "priority urgent",
  );
});

// ---------------------------------------------------------------------------
// Limits.

function commandRequest(command: string): string {
  return JSON.stringify(
    frame("command:request", { agentId: "agent-1", command }),
  );
}

Deno.test("agent:forget and agent:removed: agentId is 1 to 128 chars", () => {
  for (
    const [parse, type] of [
      [parseDashboardMessage, "agent:forget"],
      [parseServerMessage, "agent:removed"],
    ] as const
  ) {
    const ok = parse(envelope(type, { agentId: "a".repeat(128) }));
    assert.equal(ok.ok, true, type);
    const long = parse(envelope(type, { agentId: "a".repeat(129) }));
    assert.equal(long.ok, false);
    if (!long.ok) {
      assert.equal(long.code, "PAYLOAD_TOO_LARGE", type);
      assert.equal(long.field, "payload.agentId");
    }
    const empty = parse(envelope(type, { agentId: "" }));
    assert.equal(empty.ok, false);
    if (!empty.ok) {
      assert.equal(empty.code, "INVALID_MESSAGE", type);
      assert.equal(empty.field, "payload.agentId");
    }
  }
});

Deno.test("command over 16 KiB (UTF-8 bytes) is PAYLOAD_TOO_LARGE", () => {
  assert.equal(LIMITS.maxCommandBytes, 16 * 1024);
  const cases: [string, number, boolean][] = [
    ["a".repeat(16384), 16384, true],
    ["a".repeat(16385), 16385, false],
    ["€".repeat(5461), 16383, true],
    // 5462 chars, far under 16384 chars, but 16386 bytes.
    ["€".repeat(5462), 16386, false],
    ["a" + "€".repeat(5461), 16384, true],
    ["ab" + "€".repeat(5461), 16385, false],
    ["😀".repeat(4096), 16384, true],
    ["😀".repeat(4097), 16388, false],
  ];
  for (const [command, bytes, accepted] of cases) {
    const label = `${command.length} chars, ${bytes} bytes`;
    assert.equal(byteLength(command), bytes, label);
    assert.equal(new TextEncoder().encode(command).length, bytes, label);
    const result = parseDashboardMessage(commandRequest(command));
    if (accepted) {
      assert.ok(result.ok, `${label}: ${JSON.stringify(result).slice(0, 200)}`);
    } else {
      expectFailure(
        result,
        "PAYLOAD_TOO_LARGE",
        "payload.command",
        "m-1",
        label,
      );
    }
  }
});

Deno.test("command that is empty or only whitespace is INVALID_MESSAGE", () => {
  for (const command of ["", "   ", "\n\t"]) {
    expectFailure(
      parseDashboardMessage(commandRequest(command)),
      "INVALID_MESSAGE",
      "payload.command",
      "m-1",
      JSON.stringify(command),
    );
  }
});

Deno.test("CommandInfo.command over 16 KiB is PAYLOAD_TOO_LARGE", () => {
  const command = { ...COMMAND_INFO, command: "€".repeat(5462) };
  expectFailure(
    parseServerMessage(JSON.stringify(frame("command:status", { command }))),
    "PAYLOAD_TOO_LARGE",
    "payload.command.command",
    "m-1",
    "command:status",
  );
});

Deno.test("terminal:output data over maxChunkBytes is PAYLOAD_TOO_LARGE", () => {
  assert.equal(LIMITS.maxChunkBytes, 512 * 1024);
  const output = (data: string) =>
    JSON.stringify(
      frame("terminal:output", {
        commandId: "cmd-1",
        seq: 1,
        stream: "stdout",
        data,
      }),
    );
  assert.ok(parseAgentMessage(output("x".repeat(LIMITS.maxChunkBytes))).ok);
  expectFailure(
    parseAgentMessage(output("x".repeat(LIMITS.maxChunkBytes + 1))),
    "PAYLOAD_TOO_LARGE",
    "payload.data",
    "m-1",
    "ascii",
  );
  expectFailure(
    parseAgentMessage(output("€".repeat(LIMITS.maxChunkBytes / 3 + 1))),
    "PAYLOAD_TOO_LARGE",
    "payload.data",
    "m-1",
    "multi-byte",
  );
});

Deno.test("terminal:snapshot: data over maxSnapshotBytes is PAYLOAD_TOO_LARGE, a size out of range INVALID_MESSAGE", () => {
  assert.equal(LIMITS.maxSnapshotBytes, 256 * 1024);
  const snapshot = (data: string, cols = 80, rows = 24) =>
    JSON.stringify(
      frame("terminal:snapshot", {
        commandId: "cmd-1",
        seq: 3,
        cols,
        rows,
        data,
      }),
    );
  assert.ok(
    parseAgentMessage(snapshot("x".repeat(LIMITS.maxSnapshotBytes))).ok,
  );
  expectFailure(
    parseAgentMessage(snapshot("€".repeat(LIMITS.maxSnapshotBytes / 2))),
    "PAYLOAD_TOO_LARGE",
    "payload.data",
    "m-1",
    "multi-byte",
  );
  expectFailure(
    parseAgentMessage(snapshot("x", 0)),
    "INVALID_MESSAGE",
    "payload.cols",
    "m-1",
    "zero columns",
  );
  expectFailure(
    parseAgentMessage(snapshot("x", 80, 501)),
    "INVALID_MESSAGE",
    "payload.rows",
    "m-1",
    "too many rows",
  );
});

Deno.test("free text over maxTextChars (counted in UTF-8 bytes) is PAYLOAD_TOO_LARGE", () => {
  assert.equal(LIMITS.maxTextChars, 4096);
  const interrupt = (reason: string) =>
    JSON.stringify(frame("command:interrupt", { commandId: "cmd-1", reason }));
  const log = (message: string) =>
    JSON.stringify(frame("log:forward", { level: "info", message }));
  assert.ok(parseDashboardMessage(interrupt("r".repeat(4096))).ok);
  assert.ok(parseDashboardMessage(log("m".repeat(4096))).ok);
  for (
    const [make, field] of [
      [interrupt, "payload.reason"],
      [log, "payload.message"],
    ] as const
  ) {
    for (const text of ["x".repeat(4097), "€".repeat(1366)]) {
      expectFailure(
        parseDashboardMessage(make(text)),
        "PAYLOAD_TOO_LARGE",
        field,
        "m-1",
        `${field} ${text.length} chars`,
      );
    }
  }
});

// ---------------------------------------------------------------------------
// Envelope.

Deno.test("envelope id: at most 64 chars, else INVALID_MESSAGE on field id", () => {
  assert.equal(LIMITS.maxIdChars, 64);
  const ok = frame("heartbeat", { sequence: 1 }, { id: "x".repeat(64) });
  expectOk(parseDashboardMessage, ok, ok, "64 chars");
  for (const parse of DIRECTIONS.map((d) => d.parse)) {
    const long = frame("heartbeat", { sequence: 1 }, { id: "x".repeat(65) });
    // The id cannot be echoed back: it is not a valid id.
    expectFailure(
      parse(JSON.stringify(long)),
      "INVALID_MESSAGE",
      "id",
      undefined,
      "65 chars",
    );
  }
  for (const id of ["", 42, { a: 1 }]) {
    const result = parseDashboardMessage(
      JSON.stringify(frame("heartbeat", { sequence: 1 }, { id })),
    );
    assert.equal(result.ok, false);
    if (result.ok) continue;
    assert.equal(result.code, "INVALID_MESSAGE", JSON.stringify(id));
    assert.equal(result.field, "id", JSON.stringify(id));
  }
});

Deno.test("a frame that is not JSON is INVALID_MESSAGE", () => {
  for (const direction of DIRECTIONS) {
    for (const raw of ["", "{", "not json", '{"version":"1.0.0",}']) {
      expectFailure(
        direction.parse(raw),
        "INVALID_MESSAGE",
        undefined,
        undefined,
        `${direction.name} ${JSON.stringify(raw)}`,
      );
    }
    // JSON, but not an envelope.
    for (const raw of ["null", "42", '"text"', "[]", "{}"]) {
      const result = direction.parse(raw);
      assert.equal(result.ok, false, raw);
      if (!result.ok) assert.equal(result.code, "INVALID_MESSAGE", raw);
    }
  }
});

Deno.test("missing or malformed envelope fields are INVALID_MESSAGE naming them", () => {
  const base = frame("heartbeat", { sequence: 1 });
  const cases: [string, unknown][] = [
    ["version", undefined],
    ["version", 1],
    ["version", "1.0"],
    ["type", undefined],
    ["type", 7],
    ["type", ""],
    ["timestamp", undefined],
    ["timestamp", "now"],
    ["timestamp", -1],
    ["timestamp", 1.5],
  ];
  for (const [field, value] of cases) {
    const input: Json = { ...base, [field]: value };
    if (value === undefined) delete input[field];
    expectFailure(
      parseDashboardMessage(JSON.stringify(input)),
      "INVALID_MESSAGE",
      field,
      "m-1",
      `${field}=${JSON.stringify(value)}`,
    );
  }
});

Deno.test("unknown type is INVALID_MESSAGE on field type", () => {
  for (const direction of DIRECTIONS) {
    const foreign = DIRECTIONS.flatMap((d) => d.types).filter((type) =>
      !Object.hasOwn(direction.map, type)
    );
    const unknown = [
      "command:unknown",
      "HEARTBEAT",
      "toString",
      "constructor",
      "__proto__",
      "hasOwnProperty",
      // Longer than any type: still just an unknown type.
      "x".repeat(65),
      ...foreign,
    ];
    for (const type of unknown) {
      expectFailure(
        direction.parse(JSON.stringify(frame(type, {}))),
        "INVALID_MESSAGE",
        "type",
        "m-1",
        `${direction.name} ${type}`,
      );
    }
  }
});

Deno.test("version: any 1.x.y is accepted, another major is VERSION_UNSUPPORTED", () => {
  assert.match(PROTOCOL_VERSION, /^1\.\d+\.\d+$/);
  for (const direction of DIRECTIONS) {
    const [type, example] = Object.entries(direction.examples)[0];
    for (const version of ["1.0.0", "1.7.3", "1.99.0"]) {
      const result = direction.parse(
        JSON.stringify(frame(type, example.payload, { version })),
      );
      assert.ok(result.ok, `${direction.name} ${version}`);
    }
    for (const version of ["2.0.0", "0.9.0", "10.0.0", "11.0.0"]) {
      expectFailure(
        direction.parse(
          JSON.stringify(frame(type, example.payload, { version })),
        ),
        "VERSION_UNSUPPORTED",
        "version",
        "m-1",
        `${direction.name} ${version}`,
      );
    }
  }
});

Deno.test("replyTo is the envelope id when there is one", () => {
  const bad = { agentId: "agent-1" }; // no command
  const cases: [Json, string][] = [
    [frame("command:request", bad, { id: "c-7f3a" }), "INVALID_MESSAGE"],
    [frame("nope", {}, { id: "c-7f3a" }), "INVALID_MESSAGE"],
    [
      frame("command:request", bad, { id: "c-7f3a", version: "2.0.0" }),
      "VERSION_UNSUPPORTED",
    ],
    [
      frame("command:request", {
        agentId: "agent-1",
        command: "€".repeat(5462),
      }, { id: "c-7f3a" }),
      "PAYLOAD_TOO_LARGE",
    ],
    [
      frame("heartbeat", {}, { id: "c-7f3a", timestamp: "x" }),
      "INVALID_MESSAGE",
    ],
  ];
  for (const [input, code] of cases) {
    const result = parseDashboardMessage(JSON.stringify(input));
    assert.equal(result.ok, false);
    if (result.ok) continue;
    assert.equal(result.code, code);
    assert.equal(result.replyTo, "c-7f3a", JSON.stringify(result));

    const { id: _id, ...withoutId } = input;
    const anonymous = parseDashboardMessage(JSON.stringify(withoutId));
    assert.equal(anonymous.ok, false);
    if (!anonymous.ok) assert.equal(anonymous.replyTo, undefined);
  }
});

Deno.test("unknown envelope and payload keys are dropped, not refused", () => {
  // So a peer can add optional fields (docs/protocol.md) without breaking others.
  const input = frame(
    "command:request",
    { agentId: "agent-1", command: "ls", future: { x: 1 } },
    { future: true },
  );
  const result = parseDashboardMessage(JSON.stringify(input));
  assert.ok(result.ok);
  assert.deepEqual(
    result.message,
    frame("command:request", {
      agentId: "agent-1",
      command: "ls",
      priority: "normal",
    }),
  );
});

Deno.test("envelope() builds a frame the parsers accept", () => {
  const built = envelope("heartbeat", { sequence: 3 }, "h-3");
  assert.equal(built.version, PROTOCOL_VERSION);
  assert.equal(built.id, "h-3");
  expectOk(parseDashboardMessage, built, built, "with id");
  const anonymous = envelope("heartbeat", { sequence: 4 });
  assert.equal(Object.hasOwn(anonymous, "id"), false);
  expectOk(parseServerMessage, anonymous, anonymous, "without id");
});

// ---------------------------------------------------------------------------
// Error and close codes (docs/protocol.md tables, written out).

const EXPECTED_ERROR_CODES: Record<ErrorCode, { recoverable: boolean }> = {
  AUTH_FAILED: { recoverable: false },
  FORBIDDEN: { recoverable: true },
  AGENT_OFFLINE: { recoverable: true },
  AGENT_ONLINE: { recoverable: true },
  NOT_FOUND: { recoverable: true },
  NOT_CONTROLLER: { recoverable: true },
  SESSION_RUNNING: { recoverable: true },
  QUEUE_FULL: { recoverable: true },
  INVALID_MESSAGE: { recoverable: true },
  RATE_LIMIT: { recoverable: true },
  PAYLOAD_TOO_LARGE: { recoverable: true },
  VERSION_UNSUPPORTED: { recoverable: false },
  INTERNAL: { recoverable: true },
  STORAGE_UNAVAILABLE: { recoverable: true },
  NODE_UNAVAILABLE: { recoverable: true },
};

const EXPECTED_CLOSE_CODES = {
  NORMAL: { code: 1000, action: "stop" },
  GOING_AWAY: { code: 1001, action: "reconnect" },
  FRAME_TOO_LARGE: { code: 1009, action: "reconnect" },
  UNAUTHENTICATED: { code: 4401, action: "stop" },
  FORBIDDEN: { code: 4403, action: "stop" },
  HEARTBEAT_TIMEOUT: { code: 4408, action: "reconnect" },
  REPLACED: { code: 4409, action: "stop" },
  RATE_LIMITED: { code: 4429, action: "reconnect" },
  SLOW_CONSUMER: { code: 4503, action: "reconnect" },
};

Deno.test("ERROR_CODES match the error code table", () => {
  assert.deepEqual(ERROR_CODES, EXPECTED_ERROR_CODES);
  assert.deepEqual(Object.keys(ERROR_CODES), Object.keys(EXPECTED_ERROR_CODES));
});

Deno.test("CLOSE_CODES match the close code table", () => {
  assert.deepEqual(CLOSE_CODES, EXPECTED_CLOSE_CODES);
});

Deno.test("shouldReconnect follows the close code table", () => {
  const table: [number, boolean][] = [
    [1000, false],
    [1001, true],
    [1009, true],
    [4401, false],
    [4403, false],
    [4408, true],
    [4409, false],
    [4429, true],
    [4503, true],
  ];
  for (const [code, reconnect] of table) {
    assert.equal(shouldReconnect(code), reconnect, String(code));
  }
  // Abnormal closures (no close frame, server error) are network trouble.
  for (const code of [1005, 1006, 1011]) {
    assert.equal(shouldReconnect(code), true, String(code));
  }
});

Deno.test("errorPayload takes recoverable from the table and is a valid error", () => {
  for (const [code, { recoverable }] of Object.entries(EXPECTED_ERROR_CODES)) {
    const errorCode = code as ErrorCode;
    const plain = errorPayload(errorCode, "something happened");
    assert.deepEqual(plain, {
      code,
      message: "something happened",
      recoverable,
    });
    assert.equal(Object.hasOwn(plain, "replyTo"), false);
    const reply = errorPayload(errorCode, "something happened", "c-7f3a");
    assert.deepEqual(reply, { ...plain, replyTo: "c-7f3a" });
    for (const parse of [parseServerMessage, parseServerToAgentMessage]) {
      const input = frame("error", reply);
      expectOk(parse, input, input, code);
    }
  }
  expectFailure(
    parseServerMessage(
      JSON.stringify(
        frame("error", { code: "TEAPOT", message: "x", recoverable: true }),
      ),
    ),
    "INVALID_MESSAGE",
    "payload.code",
    "m-1",
    "unknown error code",
  );
});

Deno.test("auth:refresh from a dashboard: the token is optional, an empty one is INVALID_MESSAGE", () => {
  expectOk(
    parseDashboardMessage,
    frame("auth:refresh", {}),
    frame("auth:refresh", {}),
    "auth:refresh without token",
  );
  expectFailure(
    parseDashboardMessage(JSON.stringify(frame("auth:refresh", { token: "" }))),
    "INVALID_MESSAGE",
    "payload.token",
    "m-1",
    "auth:refresh with an empty token",
  );
});

Deno.test("auth:refresh from an agent has an empty payload; auth:refreshed to an agent needs the token", () => {
  expectOk(
    parseAgentMessage,
    frame("auth:refresh", {}),
    frame("auth:refresh", {}),
    "agent auth:refresh",
  );
  expectFailure(
    parseServerToAgentMessage(
      JSON.stringify(frame("auth:refreshed", { expiresAt: T0 })),
    ),
    "INVALID_MESSAGE",
    "payload.token",
    "m-1",
    "agent auth:refreshed without token",
  );
});

Deno.test("connection:ack to an agent: replaced is only ever true", () => {
  const ack = {
    connectionId: "conn-2",
    serverVersion: "1.0.0",
    heartbeatIntervalMs: 1500,
    user: { id: "agent:agent-1", role: "agent" },
    agentId: "agent-1",
  };
  expectFailure(
    parseServerToAgentMessage(
      JSON.stringify(frame("connection:ack", { ...ack, replaced: false })),
    ),
    "INVALID_MESSAGE",
    "payload.replaced",
    "m-1",
    "replaced: false",
  );
});

// ---------------------------------------------------------------------------
// Live terminals (docs/protocol.md: terminal:input, terminal:resize,
// session:control, session:controller, agent:activity).

Deno.test("terminal:input data: 1 to 65536 UTF-8 bytes of well-formed text, passed unchanged", () => {
  const max = LIMITS.maxInputBytes;
  const cases: [string, string, string | null, string | null][] = [
    // label, data, expected code (null: accepted), field
    ["one key", "y", null, null],
    ["control keys and escapes", "\x03\x1b[A\x00\x7f\r", null, null],
    ["bracketed paste", "\x1b[200~line 1\nline 2\x1b[201~", null, null],
    ["exactly the limit", "x".repeat(max), null, null],
    ["one byte over", "x".repeat(max + 1), "PAYLOAD_TOO_LARGE", "payload.data"],
    // 21846 × € (3 bytes) is 65538 bytes in 21846 UTF-16 units.
    [
      "over in UTF-8 bytes only",
      "€".repeat(21846),
      "PAYLOAD_TOO_LARGE",
      "payload.data",
    ],
    ["empty", "", "INVALID_MESSAGE", "payload.data"],
    ["a lone surrogate", "a\ud800b", "INVALID_MESSAGE", "payload.data"],
  ];
  const directions = [
    { parse: parseDashboardMessage, payload: { agentId: "agent-1" } },
    { parse: parseServerToAgentMessage, payload: { commandId: "cmd-1" } },
  ];
  for (const [label, data, code, field] of cases) {
    for (const { parse, payload } of directions) {
      const input = frame("terminal:input", { ...payload, data });
      if (code === null) {
        expectOk(parse, input, input, label);
        const parsed = parse(JSON.stringify(input));
        assert.ok(parsed.ok);
        assert.equal(
          (parsed.message as { payload: { data: string } }).payload.data,
          data,
          `${label}: byte-exact`,
        );
      } else {
        expectFailure(
          parse(JSON.stringify(input)),
          code,
          field ?? undefined,
          "m-1",
          label,
        );
      }
    }
  }
});

Deno.test("terminal:resize: cols 1 to 1000 and rows 1 to 500, integers; else INVALID_MESSAGE naming the field", () => {
  const cases: [number, number, string | null][] = [
    [1, 1, null],
    [80, 24, null],
    [1000, 500, null],
    [0, 24, "payload.cols"],
    [1001, 24, "payload.cols"],
    [10_000, 24, "payload.cols"],
    [-1, 24, "payload.cols"],
    [80.5, 24, "payload.cols"],
    [80, 0, "payload.rows"],
    [80, 501, "payload.rows"],
    [80, 10_000, "payload.rows"],
  ];
  const directions = [
    { parse: parseDashboardMessage, payload: { agentId: "agent-1" } },
    { parse: parseServerToAgentMessage, payload: { commandId: "cmd-1" } },
  ];
  for (const [cols, rows, field] of cases) {
    for (const { parse, payload } of directions) {
      const input = frame("terminal:resize", { ...payload, cols, rows });
      const label = `${cols}×${rows}`;
      if (field === null) expectOk(parse, input, input, label);
      else {
        expectFailure(
          parse(JSON.stringify(input)),
          "INVALID_MESSAGE",
          field,
          "m-1",
          label,
        );
      }
    }
  }
});

Deno.test("session:control needs a boolean take; session:controller's holder is an object or null", () => {
  for (const take of [true, false]) {
    const input = frame("session:control", { agentId: "agent-1", take });
    expectOk(parseDashboardMessage, input, input, `take ${take}`);
  }
  for (const take of ["true", 1, null]) {
    expectFailure(
      parseDashboardMessage(
        JSON.stringify(frame("session:control", { agentId: "a", take })),
      ),
      "INVALID_MESSAGE",
      "payload.take",
      "m-1",
      `take ${JSON.stringify(take)}`,
    );
  }
  const free = frame("session:controller", {
    agentId: "agent-1",
    holder: null,
  });
  expectOk(parseServerMessage, free, free, "no holder");
  expectFailure(
    parseServerMessage(
      JSON.stringify(
        frame("session:controller", {
          agentId: "agent-1",
          holder: { userId: "u" },
        }),
      ),
    ),
    "INVALID_MESSAGE",
    "payload.holder.connectionId",
    "m-1",
    "holder without connectionId",
  );
});

Deno.test("agent:activity and AgentInfo: activity is one of four, attention at most 1 KiB, at most 9 options", () => {
  const ok = (extra: Json) => {
    const report = frame("agent:activity", { activity: "waiting", ...extra });
    expectOk(parseAgentMessage, report, report, JSON.stringify(extra));
    const status = frame("agent:status", {
      agent: { ...AGENT_INFO, activity: "waiting", ...extra },
    });
    expectOk(parseServerMessage, status, status, JSON.stringify(extra));
  };
  const bad = (extra: Json, code: string, field: string) => {
    expectFailure(
      parseAgentMessage(
        JSON.stringify(
          frame("agent:activity", { activity: "working", ...extra }),
        ),
      ),
      code,
      `payload.${field}`,
      "m-1",
      `agent:activity ${field}`,
    );
    expectFailure(
      parseServerMessage(
        JSON.stringify(
          frame("agent:status", {
            agent: { ...AGENT_INFO, activity: "working", ...extra },
          }),
        ),
      ),
      code,
      `payload.agent.${field}`,
      "m-1",
      `agent:status ${field}`,
    );
  };
  for (const activity of ["working", "waiting", "needs-input", "stalled"]) {
    ok({ activity });
  }
  ok({ attention: "x".repeat(LIMITS.maxAttentionBytes) });
  const nine = Array.from({ length: 9 }, (_, i) => ({
    key: String(i + 1),
    label: `Option ${i + 1}`,
  }));
  ok({ options: nine });
  bad({ activity: "busy" }, "INVALID_MESSAGE", "activity");
  bad(
    { attention: "€".repeat(342) }, // 1026 bytes
    "PAYLOAD_TOO_LARGE",
    "attention",
  );
  bad(
    { options: [...nine, { key: "0", label: "Ten" }] },
    "PAYLOAD_TOO_LARGE",
    "options",
  );
  bad(
    { options: [{ key: "", label: "Yes" }] },
    "INVALID_MESSAGE",
    "options.0.key",
  );
  bad(
    { options: [{ key: "1", label: "x".repeat(257) }] },
    "PAYLOAD_TOO_LARGE",
    "options.0.label",
  );
  expectFailure(
    parseAgentMessage(JSON.stringify(frame("agent:activity", {}))),
    "INVALID_MESSAGE",
    "payload.activity",
    "m-1",
    "agent:activity without activity",
  );
});

Deno.test("command:started takes a PTY command's size, within the terminal bounds", () => {
  const ok = frame("command:started", {
    commandId: "cmd-1",
    startedAt: 5,
    cols: 1000,
    rows: 500,
  });
  expectOk(parseAgentMessage, ok, ok, "largest size");
  for (const [field, value] of [["cols", 0], ["rows", 501], ["cols", 1.5]]) {
    expectFailure(
      parseAgentMessage(JSON.stringify(frame("command:started", {
        commandId: "cmd-1",
        startedAt: 5,
        cols: 80,
        rows: 24,
        [field]: value,
      }))),
      "INVALID_MESSAGE",
      `payload.${field}`,
      "m-1",
      `${field} ${value}`,
    );
  }
});

Deno.test("CommandInfo.session: a prompt's session and seq range, toSeq null while it runs", () => {
  for (const toSeq of [9, null]) {
    const input = frame("command:status", {
      command: {
        ...COMMAND_INFO,
        kind: "prompt",
        session: { commandId: "s-1", fromSeq: 3, toSeq },
      },
    });
    expectOk(parseServerMessage, input, input, `toSeq ${toSeq}`);
  }
  expectFailure(
    parseServerMessage(JSON.stringify(frame("command:status", {
      command: {
        ...COMMAND_INFO,
        kind: "prompt",
        session: { commandId: "s-1", fromSeq: 0, toSeq: null },
      },
    }))),
    "INVALID_MESSAGE",
    "payload.command.session.fromSeq",
    "m-1",
    "fromSeq 0",
  );
});

Deno.test("CommandInfo.kind is optional, exec, session or prompt", () => {
  for (const kind of ["exec", "session", "prompt"]) {
    const input = frame("command:status", {
      command: { ...COMMAND_INFO, kind },
    });
    expectOk(parseServerMessage, input, input, kind);
  }
  expectFailure(
    parseServerMessage(
      JSON.stringify(
        frame("command:status", { command: { ...COMMAND_INFO, kind: "pty" } }),
      ),
    ),
    "INVALID_MESSAGE",
    "payload.command.kind",
    "m-1",
    "kind pty",
  );
});

Deno.test("prompts: CommandInfo kind prompt with its session turn; command:started.fromSeq and command:completed.toSeq", () => {
  const prompt: Json = {
    ...COMMAND_INFO,
    kind: "prompt",
    session: { commandId: "sess-1", fromSeq: 5, toSeq: null },
  };
  const status = frame("command:status", { command: prompt });
  expectOk(parseServerMessage, status, status, "running prompt");
  const done = clone(status);
  (done.payload as Json).command = {
    ...prompt,
    session: { commandId: "sess-1", fromSeq: 5, toSeq: 4 },
  };
  expectOk(parseServerMessage, done, done, "a turn that printed nothing");
  for (
    const [session, field] of [
      [{ fromSeq: 5, toSeq: null }, "commandId"],
      [{ commandId: "sess-1", fromSeq: 0, toSeq: null }, "fromSeq"],
      [{ commandId: "sess-1", fromSeq: 5, toSeq: -1 }, "toSeq"],
      [{ commandId: "sess-1", fromSeq: 5 }, "toSeq"],
    ] as const
  ) {
    expectFailure(
      parseServerMessage(
        JSON.stringify(
          frame("command:status", { command: { ...prompt, session } }),
        ),
      ),
      "INVALID_MESSAGE",
      `payload.command.session.${field}`,
      "m-1",
      `session without a valid ${field}`,
    );
  }
  const started = frame("command:started", {
    commandId: "p-1",
    startedAt: T0,
    fromSeq: 1,
  });
  expectOk(parseAgentMessage, started, started, "started with fromSeq");
  expectFailure(
    parseAgentMessage(JSON.stringify(frame("command:started", {
      commandId: "p-1",
      startedAt: T0,
      fromSeq: 0,
    }))),
    "INVALID_MESSAGE",
    "payload.fromSeq",
    "m-1",
    "fromSeq 0",
  );
  const completed = frame("command:completed", {
    commandId: "p-1",
    exitCode: 0,
    status: "completed",
    completedAt: T0,
    lastSeq: 0,
    toSeq: 9,
  });
  expectOk(parseAgentMessage, completed, completed, "completed with toSeq");
  expectFailure(
    parseAgentMessage(JSON.stringify(frame("command:completed", {
      commandId: "p-1",
      exitCode: 0,
      status: "completed",
      completedAt: T0,
      lastSeq: 0,
      toSeq: -1,
    }))),
    "INVALID_MESSAGE",
    "payload.toSeq",
    "m-1",
    "toSeq -1",
  );
});

Deno.test("byteLength() equals TextEncoder's length for any text, short or long, lone surrogates included", () => {
  // Characters of every UTF-8 length, both surrogate halves alone, and a pair.
  const parts = [
    "a",
    "\n",
    "\x7f",
    "é",
    "\u07ff",
    "€",
    "\uffff",
    "\ud83d",
    "\ude00",
    "😀",
  ];
  let state = 12345; // a fixed LCG: the same cases on every run
  const next = () => (state = (state * 1103515245 + 12345) % 2 ** 31);
  const encoder = new TextEncoder();
  for (let round = 0; round < 400; round++) {
    // Lengths around the short/long switch and the scratch buffer's size.
    const length = [0, 1, 127, 128, 129, 16383, 16384, 70000][round % 8] +
      (next() % 3);
    let text = "";
    while (text.length < length) text += parts[next() % parts.length];
    assert.equal(
      byteLength(text),
      encoder.encode(text).length,
      `round ${round}: ${text.length} units`,
    );
  }
  // A long ASCII text with one pair straddling each 48 KiB slice boundary.
  const straddle = "a".repeat(48 * 1024 - 1) + "😀" + "b".repeat(48 * 1024);
  assert.equal(byteLength(straddle), encoder.encode(straddle).length);
});
