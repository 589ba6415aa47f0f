/**
 * Opens the dashboard client's transports from its options: the WebSocket
 * (injected constructor or the global one) or the SSE + POST fallback (URLs
 * derived from the socket URL unless given).
 * @module
 */
import { SseTransport } from "./sse_transport.ts";
import {
  dashboardSocketUrl,
  httpUrlFor,
  type Transport,
  type TransportEvents,
  WebSocketTransport,
} from "./transport.ts";
import type {
  DashboardClientOptions,
  EventSourceConstructor,
  FetchLike,
  SocketConstructor,
  TransportKind,
} from "./socket_types.ts";

const globalFetch: FetchLike = (url, init) => globalThis.fetch(url, init);

/**
 * The EventSource to fall back to: the injected one (`null` = no fallback),
 * else the global one in browsers only (under Deno the stream would carry no
 * session cookie, so scripts opt in by passing one).
 */
export function fallbackEventSource(
  options: DashboardClientOptions,
): EventSourceConstructor | null {
  if (options.EventSource !== undefined) return options.EventSource;
  return "document" in globalThis && globalThis.EventSource
    ? globalThis.EventSource as unknown as EventSourceConstructor
    : null;
}

/** Open a transport of `kind`; throws when its constructor does. */
export function openTransport(
  kind: TransportKind,
  options: DashboardClientOptions,
  events: TransportEvents,
): Transport {
  const url = options.url ?? dashboardSocketUrl(globalThis.location);
  if (kind === "websocket") {
    const Ctor = options.WebSocket ??
      (globalThis.WebSocket as unknown as SocketConstructor);
    return new WebSocketTransport(Ctor, url, events);
  }
  const EventSource = fallbackEventSource(options);
  if (!EventSource) throw new Error("no EventSource for the SSE fallback");
  return new SseTransport({
    EventSource,
    fetch: options.fetch ?? globalFetch,
    eventsUrl: options.eventsUrl ?? httpUrlFor(url, "/api/events"),
    messagesUrl: options.messagesUrl ?? httpUrlFor(url, "/api/messages"),
  }, events);
}

/**
 * The function that renews the session cookie before `auth:refresh`:
 * `options.refreshSession`, else in a browser `POST /api/session/refresh`
 * on the socket's host, else null.
 */
export function sessionRefresher(
  options: DashboardClientOptions,
): (() => Promise<void>) | null {
  if (options.refreshSession !== undefined) return options.refreshSession;
  if (!("document" in globalThis)) return null;
  const url = httpUrlFor(
    options.url ?? dashboardSocketUrl(globalThis.location),
    "/api/session/refresh",
  );
  const fetch = options.fetch ?? globalFetch;
  return async () => {
    const response = await fetch(url, {
      method: "POST",
      headers: {},
      body: "",
      credentials: "same-origin",
    });
    await response.text();
  };
}
