/**
 * Flightdeck wire protocol, version 1: the executable form of
 * docs/protocol.md (lib/protocol_docs_test.ts keeps the two in step).
 *
 * One zod schema per message, tagged by `type`. Data from the network is
 * parsed with {@link parseDashboardMessage}, {@link parseAgentMessage},
 * {@link parseServerMessage} or {@link parseServerToAgentMessage} exactly
 * where it enters. Messages are sent through the typed builders
 * {@link toDashboard}, {@link toAgent}, {@link fromDashboard} and
 * {@link fromAgent}: a payload that does not fit its type fails `deno check`.
 * Callers never cast. This module casts only where zod cannot express the
 * type: the error code list handed to `z.enum`, reading `id` from a value
 * that failed the envelope schema (for `replyTo`), typing a payload parsed by
 * the schema looked up for its `type` as the envelope of that type, and
 * typing a built envelope as the outgoing message of its `type`.
 *
 * @module
 */
import { z } from "zod";

// Pages run under `script-src 'self'` (no 'unsafe-eval'): in browsers zod
// must not compile parsers with `new Function`, nor even probe for it (the
// caught probe is still reported as a CSP violation).
if (typeof document !== "undefined") z.config({ jitless: true });

/** Version this build speaks. Any `1.x.y` is accepted from peers. */
export const PROTOCOL_VERSION = "1.0.0";

/** Limits named by the protocol. */
export const LIMITS = {
  /** Largest frame accepted on a socket; larger closes it with 1009. */
  maxFrameBytes: 1024 * 1024,
  /** Longest `command` text accepted in `command:request`. */
  maxCommandBytes: 16 * 1024,
  /** Longest envelope `id`. */
  maxIdChars: 64,
  /** Largest `data` of one `terminal:output` chunk. */
  maxChunkBytes: 512 * 1024,
  /** Longest free-text field (reasons, log messages), in UTF-8 bytes. */
  maxTextChars: 4096,
  /** Largest `data` of one `terminal:input` (keystrokes or a paste). */
  maxInputBytes: 64 * 1024,
  /** Longest `attention` text of an agent that needs input. */
  maxAttentionBytes: 1024,
  /** Longest `program` text of `session:start` (shown, never run). */
  maxSessionProgramBytes: 1024,
  /** Largest `data` of one `terminal:snapshot` (a serialized screen). */
  maxSnapshotBytes: 256 * 1024,
} as const;

/** Terminal sizes `terminal:resize` accepts. */
export const TERMINAL_SIZE = {
  maxCols: 1000,
  maxRows: 500,
} as const;

/**
 * Output flow control on `/ws/agent`: the agent keeps its unacknowledged
 * `terminal:output` frames within the window the server advertises in
 * `connection:ack.outputWindowBytes` (this default when a server sends none).
 */
export const OUTPUT_WINDOW = {
  /** Window an agent assumes when `connection:ack` names none: 4 MiB. */
  defaultBytes: 4 * 1024 * 1024,
  /** Smallest window a server advertises: 256 KiB. */
  minBytes: 256 * 1024,
} as const;

/** Error codes with whether the client may carry on (docs/protocol.md, "Error codes"). */
export const ERROR_CODES = {
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
} as const;

/** One of the protocol's error codes. */
export type ErrorCode = keyof typeof ERROR_CODES;

/** Close codes and what a client should do on each (docs/protocol.md, "Close codes"). */
export const CLOSE_CODES = {
  NORMAL: { code: 1000, action: "stop" },
  GOING_AWAY: { code: 1001, action: "reconnect" },
  FRAME_TOO_LARGE: { code: 1009, action: "reconnect" },
  UNAUTHENTICATED: { code: 4401, action: "stop" },
  FORBIDDEN: { code: 4403, action: "stop" },
  HEARTBEAT_TIMEOUT: { code: 4408, action: "reconnect" },
  REPLACED: { code: 4409, action: "stop" },
  RATE_LIMITED: { code: 4429, action: "reconnect" },
  SLOW_CONSUMER: { code: 4503, action: "reconnect" },
} as const;

/** Whether a client should reconnect after a close with `code`. */
export function shouldReconnect(code: number): boolean {
  for (const entry of Object.values(CLOSE_CODES)) {
    if (entry.code === code) return entry.action === "reconnect";
  }
  // Abnormal closures (1005, 1006, 1011, ...) are network trouble: retry.
  return true;
}

const utf8 = new TextEncoder();
/** Scratch space {@link byteLength} encodes into; its bytes are never read. */
const scratch = new Uint8Array(48 * 1024);

/**
 * Byte length of `text` encoded as UTF-8 (a lone surrogate counts 3, as
 * TextEncoder writes U+FFFD for it). Short text is counted in a loop; longer
 * text is encoded in native code into a fixed scratch buffer, slice by
 * slice, and only the counts are kept: no regex scan, no allocation of the
 * encoded bytes.
 */
