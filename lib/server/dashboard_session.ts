/**
 * One dashboard socket: authentication, the initial snapshot, commands,
 * interrupts, resume and heartbeats.
 *
 * @module
 */
import {
  byteLength,
  CLOSE_CODES,
  type CommandInfo,
  type DashboardMessage,
  FINAL_STATUSES,
  parseDashboardMessage,
  PROTOCOL_VERSION,
  type Role,
  type ToDashboard,
  toDashboard,
} from "../protocol.ts";
import { AuthError, type Principal, roleAllows } from "./auth.ts";
import type { AuditAction, AuditActor } from "./audit.ts";
import { FlightdeckError, storageUnavailable } from "./errors.ts";
import type { Services } from "./services.ts";
import type { Peer } from "./peer.ts";
import { Session } from "./session.ts";
import type { Requester } from "./session_control.ts";
import { requestRestart } from "./session_restart.ts";

/** Characters of a command's or prompt's text kept in its audit entry. */
export const AUDIT_TEXT_CHARS = 4096;

/** Recent commands per agent sent in the snapshot after `agent:list`. */
export const SNAPSHOT_COMMANDS_PER_AGENT = 50;

/** Most output bytes (about) one `terminal:earlier` answer carries. */
export const EARLIER_PAGE_BYTES = 128 * 1024;

/**
 * Frames of `maxFrameBytes` one dashboard connection may have received and
 * not yet handled; one more closes it with 4429.
 */
export const DASHBOARD_BACKLOG_FRAMES = 4;

/** A connected dashboard. */
export class DashboardSession extends Session<DashboardMessage, ToDashboard> {
  #app: Services;
  #user: Principal | null;
  /**
   * Per command, the seq it had been broadcast up to when this dashboard
   * joined (later chunks reach it live): the `resume` of
   * `dashboard:connect` replays only up to there, so the seam between replay
   * and live output has no duplicate and no gap.
   */
  #joinedSeqs = new Map<string, number>();

  #joinedAt = Number.POSITIVE_INFINITY;
  /** Stops revocation of the current sign-in from closing this session. */
  #untrack: (() => void) | null = null;
  /** Client address, for the audit trail. */
  #address: string | null;

  /** `address` is the client's (recorded in the audit trail). */
  constructor(
    peer: Peer,
    app: Services,
    user: Principal | null,
    address: string | null = null,
  ) {
    super(peer, {
      maxFrameBytes: app.config.maxFrameBytes,
      maxBufferedBytes: app.config.maxPeerBufferedBytes,
      messageRatePerSecond: app.config.messageRatePerSecond,
      timeoutMs: app.config.dashboardTimeoutMs,
      authTimeoutMs: 5000,
      // Messages wait their turn while an earlier one is handled (a replay,
      // a KV write): a connection may hold at most four frames' worth.
      maxBacklogBytes: DASHBOARD_BACKLOG_FRAMES * app.config.maxFrameBytes,
      // Authenticated at the upgrade (cookie or Bearer): no early cap.
      maxUnauthenticatedFrameBytes: user
        ? undefined
        : app.config.maxUnauthenticatedFrameBytes,
    }, app.log);
    this.#app = app;
    this.#user = user;
    this.#address = address;
  }

  protected parse(frame: string) {
    return parseDashboardMessage(frame);
  }

