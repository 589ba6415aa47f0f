/**
 * One agent socket: `agent:connect`, then output, started and completed
 * reports. Output is broadcast at once and acknowledged (`terminal:ack`)
 * once stored, without waiting for the store before the next message.
 * `connection:ack.outputWindowBytes` tells the agent how much output it may
 * leave unacknowledged; messages received and not yet handled plus output
 * not stored yet are bounded (see `maxBacklogBytes`).
 *
 * @module
 */
import {
  type AgentMessage,
  CLOSE_CODES,
  parseAgentMessage,
  PROTOCOL_VERSION,
  type ToAgent,
  toAgent,
} from "../protocol.ts";
import { AuthError, type Principal } from "./auth.ts";
import type { AcceptedOutput } from "./commands.ts";
import { FlightdeckError, storageUnavailable } from "./errors.ts";
import type { Services } from "./services.ts";
import type { Peer } from "./peer.ts";
import { Session } from "./session.ts";

/** A connected agent process. */
export class AgentSession extends Session<AgentMessage, ToAgent> {
  #app: Services;
  #headerToken: string | null;
  /** Client address, for the audit trail. */
  #address: string | null;
  #agentId: string | null = null;
  #principal: Principal | null = null;
  #untrack: (() => void) | null = null;
  /** Characters of output received on this socket and not stored yet. */
  #unstored = 0;

  /**
   * `headerToken` is the upgrade's Bearer token; `verified` says it was
   * checked at the upgrade (an agent token), which lifts the cap on frames
   * before `agent:connect`. `address` is the client's (for the audit trail).
   */
  constructor(
    peer: Peer,
    app: Services,
    headerToken: string | null,
    options: { verified?: boolean; address?: string } = {},
  ) {
    super(peer, {
      maxFrameBytes: app.config.maxFrameBytes,
      maxBufferedBytes: app.config.maxPeerBufferedBytes,
      // Output is flow-controlled by the window instead: a refused frame
      // would be lost (the agent does not resend it), and the backlog bound
      // below caps what is held.
      messageRatePerSecond: 1_000_000,
      timeoutMs: app.config.agentTimeoutMs,
      authTimeoutMs: 5000,
      maxUnauthenticatedFrameBytes: options.verified
        ? undefined
        : app.config.maxUnauthenticatedFrameBytes,
      // Received and not handled plus handled and not stored: the window,
      // plus one frame sent while under it, plus room for heartbeats and
      // reports queued behind a message that waits for the store.
      maxBacklogBytes: app.config.agentOutputWindowBytes +
        2 * app.config.maxFrameBytes,
    }, app.log);
    this.#app = app;
    this.#headerToken = headerToken;
    this.#address = options.address ?? null;
  }

  /**
   * Output handled and not stored yet: with the frames not yet handled it
   * stays within the window plus two frames (`maxBacklogBytes`), which an
   * agent that waits for its acks never reaches.
   */
  protected override heldBytes(): number {
    return this.#unstored;
  }

  protected parse(frame: string) {
    return parseAgentMessage(frame);
  }

  protected onOpen(): void {}

