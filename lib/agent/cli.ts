/**
 * Command-line flags of `deno task agent`, validated with zod.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { decodeJwt } from "jose";
import { z } from "zod";
import type { AgentOptions } from "./connection.ts";
import { MAX_TIMEOUT_MS, TAG_LIMITS, TagSchema } from "../protocol.ts";
import { DEFAULT_STALL_AFTER_MS } from "./activity.ts";
import {
  type ActivityFlags,
  parseDuration,
  parsePattern,
  parseRestart,
  type RestartMode,
} from "./session_flags.ts";

/** Agent types the CLI accepts. */
export const AGENT_TYPES = ["shell", "claude", "gemini", "codex"] as const;

/**
 * Programs `--session` runs when none follows `--`: the type's interactive
 * CLI, a login shell for `shell`.
 */
export const DEFAULT_SESSION_PROGRAMS: Readonly<
  Record<typeof AGENT_TYPES[number], readonly string[]>
> = {
  shell: ["bash", "-l"],
  claude: ["claude"],
  gemini: ["gemini"],
  codex: ["codex"],
};

/**
 * Default one-shot command templates. The prompt follows as one argument
 * that is never read as an option (`commandArgv` in `argv.ts`): after `--`
 * for claude and codex, as `--prompt=<prompt>` for gemini.
 */
export const DEFAULT_TEMPLATES: Readonly<Record<string, string>> = {
  claude: "claude -p",
  gemini: "gemini",
  codex: "codex exec",
};

const DEFAULT_SERVER = "http://localhost:8000";
const DEFAULT_GRACE_MS = 2000;
const DEFAULT_MAX_BUFFER_BYTES = 64 * 1024 * 1024;
const DEFAULT_COLS = 120;
const DEFAULT_ROWS = 40;
const MAX_TERMINAL_SIZE = 1000;

