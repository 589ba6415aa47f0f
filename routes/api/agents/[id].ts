import type { Handlers } from "$fresh/server.ts";
import type { AppState } from "../../../lib/server/app.ts";
import { roleAllows } from "../../../lib/server/auth.ts";
import { errorResponse, FlightdeckError } from "../../../lib/server/errors.ts";

/**
 * `DELETE /api/agents/:id` (admin): forget an offline agent, as
 * `agent:forget` does. `200 {"forgotten": id}`; 403 FORBIDDEN for other
 * roles, 404 NOT_FOUND for an unknown agent, 409 AGENT_ONLINE for a
 * connected one.
 */
export const handler: Handlers<unknown, AppState> = {
  async DELETE(_req, ctx) {
    const { app, user } = ctx.state;
    const id = ctx.params.id;
    const who = {
      actor: user?.id ?? null,
      role: user?.role ?? null,
      address: ctx.remoteAddr.hostname,
      connectionId: null,
    };
    if (!user || !roleAllows(user.role, "admin")) {
      app.audit.refusal({
        ...who,
        action: "agent.forget",
        target: { agentId: id },
        outcome: "refused",
        detail: { reason: "role" },
      });
      return errorResponse(
        "FORBIDDEN",
        `Role "${
          user?.role ?? "none"
        }" may not forget agents; it needs "admin"`,
      );
    }
    try {
      await app.commands.forgetAgent(id, undefined, {
        actor: user.id,
        role: user.role,
      });
    } catch (error) {
      if (error instanceof FlightdeckError) {
        app.audit.refusal({
          ...who,
          action: "agent.forget",
          target: { agentId: id },
          outcome: "failed",
          detail: { reason: error.code, message: error.message },
        });
        return errorResponse(error.code, error.message);
      }
      throw error;
    }
    app.log.warn("Agent forgotten", { agentId: id, by: user.id });
    app.audit.record({
      ...who,
      action: "agent.forget",
      target: { agentId: id },
      outcome: "ok",
    });
    return Response.json({ forgotten: id });
  },
};
