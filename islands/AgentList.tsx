import { effect } from "@preact/signals";
import { useEffect, useLayoutEffect, useRef, useState } from "preact/hooks";
import AgentCard from "../components/AgentCard.tsx";
import { ForgetButton, ForgetPrompt } from "../components/ForgetAgent.tsx";
import { getClient } from "../lib/client/client.ts";
import { AgentForgetter } from "../lib/client/forget_agent.ts";
import { countedTitle, needsInputCount } from "../lib/client/control.ts";
import {
  AttentionTracker,
  pageNotifyControl,
  pageViewState,
} from "../lib/client/notifications.ts";
import { stableOrder } from "../lib/client/fleet.ts";
import { isStale, seedAgents, stores } from "../lib/client/stores.ts";
import { useHydrated } from "../lib/client/use_hydrated.ts";
import type { AgentInfo } from "../lib/protocol.ts";

/** Props of {@link AgentList}: the server-rendered snapshot. */
export interface AgentListProps {
  agents: AgentInfo[];
  /** Agent to select on load (agent page); else the first agent is selected. */
  selectedAgentId?: string | null;
  /**
   * Clicking another agent opens its page instead of selecting it here
   * (agent pages, whose heading and history name one agent).
   */
  navigate?: boolean;
  /** Role of the signed-in user: admins may forget offline agents. */
  role?: "viewer" | "operator" | "admin";
}

/**
 * Every agent with its live status, by name (a status change never moves
 * a row); clicking one selects it. While the
 * connection is lost (reconnecting or offline) the statuses are the last
 * known ones, not live: the list is greyed out and says so. Admins get a
 * "Forget" control on offline agents (asks "Forget build-1? Yes / No", then
 * sends `agent:forget`); the agent leaves every open list on `agent:removed`.
 * "Notify me" turns on browser notifications for agents that come to need
 * input or stall (lib/client/notifications.ts); clicking one opens the agent.
 */