/** `--help` text: every flag with its default, and an example. */
export const HELP = `Usage: deno task agent --name NAME [flags]
       deno task agent --name NAME [flags] --session [-- PROGRAM ARGS...]

Runs commands sent by a Flightdeck server and streams their output back.

Flags:
  --server URL            http(s) URL of the server; the agent connects to
                          ws(s)://host/ws/agent
                          (default: $FLIGHTDECK_SERVER or ${DEFAULT_SERVER})
  --token-file FILE       read the agent token from FILE (relative to the
                          folder deno task was started in), which must not be
                          readable by others (chmod 600); the token stays
                          out of ps and shell history
                          (default: $FLIGHTDECK_TOKEN_FILE)
  --token T               agent token; prefer $FLIGHTDECK_TOKEN or
                          --token-file: a token on the command line is
                          visible to every user of the machine (ps) and is
                          echoed by deno task (a warning says so)
  One of $FLIGHTDECK_TOKEN, --token-file or --token is required.
  --name NAME             display name of this agent (required)
  --id ID                 agent id (default: the token's agentId claim,
                          else a slug of --name)
  --type TYPE             shell | claude | gemini | codex (default: shell)
  --cwd DIR               working directory of commands (default: current dir)
  --tag NAME              a tag shown on dashboards, which filter by it;
                          repeat for more (at most 16; letters, digits and
                          . _ : / -, up to 32 characters), e.g. --tag gpu
                          --tag team:web
  --no-git                do not report the git branch and dirty state of
                          --cwd (read with git status at start, after each
                          command and after each session turn)
  --claude-cmd CMD        one-shot command for --type claude
                          (default: $FLIGHTDECK_CLAUDE_CMD or "claude -p")
  --gemini-cmd CMD        one-shot command for --type gemini
                          (default: $FLIGHTDECK_GEMINI_CMD or "gemini")
  --codex-cmd CMD         one-shot command for --type codex
                          (default: $FLIGHTDECK_CODEX_CMD or "codex exec")
                          The prompt is passed as one argument, no shell,
                          never as an option: after "--" for claude and
                          codex, as --prompt=PROMPT for gemini (a trailing
                          -p in the gemini command is folded into it).
  --grace-ms MS           interrupt grace: SIGINT, then SIGTERM and SIGKILL
                          after MS each (default: ${DEFAULT_GRACE_MS})
  --timeout-ms MS         timeout of this agent's commands whose request
                          names none: the server interrupts them MS after
                          they started and they end "timeout" (default: the
                          server's, FLIGHTDECK_COMMAND_TIMEOUT_MS)
  --max-buffer-bytes N    most unacknowledged output held: the output window
                          is the smaller of N and the server's (4 MiB by
                          default); while it is full the agent stops reading
                          the command's output, so the command waits as on a
                          slow terminal; nothing is dropped
                          (default: ${DEFAULT_MAX_BUFFER_BYTES}, 64 MiB)
  --pty                   run each command in a pseudo-terminal: programs see
                          a TTY (colors, progress bars), stdout and stderr
                          arrive merged as one "pty" stream; nothing is typed
                          in, so a command waiting for input waits until it
                          is interrupted (default: off, on when
                          $FLIGHTDECK_PTY=1)
  --session               session mode: run PROGRAM (the words after --) once
                          in a pseudo-terminal as this agent's session, a
                          command of kind "session" that dashboards watch,
                          type into and resize; without PROGRAM: claude,
                          gemini or codex for those types, bash -l for shell.
                          When it exits the session ends with its exit code;
                          see --restart. Commands sent to a session agent
                          are prompts, typed into the session when it waits.
                          In a terminal (stdin and stdout a TTY) the session
                          shows there too and takes local keys: Ctrl-C goes
                          to the program, Ctrl-] quits the agent (the
                          session is interrupted); the last resize wins,
                          local or the browser controller's; it starts at
                          the terminal's size, not --cols/--rows. Without a
                          TTY it runs headless; if the terminal goes away
                          (closed, SIGHUP) it goes on headless (stop it
                          with SIGTERM)
  --restart MODE          never | always: with always, a session whose
                          program exited is started again as a new session
                          record after 1 s, doubling to 30 s while it keeps
                          exiting within 60 s (default: never; dashboards
                          can restart an ended session either way)
  --stall-after DURATION  with --session or --pty: working with no progress
                          on screen for this long is "stalled", e.g. 90s,
                          5m, 1h; a bare number is seconds (default: 5m)
  --waiting-pattern RE    with --session or --pty: a regular expression that
                          replaces the type's "waiting at its prompt"
                          patterns, matched against each of the screen's
                          last rows (the cursor row for shell and --pty)
  --input-pattern RE      with --session or --pty: a regular expression that
                          replaces the type's question patterns (last 24
                          rows); the matching row is the question, numbered
                          answers below it become quick answers
  --headless              with --session: never show the session in this
                          terminal, even when it is one
  --log-file FILE         append the agent's log lines to FILE instead of
                          stderr; in a terminal session they go to
                          $XDG_STATE_HOME/flightdeck/agent-ID.log (default
                          ~/.local/state/flightdeck/, a mode 700 directory)
                          unless this is set, so they never draw over the
                          session. The file is created with mode 600; a
                          symbolic link, or a file of another user, is
                          refused
  --no-claude-hooks       with --type claude --session: read claude's
                          activity from its screen only; by default the
                          wrapper also adds Claude Code hooks (--settings,
                          merged with yours) that report prompts, tool use,
                          permission questions and the end of each turn
  --cols N                terminal width with --pty or --session,
                          1-${MAX_TERMINAL_SIZE} (default: ${DEFAULT_COLS})
  --rows N                terminal height with --pty or --session,
                          1-${MAX_TERMINAL_SIZE} (default: ${DEFAULT_ROWS})
  --help                  show this help

Exit codes: 0 stopped, 2 bad flags (a bad regular expression, or --pty
unsupported on this platform), 3 token rejected, 4 replaced or forbidden.

Example:
  deno task token --role agent --agent-id build-1 --out build-1.token
  deno task agent --server http://localhost:8000 --token-file build-1.token \\
    --name build-1 --cwd ~/src/app
`;

/** Terminal size asked for with `--pty`. */
export interface PtySize {
  cols: number;
  rows: number;
}

/**
 * Outcome of {@link parseCli}. `pty` is set when PTY mode is on; the caller
 * loads node-pty and passes it to the agent (`AgentOptions.pty`).
 */
export type CliResult =
  | {
    kind: "run";
    options: AgentOptions;
    /** Terminal size, set with `--pty` and with `--session`. */
    pty?: PtySize;
    /** Warnings to print before starting (never containing the token). */
    warnings: string[];
    /** `--log-file`: where log lines go instead of stderr. */
    logFile?: string;
    /** `--headless`: never show the session in this terminal. */
    headless: boolean;
  }
  | { kind: "help" }
  | { kind: "error"; message: string };

