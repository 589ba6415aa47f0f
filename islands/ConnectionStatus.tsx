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

/** Live connection state: countdown while reconnecting, Reconnect when offline. */
export default function ConnectionStatus() {
  const hydrated = useHydrated();
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    getClient();
  }, []);
  const info = hydrated ? getClient().connection.value : INITIAL;
  const lastServerError = hydrated ? stores.errors.value.at(-1) : undefined;

  useEffect(() => {
    if (info.nextRetryAt === null) return;
    setNow(Date.now());
    const timer = setInterval(() => setNow(Date.now()), 250);
    return () => clearInterval(timer);
  }, [info.nextRetryAt]);

  let label: string = info.state;
  if (info.state === "reconnecting") {
    const wait = info.nextRetryAt === null
      ? 0
      : Math.max(0, info.nextRetryAt - now);
    label = wait > 0
      ? `reconnecting — retrying in ${
        Math.ceil(wait / 1000)
      } s (attempt ${info.attempt})`
      : `reconnecting (attempt ${info.attempt})`;
  }
  if (info.transport === "sse") label += " (fallback: SSE)";
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
      role="status"
      aria-live="polite"
    >
      <span class="conn-dot" aria-hidden="true" />
      <span class="conn-label">{label}</span>
      {detail && <span class="conn-error" title={detail}>{detail}</span>}
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
