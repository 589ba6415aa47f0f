/**
 * A loopback reverse proxy for tests, standing in for a corporate proxy that
 * may block WebSocket upgrades. Plain requests (including SSE streams) are
 * forwarded; upgrades are refused with 502 while `blockUpgrades` is set and
 * proxied otherwise.
 *
 * @module
 */

/** Deno's WebSocket accepts headers; the DOM typings here do not say so. */
const WebSocketWithHeaders = WebSocket as unknown as new (
  url: string,
  options: { headers: Record<string, string> },
) => WebSocket;

/** A running proxy. */
export interface HttpProxy extends AsyncDisposable {
  /** `http://127.0.0.1:<port>` */
  url: string;
  /** Refuse upgrades (true) or proxy them (false). */
  blockUpgrades: boolean;
  /** Upgrade requests seen, refused or not. */
  upgradeAttempts: number;
  close(): Promise<void>;
}

/** Start a proxy in front of `target` (e.g. `http://127.0.0.1:8000`). */
export function startHttpProxy(
  target: string,
  blockUpgrades = true,
): Promise<HttpProxy> {
  const sockets = new Set<WebSocket>();
  const controller = new AbortController();
  const { promise, resolve } = Promise.withResolvers<HttpProxy>();
  const state = { blockUpgrades, upgradeAttempts: 0 };
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    signal: controller.signal,
    onListen: ({ port }) => {
      const proxy: HttpProxy = {
        url: `http://127.0.0.1:${port}`,
        get blockUpgrades() {
          return state.blockUpgrades;
        },
        set blockUpgrades(value: boolean) {
          state.blockUpgrades = value;
        },
        get upgradeAttempts() {
          return state.upgradeAttempts;
        },
        async close() {
          for (const socket of sockets) socket.close(1001);
          controller.abort();
          await server.finished;
        },
        [Symbol.asyncDispose]() {
          return proxy.close();
        },
      };
      resolve(proxy);
    },
  }, async (req) => {
    const url = new URL(req.url);
    const upstream = `${target}${url.pathname}${url.search}`;
    if (req.headers.get("upgrade")?.toLowerCase() === "websocket") {
      state.upgradeAttempts++;
      if (state.blockUpgrades) {
        return new Response("Upgrades are blocked by this proxy\n", {
          status: 502,
        });
      }
      const headers: Record<string, string> = { origin: target };
      const cookie = req.headers.get("cookie");
      if (cookie) headers.cookie = cookie;
      const inner = new WebSocketWithHeaders(upstream.replace(/^http/, "ws"), {
        headers,
      });
      const { socket, response } = Deno.upgradeWebSocket(req);
      for (const s of [socket, inner]) {
        sockets.add(s);
        s.addEventListener("close", () => sockets.delete(s));
      }
      const pending: string[] = [];
      inner.onopen = () => {
        for (const frame of pending.splice(0)) inner.send(frame);
      };
      socket.onmessage = (e) => {
        if (inner.readyState === WebSocket.OPEN) inner.send(e.data);
        else pending.push(e.data);
      };
      inner.onmessage = (e) => {
        if (socket.readyState === WebSocket.OPEN) socket.send(e.data);
      };
      // Pass close codes through where the API allows: a client socket may
      // only send 1000 or 3000-4999; nobody may send 1005 or 1006.
      const closeBoth = (code: number, reason: string) => {
        const asClient = code === 1000 || (code >= 3000 && code <= 4999)
          ? code
          : 1000;
        const asServer = code === 1005 || code === 1006 ? 1000 : code;
        if (inner.readyState < WebSocket.CLOSING) inner.close(asClient, reason);
        if (socket.readyState < WebSocket.CLOSING) {
          socket.close(asServer, reason);
        }
      };
      socket.onclose = (e) => closeBoth(e.code, e.reason);
      inner.onclose = (e) => closeBoth(e.code, e.reason);
      socket.onerror = inner.onerror = () => {};
      return response;
    }
    const headers = new Headers(req.headers);
    headers.delete("host");
    const response = await fetch(upstream, {
      method: req.method,
      headers,
      body: req.body,
      redirect: "manual",
    });
    return new Response(response.body, {
      status: response.status,
      headers: response.headers,
    });
  });
  return promise;
}