const intFlag = (flag: string, min: number, max = Number.MAX_SAFE_INTEGER) =>
  z.coerce.number({ error: `--${flag} must be a number` })
    .int({ error: `--${flag} must be an integer` })
    .min(min, { error: `--${flag} must be at least ${min}` })
    .max(max, { error: `--${flag} must be at most ${max}` });

const TOKEN_REQUIRED =
  "A token is required: set FLIGHTDECK_TOKEN, or pass --token-file FILE";

/** Warning printed when the token is given with `--token`. */
export const TOKEN_FLAG_WARNING =
  "WARNING: --token puts the token on the command line, where every user " +
  "of this machine can read it (ps, /proc) and deno task echoes it; use " +
  "FLIGHTDECK_TOKEN or --token-file FILE (chmod 600) instead";

/**
 * Read the token from `path`, refusing a file others can read or write.
 * Returns the token, or an error message.
 */
export function readTokenFile(path: string): { token: string } | {
  error: string;
} {
  let info: Deno.FileInfo;
  let text: string;
  try {
    info = Deno.statSync(path);
    text = Deno.readTextFileSync(path);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    return { error: `Cannot read --token-file "${path}": ${reason}` };
  }
  // `mode` is null on Windows, where POSIX permissions do not apply.
  if (info.mode !== null && (info.mode & 0o077) !== 0) {
    const mode = (info.mode & 0o777).toString(8).padStart(4, "0");
    return {
      error: `Refusing --token-file "${path}": it is readable by other ` +
        `users (mode ${mode}); run chmod 600 "${path}"`,
    };
  }
  const token = text.trim();
  if (!token) return { error: `--token-file "${path}" is empty` };
  return { token };
}

const FlagsSchema = z.object({
  server: z.string().refine((value) => {
    try {
      return /^https?:$/.test(new URL(value).protocol);
    } catch {
      return false;
    }
  }, { error: "--server must be an http:// or https:// URL" }),
  token: z.string({ error: TOKEN_REQUIRED }).trim().min(1, {
    error: TOKEN_REQUIRED,
  }),
  name: z.string({ error: "--name is required" })
    .trim().min(1, { error: "--name is required" }).max(128, {
      error: "--name must be at most 128 characters",
    }),
  id: z.string().min(1).max(128, {
    error: "--id must be at most 128 characters",
  })
    .optional(),
  type: z.enum(AGENT_TYPES, {
    error: `--type must be one of ${AGENT_TYPES.join(", ")}`,
  }),
  cwd: z.string().refine(isDirectory, { error: "--cwd must be a directory" }),
  claudeCmd: z.string().trim().min(1, { error: "--claude-cmd is empty" }),
  geminiCmd: z.string().trim().min(1, { error: "--gemini-cmd is empty" }),
  codexCmd: z.string().trim().min(1, { error: "--codex-cmd is empty" }),
  graceMs: intFlag("grace-ms", 0),
  timeoutMs: intFlag("timeout-ms", 1, MAX_TIMEOUT_MS).optional(),
  maxBufferBytes: intFlag("max-buffer-bytes", 1),
  pty: z.boolean(),
  cols: intFlag("cols", 1, MAX_TERMINAL_SIZE),
  rows: intFlag("rows", 1, MAX_TERMINAL_SIZE),
});

/** `FLIGHTDECK_PTY`: `1`/`true` on, unset/empty/`0`/`false` off. */
function envFlag(value: string | undefined): boolean | string {
  const normalized = (value ?? "").trim().toLowerCase();
  if (normalized === "1" || normalized === "true") return true;
  if (["", "0", "false"].includes(normalized)) return false;
  return `FLIGHTDECK_PTY must be 1 or 0, not "${value}"`;
}

function isDirectory(path: string): boolean {
  try {
    return Deno.statSync(path).isDirectory;
  } catch {
    return false;
  }
}

/** A readable id from a display name: `"Build #1"` → `"build-1"`. */
export function slugify(name: string): string {
  const slug = name.toLowerCase().replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "").slice(0, 128);
  return slug || "agent";
}

