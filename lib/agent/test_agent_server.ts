/**
 * For agent connection tests: a stand-in for the server's `/ws/agent`
 * endpoint that records every frame but heartbeats, a wait re-checked on
 * every connection, frame and close it sees, a `connection:ack` payload and
 * a command record.
 *
 * @module
 */
import type {
  CommandInfo,
  PayloadOf,
  ServerToAgentPayloads,
  ToAgent,
} from "../protocol.ts";

/** One frame the agent sent. */
export interface Frame {
  type: string;
  payload: Record<string, unknown>;
}

/** One agent connection to the stand-in server. */
export interface Peer {
  ws: WebSocket;
  /** The `Authorization` header of the upgrade request. */
  auth: string | null;
  frames: Frame[];
  /** Size of each `terminal:output` frame received, by seq. */
  outputBytes: Map<number, number>;
  /** Whether the socket has closed. */
  closed: boolean;
  send(message: ToAgent): void;
}

/** Checks of pending {@link waitFor}s, re-run on every connection, frame and close. */
const waiters = new Set<() => void>();

function wake(): void {
  for (const waiter of [...waiters]) waiter();
}

/** A stand-in for the server's `/ws/agent` endpoint that records frames. */
export function fakeServer() {
  const peers: Peer[] = [];
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    (request) => {
      // Headers are gone once the request is upgraded: read them first.
      const auth = request.headers.get("authorization");
      const { socket, response } = Deno.upgradeWebSocket(request);
      const peer: Peer = {
        ws: socket,
        auth,
        frames: [],
        outputBytes: new Map(),
        closed: false,
        send: (message) => socket.send(JSON.stringify(message)),
      };
      socket.onmessage = (event) => {
        const frame = JSON.parse(event.data);
        if (frame.type !== "heartbeat") peer.frames.push(frame);
        if (frame.type === "terminal:output") {
          peer.outputBytes.set(frame.payload.seq, event.data.length);
        }
        wake();
      };
      socket.onclose = () => {
        peer.closed = true;
        wake();
      };
      peers.push(peer);
      wake();
      return response;
    },
  );
  return { peers, server, url: `http://127.0.0.1:${server.addr.port}` };
}

/** Wait until `check` returns a value, re-checked whenever the fake server sees something. */
export function waitFor<T>(
  check: () => T | undefined | false,
  what: string,
  timeoutMs = 10_000,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const attempt = () => {
      const value = check();
      if (value === undefined || value === false) return;
      cleanup();
      resolve(value);
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`Timed out waiting for ${what}`));
    }, timeoutMs);
    const cleanup = () => {
      clearTimeout(timer);
      waiters.delete(attempt);
    };
    waiters.add(attempt);
    attempt();
  });
}

/** The server's `connection:ack` to agent `a1`. */
export const ack: PayloadOf<typeof ServerToAgentPayloads, "connection:ack"> = {
  connectionId: "k1",
  serverVersion: "1.0.0",
  heartbeatIntervalMs: 1500,
  user: { id: "a1", role: "agent" },
  agentId: "a1",
};

/** A running command `id` of agent `a1`, of `kind` when given. */
export const command = (
  id: string,
  text: string,
  kind?: CommandInfo["kind"],
): CommandInfo => ({
  id,
  agentId: "a1",
  command: text,
  priority: "normal",
  status: "running",
  requestedBy: "u1",
  requestedAt: 1,
  startedAt: null,
  completedAt: null,
  exitCode: null,
  outputBytes: 0,
  ...(kind ? { kind } : {}),
});
