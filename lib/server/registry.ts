/**
 * The agent registry: a two-way index between agent ids and their sockets,
 * and the one place agent state changes. Every change is reported to
 * `onChange` synchronously, which broadcasts `agent:status`.
 *
 * @module
 */
import type { Activity, AgentInfo, GitInfo, QuickAnswer } from "../protocol.ts";
import { FlightdeckError } from "./errors.ts";
import type { Peer } from "./peer.ts";

/**
 * What changed: `state` (connected, disconnected, current command), or only
 * `activity`: the activity or the terminal size (which last while the agent
 * is connected), or the git state (stored with the next `state` change,
 * such as the disconnect), so an agent's reports never cause storage
 * writes.
 */
export type RegistryChange = "state" | "activity";

/** What an agent reports in `agent:activity`. */
export interface ActivityReport {
  activity: Activity;
  attention?: string;
  options?: QuickAnswer[];
}

/**
 * `info` without its activity fields and its terminal size (they hold only
 * while connected).
 */
function withoutActivity(info: AgentInfo): AgentInfo {
  const { activity: _a, attention: _q, options: _o, pty: _p, ...rest } = info;
  return rest;
}

/** What an agent reports when it connects. */
export type AgentHello =
  & Pick<AgentInfo, "id" | "name" | "type" | "capabilities" | "hostname">
  & Partial<Pick<AgentInfo, "tags" | "cwd" | "git" | "defaultTimeoutMs">>;

/**
 * `next` with `since` set to `now` when its status or activity differs from
 * `before`'s (else `before.since`): how long the agent has been doing what
 * it does now.
 */
function stamp(before: AgentInfo | undefined, next: AgentInfo, now: number) {
  const changed = !before || before.status !== next.status ||
    before.activity !== next.activity;
  const since = changed ? now : before.since ?? now;
  return { ...next, since };
}

interface Entry {
  info: AgentInfo;
  peer: Peer | null;
}

/** Live agents and the last known state of agents seen before. */
export class Registry {
  #agents = new Map<string, Entry>();
  #byPeer = new Map<string, string>();
  #onChange: (info: AgentInfo, change: RegistryChange) => void;
  #now: () => number;

  constructor(
    onChange: (info: AgentInfo, change: RegistryChange) => void = () => {},
    now: () => number = Date.now,
  ) {
    this.#onChange = onChange;
    this.#now = now;
  }

