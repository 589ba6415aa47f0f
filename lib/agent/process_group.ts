/**
 * Signalling a command's process group, shared by the pipe and PTY runners:
 * SIGINT, then SIGTERM, then SIGKILL, `graceMs` apart, each only while
 * something in the group is still alive.
 *
 * @module
 */

/** A process group (or a lone process when `grouped` is false) to signal. */
export class ProcessGroup {
  readonly pid: number;
  readonly #grouped: boolean;
  #timers = new Set<ReturnType<typeof setTimeout>>();

  constructor(pid: number, grouped = true) {
    this.pid = pid;
    this.#grouped = grouped;
  }

  /** Send `signal`; false when nothing is left to receive it. */
  signal(signal: Deno.Signal): boolean {
    try {
      Deno.kill(this.#grouped ? -this.pid : this.pid, signal);
      return true;
    } catch {
      return false; // ESRCH: nothing left to signal.
    }
  }

  /** Whether any member lives (SIGCONT is harmless to a running process). */
  alive(): boolean {
    return this.signal("SIGCONT");
  }

  /**
   * Send `first` (SIGINT by default) now, then SIGTERM and SIGKILL after
   * `graceMs` each while the group lives.
   */
  escalate(graceMs: number, first: Deno.Signal = "SIGINT"): void {
    this.signal(first);
    this.later(graceMs, () => {
      if (!this.alive()) return;
      this.signal("SIGTERM");
      this.later(graceMs, () => {
        if (this.alive()) this.signal("SIGKILL");
      });
    });
  }

  /** Run `fn` after `ms` unless {@link clearTimers} is called first. */
  later(ms: number, fn: () => void): void {
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      fn();
    }, ms);
    this.#timers.add(timer);
  }

  /** Cancel every pending step. */
  clearTimers(): void {
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
  }
}
