/**
 * The command bar's timeout field: seconds as typed, to the
 * `command:request.timeoutMs` it asks for.
 * @module
 */
import { MAX_TIMEOUT_MS } from "../protocol.ts";

/**
 * `text` (seconds, decimals allowed) in ms: undefined when empty (the
 * agent's or server's default applies); `{ error }` when it is not a number
 * of seconds from 0.001 to 7 days.
 */
export function parseTimeoutSeconds(
  text: string,
): number | undefined | { error: string } {
  if (text.trim() === "") return undefined;
  const seconds = Number(text);
  const ms = Math.round(seconds * 1000);
  if (!Number.isFinite(seconds) || ms < 1 || ms > MAX_TIMEOUT_MS) {
    return {
      error: `Timeout must be a number of seconds from 0.001 to ${
        MAX_TIMEOUT_MS / 1000
      }`,
    };
  }
  return ms;
}