export default function AgentList(props: AgentListProps) {
  const hydrated = useHydrated();
  const [forgetter] = useState(() => new AgentForgetter());
  const listRef = useRef<HTMLElement>(null);
  /** Agent whose Forget button gets the focus back after No or Dismiss. */
  const refocus = useRef<string | null>(null);
  useEffect(() => {
    const client = getClient();
    return forgetter.bind(client, client.connection);
  }, []);
  useEffect(() => {
    seedAgents(stores, props.agents);
    if (props.selectedAgentId) {
      stores.selectedAgentId.value = props.selectedAgentId;
    } else if (
      stores.selectedAgentId.value === null && props.agents.length > 0
    ) {
      stores.selectedAgentId.value = props.agents[0].id;
    }
    getClient();
  }, []);
  // Notices for agents entering needs-input or stalled; the first list (the
  // one seeded above) is the baseline.
  useEffect(() => {
    const tracker = new AttentionTracker();
    return effect(() => {
      const notices = tracker.update(
        stores.agents.value.values(),
        pageViewState(
          stores.selectedAgentId.peek(),
          stores.selectedCommandId.peek(),
        ),
      );
      if (notices.length > 0) pageNotifyControl().show(notices, select);
    });
  }, []);

  const agents = hydrated ? [...stores.agents.value.values()] : props.agents;
  // The tab title counts agents that need input: "(2) Flightdeck".
  const waitingOnYou = needsInputCount(agents);
  useEffect(() => {
    if (!hydrated) return;
    const title = countedTitle(document.title, waitingOnYou);
    if (title !== document.title) document.title = title;
  }, [hydrated, waitingOnYou]);
  const stale = hydrated && isStale(getClient().connection.value.state);
  const connected = hydrated &&
    getClient().connection.value.state === "connected";
  const role = (hydrated ? stores.user.value?.role : null) ?? props.role;
  const forget = forgetter.state.value;

  // Keyboard focus follows the steps: "No" when asked, Dismiss on a refusal,
  // OK on success, back to the agent's Forget button after No or Dismiss;
  // never taken from an element outside the list. (A layout effect: the
  // focus moves in the same task as the DOM change.)
  const focusKey = forget ? `${forget.phase}:${forget.agentId}` : "";
  useLayoutEffect(() => {
    const active = document.activeElement;
    if (
      active && active !== document.body && !listRef.current?.contains(active)
    ) return;
    const find = (testid: string) =>
      listRef.current?.querySelector<HTMLElement>(
        `[data-testid="${CSS.escape(testid)}"]`,
      );
    if (forget?.phase === "confirm") {
      refocus.current = forget.agentId;
      find(`forget-no-${forget.agentId}`)?.focus();
    } else if (forget?.phase === "done") {
      refocus.current = null;
      find("forget-done-ok")?.focus();
    } else if (forget?.phase === "error") {
      refocus.current = forget.agentId;
      find(`forget-dismiss-${forget.agentId}`)?.focus();
    } else if (!forget && refocus.current) {
      find(`forget-${refocus.current}`)?.focus();
      refocus.current = null;
    }
  }, [focusKey]);
  const selected = hydrated
    ? stores.selectedAgentId.value
    : props.selectedAgentId ?? null;
  const commands = hydrated ? stores.commands.value : null;
  // By name: a status change never moves a row (under the pointer).
  const sorted = stableOrder(agents);
  const select = (id: string) => {
    if (props.navigate && id !== props.selectedAgentId) {
      globalThis.location.assign(`/agents/${encodeURIComponent(id)}`);
      return;
    }
    stores.selectedAgentId.value = id;
    stores.selectedCommandId.value = null;
  };

  const dismiss = () => forgetter.cancel();

  return (
    <nav
      class={`panel agent-list${stale ? " stale" : ""}`}
      aria-label="Agents"
      data-testid="agent-panel"
      data-stale={stale ? "true" : "false"}
      ref={listRef}
    >
      <div class="agent-list-head">
        <h2 class="panel-title">
          Agents <span class="count">{agents.length}</span>
        </h2>
        {hydrated && <NotifyToggle />}
      </div>
      {stale && (
        <p class="stale-note" data-testid="agents-stale">
          Disconnected: last known states, not live.
        </p>
      )}
      {forget?.phase === "done" && (
        <div class="forget-done" role="status" data-testid="forget-done">
          <span>{forget.name} was forgotten.</span>
          <button
            type="button"
            class="button small"
            data-testid="forget-done-ok"
            onClick={dismiss}
          >
            OK
          </button>
        </div>
      )}
      {sorted.length === 0 && (
        <p class="empty">
          No agents registered. Start one with `deno task agent`.
        </p>
      )}
      <ul data-testid="agent-list">
        {sorted.map((agent) => {
          const mine = forget?.agentId === agent.id ? forget : null;
          const canForget = role === "admin" && agent.status === "offline";
          return (
            <AgentCard
              key={agent.id}
              agent={agent}
              selected={agent.id === selected}
              currentCommand={agent.currentCommandId
                ? commands?.get(agent.currentCommandId)?.command
                : undefined}
              onSelect={hydrated ? select : undefined}
              action={canForget && !mine && (
                <ForgetButton
                  agent={agent}
                  onAsk={connected
                    ? () => forgetter.ask(agent.id, agent.name)
                    : undefined}
                />
              )}
            >
              {mine && mine.phase !== "done" &&
                (mine.phase !== "confirm" || canForget) && (
                <ForgetPrompt
                  agentId={agent.id}
                  state={mine}
                  onConfirm={connected ? () => forgetter.confirm() : undefined}
                  onCancel={dismiss}
                />
              )}
            </AgentCard>
          );
        })}
      </ul>
    </nav>
  );
}

/** The "Notify me" switch; asks the browser's permission only when clicked. */
function NotifyToggle() {
  const control = pageNotifyControl();
  const state = control.state.value;
  if (state === "unsupported") return null;
  return (
    <button
      type="button"
      class="button small notify-toggle"
      data-testid="notify-toggle"
      data-state={state}
      aria-pressed={state === "on"}
      disabled={state === "blocked"}
      title={state === "blocked"
        ? "This browser blocks notifications from this site; allow them in its site settings."
        : "A browser notification when an agent needs input or stalls."}
      onClick={() => void control.toggle()}
    >
      {state === "on"
        ? "Notifying"
        : state === "blocked"
        ? "Notifications blocked"
        : "Notify me"}
    </button>
  );
}
