/**
 * Worker entry running a {@link ConnectionGuard} off the main thread, so
 * that copying bytes between clients and the internal server does not take
 * turns with the app on one event loop. Driven by {@link GuardWorker}
 * (lib/server/guard_worker_client.ts) through the messages typed there.
 *
 * @module
 */
import { ConnectionGuard } from "./conn_guard.ts";
import type { ToGuard } from "./guard_worker_client.ts";

const scope = self as unknown as {
  onmessage: ((event: MessageEvent<ToGuard>) => void) | null;
  postMessage(message: unknown): void;
};
let guard: ConnectionGuard | null = null;
let upstream: Deno.NetAddr | null = null;

scope.onmessage = async ({ data }) => {
  switch (data.type) {
    case "start": {
      upstream = data.upstream;
      try {
        guard = ConnectionGuard.listen({
          ...data.options,
          upstream: () => upstream!,
          counters: new Int32Array(data.counters),
          onEvent: (message, fields) =>
            scope.postMessage({ type: "event", message, fields }),
          onMap: (port, client) =>
            scope.postMessage({ type: "map", port, client }),
          onUnmap: (port) => scope.postMessage({ type: "unmap", port }),
        });
        scope.postMessage({ type: "listening", addr: guard.addr });
      } catch (error) {
        scope.postMessage({
          type: "failed",
          name: error instanceof Error ? error.name : "Error",
          message: error instanceof Error ? error.message : String(error),
        });
      }
      break;
    }
    case "upstream":
      upstream = data.upstream;
      break;
    case "stopAccepting":
      guard?.stopAccepting();
      break;
    case "close":
      await guard?.close(data.graceMs);
      scope.postMessage({ type: "closed" });
      break;
  }
};
