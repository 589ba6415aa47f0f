/**
 * The dashboard client's message-handler registry: handlers by `type` plus
 * catch-all ones, each call isolated so one throwing handler does not stop
 * the others.
 * @module
 */
import type { ServerToDashboardMessage } from "../protocol.ts";
import type { ServerMessageOf, ServerMessageType } from "./socket_types.ts";

/**
 * Handlers by message type, and for every message. {@link DashboardClient}
 * extends it, so `on` and `onMessage` are the client's.
 */
export class HandlerRegistry {
  #byType = new Map<string, Set<(message: never) => void>>();
  #any = new Set<(message: ServerToDashboardMessage) => void>();
  /** Receives what handlers throw. */
  protected onHandlerError: (error: unknown) => void = (error) =>
    globalThis.reportError?.(error);

  /** Register `handler` for messages of `type`; returns its unsubscribe. */
  on<K extends ServerMessageType>(
    type: K,
    handler: (message: ServerMessageOf<K>) => void,
  ): () => void {
    let set = this.#byType.get(type);
    if (!set) this.#byType.set(type, set = new Set());
    const entry = handler as (message: never) => void;
    set.add(entry);
    return () => {
      set.delete(entry);
      if (set.size === 0 && this.#byType.get(type) === set) {
        this.#byType.delete(type);
      }
    };
  }

  /** Register `handler` for every valid server message (before `on` ones). */
  onMessage(handler: (message: ServerToDashboardMessage) => void): () => void {
    this.#any.add(handler);
    return () => this.#any.delete(handler);
  }

  /** Call the catch-all handlers, then those of the message's type. */
  protected dispatch(message: ServerToDashboardMessage): void {
    const typed = this.#byType.get(message.type) ?? [];
    for (const handler of [...this.#any, ...typed]) {
      try {
        handler(message as never);
      } catch (error) {
        this.onHandlerError(error);
      }
    }
  }
}
