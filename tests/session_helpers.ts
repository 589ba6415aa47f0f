/**
 * Helpers of the sign-in tests (in-process server and server subprocess):
 * signing in through `/login`, reading the session cookie, and a minimal
 * `/api/events` reader.
 *
 * @module
 */
import assert from "node:assert/strict";

/** The `name=value` of the session cookie a response sets, or null. */
export function cookieOf(response: Response): string | null {
  const header = response.headers.get("set-cookie");
  const match = /^(flightdeck_session=[^;]*)/.exec(header ?? "");
  return match && match[1] !== "flightdeck_session=" ? match[1] : null;
}

/** Sign in with a pasted token; returns the session cookie. */
export async function signIn(
  server: { url: string },
  token: string,
): Promise<string> {
  const response = await postLogin(server, token);
  assert.equal(response.status, 303);
  const cookie = cookieOf(response);
  assert.ok(cookie, "a session cookie is set");
  // The cookie holds a session token, not the pasted one.
  assert.ok(!cookie.includes(token));
  return cookie;
}

export function postLogin(server: { url: string }, token: string) {
  return fetch(`${server.url}/login`, {
    method: "POST",
    body: new URLSearchParams({ token, next: "/" }),
    redirect: "manual",
  });
}

/** `POST /logout` with `headers` (a cookie or a Bearer token); not followed. */
export function postLogout(
  server: { url: string },
  headers: Record<string, string>,
): Promise<Response> {
  return fetch(`${server.url}/logout`, {
    method: "POST",
    headers,
    redirect: "manual",
  });
}

/** The HTTP status of `GET /api/agents` with session `cookie` (body dropped). */
export async function agentsStatus(
  server: { url: string },
  cookie: string,
): Promise<number> {
  const response = await fetch(`${server.url}/api/agents`, {
    headers: { cookie },
  });
  await response.body?.cancel();
  return response.status;
}

/** A minimal `/api/events` reader: parsed events, and whether it ended. */
export class Events {
  readonly messages: { type: string; payload: Record<string, unknown> }[] = [];
  ended = false;
  #wake = new Set<() => void>();
  #abort = new AbortController();

  constructor(readonly response: Response) {
    void this.#read();
  }

  static async open(
    server: { url: string },
    headers: Record<string, string>,
  ) {
    const events = new Events(
      await fetch(`${server.url}/api/events`, {
        headers: { accept: "text/event-stream", ...headers },
      }),
    );
    assert.equal(events.response.status, 200);
    return events;
  }

  async #read() {
    const reader = this.response.body!.pipeThrough(new TextDecoderStream())
      .getReader();
    let buffer = "";
    this.#abort.signal.addEventListener("abort", () => reader.cancel());
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const data = /^data: (.*)$/m.exec(buffer.slice(0, end))?.[1];
          buffer = buffer.slice(end + 2);
          if (data) this.messages.push(JSON.parse(data));
        }
        this.#notify();
      }
    } catch {
      // Cancelled.
    }
    this.ended = true;
    this.#notify();
  }

  #notify() {
    for (const wake of [...this.#wake]) wake();
  }

  until<T>(check: () => T | undefined | false, what: string): Promise<T> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#wake.delete(attempt);
        reject(new Error(`Timed out waiting for ${what}`));
      }, 10_000);
      const attempt = () => {
        const value = check();
        if (!value) return;
        clearTimeout(timer);
        this.#wake.delete(attempt);
        resolve(value);
      };
      this.#wake.add(attempt);
      attempt();
    });
  }

  close() {
    this.#abort.abort();
  }
}