/** The `agentId` claim of a JWT, read without verifying the signature. */
export function tokenAgentId(token: string): string | undefined {
  try {
    const claim = z.string().min(1).max(128).safeParse(
      decodeJwt(token).agentId,
    );
    return claim.success ? claim.data : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Parse `args` (without the program name) into {@link AgentOptions}.
 * Never throws: bad flags come back as `{ kind: "error", message }`.
 */
export function parseCli(
  args: string[],
  env: Record<string, string | undefined>,
  cwd: string,
): CliResult {
  // Everything after the first `--` is the session's program.
  const dashDash = args.indexOf("--");
  const program = dashDash < 0 ? undefined : args.slice(dashDash + 1);
  let values;
  try {
    const str = { type: "string" } as const;
    values = parseArgs({
      args: dashDash < 0 ? args : args.slice(0, dashDash),
      strict: true,
      allowPositionals: false,
      options: {
        server: str,
        token: str,
        "token-file": str,
        name: str,
        id: str,
        type: str,
        cwd: str,
        "claude-cmd": str,
        "gemini-cmd": str,
        "codex-cmd": str,
        "grace-ms": str,
        "timeout-ms": str,
        "max-buffer-bytes": str,
        pty: { type: "boolean" },
        session: { type: "boolean" },
        "no-claude-hooks": { type: "boolean" },
        cols: str,
        rows: str,
        restart: str,
        "stall-after": str,
        "waiting-pattern": str,
        "input-pattern": str,
        "log-file": str,
        headless: { type: "boolean" },
        tag: { type: "string", multiple: true },
        "no-git": { type: "boolean" },
        help: { type: "boolean" },
      },
    }).values;
  } catch (error) {
    // node:util messages span lines and end with a period: keep the first.
    const text = error instanceof Error ? error.message : String(error);
    return { kind: "error", message: text.split("\n")[0].replace(/\.$/, "") };
  }
  if (values.help) return { kind: "help" };
  if (program !== undefined && !values.session) {
    return { kind: "error", message: "A program after -- needs --session" };
  }
  if (program !== undefined && program.length === 0) {
    return { kind: "error", message: "No program after --" };
  }
  const envPty = envFlag(env.FLIGHTDECK_PTY);
  if (typeof envPty === "string" && !values.pty) {
    return { kind: "error", message: envPty };
  }
  const warnings: string[] = [];
  const tokenFile = values["token-file"] ?? env.FLIGHTDECK_TOKEN_FILE;
  let token = env.FLIGHTDECK_TOKEN;
  if (values.token !== undefined && values["token-file"] !== undefined) {
    return { kind: "error", message: "Use --token or --token-file, not both" };
  }
  if (values.token !== undefined) {
    token = values.token;
    warnings.push(TOKEN_FLAG_WARNING);
  } else if (tokenFile !== undefined) {
    // `deno task` runs in the project folder; INIT_CWD is where it was typed.
    const read = readTokenFile(
      tokenFile.startsWith("/")
        ? tokenFile
        : `${env.INIT_CWD ?? cwd}/${tokenFile}`,
    );
    if ("error" in read) return { kind: "error", message: read.error };
    token = read.token;
  }
  const parsed = FlagsSchema.safeParse({
    server: values.server ?? env.FLIGHTDECK_SERVER ?? DEFAULT_SERVER,
    token,
    name: values.name,
    id: values.id,
    type: values.type ?? "shell",
    cwd: values.cwd ?? cwd,
    claudeCmd: values["claude-cmd"] ?? env.FLIGHTDECK_CLAUDE_CMD ??
      DEFAULT_TEMPLATES.claude,
    geminiCmd: values["gemini-cmd"] ?? env.FLIGHTDECK_GEMINI_CMD ??
      DEFAULT_TEMPLATES.gemini,
    codexCmd: values["codex-cmd"] ?? env.FLIGHTDECK_CODEX_CMD ??
      DEFAULT_TEMPLATES.codex,
    graceMs: values["grace-ms"] ?? DEFAULT_GRACE_MS,
    timeoutMs: values["timeout-ms"],
    maxBufferBytes: values["max-buffer-bytes"] ?? DEFAULT_MAX_BUFFER_BYTES,
    pty: values.pty === true || envPty === true,
    cols: values.cols ?? DEFAULT_COLS,
    rows: values.rows ?? DEFAULT_ROWS,
  });
  if (!parsed.success) {
    return { kind: "error", message: parsed.error.issues[0].message };
  }
  const flags = parsed.data;
  const tags = parseTags(values.tag ?? []);
  if ("error" in tags) return { kind: "error", message: tags.error };
  const live = parseLiveFlags(values, values.session === true, flags.pty);
  if ("error" in live) return { kind: "error", message: live.error };
  const split = (template: string) => template.split(/\s+/).filter(Boolean);
  const session = values.session
    ? {
      argv: program ?? [...DEFAULT_SESSION_PROGRAMS[flags.type]],
      restart: live.restart,
    }
    : undefined;
  return {
    kind: "run",
    options: {
      serverUrl: flags.server,
      token: flags.token,
      agentId: flags.id ?? tokenAgentId(flags.token) ?? slugify(flags.name),
      name: flags.name,
      type: flags.type,
      cwd: flags.cwd,
      ...(tags.tags.length ? { tags: tags.tags } : {}),
      reportGit: values["no-git"] !== true,
      templates: {
        claude: split(flags.claudeCmd),
        gemini: split(flags.geminiCmd),
        codex: split(flags.codexCmd),
      },
      graceMs: flags.graceMs,
      ...(flags.timeoutMs !== undefined
        ? { defaultTimeoutMs: flags.timeoutMs }
        : {}),
      maxBufferBytes: flags.maxBufferBytes,
      ...(session ? { session } : {}),
      ...(session || flags.pty ? { activity: live.activity } : {}),
      ...(values["no-claude-hooks"] ? { claudeHooks: false } : {}),
    },
    ...(flags.pty || session
      ? { pty: { cols: flags.cols, rows: flags.rows } }
      : {}),
    warnings,
    headless: values.headless === true,
    ...(values["log-file"] !== undefined
      ? { logFile: resolvePath(values["log-file"], env, cwd) }
      : {}),
  };
}

/** `--tag` values: each valid, duplicates dropped, at most 16. */
function parseTags(values: string[]): { tags: string[] } | { error: string } {
  const tags: string[] = [];
  for (const value of values) {
    const parsed = TagSchema.safeParse(value);
    if (!parsed.success) {
      return {
        error: `--tag "${value}" is invalid: ${
          value.length > TAG_LIMITS.maxTagChars
            ? `longer than ${TAG_LIMITS.maxTagChars} characters`
            : "use letters, digits and . _ : / - (starting with a letter or digit)"
        }`,
      };
    }
    if (!tags.includes(parsed.data)) tags.push(parsed.data);
  }
  if (tags.length > TAG_LIMITS.maxTags) {
    return { error: `At most ${TAG_LIMITS.maxTags} --tag flags` };
  }
  return { tags };
}

/** `path` relative to where `deno task` was typed (INIT_CWD), else `cwd`. */
function resolvePath(
  path: string,
  env: Record<string, string | undefined>,
  cwd: string,
): string {
  return path.startsWith("/") ? path : `${env.INIT_CWD ?? cwd}/${path}`;
}

/**
 * `--restart`, `--stall-after`, `--waiting-pattern` and `--input-pattern`:
 * parsed, and refused where they would do nothing.
 */
function parseLiveFlags(
  values: {
    restart?: string;
    "stall-after"?: string;
    "waiting-pattern"?: string;
    "input-pattern"?: string;
  },
  session: boolean,
  pty: boolean,
): { restart: RestartMode; activity: ActivityFlags } | { error: string } {
  let restart: RestartMode = "never";
  if (values.restart !== undefined) {
    if (!session) return { error: "--restart needs --session" };
    const parsed = parseRestart(values.restart);
    if ("error" in parsed) return parsed;
    restart = parsed.mode;
  }
  const activity: ActivityFlags = { stallAfterMs: DEFAULT_STALL_AFTER_MS };
  for (
    const flag of ["stall-after", "waiting-pattern", "input-pattern"] as const
  ) {
    const text = values[flag];
    if (text === undefined) continue;
    if (!session && !pty) {
      return { error: `--${flag} needs --session or --pty` };
    }
    if (flag === "stall-after") {
      const parsed = parseDuration(flag, text);
      if ("error" in parsed) return parsed;
      activity.stallAfterMs = parsed.ms;
      continue;
    }
    const parsed = parsePattern(flag, text);
    if ("error" in parsed) return parsed;
    if (flag === "waiting-pattern") activity.waitingPattern = parsed.pattern;
    else activity.inputPattern = parsed.pattern;
  }
  return { restart, activity };
}
