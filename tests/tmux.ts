/**
 * A private tmux server for tests of the agent's local terminal: one
 * session, one pane running a command, keys sent with `send-keys`, the
 * screen read with `capture-pane`. Each instance has its own socket (`-L`),
 * so tests never touch a user's tmux.
 *
 * @module
 */

/** A tmux server with one window running `command` in one pane. */
export class TmuxPane {
  readonly socket = `fd-test-${crypto.randomUUID().slice(0, 8)}`;
  #config: string;
  /** Where the pane's shell writes its command's exit status. */
  #statusFile: string;

  private constructor(config: string, statusFile: string) {
    this.#config = config;
    this.#statusFile = statusFile;
  }

  /**
   * Start `command` (a shell command line) in a detached session of
   * `cols`x`rows`, status line off, the pane kept after its command exits.
   */
  static async start(
    command: string,
    options: { cols: number; rows: number; env?: Record<string, string> },
  ): Promise<TmuxPane> {
    const config = await Deno.makeTempFile({ suffix: ".tmux.conf" });
    await Deno.writeTextFile(
      config,
      "set -g remain-on-exit on\nset -g status off\n",
    );
    // tmux's own #{pane_dead_status} is sometimes never filled in when
    // several tmux servers run at once; the shell's `$?` always is.
    const statusFile = await Deno.makeTempFile({ suffix: ".status" });
    const pane = new TmuxPane(config, statusFile);
    await pane.#run([
      "-f",
      config,
      "new-session",
      "-d",
      "-s",
      "main",
      "-x",
      String(options.cols),
      "-y",
      String(options.rows),
      `( ${command} ); echo $? > ${statusFile}`,
    ], options.env);
    return pane;
  }

  /** Type `text` literally. */
  type(text: string): Promise<string> {
    return this.#run(["send-keys", "-t", "main", "-l", text]);
  }

  /** Press keys by tmux name (`Enter`, `C-c`, `C-]`). */
  keys(...names: string[]): Promise<string> {
    return this.#run(["send-keys", "-t", "main", ...names]);
  }

  /** Resize the window (and its one pane). */
  resize(cols: number, rows: number): Promise<string> {
    return this.#run([
      "resize-window",
      "-t",
      "main",
      "-x",
      String(cols),
      "-y",
      String(rows),
    ]);
  }

  /** The visible screen, one line per row, trailing spaces trimmed. */
  capture(): Promise<string> {
    return this.#run(["capture-pane", "-p", "-t", "main"]);
  }

  /** Whether the pane's command exited, and its exit status. */
  async dead(): Promise<
    { dead: boolean; status: number | null; signal: number | null }
  > {
    const out = await this.#run([
      "display-message",
      "-p",
      "-t",
      "main",
      "#{pane_dead}:#{pane_dead_status}:#{pane_dead_signal}",
    ]);
    const [dead, status, signal] = out.trim().split(":");
    const number = (text: string | undefined) =>
      text === "" || text === undefined ? null : Number(text);
    return {
      dead: dead === "1",
      status: number(status),
      signal: number(signal),
    };
  }

  /**
   * Poll the screen until `check` holds; fail after `timeoutMs` of real time
   * with the last screen.
   */
  async waitScreen(
    check: (screen: string) => boolean,
    what: string,
    timeoutMs = 20_000,
  ): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const screen = await this.capture();
      if (check(screen)) return screen;
      if (Date.now() > deadline) {
        throw new Error(`Timed out waiting for ${what}; screen:\n${screen}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** Poll until the pane's command exited; its exit status. */
  async waitDead(timeoutMs = 20_000): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const { dead } = await this.dead();
      const status = (await Deno.readTextFile(this.#statusFile)).trim();
      if (dead && status !== "") return Number(status);
      if (Date.now() > deadline) {
        throw new Error(
          `The pane's command did not exit; screen:\n${await this.capture()}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** Stop the tmux server (and what still runs in it). */
  async kill(): Promise<void> {
    await this.#run(["kill-server"]).catch(() => {});
    await Deno.remove(this.#config).catch(() => {});
    await Deno.remove(this.#statusFile).catch(() => {});
  }

  async #run(args: string[], env: Record<string, string> = {}) {
    const output = await new Deno.Command("tmux", {
      args: ["-L", this.socket, ...args],
      env: { TERM: "xterm-256color", ...env },
      stdin: "null",
    }).output();
    const text = new TextDecoder().decode(output.stdout);
    if (!output.success) {
      throw new Error(
        `tmux ${args.join(" ")} failed: ${
          new TextDecoder().decode(output.stderr)
        }`,
      );
    }
    return text;
  }
}
