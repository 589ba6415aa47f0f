/**
 * "Restart session": a dashboard user asks an agent in session mode to start
 * its ended session again (`session:restart`). The server checks who asks
 * and the agent's state, then passes the request on; the agent answers with
 * `session:start`, which creates a new session record (`session:started`),
 * broadcast as `command:status` like any session.
 *
 * @module
 */
import { type Role, type ToAgent, toAgent } from "../protocol.ts";
import { roleAllows } from "./auth.ts";
import { FlightdeckError } from "./errors.ts";
import type { Registry } from "./registry.ts";

/** What {@link requestRestart} needs of the server. */
export interface RestartDeps {
  registry: Registry;
  /** Send a message to a connected agent; false when it is not connected. */
  sendToAgent: (agentId: string, message: ToAgent) => boolean;
}

/**
 * Ask agent `agentId` to start its session again for `who`.
 *
 * @throws {FlightdeckError} FORBIDDEN for a viewer, NOT_FOUND for an unknown
 * agent or one not in session mode (no `session` capability: started
 * without `--session`), AGENT_OFFLINE for one not connected,
 * SESSION_RUNNING while its session (or any command) still runs. Nothing is
 * sent then.
 */
export function requestRestart(
  deps: RestartDeps,
  who: { userId: string; role: Role },
  agentId: string,
): void {
  if (!roleAllows(who.role, "operator")) {
    throw new FlightdeckError(
      "FORBIDDEN",
      `Role "${who.role}" may not restart sessions; it needs "operator"`,
    );
  }
  const agent = deps.registry.requireOnline(agentId);
  if (!agent.capabilities.includes("session")) {
    throw new FlightdeckError(
      "NOT_FOUND",
      `Agent "${agentId}" is not in session mode (it was started without ` +
        `--session): there is no session to restart`,
    );
  }
  if (agent.currentCommandId !== null) {
    throw new FlightdeckError(
      "SESSION_RUNNING",
      `The session of agent "${agentId}" (${agent.currentCommandId}) is ` +
        `still running; it can be restarted once it has ended`,
    );
  }
  const sent = deps.sendToAgent(
    agentId,
    toAgent("session:restart", { requestedBy: who.userId }),
  );
  if (!sent) {
    throw new FlightdeckError(
      "AGENT_OFFLINE",
      `Agent "${agentId}" is not connected`,
    );
  }
}