  protected onOpen(): void {
    const user = this.#user;
    // Through the message queue, so a dashboard:connect waits for the ack.
    if (user) this.enqueue(async () => void await this.#accept(user));
  }

  protected onClose(): void {
    this.#untrack?.();
    this.#untrack = null;
    this.#app.dashboards.remove(this.peer);
    const user = this.#user;
    const { control, audit } = this.#app;
    if (user && this.authenticated) {
      for (const [agentId, holder] of control.held()) {
        if (holder.connectionId !== this.peer.id) continue;
        this.#audit(user, "session.control.release", { agentId }, "ok", {
          reason: "connection closed",
        });
      }
      audit.flushInput(this.peer.id);
    }
    control.connectionClosed(this.peer.id);
    this.#app.cluster?.connectionClosed(this.peer.id);
  }

  /** Who this session acts for (null for a socket not signed in yet). */
  get principal(): Principal | null {
    return this.#user;
  }

  protected async handle(message: DashboardMessage): Promise<void> {
    const user = this.#user;
    if (user) {
      try {
        return await this.#act(user, message);
      } catch (error) {
        if (error instanceof FlightdeckError) {
          this.#auditFailure(user, message, error);
        }
        throw error;
      }
    }
    if (!user) {
      if (message.type !== "dashboard:connect") {
        return this.rejectAuth("Send dashboard:connect with a token first");
      }
      try {
        const principal = await this.#app.sessions.verify(
          message.payload.token,
        );
        if (principal.role === "agent") {
          this.#auditAuthFailure("Agent token");
          return this.rejectAuth("Agent tokens cannot open a dashboard");
        }
        if (!await this.#accept(principal)) return;
      } catch (error) {
        if (error instanceof AuthError) {
          this.#auditAuthFailure(error.message);
          return this.rejectAuth(error.message);
        }
        // The sign-in could not be checked (Redis is unreachable): a clear
        // refusal, and the client reconnects with its backoff.
        const unavailable = storageUnavailable(error);
        if (unavailable) {
          return this.refuseUnavailable(unavailable.message, message.id);
        }
        throw error;
      }
      return this.#resume(message.payload.resume ?? {});
    }
  }

  /** Handle `message` from signed-in `user`, recording what it did. */
  async #act(user: Principal, message: DashboardMessage): Promise<void> {
    switch (message.type) {
      case "dashboard:connect":
        return this.#resume(message.payload.resume ?? {});
      case "heartbeat":
        this.send(toDashboard("heartbeat", message.payload));
        return;
      case "command:request": {
        this.#require("operator", "send commands");
        this.#checkCommandRate();
        const result = await this.#app.commands.request(
          user,
          message.payload,
          { requestId: message.id, origin: this.peer },
        );
        const { command, duplicate } = result;
        // A command queued by another node (its agent's) was not sent here
        // with replyTo: answer now.
        if (duplicate || "remote" in result) {
          this.send(toDashboard("command:status", {
            command,
            ...(message.id ? { replyTo: message.id } : {}),
          }));
          return;
        }
        this.#audit(
          user,
          command.kind === "prompt" ? "prompt.send" : "command.request",
          { agentId: command.agentId, commandId: command.id },
          "ok",
          {
            text: command.command.slice(0, AUDIT_TEXT_CHARS),
            priority: command.priority,
          },
        );
        return;
      }
      case "command:interrupt": {
        this.#require("operator", "interrupt commands");
        const before = await this.#app.commands.get(message.payload.commandId);
        const command = await this.#app.commands.interrupt(
          message.payload.commandId,
          message.payload.reason ?? `interrupted by ${user.id}`,
          { actor: user.id, role: user.role },
        );
        const reason = message.payload.reason ?? `interrupted by ${user.id}`;
        this.#audit(
          user,
          before?.status === "queued" ? "command.cancel" : "command.interrupt",
          { agentId: command.agentId, commandId: command.id },
          "ok",
          { reason },
        );
        if (message.id) {
          this.send(
            toDashboard("command:status", { command, replyTo: message.id }),
          );
        }
        return;
      }
      case "emergency:stop": {
        this.#require("admin", "stop everything");
        const reason = message.payload.reason ?? `emergency stop by ${user.id}`;
        const result = await this.#app.commands.emergencyStop(reason, {
          actor: user.id,
          role: user.role,
        });
        this.log.warn("Emergency stop", { by: user.id, ...result });
        this.#audit(user, "emergency.stop", {}, "ok", { reason, ...result });
        return;
      }
      case "agent:forget": {
        this.#require("admin", "forget agents");
        await this.#app.commands.forgetAgent(
          message.payload.agentId,
          undefined,
          { actor: user.id, role: user.role },
        );
        this.log.warn("Agent forgotten", {
          agentId: message.payload.agentId,
          by: user.id,
        });
        this.#audit(user, "agent.forget", {
          agentId: message.payload.agentId,
        });
        return;
      }
      case "terminal:resume":
        return this.#replay(
          message.payload.commandId,
          message.payload.afterSeq,
          undefined,
          message.payload.snapshot === true,
        );
      case "terminal:earlier":
        return await this.#earlier(
          message.payload.commandId,
          message.payload.beforeSeq,
        );
      case "auth:refresh":
        if (!this.takeRefresh(message.id)) return;
        return await this.#refresh(user, message.payload.token);
      case "log:forward":
        return this.#forwardLog(user, message.payload);
      case "session:control": {
        const { agentId, take } = message.payload;
        const { control, audit } = this.#app;
        const owner = this.#ownerElsewhere(agentId);
        let before, after, unchanged;
        if (owner) {
          ({ before, after, unchanged } = (await this.#app.cluster!.terminal(
            owner,
            this.#requester(user),
            agentId,
            { op: "control", take },
          ))!);
        } else {
          before = control.holderOf(agentId);
          unchanged = control.control(this.#requester(user), agentId, take);
          after = control.holderOf(agentId);
        }
        if (unchanged) this.send(unchanged);
        if (before?.connectionId === after?.connectionId) return;
        if (take) {
          // What the previous holder typed is recorded before the takeover.
          if (before) audit.flushInput(before.connectionId, agentId);
          this.#audit(user, "session.control.take", { agentId }, "ok", {
            ...(before ? { takenFrom: before.userId } : {}),
          });
        } else {
          if (before) audit.flushInput(before.connectionId, agentId);
          this.#audit(user, "session.control.release", { agentId }, "ok", {
            ...(before && before.connectionId !== this.peer.id
              ? { releasedFrom: before.userId }
              : {}),
          });
        }
        return;
      }
      case "session:restart": {
        const owner = this.#ownerElsewhere(message.payload.agentId);
        if (owner) {
          await this.#app.cluster!.terminal(
            owner,
            this.#requester(user),
            message.payload.agentId,
            { op: "restart" },
          );
        } else {
          await requestRestart(
            this.#app,
            { userId: user.id, role: user.role },
            message.payload.agentId,
          );
        }
        this.#audit(user, "session.restart", {
          agentId: message.payload.agentId,
        });
        return;
      }
      case "terminal:input": {
        const { agentId, data } = message.payload;
        const owner = this.#ownerElsewhere(agentId);
        if (owner) {
          await this.#app.cluster!.terminal(
            owner,
            this.#requester(user),
            agentId,
            { op: "input", data },
          );
        } else this.#app.control.input(this.#requester(user), agentId, data);
        this.#app.audit.input(
          this.#actor(user),
          agentId,
          byteLength(data),
          this.#app.registry.get(agentId)?.currentCommandId ?? undefined,
        );
        return;
      }
      case "terminal:resize": {
        const { agentId, cols, rows } = message.payload;
        const owner = this.#ownerElsewhere(agentId);
        if (owner) {
          await this.#app.cluster!.terminal(
            owner,
            this.#requester(user),
            agentId,
            { op: "resize", cols, rows },
          );
          return;
        }
        return this.#app.control.resize(this.#requester(user), agentId, {
          cols,
          rows,
        });
      }
    }
  }

  /**
   * Write a browser's log line, within `logForwardMaxBytes` per message and
   * `logForwardPerMinute` per user over all of the user's connections;
   * refused lines are counted in `logForward.dropped`.
   */
  #forwardLog(
    user: Principal,
    payload: Extract<DashboardMessage, { type: "log:forward" }>["payload"],
  ): void {
    const { logForward, config } = this.#app;
    const { level, message: text, context } = payload;
    const bytes = byteLength(text) +
      (context ? byteLength(JSON.stringify(context)) : 0);
    if (bytes > config.logForwardMaxBytes) {
      logForward.dropped++;
      throw new FlightdeckError(
        "PAYLOAD_TOO_LARGE",
        `log:forward over ${config.logForwardMaxBytes} bytes`,
      );
    }
    if (!logForward.rate.take(user.id)) {
      logForward.dropped++;
      throw new FlightdeckError(
        "RATE_LIMIT",
        `Over ${logForward.rate.limit} log:forward messages per minute`,
      );
    }
    this.log[level](`Dashboard: ${text}`, { user: user.id, context });
  }

  /**
   * `auth:refresh`: without a token, renew this sign-in in place (a browser
   * session gets a later expiry); with one, switch to that token of the
   * same user. A refused sign-in ends the session with AUTH_FAILED and
   * 4401; one the storage (Redis) cannot check or renew right now gets
   * STORAGE_UNAVAILABLE and the session stays open until its expiry.
   */
  async #refresh(user: Principal, token?: string): Promise<void> {
    let next: Principal;
    try {
      if (token === undefined) {
        next = (await this.#app.sessions.refresh(user)).principal;
      } else {
        next = await this.#app.auth.verify(token);
        if (next.id !== user.id || next.role !== user.role) {
          return this.rejectAuth(
            `Token is for "${next.id}" (${next.role}), not "${user.id}" (${user.role})`,
          );
        }
        if (this.isClosed) return;
        // Tracked before the check: a revocation between the two still
        // closes it.
        if (next.sessionId !== user.sessionId) this.#track(next);
        await this.#app.sessions.check(next);
      }
    } catch (error) {
      if (error instanceof AuthError) return this.rejectAuth(error.message);
      // Not checked (the storage is unreachable): answered with the error,
      // the socket stays open on the sign-in it had.
      if (!this.isClosed) this.#track(user);
      throw error;
    }
    if (this.isClosed) return;
    this.#user = next;
    this.setExpiry(next.expiresAt);
    this.send(toDashboard("auth:refreshed", { expiresAt: next.expiresAt }));
  }

  /** Close this session (4401) when `user`'s sign-in is revoked. */
  #track(user: Principal): void {
    this.#untrack?.();
    this.#untrack = this.#app.sessions.track(
      user.sessionId,
      (reason) => this.rejectAuth(reason),
      user.kind,
    );
  }

  /**
   * Accept `user`; false when closed, revoked, over the user's connection
   * cap, or not checkable (the storage is unreachable: STORAGE_UNAVAILABLE
   * and 1001).
   */
  async #accept(user: Principal): Promise<boolean> {
    if (this.isClosed) return false;
    const refused = this.#app.connections.authenticate(this.peer.id, user.id);
    if (refused) {
      this.sendError("RATE_LIMIT", refused);
      this.peer.close(CLOSE_CODES.RATE_LIMITED.code, refused);
      return false;
    }
    // Tracked before the check: a revocation between the two still closes it.
    this.#track(user);
    try {
      await this.#app.sessions.check(user);
    } catch (error) {
      if (error instanceof AuthError) {
        this.rejectAuth(error.message);
        return false;
      }
      const unavailable = storageUnavailable(error);
      if (!unavailable) throw error;
      this.refuseUnavailable(unavailable.message);
      return false;
    }
    if (this.isClosed) return false;
    this.#user = user;
    this.markAuthenticated(user.expiresAt);
    const { commands, registry, dashboards, config, control } = this.#app;
    await commands.snapshot(SNAPSHOT_COMMANDS_PER_AGENT, (recent) => {
      if (this.isClosed || !this.peer.isOpen) return;
      this.send(toDashboard("connection:ack", {
        connectionId: this.peer.id,
        serverVersion: PROTOCOL_VERSION,
        heartbeatIntervalMs: config.heartbeatIntervalMs,
        user: { id: user.id, role: user.role },
        expiresAt: user.expiresAt,
      }));
      this.send(toDashboard("agent:list", { agents: registry.list() }));
      for (const [agentId, holder] of control.held()) {
        this.send(toDashboard("session:controller", { agentId, holder }));
      }
      for (
        const [agentId, holder] of this.#app.cluster?.remoteHolders() ?? []
      ) {
        this.send(toDashboard("session:controller", { agentId, holder }));
      }
      for (const command of recent) {
        this.send(toDashboard("command:status", { command }));
      }
      for (const agentId of commands.queuedAgents()) {
        this.send(toDashboard("command:queue", {
          agentId,
          queue: commands.queueOf(agentId),
        }));
      }
      // Added within the same turn as the snapshot: no change falls between.
      dashboards.add(this.peer);
      this.#joinedSeqs = commands.broadcastSeqs();
      this.#joinedAt = Date.now();
    });
    return true;
  }

  async #resume(resume: Record<string, number>): Promise<void> {
    for (const [commandId, afterSeq] of Object.entries(resume)) {
      try {
        await this.#replay(
          commandId,
          afterSeq,
          (command) => {
            const bound = this.#joinedSeqs.get(commandId) ??
              // Created since joining: all of it came live. Else finished before.
              (command.requestedAt >= this.#joinedAt
                ? 0
                : Number.MAX_SAFE_INTEGER);
            // It saw more live than this server has broadcast: live output
            // goes out before it is stored, and the server (or, in cluster
            // mode, the node) that sent it died before storing it. The agent
            // resends that part; this connection does not get it again.
            if (afterSeq > bound && bound !== Number.MAX_SAFE_INTEGER) {
              this.#app.dashboards.skipOutputUpTo(
                this.peer,
                commandId,
                afterSeq,
              );
            }
            return bound;
          },
        );
      } catch (error) {
        if (!(error instanceof FlightdeckError)) throw error;
        this.sendError(error.code, error.message);
      }
    }
  }

  /**
   * Send the stored output with `afterSeq < seq <= upTo`. By default `upTo`
   * is what has been broadcast when the request is handled; later chunks
   * arrive live.
   */
  async #replay(
    commandId: string,
    afterSeq: number,
    bound?: (command: CommandInfo) => number,
    allowSnapshot = false,
  ): Promise<void> {
    const { commands, config } = this.#app;
    // Taken before any await: chunks broadcast later reach this peer live.
    const broadcastSeq = commands.broadcastSeq(commandId);
    // Taken in the same turn: it covers only output broadcast by now.
    let screen = allowSnapshot ? commands.latestScreen(commandId) : undefined;
    const command = await commands.get(commandId);
    if (!command) {
      throw new FlightdeckError("NOT_FOUND", `Unknown command "${commandId}"`);
    }
    if (command.kind === "prompt") {
      return await this.#replayPrompt(command, afterSeq);
    }
    const upTo = bound ? bound(command) : broadcastSeq;
    let outputBytes = command.outputBytes;
    const { cluster } = this.#app;
    if (
      allowSnapshot && !screen && cluster && command.status === "running" &&
      cluster.forwardedSeq(commandId) !== undefined && upTo > afterSeq
    ) {
      // Cluster mode, the agent held elsewhere: its node's screen. It covers
      // output that node stored; used below only when this node passed that
      // output on by `upTo`, so later chunks still come live, once.
      const remote = await cluster.screen(command.agentId, commandId);
      if (remote) {
        const { outputBytes: bytes, ...rest } = remote;
        screen = rest;
        outputBytes = Math.max(outputBytes, bytes);
      }
    }
    let from = afterSeq;
    if (
      screen && screen.seq > afterSeq && screen.seq <= upTo &&
      outputBytes >= config.snapshotMinBytes && this.peer.isOpen
    ) {
      // The screen stands for every chunk up to its seq; the rest follows.
      this.send(toDashboard("terminal:snapshot", {
        agentId: command.agentId,
        commandId,
        ...screen,
      }));
      from = screen.seq;
    }
    if (from < upTo) await this.#send(command, from, upTo);
  }

  /** `terminal:earlier`: one page of stored output before `beforeSeq`. */
  async #earlier(commandId: string, beforeSeq: number): Promise<void> {
    const { commands } = this.#app;
    const command = await commands.get(commandId);
    if (!command) {
      throw new FlightdeckError("NOT_FOUND", `Unknown command "${commandId}"`);
    }
    const page = await commands.earlierOutput(
      commandId,
      beforeSeq,
      EARLIER_PAGE_BYTES,
    );
    if (!this.peer.isOpen) return;
    this.send(toDashboard("terminal:earlier", {
      agentId: command.agentId,
      commandId,
      ...(page ?? { fromSeq: 1, toSeq: 1, data: "", more: false }),
    }));
  }

  /**
   * A prompt's output is its turn's slice of the session's output,
   * `session.fromSeq..toSeq` (up to what has been broadcast while it runs),
   * sent under the prompt's id and numbered from 1. A prompt not typed yet
   * has none. Later output of a running prompt is not sent under its id: it
   * reaches dashboards live as the session's.
   */
  async #replayPrompt(command: CommandInfo, afterSeq: number): Promise<void> {
    const turn = command.session;
    if (!turn) return;
    const { commands } = this.#app;
    const base = turn.fromSeq - 1;
    const end = turn.toSeq ?? commands.broadcastSeq(turn.commandId);
    const upTo = Math.min(end, await commands.lastSeq(turn.commandId)) - base;
    if (afterSeq < upTo) {
      await this.#send(command, afterSeq, upTo, {
        commandId: turn.commandId,
        base,
      });
    }
  }

  /**
   * Send `command`'s stored output with `afterSeq < seq <= upTo`, read from
   * `source` (default: its own; for a prompt, its session's, with seqs
   * shifted by `base`).
   */
  async #send(
    command: CommandInfo,
    afterSeq: number,
    upTo: number,
    source = { commandId: command.id, base: 0 },
  ): Promise<void> {
    const { commands, config } = this.#app;
    const commandId = command.id;
    const { base } = source;
    let expected = afterSeq + 1;
    for await (
      const stored of commands.readOutput(
        source.commandId,
        afterSeq + base,
        upTo + base,
      )
    ) {
      const chunk = { ...stored, seq: stored.seq - base };
      if (!this.peer.isOpen) return;
      if (chunk.seq > expected) {
        this.send(toDashboard("terminal:gap", {
          agentId: command.agentId,
          commandId,
          fromSeq: expected,
          toSeq: chunk.seq - 1,
        }));
      }
      expected = chunk.seq + 1;
      // Pace the replay so a long history never trips the slow-consumer cap.
      while (
        this.peer.isOpen &&
        this.peer.bufferedAmount > config.maxPeerBufferedBytes / 2
      ) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      this.send(toDashboard("terminal:output", {
        agentId: command.agentId,
        commandId,
        seq: chunk.seq,
        stream: chunk.stream,
        data: chunk.data,
      }));
    }
    // A finished command whose tail is gone (retention) says so; a running
    // one continues live.
    const last = Math.min(
      upTo,
      await commands.lastSeq(source.commandId) - base,
    );
    const final = (await commands.get(commandId))?.status;
    if (
      final && FINAL_STATUSES.has(final) && expected <= last && this.peer.isOpen
    ) {
      this.send(toDashboard("terminal:gap", {
        agentId: command.agentId,
        commandId,
        fromSeq: expected,
        toSeq: last,
      }));
    }
  }

  /** `user` on this connection, as the audit trail names actors. */
  #actor(user: Principal): AuditActor {
    return {
      actor: user.id,
      role: user.role,
      address: this.#address,
      connectionId: this.peer.id,
    };
  }

  #audit(
    user: Principal,
    action: AuditAction,
    target: { agentId?: string; commandId?: string } = {},
    outcome: "ok" | "refused" | "failed" = "ok",
    detail?: Record<string, string | number | boolean>,
  ): void {
    this.#app.audit.record({
      ...this.#actor(user),
      action,
      target,
      outcome,
      ...(detail && Object.keys(detail).length ? { detail } : {}),
    });
  }

  /**
   * Record the refusal or failure of `message` (bounded per user per
   * minute, see `AuditTrail.refusal`): role and rate refusals of any
   * message, failures of the actions the trail records.
   */
  #auditFailure(
    user: Principal,
    message: DashboardMessage,
    error: FlightdeckError,
  ): void {
    const refused = error.code === "FORBIDDEN" || error.code === "RATE_LIMIT";
    const p = message.payload as Record<string, unknown>;
    const str = (v: unknown) => typeof v === "string" ? v : undefined;
    const actions: Partial<Record<DashboardMessage["type"], AuditAction>> = {
      "command:request": "command.request",
      "command:interrupt": "command.interrupt",
      "emergency:stop": "emergency.stop",
      "agent:forget": "agent.forget",
      "session:restart": "session.restart",
      "session:control": p.take === false
        ? "session.control.release"
        : "session.control.take",
      "terminal:input": "terminal.input",
    };
    const action = actions[message.type] ?? (refused ? "access.refused" : null);
    if (!action) return;
    const agentId = str(p.agentId);
    const commandId = str(p.commandId);
    this.#app.audit.refusal({
      ...this.#actor(user),
      action,
      target: {
        ...(agentId ? { agentId } : {}),
        ...(commandId ? { commandId } : {}),
      },
      outcome: refused ? "refused" : "failed",
      detail: {
        reason: error.code === "FORBIDDEN"
          ? "role"
          : error.code === "RATE_LIMIT"
          ? "rate"
          : error.code,
        message: error.message,
        type: message.type,
        ...(message.type === "command:request"
          ? { text: message.payload.command.slice(0, AUDIT_TEXT_CHARS) }
          : {}),
      },
    });
  }

  /**
   * Record a frame refused for the message rate (bounded per user, or per
   * address before sign-in, see `AuditTrail.refusal`).
   */
  protected override onRateRefused(message: string): void {
    const user = this.#user;
    this.#app.audit.refusal({
      ...(user ? this.#actor(user) : {
        actor: null,
        role: null,
        address: this.#address,
        connectionId: this.peer.id,
      }),
      action: "access.refused",
      target: {},
      outcome: "refused",
      detail: { reason: "rate", message },
    });
  }

  /** Record a failed authentication on this socket (bounded per address). */
  #auditAuthFailure(reason: string): void {
    this.#app.audit.refusal({
      actor: null,
      role: null,
      address: this.#address,
      connectionId: this.peer.id,
      action: "auth.refused",
      target: {},
      outcome: "refused",
      detail: { reason },
    });
  }

  /** Cluster mode: the node holding `agentId` when it is another one. */
  #ownerElsewhere(agentId: string): string | null {
    return this.#app.cluster?.ownerElsewhere(agentId) ?? null;
  }

  #requester(user: Principal): Requester {
    return { userId: user.id, role: user.role, connectionId: this.peer.id };
  }

  #require(role: Role, what: string): void {
    const user = this.#user!;
    if (!roleAllows(user.role, role)) {
      throw new FlightdeckError(
        "FORBIDDEN",
        `Role "${user.role}" may not ${what}; it needs "${role}"`,
      );
    }
  }

  #checkCommandRate(): void {
    const { commandRate } = this.#app;
    if (!commandRate.take(this.#user!.id)) {
      throw new FlightdeckError(
        "RATE_LIMIT",
        `Over ${commandRate.limit} commands per minute`,
      );
    }
  }
}
