import { useEffect, useState } from "preact/hooks";
import { getClient } from "../lib/client/client.ts";

/** Props of {@link AgentForgotten}. */
export interface AgentForgottenProps {
  /** The agent of this page. */
  agentId: string;
  /** Whether the server knew the agent when it rendered the page. */
  known: boolean;
}

/**
 * On an agent's page: "This agent was forgotten" with a link back, once the
 * server removes the page's agent (`agent:removed`, or, after a reconnect,
 * an `agent:list` without the agent the page was rendered with). Renders
 * nothing before, and again when the agent comes back (`agent:status`, or
 * an `agent:list` with it).
 */
export default function AgentForgotten(
  { agentId, known }: AgentForgottenProps,
) {
  const [forgotten, setForgotten] = useState(false);
  useEffect(() => {
    const client = getClient();
    const offs = [
      client.on("agent:removed", (m) => {
        if (m.payload.agentId === agentId) setForgotten(true);
      }),
      // The same agent may connect again later.
      client.on("agent:status", (m) => {
        if (m.payload.agent.id === agentId) setForgotten(false);
      }),
      client.on("agent:list", (m) => {
        if (m.payload.agents.some((a) => a.id === agentId)) {
          setForgotten(false);
        } else if (known) setForgotten(true);
      }),
    ];
    return () => offs.forEach((off) => off());
  }, []);
  if (!forgotten) return null;
  return (
    <p class="forgotten-note" role="status" data-testid="agent-forgotten">
      This agent was forgotten.{" "}
      <a href="/" data-testid="agent-forgotten-back">Back to all agents</a>
    </p>
  );
}
