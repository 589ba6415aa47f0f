/**
 * Forgetting an offline agent from the dashboard (`agent:forget`, admins
 * only): a two-step request (ask, then confirm) whose state an island shows.
 * Success has no direct answer: the server broadcasts `agent:removed` to
 * every dashboard (the stores drop the agent); a refusal is an `error` whose
 * `replyTo` is the request id.
 * @module
 */
import { type ReadonlySignal, type Signal, signal } from "@preact/signals";
import type { ConnectionState, MessageClient } from "./socket_types.ts";

/** What the forget control of one agent shows; null when it shows nothing. */
export type ForgetState =
  | { phase: "confirm"; agentId: string; name: string }
  | { phase: "pending"; agentId: string; name: string; requestId: string }
  | { phase: "error"; agentId: string; name: string; text: string }
  /** This page's request succeeded: the agent is gone from the list. */
  | { phase: "done"; agentId: string; name: string }
  | null;

/** The sentence shown when the server refuses to forget agent `name`. */
export function forgetErrorText(
  name: string,
  code: string,
  message: string,
): string {
  switch (code) {
    case "AGENT_ONLINE":
      return `${name} is connected again; stop it before forgetting it`;
    case "NOT_FOUND":
      return `${name} is already gone`;
    case "FORBIDDEN":
      return "Only admins can forget agents";
    default:
      return `Could not forget ${name}: ${message} (${code})`;
  }
}

/**
 * The forget request of one page (one at a time). {@link bind} it to the
 * page's client and connection state; `state` says what to show.
 */
export class AgentForgetter {
  readonly #state: Signal<ForgetState> = signal(null);
  #client: MessageClient | null = null;
  #connected: () => boolean = () => false;
  #nextId = 0;

  /** What to show now. */
  get state(): ReadonlySignal<ForgetState> {
    return this.#state;
  }

  /**
   * Send through `client` and follow its answers; `connection` is the
   * client's current state (a request in flight when it leaves "connected"
   * gets no answer: it is shown as not confirmed). Returns the unbinder.
   */
  bind(
    client: MessageClient,
    connection: ReadonlySignal<{ state: ConnectionState }>,
  ): () => void {
    this.#client = client;
    this.#connected = () => connection.peek().state === "connected";
    const offs = [
      client.on("error", (m) => {
        const s = this.#state.peek();
        if (s?.phase !== "pending" || m.payload.replyTo !== s.requestId) return;
        this.#state.value = {
          phase: "error",
          agentId: s.agentId,
          name: s.name,
          text: forgetErrorText(s.name, m.payload.code, m.payload.message),
        };
      }),
      client.on("agent:removed", (m) => {
        const s = this.#state.peek();
        if (s?.agentId !== m.payload.agentId) return;
        this.#state.value = s.phase === "pending"
          ? { phase: "done", agentId: s.agentId, name: s.name }
          : null;
      }),
      connection.subscribe(({ state }) => {
        const s = this.#state.peek();
        if (state === "connected" || s?.phase !== "pending") return;
        this.#state.value = {
          phase: "error",
          agentId: s.agentId,
          name: s.name,
          text:
            `Not confirmed: the connection was lost before ${s.name} was forgotten`,
        };
      }),
    ];
    return () => {
      offs.forEach((off) => off());
      this.#client = null;
    };
  }

  /** First step: ask to confirm forgetting agent `agentId` named `name`. */
  ask(agentId: string, name: string): void {
    if (this.#state.peek()?.phase === "pending") return;
    this.#state.value = { phase: "confirm", agentId, name };
  }

  /** Second step: send `agent:forget` for the agent being confirmed. */
  confirm(): void {
    const s = this.#state.peek();
    if (s?.phase !== "confirm" || !this.#client) return;
    if (!this.#connected()) {
      this.#state.value = {
        ...s,
        phase: "error",
        text: `Not connected to the server; ${s.name} was not forgotten`,
      };
      return;
    }
    const requestId = `forget-${Date.now().toString(36)}-${++this.#nextId}`;
    this.#state.value = { ...s, phase: "pending", requestId };
    this.#client.send("agent:forget", { agentId: s.agentId }, requestId);
  }

  /** Close the question, the error or the success note (a request in flight stays). */
  cancel(): void {
    if (this.#state.peek()?.phase !== "pending") this.#state.value = null;
  }
}
