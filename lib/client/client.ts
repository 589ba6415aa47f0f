/**
 * The page's single {@link DashboardClient}, created lazily by the first
 * island that mounts and wired to the shared {@link stores}.
 * @module
 */
import { DashboardClient } from "./socket.ts";
import { bindStores, resumeMap, stores } from "./stores.ts";

let client: DashboardClient | undefined;

/**
 * The page's dashboard client, connected on first use. Browser only: call it
 * from `useEffect` or event handlers, never while rendering on the server.
 */
export function getClient(): DashboardClient {
  if (client) return client;
  client = new DashboardClient({
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
