/**
 * Browser notifications for agents that need the operator: when an agent
 * moves to `needs-input` or `stalled`, one notification ("build-1 needs
 * you", with the question as its body), if the operator turned them on.
 * Permission is asked only from a click ({@link NotifyControl.toggle}), the
 * choice is remembered in localStorage, nothing fires for the agent the tab
 * shows while it is visible and focused, and clicking a notification focuses
 * the tab and opens the agent.
 *
 * {@link AttentionTracker} holds the transition rules and is pure; the rest
 * is thin glue over the browser's `Notification`, `localStorage` and
 * `document`, passed in so tests give their own.
 * @module
 */
import { type Signal, signal } from "@preact/signals";
import type { Activity, AgentInfo } from "../protocol.ts";

/** Activities that call for the operator. */
export const NOTIFY_ACTIVITIES: ReadonlySet<Activity> = new Set([
  "needs-input",
  "stalled",
]);

/** One notification to show. */
export interface Notice {
  agentId: string;
  title: string;
  body: string;
  /** Same tag per agent: a newer notice replaces an older one. */
  tag: string;
}

/** What the tab shows: the agent whose live terminal is open, if visible. */
export interface ViewState {
  /** The agent whose live terminal the tab shows (null: none, or one command). */
  agentId: string | null;
  /** The tab is visible and has the focus. */
  attended: boolean;
}

/** The notice for `agent` entering `agent.activity`. */
export function noticeFor(agent: AgentInfo): Notice {
  const stalled = agent.activity === "stalled";
  return {
    agentId: agent.id,
    title: stalled ? `${agent.name} is stalled` : `${agent.name} needs you`,
    body: agent.attention ??
      (stalled ? "No output for a while." : "It is waiting for input."),
    tag: `flightdeck-agent-${agent.id}`,
  };
}

/**
 * Remembers each agent's last activity and says which changes call for a
 * notice: an online agent entering `needs-input` or `stalled` from any other
 * activity (or none). A repeated status (same activity) is no change; going
 * offline or leaving the list forgets the agent. The first list seen is the
 * baseline (what the page showed when it loaded), so it notifies nothing.
 * A change for the agent the tab shows while attended is recorded but not
 * notified.
 */
export class AttentionTracker {
  #last = new Map<string, Activity | undefined>();
  #seeded = false;