  /** Restore agents known from storage; they start `offline`. */
  restore(infos: Iterable<AgentInfo>): void {
    for (const info of infos) {
      if (this.#agents.has(info.id)) continue;
      this.#agents.set(info.id, {
        info: {
          ...withoutActivity(info),
          status: "offline",
          currentCommandId: null,
          // Offline since it was last heard from, unless it was offline then.
          since: info.status === "offline"
            ? info.since ?? info.lastSeenAt
            : info.lastSeenAt,
        },
        peer: null,
      });
    }
  }

  /**
   * Register `peer` as agent `hello.id`. Returns the peer it replaced, if the
   * same id was connected elsewhere (the caller closes it with 4409).
   */
  connect(
    hello: AgentHello,
    peer: Peer,
  ): { info: AgentInfo; replaced: Peer | null } {
    const now = this.#now();
    const previous = this.#agents.get(hello.id);
    const replaced = previous?.peer && previous.peer !== peer
      ? previous.peer
      : null;
    if (replaced) this.#byPeer.delete(replaced.id);
    const currentCommandId = previous?.info.currentCommandId ?? null;
    // How its last session ended, while it is still a session agent: an
    // agent that comes back in exec mode has no session to restart.
    const ended = hello.capabilities.includes("session")
      ? previous?.info.ended
      : undefined;
    const { tags, cwd, git, ...rest } = hello;
    const info: AgentInfo = stamp(previous?.info, {
      ...rest,
      status: currentCommandId ? "busy" : "online",
      connectedAt: now,
      lastSeenAt: now,
      currentCommandId,
      ...(ended ? { ended } : {}),
      ...(tags?.length ? { tags: [...tags] } : {}),
      ...(cwd ? { cwd } : {}),
      ...(git ? { git: { ...git } } : {}),
    }, now);
    this.#agents.set(hello.id, { info, peer });
    this.#byPeer.set(peer.id, hello.id);
    this.#onChange(info, "state");
    return { info, replaced };
  }

  /** Mark the agent on `peer` offline. Returns false if `peer` is not an agent's current socket. */
  disconnect(peer: Peer): boolean {
    const id = this.#byPeer.get(peer.id);
    if (id === undefined) return false;
    this.#byPeer.delete(peer.id);
    const entry = this.#agents.get(id);
    if (!entry || entry.peer !== peer) return false;
    entry.peer = null;
    const now = this.#now();
    entry.info = stamp(entry.info, {
      ...withoutActivity(entry.info),
      status: "offline",
      lastSeenAt: now,
    }, now);
    this.#onChange(entry.info, "state");
    return true;
  }

  /** Record that a frame arrived from agent `id` (no broadcast). */
  touch(id: string): void {
    const entry = this.#agents.get(id);
    if (entry) entry.info = { ...entry.info, lastSeenAt: this.#now() };
  }

  /**
   * Set the command agent `id` is running (`null`: idle). Returns false when
   * nothing changed.
   */
  setCurrentCommand(id: string, commandId: string | null): boolean {
    const entry = this.#agents.get(id);
    if (!entry || entry.info.currentCommandId === commandId) return false;
    const status = entry.peer ? (commandId ? "busy" : "online") : "offline";
    // A command runs again: how an earlier session ended is history now.
    // The terminal size was the previous command's.
    const { ended: _ended, pty: _pty, ...rest } = entry.info;
    const { pty: _old, ...kept } = entry.info;
    entry.info = stamp(entry.info, {
      ...(commandId ? rest : kept),
      currentCommandId: commandId,
      status,
    }, this.#now());
    this.#onChange(entry.info, "state");
    return true;
  }

  /**
   * Agent `id`'s session (its current command) ended as `end` says: it runs
   * nothing now, shows how the session ended in `ended`, and has no
   * `activity` (no program runs to be waiting or working). An agent that
   * is back in exec mode (no `session` capability; its old session ends
   * as lost when it reconnects) gets no `ended`.
   */
  endSession(id: string, end: NonNullable<AgentInfo["ended"]>): void {
    const entry = this.#agents.get(id);
    if (!entry) return;
    const { ended: _ended, ...rest } = withoutActivity(entry.info);
    entry.info = stamp(entry.info, {
      ...rest,
      currentCommandId: null,
      status: entry.peer ? "online" : "offline",
      ...(entry.info.capabilities.includes("session")
        ? {
          ended: {
            commandId: end.commandId,
            status: end.status,
            exitCode: end.exitCode,
          },
        }
        : {}),
    }, this.#now());
    this.#onChange(entry.info, "state");
  }

  /**
   * Set the terminal size of connected agent `id`'s running command
   * `commandId` (a PTY's; from `command:started`, `terminal:snapshot` or a
   * controller's resize). Ignored for another command than the one it runs.
   * Returns false when nothing changed (no `onChange`).
   */
  setPty(
    id: string,
    commandId: string,
    size: { cols: number; rows: number },
  ): boolean {
    const entry = this.#agents.get(id);
    if (!entry?.peer || entry.info.currentCommandId !== commandId) {
      return false;
    }
    const before = entry.info.pty;
    if (before?.cols === size.cols && before?.rows === size.rows) return false;
    entry.info = { ...entry.info, pty: { cols: size.cols, rows: size.rows } };
    this.#onChange(entry.info, "activity");
    return true;
  }

  /**
   * Set the git state of connected agent `id`'s working directory (`null`:
   * not in a repository). Returns false when nothing changed (no
   * `onChange`).
   */
  setGit(id: string, git: GitInfo | null): boolean {
    const entry = this.#agents.get(id);
    if (!entry?.peer) return false;
    const before = entry.info.git;
    if (
      before?.branch === git?.branch && before?.commit === git?.commit &&
      before?.dirty === git?.dirty
    ) return false;
    const { git: _git, ...rest } = entry.info;
    entry.info = git
      ? {
        ...rest,
        git: {
          branch: git.branch,
          dirty: git.dirty,
          ...(git.commit ? { commit: git.commit } : {}),
        },
      }
      : rest;
    this.#onChange(entry.info, "activity");
    return true;
  }

  /**
   * Set what connected agent `id`'s program is doing. `attention` and
   * `options` are kept only with `needs-input` (and only when non-empty).
   * Returns false when nothing changed (no `onChange`).
   */
  setActivity(id: string, report: ActivityReport): boolean {
    const entry = this.#agents.get(id);
    if (!entry?.peer) return false;
    const next: AgentInfo = {
      ...withoutActivity(entry.info),
      ...(entry.info.pty ? { pty: entry.info.pty } : {}),
      activity: report.activity,
    };
    if (report.activity === "needs-input") {
      if (report.attention) next.attention = report.attention;
      if (report.options?.length) {
        next.options = report.options.map(({ key, label }) => ({ key, label }));
      }
    }
    const before = entry.info;
    if (
      before.activity === next.activity &&
      before.attention === next.attention &&
      JSON.stringify(before.options) === JSON.stringify(next.options)
    ) return false;
    entry.info = stamp(before, next, this.#now());
    this.#onChange(entry.info, "activity");
    return true;
  }

  /**
   * Forget offline agent `id` (no `onChange`: the caller announces it).
   * Returns false when it is unknown or connected.
   */
  remove(id: string): boolean {
    const entry = this.#agents.get(id);
    if (!entry || entry.peer) return false;
    this.#agents.delete(id);
    return true;
  }

  /**
   * Cluster mode: set agent `info.id`'s state as another node announced it
   * (no `onChange`: that node saves and broadcasts it). Ignored while the
   * agent is connected here.
   */
  applyRemote(info: AgentInfo): void {
    const entry = this.#agents.get(info.id);
    if (entry?.peer) return;
    this.#agents.set(info.id, { info, peer: null });
  }

  /**
   * Cluster mode: another node took agent `id` over. Its socket here, if
   * any, is no longer its own (its close changes nothing, no `onChange`).
   * Returns that socket, for the caller to close.
   */
  release(id: string): Peer | null {
    const entry = this.#agents.get(id);
    const peer = entry?.peer ?? null;
    if (!entry || !peer) return null;
    this.#byPeer.delete(peer.id);
    entry.peer = null;
    return peer;
  }

  /**
   * Cluster mode: agent `id`, held by another node, is offline now (that
   * node is gone). Returns its new state, or null when it is connected here
   * or unknown or offline already (no `onChange`: nothing is saved).
   */
  markRemoteOffline(id: string): AgentInfo | null {
    const entry = this.#agents.get(id);
    if (!entry || entry.peer || entry.info.status === "offline") return null;
    const now = this.#now();
    entry.info = stamp(entry.info, {
      ...withoutActivity(entry.info),
      status: "offline",
      lastSeenAt: now,
    }, now);
    return entry.info;
  }

  /** Agent `id`'s state, if ever seen. */
  get(id: string): AgentInfo | undefined {
    return this.#agents.get(id)?.info;
  }

  /**
   * Agent `id`'s state when it is known and connected.
   *
   * @throws {FlightdeckError} NOT_FOUND for an unknown agent, AGENT_OFFLINE
   * for one not connected.
   */
  requireOnline(id: string): AgentInfo {
    const info = this.get(id);
    if (!info) {
      throw new FlightdeckError("NOT_FOUND", `Unknown agent "${id}"`);
    }
    if (!this.isOnline(id)) {
      throw new FlightdeckError(
        "AGENT_OFFLINE",
        `Agent "${id}" is not connected`,
      );
    }
    return info;
  }

  /** The socket of agent `id` when it is connected. */
  peerOf(id: string): Peer | null {
    return this.#agents.get(id)?.peer ?? null;
  }

  /** The agent id registered on `peer`. */
  agentOf(peer: Peer): string | undefined {
    return this.#byPeer.get(peer.id);
  }

  /** Whether agent `id` is connected. */
  isOnline(id: string): boolean {
    return this.peerOf(id) !== null;
  }

  /** All agents, online first, then by name. */
  list(): AgentInfo[] {
    return [...this.#agents.values()].map((e) => e.info).sort((a, b) =>
      Number(a.status === "offline") - Number(b.status === "offline") ||
      a.name.localeCompare(b.name) || a.id.localeCompare(b.id)
    );
  }

  /** Ids of connected agents. */
  onlineIds(): string[] {
    return [...this.#agents.entries()].filter(([, e]) => e.peer).map(([id]) =>
      id
    );
  }
}
