import { useEffect, useState } from "preact/hooks";
import FleetCard from "../components/FleetCard.tsx";
import { ForgetButton, ForgetPrompt } from "../components/ForgetAgent.tsx";
import { getClient } from "../lib/client/client.ts";
import {
  filterChoices,
  filterSearch,
  type FleetFilter,
  lastResults,
  matchesFilter,
  parseFilter,
  parsePinned,
  stableOrder,
  STATE_FILTERS,
  STATE_LABELS,
  togglePinned,
} from "../lib/client/fleet.ts";
import { FleetTails, type SeedTail } from "../lib/client/fleet_tails.ts";
import { AgentForgetter } from "../lib/client/forget_agent.ts";
import {
  isStale,
  seedAgents,
  seedCommands,
  stores,
} from "../lib/client/stores.ts";
import { useHydrated } from "../lib/client/use_hydrated.ts";
import type { AgentInfo, CommandInfo } from "../lib/protocol.ts";

/** Props of {@link FleetGrid}: the server-rendered snapshot. */
export interface FleetGridProps {
  agents: AgentInfo[];
  /** Recent commands, with at least each agent's latest few. */
  commands: CommandInfo[];
  /** Each agent's last lines of output, as rendered on the server. */
  tails: Record<string, SeedTail>;
  /** The filters named by the page's URL. */
  filter: FleetFilter;
  /** The server's clock at render time. */
  now: number;
  role?: "viewer" | "operator" | "admin";
}

/** Where this browser keeps the pinned agents' ids. */
const PINNED_KEY = "flightdeck.fleet.pinned";

/** The page's tails, fed once from the page's client. */
let tails: FleetTails | null = null;
function pageTails(): FleetTails {
  if (tails) return tails;
  const t = tails = new FleetTails();
  const client = getClient();
  client.on("terminal:output", (m) => t.output(m.payload));
  client.on("command:status", (m) => {
    if (m.payload.command.status === "running") t.started(m.payload.command);
  });
  client.on("agent:removed", (m) => t.remove(m.payload.agentId));
  return t;
}

function readPinned(): string[] {
  try {
    return parsePinned(globalThis.localStorage?.getItem(PINNED_KEY) ?? null);
  } catch {
    return [];
  }
}

function savePinned(ids: string[]): void {
  try {
    globalThis.localStorage?.setItem(PINNED_KEY, JSON.stringify(ids));
  } catch {
    // Storage refused (private mode, quota): pins last for this page.
  }
}

/**
 * The fleet at a glance: a card per agent (see FleetCard) in a stable order
 * (pinned first, then by name; a status change never moves a card),
 * filtered by state, type and tag. The filters live in the URL
 * (`?state=failed&type=shell&tag=gpu`), so a filtered view can be linked
 * and reloaded. Each card links to the agent's page. Admins can forget an
 * offline agent from its card.
 */