  /** Record `agents` (every known agent); the notices their changes call for. */
  update(agents: Iterable<AgentInfo>, view: ViewState): Notice[] {
    const notices: Notice[] = [];
    const seen = new Set<string>();
    for (const agent of agents) {
      seen.add(agent.id);
      const activity = agent.status === "offline" ? undefined : agent.activity;
      const before = this.#last.get(agent.id);
      this.#last.set(agent.id, activity);
      if (!this.#seeded || activity === before) continue;
      if (activity === undefined || !NOTIFY_ACTIVITIES.has(activity)) continue;
      if (view.attended && view.agentId === agent.id) continue;
      notices.push(noticeFor(agent));
    }
    for (const id of [...this.#last.keys()]) {
      if (!seen.has(id)) this.#last.delete(id);
    }
    this.#seeded = true;
    return notices;
  }
}

/** localStorage key of the operator's choice ("on" or "off"). */
export const NOTIFY_STORAGE_KEY = "flightdeck:notify";

/**
 * State of the "Notify me" control: `unsupported` (no Notification API, e.g.
 * a page not served over HTTPS or loopback), `blocked` (the browser denies
 * permission), `off`, or `on` (permission granted and turned on).
 */
export type NotifyState = "unsupported" | "blocked" | "off" | "on";

/** The parts of the browser's `Notification` this module uses. */
export interface NotificationApi {
  readonly permission: NotificationPermission;
  requestPermission(): Promise<NotificationPermission>;
  new (title: string, options?: NotificationOptions): {
    onclick: ((event: Event) => void) | null;
    close(): void;
  };
}

/** What {@link NotifyControl} needs of the page. */
export interface NotifyEnv {
  /** The browser's `Notification`, or undefined where it is missing. */
  Notification: NotificationApi | undefined;
  storage: Pick<Storage, "getItem" | "setItem"> | undefined;
  /** Focus the tab (window.focus). */
  focus(): void;
}

/** The state for a stored choice and a browser permission. */
export function notifyState(
  api: NotificationApi | undefined,
  stored: string | null,
): NotifyState {
  if (!api) return "unsupported";
  if (api.permission === "denied") return "blocked";
  return api.permission === "granted" && stored === "on" ? "on" : "off";
}

/**
 * The "Notify me" switch and the notifications it allows. `state` is a
 * signal for the button; {@link toggle} is for its click handler only (the
 * permission prompt needs a user gesture and is never shown on load);
 * {@link show} fires notices while on.
 */
export class NotifyControl {
  readonly state: Signal<NotifyState>;
  #env: NotifyEnv;
  /** The browser refused to construct a notification: unsupported for good. */
  #refused = false;

  constructor(env: NotifyEnv) {
    this.#env = env;
    this.state = signal(notifyState(env.Notification, this.#stored()));
  }

  #stored(): string | null {
    try {
      return this.#env.storage?.getItem(NOTIFY_STORAGE_KEY) ?? null;
    } catch {
      return null; // storage disabled: the choice lasts for this page only
    }
  }

  #store(value: "on" | "off"): void {
    try {
      this.#env.storage?.setItem(NOTIFY_STORAGE_KEY, value);
    } catch {
      // Storage disabled or full: the choice lasts for this page only.
    }
  }

  /**
   * Turn notifications off, or on, asking the browser's permission first if
   * it was never given (call from a click). Resolves with the new state.
   */
  async toggle(): Promise<NotifyState> {
    const api = this.#env.Notification;
    if (!api) return this.state.value = "unsupported";
    if (this.state.value === "on") {
      this.#store("off");
      return this.state.value = "off";
    }
    let permission = api.permission;
    if (permission === "default") permission = await api.requestPermission();
    if (permission === "granted") {
      this.#store("on");
      return this.state.value = "on";
    }
    return this.state.value = permission === "denied" ? "blocked" : "off";
  }

  /**
   * Show `notices` if on; clicking one focuses the tab, calls `open` with
   * its agent id and closes it. Returns how many were shown. Never throws:
   * where the browser refuses to construct one, the state becomes
   * `unsupported`.
   */
  show(notices: readonly Notice[], open: (agentId: string) => void): number {
    const api = this.#env.Notification;
    // The permission may have been revoked in the browser's settings.
    this.state.value = this.#refused
      ? "unsupported"
      : notifyState(api, this.#stored());
    if (!api || this.state.value !== "on") return 0;
    let shown = 0;
    for (const notice of notices) {
      let n;
      try {
        n = new api(notice.title, { body: notice.body, tag: notice.tag });
      } catch {
        // Chrome on Android allows notifications only from a service
        // worker: its constructor throws. Nothing to show here, ever.
        this.#refused = true;
        this.state.value = "unsupported";
        return shown;
      }
      n.onclick = () => {
        this.#env.focus();
        open(notice.agentId);
        n.close();
      };
      shown++;
    }
    return shown;
  }
}

let page: NotifyControl | undefined;

/** The page's {@link NotifyControl}, over the browser's own APIs (browser only). */
export function pageNotifyControl(): NotifyControl {
  if (page) return page;
  let storage: Storage | undefined;
  try {
    storage = globalThis.localStorage;
  } catch {
    storage = undefined; // storage disabled by the browser's settings
  }
  return page = new NotifyControl({
    Notification: (globalThis as { Notification?: NotificationApi })
      .Notification,
    storage,
    focus: () => globalThis.focus(),
  });
}

/** What this tab shows now, for {@link AttentionTracker.update}. */
export function pageViewState(
  selectedAgentId: string | null,
  selectedCommandId: string | null,
): ViewState {
  return {
    agentId: selectedCommandId === null ? selectedAgentId : null,
    attended: document.visibilityState === "visible" && document.hasFocus(),
  };
}