export function byteLength(text: string): number {
  const n = text.length;
  if (n < 128) {
    let bytes = n;
    for (let i = 0; i < n; i++) {
      const c = text.charCodeAt(i);
      if (c < 0x80) continue;
      if (c < 0x800) {
        bytes += 1;
      } else if (
        c >= 0xd800 && c < 0xdc00 && i + 1 < n &&
        (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00
      ) {
        bytes += 2; // a pair: 4 bytes for 2 units
        i++;
      } else {
        bytes += 2;
      }
    }
    return bytes;
  }
  let bytes = 0;
  // encodeInto stops before a character that does not fit, never inside one.
  for (let pos = 0; pos < n;) {
    const { read, written } = utf8.encodeInto(
      pos === 0 ? text : text.slice(pos),
      scratch,
    );
    bytes += written;
    pos += read;
  }
  return bytes;
}

/** A string at most `max` UTF-8 bytes long; longer fails with PAYLOAD_TOO_LARGE. */
function boundedText(max: number) {
  return z.string().refine((s) => byteLength(s) <= max, {
    message: `too large: over ${max} bytes`,
    params: { tooLarge: true },
  });
}

const id = z.string().min(1).max(128);

/** Longest command timeout a request or an agent may ask for: 7 days. */
export const MAX_TIMEOUT_MS = 7 * 24 * 3600_000;

export const PrioritySchema = z.enum(["high", "normal", "low"]);
export type Priority = z.infer<typeof PrioritySchema>;

export const RoleSchema = z.enum(["viewer", "operator", "admin", "agent"]);
export type Role = z.infer<typeof RoleSchema>;

export const AgentStatusSchema = z.enum(["online", "busy", "offline"]);
export type AgentStatus = z.infer<typeof AgentStatusSchema>;

/**
 * A command's state. Final ones: `completed` (exit 0), `failed` (non-zero
 * exit), `interrupted` (stopped while running, by `endedBy`), `cancelled`
 * (removed from the queue before it ran, by `endedBy`), `timeout` (stopped
 * by the server's timer; shown "timed out") and `lost` (its agent went away
 * while it ran and did not come back with it in time).
 */
export const CommandStatusSchema = z.enum([
  "queued",
  "running",
  "completed",
  "failed",
  "interrupted",
  "cancelled",
  "timeout",
  "lost",
]);
export type CommandStatus = z.infer<typeof CommandStatusSchema>;

/** Statuses after which a command never changes again. */
export const FINAL_STATUSES: ReadonlySet<CommandStatus> = new Set([
  "completed",
  "failed",
  "interrupted",
  "cancelled",
  "timeout",
  "lost",
]);

/**
 * What an agent's program is doing, as the agent reads it from its screen:
 * working on something, waiting at its prompt for the next one, blocked on
 * a question for a person, or working with no output for too long.
 */
export const ActivitySchema = z.enum([
  "working",
  "waiting",
  "needs-input",
  "stalled",
]);
export type Activity = z.infer<typeof ActivitySchema>;

/** One quick answer to a question on an agent's screen. */
export const QuickAnswerSchema = z.object({
  /** What to type to choose it (e.g. `1`, `y`). */
  key: z.string().min(1).max(16),
  /** What the screen says it means (e.g. `Yes, and don't ask again`). */
  label: z.string().min(1).max(256),
});
export type QuickAnswer = z.infer<typeof QuickAnswerSchema>;

/** Most quick answers an agent reports for one question. */
const MAX_QUICK_ANSWERS = 9;

/**
 * `exec`: a one-shot command (absent means exec); `session`: an agent's
 * long-lived interactive program; `prompt`: text typed into a session.
 */
export const CommandKindSchema = z.enum(["exec", "session", "prompt"]);
export type CommandKind = z.infer<typeof CommandKindSchema>;

export const StreamSchema = z.enum(["stdout", "stderr", "pty"]);
export type Stream = z.infer<typeof StreamSchema>;

/** Limits of agent tags (`--tag NAME`, repeatable). */
export const TAG_LIMITS = {
  /** Most tags per agent. */
  maxTags: 16,
  /** Longest tag, in characters. */
  maxTagChars: 32,
} as const;

/**
 * An agent tag: 1-32 letters, digits, `.`, `_`, `-`, `:` or `/`, starting
 * with a letter or digit (no spaces, so it reads as one word in a filter).
 */
export const TagSchema = z.string().min(1).max(TAG_LIMITS.maxTagChars).regex(
  /^[A-Za-z0-9][A-Za-z0-9._:/-]*$/,
  { message: "must be letters, digits and . _ : / - (no spaces)" },
);

/** Tags of an agent: at most 16, no duplicates. */
const tags = z.array(TagSchema).max(TAG_LIMITS.maxTags).refine(
  (list) => new Set(list).size === list.length,
  { message: "must not repeat a tag" },
);

/**
 * The git state of an agent's working directory: its branch (`HEAD` when
 * detached), the commit it is at (abbreviated, absent before the first
 * commit) and whether anything is changed, staged or untracked.
 */
export const GitInfoSchema = z.object({
  branch: z.string().min(1).max(255),
  commit: z.string().regex(/^[0-9a-f]{4,64}$/).optional(),
  dirty: z.boolean(),
});
export type GitInfo = z.infer<typeof GitInfoSchema>;

export const AgentInfoSchema = z.object({
  id,
  name: z.string().min(1).max(128),
  type: z.string().min(1).max(64),
  status: AgentStatusSchema,
  capabilities: z.array(z.string().max(64)).max(64),
  hostname: z.string().max(255),
  connectedAt: z.number().int().nonnegative(),
  lastSeenAt: z.number().int().nonnegative(),
  currentCommandId: id.nullable(),
  /** What the agent's program is doing; absent when not reported. */
  activity: ActivitySchema.optional(),
  /**
   * Addition: the timeout the agent gives its commands when a request
   * names none (`--timeout`), in ms; absent: the server's default.
   */
  defaultTimeoutMs: z.number().int().positive().max(MAX_TIMEOUT_MS)
    .optional(),
  /** The question on screen, only with `activity: "needs-input"`. */
  attention: boundedText(LIMITS.maxAttentionBytes).optional(),
  /** Quick answers to that question, only with `activity: "needs-input"`. */
  options: z.array(QuickAnswerSchema).max(MAX_QUICK_ANSWERS).optional(),
  /**
   * Addition: how a session agent's last session ended (its `session`
   * record's final status and exit code). Set when that record ends (the
   * agent then reports no `activity`: nothing runs to be waiting); absent
   * while a session runs and for agents that never ran one.
   */
  ended: z.object({
    commandId: id,
    status: z.enum(["completed", "failed", "interrupted", "timeout", "lost"]),
    exitCode: z.number().int().nullable(),
  }).optional(),
  /** Addition: when `status` or `activity` last changed (server clock). */
  since: z.number().int().nonnegative().optional(),
  /** Addition: the agent's tags (`--tag`), as sent in `agent:connect`. */
  tags: tags.optional(),
  /** Addition: the agent's working directory, as sent in `agent:connect`. */
  cwd: z.string().max(4096).optional(),
  /** Addition: git state of `cwd`, absent when it is not in a git repository. */
  git: GitInfoSchema.optional(),
  /**
   * Addition: the terminal size of the PTY its running command has, when
   * known; dashboards draw the output at this width (scrolling sideways).
   */
  pty: z.object({
    cols: z.number().int().min(1).max(TERMINAL_SIZE.maxCols),
    rows: z.number().int().min(1).max(TERMINAL_SIZE.maxRows),
  }).optional(),
});
export type AgentInfo = z.infer<typeof AgentInfoSchema>;

/**
 * Who ended a command that did not end by itself, and why: a person
 * (`role` of their sign-in), the agent (`agent`), or the server (`system`:
 * timeouts, lost agents).
 */
export const EndedBySchema = z.object({
  actor: z.string().max(128),
  role: z.enum(["viewer", "operator", "admin", "agent", "system"]),
  reason: z.string().max(LIMITS.maxTextChars).nullable(),
});
export type EndedBy = z.infer<typeof EndedBySchema>;

export const CommandInfoSchema = z.object({
  id,
  agentId: id,
  command: boundedText(LIMITS.maxCommandBytes),
  priority: PrioritySchema,
  status: CommandStatusSchema,
  requestedBy: z.string().max(128),
  requestedAt: z.number().int().nonnegative(),
  startedAt: z.number().int().nonnegative().nullable(),
  completedAt: z.number().int().nonnegative().nullable(),
  exitCode: z.number().int().nullable(),
  outputBytes: z.number().int().nonnegative(),
  /** `session`: an agent's long-lived interactive program; absent: `exec`. */
  kind: CommandKindSchema.optional(),
  /**
   * A prompt's turn, once typed: the session it went to and the seq range of
   * its output in that session's stream (`toSeq` null while it runs;
   * `toSeq < fromSeq` when the turn printed nothing).
   */
  session: z.object({
    commandId: id,
    fromSeq: z.number().int().positive(),
    toSeq: z.number().int().nonnegative().nullable(),
  }).optional(),
  /**
   * Addition: who ended it and why, for `interrupted`, `cancelled`,
   * `timeout` and `lost` (absent on records written before it existed).
   */
  endedBy: EndedBySchema.optional(),
  /** Addition: the signal its process died of (e.g. `SIGINT`), if any. */
  exitSignal: z.string().max(16).optional(),
  /** Addition: the timeout it runs under (ms), when it has one. */
  timeoutMs: z.number().int().positive().optional(),
});
export type CommandInfo = z.infer<typeof CommandInfoSchema>;

const seq = z.number().int().nonnegative();
/**
 * Terminal input: at most `maxInputBytes` UTF-8 bytes of well-formed text
 * (no lone surrogate, which has no UTF-8 form), passed on unchanged.
 */
const inputData = boundedText(LIMITS.maxInputBytes)
  .refine((s) => s.length > 0, { message: "must not be empty" })
  .refine((s) => s.isWellFormed(), {
    message: "must be valid Unicode text (a lone surrogate has no UTF-8 form)",
  });
const cols = z.number().int().min(1).max(TERMINAL_SIZE.maxCols);
const rows = z.number().int().min(1).max(TERMINAL_SIZE.maxRows);
const token = z.string().min(1).max(8192);
const text = boundedText(LIMITS.maxTextChars);

/** Payload schemas by message type, per direction. */
export const DashboardPayloads = {
  "dashboard:connect": z.object({
    token: token.optional(),
    clientInfo: z.object({
      userAgent: z.string().max(512),
      timezone: z.string().max(64),
    }).partial().optional(),
    resume: z.record(id, seq).optional(),
  }),
  "command:request": z.object({
    agentId: id,
    command: boundedText(LIMITS.maxCommandBytes).refine(
      (s) => s.trim().length > 0,
      { message: "must not be empty" },
    ),
    priority: PrioritySchema.default("normal"),
    timeoutMs: z.number().int().positive().max(MAX_TIMEOUT_MS).optional(),
  }),
  "command:interrupt": z.object({ commandId: id, reason: text.optional() }),
  "emergency:stop": z.object({ reason: text.optional() }),
  /** Addition (docs/protocol.md): an admin forgets an offline agent. */
  "agent:forget": z.object({ agentId: id }),
  /**
   * With `snapshot: true` the server may answer with the command's latest
   * `terminal:snapshot` (when it covers more than `afterSeq`) and then the
   * output after the snapshot's seq, instead of everything after `afterSeq`.
   */
  "terminal:resume": z.object({
    commandId: id,
    afterSeq: seq,
    snapshot: z.boolean().optional(),
  }),
  /** Addition (docs/protocol.md): a page of stored output before `beforeSeq`. */
  "terminal:earlier": z.object({
    commandId: id,
    beforeSeq: z.number().int().positive(),
  }),
  "heartbeat": z.object({ sequence: z.number().int().nonnegative() }),
  /**
   * Without `token`: renew this connection's sign-in in place (a browser
   * session). With `token`: continue with that token of the same user.
   */
  "auth:refresh": z.object({ token: token.optional() }),
  "log:forward": z.object({
    level: z.enum(["error", "warn", "info"]),
    message: text,
    context: z.record(z.string(), z.unknown()).optional(),
  }),
  /** Addition (docs/protocol.md): keystrokes for the agent's running terminal. */
  "terminal:input": z.object({ agentId: id, data: inputData }),
  /** Addition: the controller's terminal size, for the agent's terminal. */
  "terminal:resize": z.object({ agentId: id, cols, rows }),
  /** Addition: take (`true`) or release (`false`) control of the terminal. */
  "session:control": z.object({ agentId: id, take: z.boolean() }),
  /** Addition: start agent `agentId`'s ended session again (a new record). */
  "session:restart": z.object({ agentId: id }),
} as const;

const ErrorPayload = z.object({
  code: z.enum(Object.keys(ERROR_CODES) as [ErrorCode, ...ErrorCode[]]),
  message: z.string(),
  recoverable: z.boolean(),
  replyTo: z.string().optional(),
});

const ConnectionAckPayload = z.object({
  connectionId: z.string(),
  serverVersion: z.string(),
  heartbeatIntervalMs: z.number().int().positive(),
  user: z.object({ id: z.string(), role: RoleSchema }),
  agentId: id.optional(),
  /** When the connection's token expires (ms since the epoch): refresh before. */
  expiresAt: z.number().int().optional(),
});

/** Server → dashboard payloads. */
export const ServerToDashboardPayloads = {
  "connection:ack": ConnectionAckPayload,
  "agent:list": z.object({ agents: z.array(AgentInfoSchema) }),
  "agent:status": z.object({ agent: AgentInfoSchema }),
  /** Addition (docs/protocol.md): agent `agentId` was forgotten. */
  "agent:removed": z.object({ agentId: id }),
  "command:status": z.object({
    command: CommandInfoSchema,
    replyTo: z.string().optional(),
  }),
  "command:queue": z.object({
    agentId: id,
    queue: z.array(z.object({
      commandId: id,
      priority: PrioritySchema,
      position: z.number().int().nonnegative(),
    })),
  }),
  "terminal:output": z.object({
    agentId: id,
    commandId: id,
    seq: z.number().int().positive(),
    stream: StreamSchema,
    data: z.string(),
  }),
  /**
   * Addition (docs/protocol.md): the screen of command `commandId` after its
   * output up to `seq`, as escape sequences that redraw it in a fresh
   * `cols` x `rows` terminal; output after `seq` follows.
   */
  "terminal:snapshot": z.object({
    agentId: id,
    commandId: id,
    seq: z.number().int().positive(),
    cols,
    rows,
    data: z.string(),
  }),
  /**
   * Addition: stored output `fromSeq..toSeq` joined (an answer to
   * `terminal:earlier`); `more` says whether older output is stored.
   */
  "terminal:earlier": z.object({
    agentId: id,
    commandId: id,
    fromSeq: z.number().int().positive(),
    toSeq: z.number().int().positive(),
    data: z.string(),
    more: z.boolean(),
  }),
  /** Output `fromSeq..toSeq` cannot be delivered (retention, or dropped by the agent). */
  "terminal:gap": z.object({
    agentId: id,
    commandId: id,
    fromSeq: z.number().int().positive(),
    toSeq: z.number().int().positive(),
  }),
  "heartbeat": z.object({ sequence: z.number().int().nonnegative() }),
  "auth:refreshed": z.object({ expiresAt: z.number().int() }),
  /** Addition (docs/protocol.md): who controls agent `agentId`'s terminal now. */
  "session:controller": z.object({
    agentId: id,
    holder: z.object({ userId: z.string().max(128), connectionId: z.string() })
      .nullable(),
  }),
  "error": ErrorPayload,
} as const;

/** Agent → server payloads. */
export const AgentPayloads = {
  "agent:connect": z.object({
    token: token.optional(),
    agentId: id,
    name: z.string().min(1).max(128),
    type: z.string().min(1).max(64),
    capabilities: z.array(z.string().max(64)).max(64),
    hostname: z.string().max(255),
    version: z.string().max(64),
    running: z.array(z.object({ commandId: id, lastSeq: seq })).max(64)
      .optional(),
    /** Addition (docs/protocol.md): the agent's tags (`--tag`). */
    tags: tags.optional(),
    /** Addition: the working directory commands run in (`--cwd`). */
    cwd: z.string().max(4096).optional(),
    /** Addition: git state of `cwd`; absent when it is not in a repository. */
    git: GitInfoSchema.optional(),
    /**
     * Addition (docs/protocol.md): the timeout (ms) of this agent's commands
     * whose request names none.
     */
    defaultTimeoutMs: z.number().int().positive().max(MAX_TIMEOUT_MS)
      .optional(),
  }),
  /**
   * Addition (docs/protocol.md): the git state of the agent's working
   * directory changed (null: no longer in a repository).
   */
  "agent:git": z.object({ git: GitInfoSchema.nullable() }),
  "command:started": z.object({
    commandId: id,
    startedAt: z.number().int().nonnegative(),
    /**
     * Addition (docs/protocol.md): a prompt was typed; its turn's output
     * starts at this seq of the session's stream.
     */
    fromSeq: z.number().int().positive().optional(),
    /** Addition (docs/protocol.md): a PTY command's terminal size at start. */
    cols: cols.optional(),
    rows: rows.optional(),
  }),
  "terminal:output": z.object({
    commandId: id,
    seq: z.number().int().positive(),
    stream: StreamSchema,
    data: boundedText(LIMITS.maxChunkBytes),
  }),
  "command:completed": z.object({
    commandId: id,
    exitCode: z.number().int().nullable(),
    status: z.enum(["completed", "failed", "interrupted", "timeout"]),
    completedAt: z.number().int().nonnegative(),
    lastSeq: seq,
    /** Addition (docs/protocol.md): the signal the process died of. */
    signal: z.string().min(1).max(16).optional(),
    /**
     * Addition (docs/protocol.md): why the agent interrupted it on its own
     * (e.g. it was stopping), when the server did not ask.
     */
    reason: z.string().max(LIMITS.maxTextChars).optional(),
    /**
     * Addition (docs/protocol.md): a prompt's turn ended; its output ends at
     * this seq of the session's stream.
     */
    toSeq: seq.optional(),
  }),
  "heartbeat": z.object({ sequence: z.number().int().nonnegative() }),
  /** Ask for a fresh token of this agent's sign-in (`auth:refreshed`). */
  "auth:refresh": z.object({}),
  /** Addition (docs/protocol.md): what the agent's program is doing now. */
  "agent:activity": z.object({
    activity: ActivitySchema,
    attention: boundedText(LIMITS.maxAttentionBytes).optional(),
    options: z.array(QuickAnswerSchema).max(MAX_QUICK_ANSWERS).optional(),
  }),
  /**
   * Addition (docs/protocol.md): the screen of running command `commandId`
   * after its output up to `seq` (already acknowledged), for late joiners.
   */
  "terminal:snapshot": z.object({
    commandId: id,
    seq: z.number().int().positive(),
    cols,
    rows,
    data: boundedText(LIMITS.maxSnapshotBytes),
  }),
  /**
   * Addition (docs/protocol.md): a session agent asks for its session record
   * (`session:started`); `program` is shown, never run by the server.
   */
  "session:start": z.object({
    program: boundedText(LIMITS.maxSessionProgramBytes).refine(
      (s) => s.length > 0,
      { message: "must not be empty" },
    ),
    cols,
    rows,
  }),
} as const;

/** Server → agent payloads. */
export const ServerToAgentPayloads = {
  "connection:ack": ConnectionAckPayload.extend({
    agentId: id,
    /** UTF-8 bytes of `terminal:output` frames the agent may leave unacknowledged. */
    outputWindowBytes: z.number().int().positive().optional(),
    /** Set when this connection replaced an open one with the same id. */
    replaced: z.literal(true).optional(),
  }),
  /** A fresh token for the agent to keep (in memory) and reconnect with. */
  "auth:refreshed": z.object({ expiresAt: z.number().int(), token }),
  "command:execute": z.object({ command: CommandInfoSchema }),
  "terminal:ack": z.object({
    commandId: id,
    seq,
    completed: z.literal(true).optional(),
  }),
  "command:interrupt": z.object({
    commandId: id,
    reason: z.string().optional(),
    graceMs: z.number().int().nonnegative().optional(),
  }),
  "heartbeat": z.object({ sequence: z.number().int().nonnegative() }),
  /** Addition (docs/protocol.md): type `data` into command `commandId`'s terminal. */
  "terminal:input": z.object({ commandId: id, data: inputData }),
  /** Addition: resize command `commandId`'s terminal. */
  "terminal:resize": z.object({ commandId: id, cols, rows }),
  /** Addition: the session record (kind `session`, running) to run under. */
  "session:started": z.object({ command: CommandInfoSchema }),
  /**
   * Addition: a dashboard user asks to start the ended session again; the
   * agent answers with `session:start`.
   */
  "session:restart": z.object({ requestedBy: z.string().max(128) }),
  "error": ErrorPayload,
} as const;

type PayloadMap = Record<string, z.ZodType>;

/** A typed envelope for one entry of a payload map. */
export type Envelope<M extends PayloadMap> = {
  [K in keyof M & string]: {
    version: string;
    type: K;
    id?: string;
    timestamp: number;
    payload: z.output<M[K]>;
  };
}[keyof M & string];

export type DashboardMessage = Envelope<typeof DashboardPayloads>;
export type AgentMessage = Envelope<typeof AgentPayloads>;
export type ServerToDashboardMessage = Envelope<
  typeof ServerToDashboardPayloads
>;
export type ServerToAgentMessage = Envelope<typeof ServerToAgentPayloads>;

/** Payload type of message `K` in map `M`. */
export type PayloadOf<M extends PayloadMap, K extends keyof M> = z.input<M[K]>;

const EnvelopeSchema = z.object({
  version: z.string().regex(/^\d+\.\d+\.\d+$/),
  type: z.string().min(1).max(64),
  id: z.string().min(1).max(LIMITS.maxIdChars).optional(),
  timestamp: z.number().int().nonnegative(),
  payload: z.unknown(),
});

/** Why a frame was refused, ready to send back as an `error` payload. */
export interface ParseFailure {
  ok: false;
  code: "INVALID_MESSAGE" | "PAYLOAD_TOO_LARGE" | "VERSION_UNSUPPORTED";
  message: string;
  /** Dotted path of the first failing field, e.g. `payload.agentId`. */
  field?: string;
  /** The envelope id when it could be read, for `replyTo`. */
  replyTo?: string;
}

/** Result of parsing one frame. */
export type ParseResult<T> = { ok: true; message: T } | ParseFailure;

function describe(issue: z.core.$ZodIssue, prefix: string[]): {
  field: string;
  message: string;
  tooLarge: boolean;
} {
  const field = [...prefix, ...issue.path.map(String)].join(".");
  // Oversized strings and lists are PAYLOAD_TOO_LARGE; numbers out of range
  // are plain invalid values.
  const tooLarge = (issue.code === "too_big" && issue.origin !== "number") ||
    (issue.code === "custom" && issue.params?.tooLarge === true);
  let detail = issue.message;
  if (issue.code === "invalid_type" && /received undefined$/.test(detail)) {
    detail = "required";
  }
  return { field, message: `Invalid field "${field}": ${detail}`, tooLarge };
}

function failure(
  error: z.ZodError,
  prefix: string[],
  replyTo: string | undefined,
): ParseFailure {
  const first = describe(error.issues[0], prefix);
  return {
    ok: false,
    // Only payload fields have size limits; a bad envelope field is invalid.
    code: first.tooLarge && prefix.length > 0
      ? "PAYLOAD_TOO_LARGE"
      : "INVALID_MESSAGE",
    message: first.message,
    field: first.field,
    replyTo,
  };
}

function parseWith<M extends PayloadMap>(
  map: M,
  raw: unknown,
): ParseResult<Envelope<M>> {
  let value: unknown = raw;
  if (typeof raw === "string") {
    try {
      value = JSON.parse(raw);
    } catch {
      return {
        ok: false,
        code: "INVALID_MESSAGE",
        message: "Frame is not JSON",
      };
    }
  }
  const envelope = EnvelopeSchema.safeParse(value);
  const replyTo = typeof (value as { id?: unknown })?.id === "string" &&
      (value as { id: string }).id.length <= LIMITS.maxIdChars
    ? (value as { id: string }).id
    : undefined;
  if (!envelope.success) return failure(envelope.error, [], replyTo);
  const { version, type } = envelope.data;
  if (!version.startsWith("1.")) {
    return {
      ok: false,
      code: "VERSION_UNSUPPORTED",
      message: `Unsupported protocol version "${version}"`,
      field: "version",
      replyTo,
    };
  }
  const schema = Object.hasOwn(map, type) ? map[type] : undefined;
  if (!schema) {
    return {
      ok: false,
      code: "INVALID_MESSAGE",
      message: `Unknown message type "${type}"`,
      field: "type",
      replyTo,
    };
  }
  const payload = schema.safeParse(envelope.data.payload);
  if (!payload.success) return failure(payload.error, ["payload"], replyTo);
  return {
    ok: true,
    message: { ...envelope.data, payload: payload.data } as Envelope<M>,
  };
}

/** Parse a frame sent by a dashboard (JSON text or an already parsed value). */
export function parseDashboardMessage(
  raw: unknown,
): ParseResult<DashboardMessage> {
  return parseWith(DashboardPayloads, raw);
}

/**
 * Parse a frame sent by an agent. `terminal:output`, the bulk of what agents
 * send, is checked by hand when it is valid (see {@link agentOutput}); any
 * other message, and output that fails a check, goes through the schemas.
 */
export function parseAgentMessage(raw: unknown): ParseResult<AgentMessage> {
  let value: unknown = raw;
  if (typeof raw === "string") {
    try {
      value = JSON.parse(raw);
    } catch {
      return {
        ok: false,
        code: "INVALID_MESSAGE",
        message: "Frame is not JSON",
      };
    }
  }
  const output = agentOutput(value);
  if (output) return { ok: true, message: output };
  return parseWith(AgentPayloads, value);
}

/**
 * Parse a frame sent by an agent with the schemas only (what
 * {@link parseAgentMessage} must agree with; used by its tests).
 */
export function parseAgentMessageBySchema(
  raw: unknown,
): ParseResult<AgentMessage> {
  return parseWith(AgentPayloads, raw);
}

const STREAMS: ReadonlySet<unknown> = new Set(StreamSchema.options);
const VERSION = /^1\.\d+\.\d+$/;

/**
 * A valid agent `terminal:output` message, checked without the schemas (the
 * same checks, for a message that passes them all: envelope fields, id
 * lengths, integers, the stream, the data's UTF-8 bytes within
 * `maxChunkBytes`, counted only when its length cannot tell), with unknown
 * fields dropped as the schemas drop them. Null for anything else, or
 * anything that fails a check: the schemas then decide, and word the error.
 */
function agentOutput(value: unknown): AgentMessage | null {
  if (typeof value !== "object" || value === null) return null;
  const v = value as Record<string, unknown>;
  if (v.type !== "terminal:output") return null;
  const { version, id, timestamp, payload } = v;
  if (typeof version !== "string" || !VERSION.test(version)) return null;
  if (
    id !== undefined &&
    (typeof id !== "string" || id.length < 1 || id.length > LIMITS.maxIdChars)
  ) return null;
  if (!Number.isSafeInteger(timestamp) || (timestamp as number) < 0) {
    return null;
  }
  if (typeof payload !== "object" || payload === null) return null;
  const { commandId, seq, stream, data } = payload as Record<string, unknown>;
  if (
    typeof commandId !== "string" || commandId.length < 1 ||
    commandId.length > 128 || !Number.isSafeInteger(seq) ||
    (seq as number) < 1 || !STREAMS.has(stream) || typeof data !== "string"
  ) return null;
  // At most 3 UTF-8 bytes per UTF-16 unit, at least 1.
  const max = LIMITS.maxChunkBytes;
  if (
    data.length > max || (data.length * 3 > max && byteLength(data) > max)
  ) return null;
  const message = {
    version,
    type: "terminal:output" as const,
    timestamp: timestamp as number,
    payload: {
      commandId,
      seq: seq as number,
      stream: stream as Stream,
      data,
    },
  };
  return id === undefined ? message : { ...message, id: id as string };
}

/** Parse a frame the server sent to a dashboard (used by clients and tests). */
export function parseServerMessage(
  raw: unknown,
): ParseResult<ServerToDashboardMessage> {
  return parseWith(ServerToDashboardPayloads, raw);
}

/** Parse a frame the server sent to an agent. */
export function parseServerToAgentMessage(
  raw: unknown,
): ParseResult<ServerToAgentMessage> {
  return parseWith(ServerToAgentPayloads, raw);
}

/** Message types of payload map `M`. */
export type MessageType<M extends PayloadMap> = keyof M & string;

/**
 * An envelope about to be sent: message `K` of map `M` (a union when `K` is
 * one), its payload typed as the schema's input (defaults may be left out).
 */
export type Outgoing<
  M extends PayloadMap,
  K extends MessageType<M> = MessageType<M>,
> = Extract<
  {
    [T in MessageType<M>]: {
      version: string;
      type: T;
      id?: string;
      timestamp: number;
      payload: z.input<M[T]>;
    };
  }[MessageType<M>],
  { type: K }
>;

/** A server → dashboard envelope to send (all of them, or type `K`). */
export type ToDashboard<
  K extends MessageType<typeof ServerToDashboardPayloads> = MessageType<
    typeof ServerToDashboardPayloads
  >,
> = Outgoing<typeof ServerToDashboardPayloads, K>;
/** A server → agent envelope to send (all of them, or type `K`). */
export type ToAgent<
  K extends MessageType<typeof ServerToAgentPayloads> = MessageType<
    typeof ServerToAgentPayloads
  >,
> = Outgoing<typeof ServerToAgentPayloads, K>;
/** A dashboard → server envelope to send (all of them, or type `K`). */
export type FromDashboard<
  K extends MessageType<typeof DashboardPayloads> = MessageType<
    typeof DashboardPayloads
  >,
> = Outgoing<typeof DashboardPayloads, K>;
/** An agent → server envelope to send (all of them, or type `K`). */
export type FromAgent<
  K extends MessageType<typeof AgentPayloads> = MessageType<
    typeof AgentPayloads
  >,
> = Outgoing<typeof AgentPayloads, K>;

/**
 * The `error` envelope: the same shape to dashboards and to agents, so a
 * session of either direction can send it.
 */
export type ErrorMessage = ToDashboard<"error"> & ToAgent<"error">;

type Stamped<T, P> = {
  version: string;
  type: T;
  id?: string;
  timestamp: number;
  payload: P;
};

/** `type` and `payload` in an envelope of this version and time, `id` if given. */
function stamp<T extends string, P>(
  type: T,
  payload: P,
  id: string | undefined,
): Stamped<T, P> {
  const message = {
    version: PROTOCOL_VERSION,
    type,
    timestamp: Date.now(),
    payload,
  };
  return id === undefined ? message : { ...message, id };
}

function build<M extends PayloadMap, K extends MessageType<M>>(
  type: K,
  payload: z.input<M[K]>,
  id: string | undefined,
): Outgoing<M, K> {
  // `{ type: K; payload: z.input<M[K]> }` is `Outgoing<M, K>` for every
  // single K; TypeScript cannot see that through the `Extract`.
  return stamp(type, payload, id) as Outgoing<M, K>;
}

/**
 * Build a server → dashboard envelope; `payload` must be that message's.
 *
 * @example
 * ```ts
 * dashboards.broadcast(toDashboard("agent:removed", { agentId: "a-1" }));
 * ```
 */
export function toDashboard<
  K extends MessageType<typeof ServerToDashboardPayloads>,
>(
  type: K,
  payload: PayloadOf<typeof ServerToDashboardPayloads, K>,
  id?: string,
): ToDashboard<K> {
  return build<typeof ServerToDashboardPayloads, K>(type, payload, id);
}

/**
 * Build a server → agent envelope; `payload` must be that message's.
 *
 * @example
 * ```ts
 * sendToAgent("a-1", toAgent("terminal:ack", { commandId: "c-1", seq: 3 }));
 * ```
 */
export function toAgent<K extends MessageType<typeof ServerToAgentPayloads>>(
  type: K,
  payload: PayloadOf<typeof ServerToAgentPayloads, K>,
  id?: string,
): ToAgent<K> {
  return build<typeof ServerToAgentPayloads, K>(type, payload, id);
}

/**
 * Build a dashboard → server envelope; `payload` must be that message's
 * (fields with defaults, like `priority`, may be left out).
 *
 * @example
 * ```ts
 * const frame = JSON.stringify(fromDashboard("heartbeat", { sequence: 1 }));
 * ```
 */
export function fromDashboard<K extends MessageType<typeof DashboardPayloads>>(
  type: K,
  payload: PayloadOf<typeof DashboardPayloads, K>,
  id?: string,
): FromDashboard<K> {
  return build<typeof DashboardPayloads, K>(type, payload, id);
}

/** Build an agent → server envelope; `payload` must be that message's. */
export function fromAgent<K extends MessageType<typeof AgentPayloads>>(
  type: K,
  payload: PayloadOf<typeof AgentPayloads, K>,
  id?: string,
): FromAgent<K> {
  return build<typeof AgentPayloads, K>(type, payload, id);
}

/**
 * Build an envelope of any `type` with any `payload`, unchecked. Only for
 * tests that put invalid or foreign frames on the wire; everything else
 * sends through {@link toDashboard}, {@link toAgent}, {@link fromDashboard}
 * or {@link fromAgent} (lib/protocol_types_test.ts checks that).
 */
export function envelope<T extends string, P>(
  type: T,
  payload: P,
  id?: string,
): Stamped<T, P> {
  return stamp(type, payload, id);
}

/** The `error` envelope for `code`, with its recoverable flag from the table. */
export function errorMessage(
  code: ErrorCode,
  message: string,
  replyTo?: string,
): ErrorMessage {
  return build<typeof ServerToDashboardPayloads, "error">(
    "error",
    errorPayload(code, message, replyTo),
    undefined,
  );
}

/** The `error` payload for `code`, with its recoverable flag from the table. */
export function errorPayload(
  code: ErrorCode,
  message: string,
  replyTo?: string,
): z.infer<typeof ErrorPayload> {
  const payload = {
    code,
    message,
    recoverable: ERROR_CODES[code].recoverable,
  };
  return replyTo === undefined ? payload : { ...payload, replyTo };
}