export default function FleetGrid(props: FleetGridProps) {
  const hydrated = useHydrated();
  const [filter, setFilterState] = useState<FleetFilter>(props.filter);
  const [pinned, setPinned] = useState<string[]>([]);
  const [now, setNow] = useState(props.now);
  const [forgetter] = useState(() => new AgentForgetter());

  useEffect(() => {
    seedAgents(stores, props.agents);
    seedCommands(stores, props.commands);
    pageTails().seed(props.tails);
    setPinned(readPinned());
    setNow(Date.now());
    const client = getClient();
    const unbind = forgetter.bind(client, client.connection);
    const tick = setInterval(() => setNow(Date.now()), 1000);
    const onPop = () => setFilterState(parseFilter(location.search));
    globalThis.addEventListener("popstate", onPop);
    return () => {
      unbind();
      clearInterval(tick);
      globalThis.removeEventListener("popstate", onPop);
    };
  }, []);

  const setFilter = (next: FleetFilter) => {
    setFilterState(next);
    const url = `${location.pathname}${
      filterSearch(next, location.search)
    }${location.hash}`;
    history.replaceState(history.state, "", url);
  };

  const agents = hydrated ? [...stores.agents.value.values()] : props.agents;
  const commands = hydrated
    ? [...stores.commands.value.values()]
    : props.commands;
  const last = lastResults(commands);
  const lines = hydrated ? pageTails().lines.value : null;
  const order = stableOrder(agents, hydrated ? pinned : []);
  const shown = order.filter((a) => matchesFilter(a, filter, last.get(a.id)));
  const choices = filterChoices(agents);
  const stale = hydrated && isStale(getClient().connection.value.state);
  const connected = hydrated &&
    getClient().connection.value.state === "connected";
  const role = (hydrated ? stores.user.value?.role : null) ?? props.role;
  const forget = forgetter.state.value;
  const byId = new Map(commands.map((c) => [c.id, c]));
  const currentOf = (agent: AgentInfo) => {
    const prompt = commands.find((c) =>
      c.agentId === agent.id && c.kind === "prompt" && c.status === "running"
    );
    if (prompt) return { text: prompt.command, kind: "prompt" as const };
    const running = agent.currentCommandId
      ? byId.get(agent.currentCommandId)
      : undefined;
    if (running && running.kind !== "session") {
      return { text: running.command, kind: "command" as const };
    }
    return undefined;
  };

  const pin = (id: string) => {
    const next = togglePinned(pinned, id);
    setPinned(next);
    savePinned(next);
  };

  return (
    <section
      class={`panel fleet${stale ? " stale" : ""}`}
      aria-labelledby="fleet-title"
      data-testid="fleet"
      data-stale={stale ? "true" : "false"}
    >
      <div class="fleet-bar">
        <h2 class="panel-title" id="fleet-title">
          Fleet{" "}
          <span class="count" data-testid="fleet-count">
            {shown.length === agents.length
              ? agents.length
              : `${shown.length} of ${agents.length}`}
          </span>
        </h2>
        <nav class="fleet-filters" aria-label="Filter agents">
          {STATE_FILTERS.map((state) => {
            const next = { ...filter, state };
            return (
              <a
                key={state}
                class={`fleet-filter${filter.state === state ? " active" : ""}`}
                href={`/${filterSearch(next)}`}
                aria-current={filter.state === state ? "true" : undefined}
                data-testid={`fleet-filter-${state}`}
                onClick={(e) => {
                  if (!hydrated) return;
                  e.preventDefault();
                  setFilter(next);
                }}
              >
                {STATE_LABELS[state]}
              </a>
            );
          })}
          <label class="fleet-select">
            <span>Type</span>
            <select
              data-testid="fleet-filter-type"
              disabled={!hydrated}
              value={filter.type ?? ""}
              onChange={(e) =>
                setFilter({
                  ...filter,
                  type: (e.target as HTMLSelectElement).value || null,
                })}
            >
              <option value="">any</option>
              {choices.types.map((t) => <option key={t} value={t}>{t}</option>)}
              {filter.type && !choices.types.includes(filter.type) && (
                <option value={filter.type}>{filter.type}</option>
              )}
            </select>
          </label>
          <label class="fleet-select">
            <span>Tag</span>
            <select
              data-testid="fleet-filter-tag"
              disabled={!hydrated}
              value={filter.tag ?? ""}
              onChange={(e) =>
                setFilter({
                  ...filter,
                  tag: (e.target as HTMLSelectElement).value || null,
                })}
            >
              <option value="">any</option>
              {choices.tags.map((t) => <option key={t} value={t}>{t}</option>)}
              {filter.tag && !choices.tags.includes(filter.tag) && (
                <option value={filter.tag}>{filter.tag}</option>
              )}
            </select>
          </label>
        </nav>
      </div>
      {stale && (
        <p class="stale-note" data-testid="fleet-stale">
          Disconnected: last known states, not live.
        </p>
      )}
      {forget?.phase === "done" && (
        <div class="forget-done" role="status" data-testid="fleet-forget-done">
          <span>{forget.name} was forgotten.</span>
          <button
            type="button"
            class="button small"
            onClick={() =>
              forgetter.cancel()}
          >
            OK
          </button>
        </div>
      )}
      {agents.length === 0 && (
        <p class="empty">
          No agents registered. Start one with `deno task agent`.
        </p>
      )}
      {agents.length > 0 && shown.length === 0 && (
        <p class="empty" data-testid="fleet-none">
          No agent matches these filters.
        </p>
      )}
      <ul class="fleet-grid" data-testid="fleet-grid">
        {shown.map((agent) => {
          const mine = forget?.agentId === agent.id ? forget : null;
          const canForget = role === "admin" && agent.status === "offline";
          return (
            <FleetCard
              key={agent.id}
              agent={agent}
              current={currentOf(agent)}
              last={last.get(agent.id)}
              tail={lines?.get(agent.id) ?? props.tails[agent.id]?.lines ?? []}
              now={now}
              pinned={hydrated && pinned.includes(agent.id)}
              onPin={hydrated ? () => pin(agent.id) : undefined}
              action={canForget && !mine && (
                <div class="fleet-actions">
                  <ForgetButton
                    agent={agent}
                    testIdPrefix="fleet-"
                    onAsk={connected
                      ? () => forgetter.ask(agent.id, agent.name)
                      : undefined}
                  />
                </div>
              )}
            >
              {mine && mine.phase !== "done" &&
                (mine.phase !== "confirm" || canForget) && (
                <ForgetPrompt
                  agentId={agent.id}
                  testIdPrefix="fleet-"
                  state={mine}
                  onConfirm={connected ? () => forgetter.confirm() : undefined}
                  onCancel={() => forgetter.cancel()}
                />
              )}
            </FleetCard>
          );
        })}
      </ul>
    </section>
  );
}
