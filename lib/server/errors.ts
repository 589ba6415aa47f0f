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
  STORAGE_UNAVAILABLE: 503,
  NODE_UNAVAILABLE: 504,
};

/** The message of a {@link storageUnavailable} error. */
export const STORAGE_UNAVAILABLE_MESSAGE =
  "Storage (Redis) is unreachable; nothing was changed. Try again once /api/ready answers 200";

/**
 * Errors of the Redis client (ioredis) that mean Redis cannot be reached
 * right now, by name or message: a command sent while disconnected, one in
 * flight when the connection closed (also the rest of a MULTI or pipeline
 * whose first replies came before it closed: aborted), one without a reply
 * in time, or Redis still loading its data after a restart.
 */
const UNAVAILABLE = [
  /^MaxRetriesPerRequestError$/,
  /Stream isn't writeable/,
  /Connection is closed/,
  /^Command aborted due to connection close/,
  /Command timed out/,
  /^LOADING /,
];

/**
 * `error` as a {@link FlightdeckError} `STORAGE_UNAVAILABLE` when it (or
 * its cause) says the storage (Redis) cannot be reached; else null.
 */
export function storageUnavailable(error: unknown): FlightdeckError | null {
  for (let e = error, depth = 0; e instanceof Error && depth < 4; depth++) {
    if (e instanceof FlightdeckError) {
      return e.code === "STORAGE_UNAVAILABLE" ? e : null;
    }
    const { name, message } = e;
    if (UNAVAILABLE.some((re) => re.test(name) || re.test(message))) {
      return new FlightdeckError(
        "STORAGE_UNAVAILABLE",
        STORAGE_UNAVAILABLE_MESSAGE,
        { cause: error },
      );
    }
    e = e.cause;
  }
  return null;
}

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
