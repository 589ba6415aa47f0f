/**
 * The accept loop of the connection fronts (conn_guard.ts, conn_handoff.ts).
 *
 * @module
 */

/** What {@link acceptLoop} calls. */
export interface AcceptHooks {
  /** Whether the front is closing: the loop ends. */
  closing(): boolean;
  /** Take an accepted connection. */
  admit(conn: Deno.Conn): void;
  /** An accept failed; the next try is in `retryMs`. */
  failed(error: unknown, retryMs: number): void;
}

/**
 * Accept connections from `listener` until it is closed or the front is
 * closing. A failed accept (EMFILE and friends: the listener is fine, the
 * process is out of something) is reported and tried again after a pause
 * that starts at 10 ms and doubles up to 1 s (connections may close
 * meanwhile); a successful one resets it.
 */
export async function acceptLoop(
  listener: Deno.Listener,
  hooks: AcceptHooks,
): Promise<void> {
  let backoff = 10;
  while (!hooks.closing()) {
    let conn: Deno.Conn;
    try {
      conn = await listener.accept();
      backoff = 10;
    } catch (error) {
      if (hooks.closing() || error instanceof Deno.errors.BadResource) return;
      hooks.failed(error, backoff);
      await new Promise((resolve) => setTimeout(resolve, backoff));
      backoff = Math.min(backoff * 2, 1000);
      continue;
    }
    hooks.admit(conn);
  }
}
