/**
 * HTTP hardening shared by routes: security headers on every response, the
 * Origin check for state-changing and credentialed cross-site requests, and
 * whether a request arrived over HTTPS (directly or via a trusted proxy).
 *
 * @module
 */

/**
 * The Content-Security-Policy of every response: scripts only from this
 * origin (pages run no inline script; islands boot from `/_frsh/boot.js`),
 * sockets and fetches only to this origin, never framed. Inline styles are
 * allowed: xterm.js and preact set them, and they cannot run code.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

/** Headers added to every response (unless the response sets its own). */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  "content-security-policy": CONTENT_SECURITY_POLICY,
  "x-frame-options": "DENY",
  "x-content-type-options": "nosniff",
  "referrer-policy": "same-origin",
  "cross-origin-opener-policy": "same-origin",
};

/**
 * Wrap `handler` so every response carries {@link SECURITY_HEADERS}.
 * WebSocket upgrades (101) are passed through untouched.
 */
export function withSecurityHeaders<I>(
  handler: (req: Request, info: I) => Response | Promise<Response>,
): (req: Request, info: I) => Promise<Response> {
  return async (req, info) => {
    const res = await handler(req, info);
    if (res.status === 101) return res;
    try {
      for (const [name, value] of Object.entries(SECURITY_HEADERS)) {
        if (!res.headers.has(name)) res.headers.set(name, value);
      }
      return res;
    } catch {
      // Immutable headers (a fetched response): copy them.
      const headers = new Headers(res.headers);
      for (const [name, value] of Object.entries(SECURITY_HEADERS)) {
        if (!headers.has(name)) headers.set(name, value);
      }
      return new Response(res.body, {
        status: res.status,
        statusText: res.statusText,
        headers,
      });
    }
  };
}

/** What {@link requestOrigin} and {@link refuseCrossOrigin} trust. */
export interface OriginPolicy {
  /** Extra origins allowed (e.g. a separate dashboard host). */
  allowedOrigins: readonly string[];
  /** Trust `X-Forwarded-Proto` (set only behind a proxy that overwrites it). */
  trustProxy: boolean;
}

/**
 * Whether the browser reached us over HTTPS: the request URL says so, or a
 * trusted proxy's `X-Forwarded-Proto` (its first value) is `https`.
 */
export function requestIsHttps(req: Request, trustProxy: boolean): boolean {
  if (new URL(req.url).protocol === "https:") return true;
  if (!trustProxy) return false;
  const forwarded = req.headers.get("x-forwarded-proto");
  return forwarded?.split(",")[0].trim().toLowerCase() === "https";
}

/**
 * This server's origin as the browser sees it: scheme (see
 * {@link requestIsHttps}) and the `Host` header.
 */
export function requestOrigin(req: Request, trustProxy: boolean): string {
  const url = new URL(req.url);
  const scheme = requestIsHttps(req, trustProxy) ? "https:" : url.protocol;
  const host = req.headers.get("host") ?? url.host;
  return `${scheme}//${host}`;
}

function plain(status: number, text: string): Response {
  return new Response(`${text}\n`, {
    status,
    headers: { "content-type": "text/plain; charset=utf-8" },
  });
}

/**
 * A 403 for a cross-site request, or null when it may proceed.
 *
 * With an `Origin` header, its scheme and host must equal this server's
 * ({@link requestOrigin}) or be listed in `allowedOrigins`; `null` (opaque)
 * never matches. One relaxation while `trustProxy` is off: the server sees
 * plain HTTP and cannot know whether a TLS proxy is in front, so an `https`
 * Origin of the same host is accepted (only a page served over TLS from
 * this host can send it). With `trustProxy` on, schemes compare exactly, so
 * an `http` page of the host cannot act on the `https` site. Without an
 * `Origin` (scripts, old browsers), a browser's `Sec-Fetch-Site:
 * cross-site` is still refused; anything else proceeds.
 */
export function refuseCrossOrigin(
  req: Request,
  policy: OriginPolicy,
): Response | null {
  const origin = req.headers.get("origin");
  // A browser sends `Origin: null` where its referrer policy hides the
  // origin; `Sec-Fetch-Site` (which pages cannot set) still tells.
  if (
    origin === "null" && req.headers.get("sec-fetch-site") === "same-origin"
  ) {
    return null;
  }
  if (origin === null) {
    const site = req.headers.get("sec-fetch-site");
    return site === "cross-site"
      ? plain(403, "Cross-site request refused")
      : null;
  }
  const theirs = webOrigin(origin);
  const own = webOrigin(requestOrigin(req, policy.trustProxy));
  if (theirs !== null && own !== null) {
    if (theirs === own) return null;
    if (policy.allowedOrigins.some((a) => webOrigin(a) === theirs)) {
      return null;
    }
    const upgraded = own.replace(/^http:/, "https:");
    if (!policy.trustProxy && own.startsWith("http:") && theirs === upgraded) {
      return null;
    }
  }
  return plain(403, `Origin "${origin}" is not allowed`);
}

/** `scheme://host[:port]` of an http(s) URL, or null ("null", garbage). */
function webOrigin(value: string): string | null {
  try {
    const url = new URL(value);
    return url.protocol === "http:" || url.protocol === "https:"
      ? url.origin
      : null;
  } catch {
    return null;
  }
}
