/**
 * Bounded request bodies: every route reads its body through
 * {@link readBody}, which never holds more than the cap in memory.
 *
 * A body must announce its size in `Content-Length`: a body without it
 * (chunked transfer) is refused with 411 before any byte is read, a length
 * over the cap with 413 before any byte is read, and a stream that runs past
 * its announced length or the cap is cancelled with 413. Deno itself would
 * buffer the whole body (and panics converting one over about 512 MiB).
 * Reading has a total deadline (default {@link BODY_TIMEOUT_MS}): a body
 * still incomplete when it passes is cancelled with 408, whose response
 * asks to close the connection.
 *
 * @module
 */

/** Largest form body (`POST /login`): a token and a path fit in far less. */
export const FORM_MAX_BYTES = 8 * 1024;

/** Default time to receive a whole body, from the start of reading it. */
export const BODY_TIMEOUT_MS = 10_000;

/** A refused body: `status` is 400, 408, 411, 413 or 415. */
export class BodyError extends Error {
  override name = "BodyError";
  /** HTTP status to answer with. */
  readonly status: 400 | 408 | 411 | 413 | 415;

  constructor(status: 400 | 408 | 411 | 413 | 415, message: string) {
    super(message);
    this.status = status;
  }

  /**
   * A plain-text response with this error's status and message; a 408 also
   * says `connection: close` (the rest of that body is never read).
   */
  toResponse(): Response {
    const headers: Record<string, string> = {
      "content-type": "text/plain; charset=utf-8",
    };
    if (this.status === 408) headers.connection = "close";
    return new Response(`${this.message}\n`, {
      status: this.status,
      headers,
    });
  }
}

/**
 * Read `req`'s body, at most `maxBytes`, within `timeoutMs`.
 *
 * @throws {RangeError} when `maxBytes` is not a non-negative integer.
 * @throws {BodyError} 411 when a body comes without `Content-Length`, 400
 * when the header is malformed or the body is shorter than announced, 413
 * when the announced length or the bytes received exceed `maxBytes` (or the
 * bytes received exceed the announced length), 408 when the whole body has
 * not arrived `timeoutMs` after the call.
 */
export async function readBody(
  req: Request,
  maxBytes: number,
  timeoutMs: number = BODY_TIMEOUT_MS,
): Promise<Uint8Array> {
  if (!Number.isSafeInteger(maxBytes) || maxBytes < 0) {
    throw new RangeError(`Invalid body cap "${maxBytes}"`);
  }
  const header = req.headers.get("content-length");
  if (header === null) {
    if (req.body === null) return new Uint8Array(0);
    await req.body.cancel().catch(() => {});
    throw new BodyError(411, "Content-Length is required");
  }
  if (!/^\d{1,16}$/.test(header.trim())) {
    await req.body?.cancel().catch(() => {});
    throw new BodyError(400, `Invalid Content-Length "${header}"`);
  }
  const length = Number(header.trim());
  if (length > maxBytes) {
    await req.body?.cancel().catch(() => {});
    throw new BodyError(413, `Body over ${maxBytes} bytes`);
  }
  if (req.body === null || length === 0) {
    await req.body?.cancel().catch(() => {});
    return new Uint8Array(0);
  }
  const out = new Uint8Array(length);
  let received = 0;
  const reader = req.body.getReader();
  let timedOut = false;
  // Cancelling ends the pending read with `done`.
  const timer = setTimeout(() => {
    timedOut = true;
    reader.cancel().catch(() => {});
  }, timeoutMs);
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (timedOut) {
        throw new BodyError(408, `Body not received within ${timeoutMs} ms`);
      }
      if (done) break;
      if (received + value.byteLength > length) {
        await reader.cancel().catch(() => {});
        throw new BodyError(413, `Body longer than its Content-Length`);
      }
      out.set(value, received);
      received += value.byteLength;
    }
  } finally {
    clearTimeout(timer);
    reader.releaseLock();
  }
  if (received < length) {
    throw new BodyError(400, `Body shorter than its Content-Length`);
  }
  return out;
}

/**
 * Read `req`'s body as UTF-8 text (invalid sequences become U+FFFD), at most
 * `maxBytes` bytes.
 *
 * @throws {BodyError} as {@link readBody}.
 */
export async function readText(
  req: Request,
  maxBytes: number,
  timeoutMs: number = BODY_TIMEOUT_MS,
): Promise<string> {
  return new TextDecoder().decode(await readBody(req, maxBytes, timeoutMs));
}

/**
 * Read an `application/x-www-form-urlencoded` body of at most `maxBytes`
 * (default {@link FORM_MAX_BYTES}).
 *
 * @throws {BodyError} 415 for another content type, else as {@link readBody}.
 */
export async function readForm(
  req: Request,
  maxBytes: number = FORM_MAX_BYTES,
  timeoutMs: number = BODY_TIMEOUT_MS,
): Promise<URLSearchParams> {
  const type = req.headers.get("content-type")?.split(";")[0].trim()
    .toLowerCase();
  if (type !== "application/x-www-form-urlencoded") {
    await req.body?.cancel().catch(() => {});
    throw new BodyError(
      415,
      "Content-Type must be application/x-www-form-urlencoded",
    );
  }
  return new URLSearchParams(await readText(req, maxBytes, timeoutMs));
}