  protected onClose(): void {
    this.#untrack?.();
    this.#untrack = null;
    if (this.#agentId === null) return;
    if (this.#app.registry.disconnect(this.peer)) {
      this.log.info("Agent disconnected", { agentId: this.#agentId });
      this.#app.commands.agentDisconnected(this.#agentId);
      this.#app.cluster?.disconnected(this.#agentId);
    }
  }

  protected async handle(message: AgentMessage): Promise<void> {
    const agentId = this.#agentId;
    if (agentId === null) {
      if (message.type !== "agent:connect") {
        return this.rejectAuth("Send agent:connect first");
      }
      try {
        return await this.#connect(message.payload);
      } catch (error) {
        // Failed after the sign-in: as any handler failure.
        if (this.#agentId !== null) throw error;
        return this.#connectFailed(error);
      }
    }
    // A socket replaced by a newer one of the same agent says nothing more.
    if (this.#app.registry.peerOf(agentId) !== this.peer) return;
    this.#app.registry.touch(agentId);
    const { commands } = this.#app;
    switch (message.type) {
      case "agent:connect":
        this.sendError("INVALID_MESSAGE", "Already connected", message.id);
        return;
      case "heartbeat":
        this.send(toAgent("heartbeat", message.payload));
        return;
      case "auth:refresh":
        if (!this.takeRefresh(message.id)) return;
        return await this.#refresh();
      case "command:started": {
        const { commandId, fromSeq, cols, rows } = message.payload;
        const size = cols !== undefined && rows !== undefined
          ? { cols, rows }
          : undefined;
        await commands.started(agentId, commandId, fromSeq, size);
        if (size) this.#app.registry.setPty(agentId, commandId, size);
        return;
      }
      case "terminal:snapshot": {
        commands.screenSnapshot(agentId, message.payload);
        // The screen's size is the PTY's now (a local resize included).
        const { commandId, cols, rows } = message.payload;
        this.#app.registry.setPty(agentId, commandId, { cols, rows });
        return;
      }
      case "agent:activity":
        this.#app.registry.setActivity(agentId, message.payload);
        // A session agent back at its prompt may take the next prompt.
        if (message.payload.activity === "waiting") {
          await commands.activityChanged(agentId);
        }
        return;
      case "agent:git":
        this.#app.registry.setGit(agentId, message.payload.git);
        return;
      case "session:start": {
        const command = await commands.startSession(
          agentId,
          this.#principal!.id,
          message.payload.program,
          { cols: message.payload.cols, rows: message.payload.rows },
        );
        this.send(toAgent("session:started", { command }));
        return;
      }
      case "terminal:output": {
        const { commandId, data } = message.payload;
        let accepted: AcceptedOutput;
        try {
          accepted = await commands.output(agentId, message.payload);
        } catch (error) {
          if (!(error instanceof FlightdeckError)) throw error;
          // Refused for good (not this agent's running command): answer, and
          // acknowledge so the agent frees its window; nothing was stored.
          this.sendError(error.code, error.message, message.id);
          accepted = { seq: message.payload.seq, stored: Promise.resolve() };
        }
        // Acknowledged once durable, without holding up the next message:
        // chunks are broadcast at once and stored in batches. Until stored
        // they count toward the backlog bound (see heldBytes).
        this.#unstored += data.length;
        accepted.stored.then(
          () =>
            this.send(
              toAgent("terminal:ack", { commandId, seq: accepted.seq }),
            ),
          (error) => {
            // Not stored: the agent resends everything unacknowledged when
            // it reconnects.
            this.log.error("Storing output failed", {
              agentId,
              commandId,
              error: String(error),
            });
            this.peer.close(
              CLOSE_CODES.GOING_AWAY.code,
              "Storing output failed",
            );
            // Act now: the messages still queued on this socket are not
            // handled (a completion must not settle a command whose output
            // is missing; the agent sends it again after reconnecting).
            this.closed();
          },
        ).finally(() => this.#unstored -= data.length);
        return;
      }
      case "command:completed": {
        const { commandId } = message.payload;
        try {
          await commands.completed(agentId, message.payload);
        } catch (error) {
          if (!storageUnavailable(error)) throw error;
          // Not recorded (the storage is away): the agent sends the
          // completion again when it has reconnected.
          this.log.warn("Recording a completion failed", {
            agentId,
            commandId,
            error: String(error),
          });
          this.peer.close(CLOSE_CODES.GOING_AWAY.code, "Storage unavailable");
          this.closed();
          return;
        }
        const seq = await commands.lastSeq(commandId);
        this.send(
          toAgent("terminal:ack", { commandId, seq, completed: true }),
        );
        return;
      }
    }
  }

  async #connect(
    hello: Extract<AgentMessage, { type: "agent:connect" }>["payload"],
  ): Promise<void> {
    let principal: Principal;
    try {
      principal = await this.#app.sessions.verify(
        hello.token ?? this.#headerToken,
      );
    } catch (error) {
      if (error instanceof AuthError) {
        this.#app.audit.refusal({
          actor: null,
          role: null,
          address: this.#address,
          connectionId: this.peer.id,
          action: "auth.refused",
          target: { agentId: hello.agentId },
          outcome: "refused",
          detail: { reason: error.message },
        });
        return this.rejectAuth(error.message);
      }
      // The token could not be checked (Redis is unreachable): refused
      // clearly; the agent reconnects with its backoff.
      const unavailable = storageUnavailable(error);
      if (unavailable) return this.refuseUnavailable(unavailable.message);
      throw error;
    }
    if (principal.role !== "agent" || principal.agentId !== hello.agentId) {
      const message = principal.role !== "agent"
        ? `Role "${principal.role}" cannot register an agent`
        : `Token is for agent "${principal.agentId}", not "${hello.agentId}"`;
      this.#app.audit.refusal({
        actor: principal.id,
        role: principal.role,
        address: this.#address,
        connectionId: this.peer.id,
        action: "agent.register",
        target: { agentId: hello.agentId },
        outcome: "refused",
        detail: { reason: "role", message },
      });
      this.sendError("FORBIDDEN", message);
      this.peer.close(CLOSE_CODES.FORBIDDEN.code, message);
      return;
    }
    // The socket may have closed while the token was checked.
    if (this.isClosed || !this.peer.isOpen) return;
    const refused = this.#app.connections.authenticate(
      this.peer.id,
      principal.id,
    );
    if (refused) {
      this.sendError("RATE_LIMIT", refused);
      this.peer.close(CLOSE_CODES.RATE_LIMITED.code, refused);
      return;
    }
    // Tracked, then checked again: a revocation in between still closes it.
    this.#track(principal);
    try {
      await this.#app.sessions.check(principal);
    } catch (error) {
      if (error instanceof AuthError) return this.rejectAuth(error.message);
      const unavailable = storageUnavailable(error);
      if (unavailable) return this.refuseUnavailable(unavailable.message);
      throw error;
    }
    if (this.isClosed || !this.peer.isOpen) return;
    const { registry, commands, config } = this.#app;
    // Checked in the same turn as registry.connect below: an admin's forget
    // either saw this agent online or runs to its end before it registers.
    if (commands.isForgetting(hello.agentId)) {
      this.peer.close(
        CLOSE_CODES.GOING_AWAY.code,
        "This agent is being forgotten; reconnect",
      );
      this.closed();
      return;
    }
    if (this.#app.cluster) {
      // This node holds the agent from now on: the node that did drops it,
      // and its queue and running commands are loaded here.
      await this.#app.cluster.claim(hello.agentId);
      await commands.adopt(hello.agentId);
      if (this.isClosed || !this.peer.isOpen) return;
    }
    this.markAuthenticated(principal.expiresAt);
    this.#agentId = hello.agentId;
    this.#principal = principal;
    // Only now, authenticated, may this socket take the id over.
    const { replaced } = registry.connect({
      id: hello.agentId,
      name: hello.name,
      type: hello.type,
      capabilities: hello.capabilities,
      hostname: hello.hostname,
      tags: hello.tags,
      cwd: hello.cwd,
      git: hello.git,
      ...(hello.defaultTimeoutMs !== undefined
        ? { defaultTimeoutMs: hello.defaultTimeoutMs }
        : {}),
    }, this.peer);
    if (replaced) {
      this.log.warn("Agent replaced by a new connection with the same id", {
        agentId: hello.agentId,
        hostname: hello.hostname,
        oldConnection: replaced.id,
        newConnection: this.peer.id,
      });
      replaced.close(
        CLOSE_CODES.REPLACED.code,
        "Agent connected again elsewhere",
      );
    }
    this.send(toAgent("connection:ack", {
      connectionId: this.peer.id,
      serverVersion: PROTOCOL_VERSION,
      heartbeatIntervalMs: config.heartbeatIntervalMs,
      user: { id: principal.id, role: principal.role },
      agentId: hello.agentId,
      expiresAt: principal.expiresAt,
      ...(replaced ? { replaced: true as const } : {}),
      outputWindowBytes: config.agentOutputWindowBytes,
    }));
    this.log.info("Agent connected", {
      agentId: hello.agentId,
      name: hello.name,
    });
    this.#app.audit.record({
      actor: principal.id,
      role: principal.role,
      address: this.#address,
      connectionId: this.peer.id,
      action: replaced ? "agent.replace" : "agent.register",
      target: { agentId: hello.agentId },
      outcome: "ok",
      detail: {
        name: hello.name,
        hostname: hello.hostname ?? "",
        ...(replaced ? { oldConnection: replaced.id } : {}),
      },
    });
    await commands.agentConnected(hello.agentId, hello.running ?? []);
  }

  /**
   * `agent:connect` failed before the agent was registered (its sign-in
   * checked, its claim in cluster mode, or loading its queue failed): say
   * why and close with 1001, so the agent reconnects with its backoff. Left
   * open, the socket would answer the agent's next message with
   * AUTH_FAILED ("Send agent:connect first"), and the agent would stop.
   */
  #connectFailed(error: unknown): void {
    const unavailable = storageUnavailable(error);
    if (unavailable) return this.refuseUnavailable(unavailable.message);
    const known = error instanceof FlightdeckError;
    if (!known) {
      this.log.error("Agent connect failed", { error: String(error) });
    }
    this.sendError(
      known ? error.code : "INTERNAL",
      known ? error.message : "The server failed to register the agent",
    );
    this.peer.close(CLOSE_CODES.GOING_AWAY.code, "Connect failed");
    this.closed();
  }

  /**
   * `auth:refresh`: sign a fresh token for this agent's sign-in and send it
   * (`auth:refreshed`); the connection stays open until the new expiry. A
   * revoked sign-in ends the connection with AUTH_FAILED and 4401.
   */
  async #refresh(): Promise<void> {
    const principal = this.#principal!;
    let refreshed;
    try {
      refreshed = await this.#app.sessions.refresh(principal);
    } catch (error) {
      if (error instanceof AuthError) return this.rejectAuth(error.message);
      throw error;
    }
    if (this.isClosed || !refreshed.token) return;
    this.#principal = refreshed.principal;
    this.setExpiry(refreshed.expiresAt);
    this.send(toAgent("auth:refreshed", {
      expiresAt: refreshed.expiresAt,
      token: refreshed.token,
    }));
  }

  /** Close this connection (4401) when its sign-in is revoked. */
  #track(principal: Principal): void {
    this.#untrack?.();
    this.#untrack = this.#app.sessions.track(
      principal.sessionId,
      (reason) => this.rejectAuth(reason),
      principal.kind,
    );
  }
}
