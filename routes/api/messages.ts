import type { Handlers } from "$fresh/server.ts";
import type { AppState } from "../../lib/server/app.ts";
import { BodyError, readText } from "../../lib/server/body.ts";
import { FlightdeckError, HTTP_STATUS } from "../../lib/server/errors.ts";
import { ERROR_CODES, type ErrorCode } from "../../lib/protocol.ts";

/** Header naming the SSE session that receives the answers. */
const CONNECTION_HEADER = "x-flightdeck-connection";

function fail(
  code: ErrorCode,
  message: string,
  replyTo?: string,
  status = HTTP_STATUS[code],
): Response {
  const error = {
    code,
    message,
    recoverable: ERROR_CODES[code].recoverable,
    replyTo,
  };
  return Response.json({ error }, { status });
}

/**
 * `POST /api/messages`: one dashboard → server message for the SSE session
 * named by `X-Flightdeck-Connection`. Answers arrive on that event stream;
 * this response only says whether the message was accepted.
 */
export const handler: Handlers<unknown, AppState> = {
  async POST(req, ctx) {
    const { app, user } = ctx.state;
    if (!req.headers.get("content-type")?.startsWith("application/json")) {
      return fail("INVALID_MESSAGE", "Content-Type must be application/json");
    }
    const connectionId = req.headers.get(CONNECTION_HEADER);
    let session;
    try {
      // Checked against this request's own token, not the session's.
      session = connectionId ? app.sse.get(connectionId, user!) : null;
    } catch (error) {
      if (!(error instanceof FlightdeckError)) throw error;
      if (error.code === "FORBIDDEN") {
        // Bounded per user per minute, like every refusal.
        app.audit.refusal({
          actor: user!.id,
          role: user!.role,
          address: ctx.remoteAddr.hostname,
          connectionId: null,
          action: "access.refused",
          target: { path: "/api/messages" },
          outcome: "refused",
          detail: {
            reason: "sign-in",
            message: error.message,
            connection: connectionId!.slice(0, 64),
          },
        });
      }
      return fail(error.code, error.message);
    }
    if (!session) {
      return fail(
        "NOT_FOUND",
        `Unknown connection "${connectionId ?? ""}"; open /api/events again`,
      );
    }
    let body;
    try {
      body = await readText(
        req,
        app.config.maxFrameBytes,
        app.config.bodyTimeoutMs,
      );
    } catch (error) {
      if (!(error instanceof BodyError)) throw error;
      const code = error.status === 413
        ? "PAYLOAD_TOO_LARGE"
        : "INVALID_MESSAGE";
      return fail(code, error.message, undefined, error.status);
    }
    const failure = session.receive(body, { reply: false });
    if (failure) {
      return fail(
        failure.code,
        failure.message,
        "replyTo" in failure ? failure.replyTo : undefined,
      );
    }
    return Response.json({ accepted: true }, { status: 202 });
  },
};
