/**
 * The agent's only way to talk to its operator: lines on stderr, each
 * prefixed with `flightdeck-agent: `, or in a log file (`--log-file`, and
 * always while a session is shown in the local terminal).
 *
 * @module
 */

/** Where the agent reports what it does. */
export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/** Prefix of every line the agent prints. */
export const LOG_PREFIX = "flightdeck-agent: ";

/** A logger writing `flightdeck-agent: <message>` lines to stderr. */
export function createStderrLogger(): Logger {
  const write = (message: string) => {
    // deno-lint-ignore no-console
    console.error(LOG_PREFIX + message);
  };
  return { info: write, warn: write, error: write };
}

/** A logger that keeps lines in memory, for tests. */
export function createMemoryLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const write = (message: string) => {
    lines.push(LOG_PREFIX + message);
  };
  return { lines, info: write, warn: write, error: write };
}

/**
 * Open log file `path` for appending, refusing what a local attacker could
 * have planted there: a symbolic link, anything but a regular file, or a file
 * owned by another user. A missing file is created with mode 600 (never
 * through a link: it must not exist yet); an existing one of ours that others
 * may read is made 600.
 *
 * @throws {Error} With the reason, when the file is refused or cannot be
 * opened.
 */
export function openLogFile(path: string): Deno.FsFile {
  let before: Deno.FileInfo | undefined;
  try {
    before = Deno.lstatSync(path);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  if (!before) {
    // O_CREAT | O_EXCL: fails if anything (a link too) appeared meanwhile.
    return Deno.openSync(path, {
      write: true,
      append: true,
      createNew: true,
      mode: 0o600,
    });
  }
  checkOwnFile(path, before);
  const file = Deno.openSync(path, { write: true, append: true });
  try {
    // The file opened is the one checked (not swapped for a link since).
    const opened = file.statSync();
    if (opened.ino !== before.ino || opened.dev !== before.dev) {
      throw new Error(`${path} changed while it was opened`);
    }
    checkOwnFile(path, opened);
    if (opened.mode !== null && (opened.mode & 0o077) !== 0) {
      Deno.chmodSync(path, 0o600);
    }
  } catch (error) {
    file.close();
    throw error;
  }
  return file;
}

/** Throws unless `info` is a regular file owned by this process's user. */
function checkOwnFile(path: string, info: Deno.FileInfo): void {
  if (info.isSymlink) {
    throw new Error(`${path} is a symbolic link; refusing to log through it`);
  }
  if (!info.isFile) throw new Error(`${path} is not a regular file`);
  const uid = Deno.uid();
  if (uid !== null && info.uid !== null && info.uid !== uid) {
    throw new Error(
      `${path} belongs to another user (uid ${info.uid}); refusing to log to it`,
    );
  }
}

/**
 * Directory of the agent's default log files: `$XDG_STATE_HOME/flightdeck`,
 * else `$HOME/.local/state/flightdeck`; null when neither is set (absolute).
 */
export function defaultLogDir(env: Record<string, string>): string | null {
  const state = env.XDG_STATE_HOME;
  if (state?.startsWith("/")) return `${state}/flightdeck`;
  const home = env.HOME;
  if (home?.startsWith("/")) return `${home}/.local/state/flightdeck`;
  return null;
}

/**
 * Make `dir` a private directory of this user: created with mode 700 (its
 * missing parents too), an existing one must be a directory of ours (not a
 * link) and is made 700.
 *
 * @throws {Error} With the reason, when it is refused or cannot be made.
 */
export function preparePrivateDir(dir: string): void {
  Deno.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const info = Deno.lstatSync(dir);
  if (info.isSymlink) {
    throw new Error(`${dir} is a symbolic link; refusing to log in it`);
  }
  if (!info.isDirectory) throw new Error(`${dir} is not a directory`);
  const uid = Deno.uid();
  if (uid !== null && info.uid !== null && info.uid !== uid) {
    throw new Error(`${dir} belongs to another user (uid ${info.uid})`);
  }
  if (info.mode !== null && (info.mode & 0o077) !== 0) {
    Deno.chmodSync(dir, 0o700);
  }
}

/**
 * A logger appending `<ISO time> flightdeck-agent: <message>` lines to
 * `path`, opened with {@link openLogFile} (so never through a link or into
 * another user's file; mode 600). A line that cannot be written is dropped:
 * logging never stops the agent.
 *
 * @throws {Error} When the file is refused or cannot be opened.
 */
export function createFileLogger(path: string): Logger {
  const file = openLogFile(path);
  const encoder = new TextEncoder();
  const write = (message: string) => {
    try {
      file.writeSync(
        encoder.encode(`${new Date().toISOString()} ${LOG_PREFIX}${message}\n`),
      );
    } catch {
      // Disk full or file gone: the agent goes on without this line.
    }
  };
  return { info: write, warn: write, error: write };
}
