import { useEffect, useState } from "preact/hooks";
import { getClient } from "../lib/client/client.ts";
import type { ConnectionInfo } from "../lib/client/socket.ts";
import { stores } from "../lib/client/stores.ts";
import { useHydrated } from "../lib/client/use_hydrated.ts";

const INITIAL: ConnectionInfo = {
  state: "connecting",
  attempt: 0,
  nextRetryAt: null,
  lastError: null,
  stopReason: null,
  transport: "websocket",
};

/** How long a server error stays on the status line. */
const SERVER_ERROR_SHOWN_MS = 30_000;

/**
 * Live connection state: while reconnecting (the client never gives up on
 * network trouble) the countdown to the next attempt and "Retry now"; when
 * stopped for good, "Reconnect" (or "Log in" when signed out).
 */
export default function ConnectionStatus() {
  const hydrated = useHydrated();
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    getClient();
  }, []);
  const info = hydrated ? getClient().connection.value : INITIAL;
  // Errors of an earlier connection are dropped on `connection:ack`; a
  // recent one is shown for 30 s.
  const newest = hydrated ? stores.errors.value.at(-1) : undefined;
  const [, expire] = useState(0);
  useEffect(() => {
    if (!newest) return;
    const left = newest.at + SERVER_ERROR_SHOWN_MS - Date.now();
    if (left <= 0) return;
    const timer = setTimeout(() => expire((n) => n + 1), left + 10);
    return () => clearTimeout(timer);
  }, [newest]);
  const lastServerError =
    newest && Date.now() - newest.at < SERVER_ERROR_SHOWN_MS
      ? newest
      : undefined;

  useEffect(() => {
    if (info.nextRetryAt === null) return;
    setNow(Date.now());
    const timer = setInterval(() => setNow(Date.now()), 250);
    return () => clearInterval(timer);
  }, [info.nextRetryAt]);

  let label: string = info.state;
  const wait = info.state === "reconnecting" && info.nextRetryAt !== null
    ? Math.max(0, info.nextRetryAt - now)
    : 0;
  if (info.state === "reconnecting") {
    label = wait > 0
      ? `Reconnecting in ${Math.ceil(wait / 1000)} s…`
      : "Reconnecting…";
  }
  const fallback = info.transport === "sse" ? " (fallback: SSE)" : "";
  label += fallback;
  // Announced to screen readers: state changes only, not the countdown.
  const announcement = `Connection ${info.state}${fallback}${
    info.state === "offline" && info.lastError ? `: ${info.lastError}` : ""
  }`;
  const detail = info.lastError ??
    (lastServerError
      ? `${lastServerError.code}: ${lastServerError.message}`
      : null);

  return (
    <div
      class={`conn conn-${info.state}`}
      data-testid="connection-status"
      data-state={info.state}
      data-transport={info.transport}
    >
      <span class="visually-hidden" role="status" aria-live="polite">
        {hydrated ? announcement : ""}
      </span>
      <span class="conn-dot" aria-hidden="true" />
      <span
        class="conn-label"
        data-testid="connection-label"
        title={info.attempt ? `Attempt ${info.attempt}` : undefined}
      >
        {label}
      </span>
      {detail && <span class="conn-error" title={detail}>{detail}</span>}
      {info.state === "reconnecting" && wait > 0 && (
        <button
          type="button"
          class="button small"
          data-testid="retry-now-button"
          disabled={!hydrated}
          onClick={() => getClient().retryNow()}
        >
          Retry now
        </button>
      )}
      {info.stopReason === "signed-out"
        ? <a class="button small" href="/login">Log in</a>
        : info.state === "offline" && (
          <button
            type="button"
            class="button small"
            data-testid="reconnect-button"
            disabled={!hydrated}
            onClick={() => getClient().reconnect()}
          >
            Reconnect
          </button>
        )}
    </div>
  );
}
