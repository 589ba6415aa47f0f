/**
 * The server's domain error: carries a protocol error code, mapped to an
 * `error` message (sockets) or an HTTP status (API) in one place each.
 *
 * @module
 */
import { type ErrorCode, errorPayload } from "../protocol.ts";

/** An expected failure with a protocol error code. */
export class FlightdeckError extends Error {
  override name = "FlightdeckError";
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
  }
}

/** HTTP status for each error code, for the JSON API. */
export const HTTP_STATUS: Record<ErrorCode, number> = {
  AUTH_FAILED: 401,
  FORBIDDEN: 403,
  AGENT_OFFLINE: 409,
  AGENT_ONLINE: 409,
  NOT_FOUND: 404,
  NOT_CONTROLLER: 409,
  SESSION_RUNNING: 409,
  QUEUE_FULL: 429,
  INVALID_MESSAGE: 400,
  RATE_LIMIT: 429,
  PAYLOAD_TOO_LARGE: 413,
  VERSION_UNSUPPORTED: 400,
  INTERNAL: 500,
};

/**
 * The JSON API's error answer: `{"error": payload}` with the code's HTTP
 * status (and any extra `headers`).
 */
export function errorResponse(
  code: ErrorCode,
  message: string,
  headers?: HeadersInit,
): Response {
  return Response.json({ error: errorPayload(code, message) }, {
    status: HTTP_STATUS[code],
    headers,
  });
}
