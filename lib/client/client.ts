/**
 * The page's single {@link DashboardClient}, created lazily by the first
 * island that mounts and wired to the shared {@link stores}.
 * @module
 */
import { DashboardClient, type DashboardClientOptions } from "./socket.ts";
import { bindStores, resumeMap, stores } from "./stores.ts";

let client: DashboardClient | undefined;

/** Timings a page may tune by setting `globalThis.__FLIGHTDECK_CLIENT__` before load (tests do). */
type Tuning = Pick<DashboardClientOptions, "probeIntervalMs" | "fallbackAfter">;

/**
 * The page's dashboard client, connected on first use. Browser only: call it
 * from `useEffect` or event handlers, never while rendering on the server.
 */
export function getClient(): DashboardClient {
  if (client) return client;
  const tuning =
    (globalThis as { __FLIGHTDECK_CLIENT__?: Tuning }).__FLIGHTDECK_CLIENT__;
  client = new DashboardClient({
    ...tuning,
    resume: () => resumeMap(stores),
    clientInfo: {
      userAgent: navigator.userAgent.slice(0, 512),
      timezone: Intl.DateTimeFormat().resolvedOptions().timeZone.slice(0, 64),
    },
  });
  bindStores(stores, client);
  client.start();
  return client;
}
