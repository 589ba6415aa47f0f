/**
 * Static file serving with content types, ETags and safe path resolution.
 * @module
 */

/** Content types by lower-case file extension. */
export const CONTENT_TYPES: Readonly<Record<string, string>> = {
  html: "text/html; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  mjs: "text/javascript; charset=utf-8",
  css: "text/css; charset=utf-8",
  json: "application/json; charset=utf-8",
  map: "application/json; charset=utf-8",
  svg: "image/svg+xml",
  png: "image/png",
  jpg: "image/jpeg",
  jpeg: "image/jpeg",
  gif: "image/gif",
  webp: "image/webp",
  ico: "image/x-icon",
  txt: "text/plain; charset=utf-8",
  woff: "font/woff",
  woff2: "font/woff2",
  webmanifest: "application/manifest+json",
};

/** `Cache-Control` for hashed, never-changing files. */
export const IMMUTABLE = "public, max-age=31536000, immutable";

/** Returns the content type for a path, `application/octet-stream` if unknown. */
export function contentType(path: string): string {
  const dot = path.lastIndexOf(".");
  const ext = dot >= 0 ? path.slice(dot + 1).toLowerCase() : "";
  return CONTENT_TYPES[ext] ?? "application/octet-stream";
}

/**
 * Resolves a URL pathname inside `root`, or returns `undefined` when it is
 * malformed or would escape `root` (`..`, encoded slashes, NUL, backslashes).
 *
 * @example
 * ```ts
 * resolveInside("/srv/static", "/css/a.css"); // "/srv/static/css/a.css"
 * resolveInside("/srv/static", "/../etc/passwd"); // undefined
 * ```
 */
export function resolveInside(
  root: string,
  pathname: string,
): string | undefined {
  const parts: string[] = [];
  for (const raw of pathname.split("/")) {
    let part: string;
    try {
      part = decodeURIComponent(raw);
    } catch {
      return undefined;
    }
    if (part === "" || part === ".") continue;
    if (
      part === ".." || part.includes("/") || part.includes("\\") ||
      part.includes("\0")
    ) return undefined;
    parts.push(part);
  }
  if (parts.length === 0) return undefined;
  return `${root.replace(/\/+$/, "")}/${parts.join("/")}`;
}

const etags = new Map<string, { key: string; etag: string }>();

async function etagFor(path: string, info: Deno.FileInfo): Promise<string> {
  const key = `${info.size}:${info.mtime?.getTime() ?? 0}`;
  const cached = etags.get(path);
  if (cached?.key === key) return cached.etag;
  const digest = await crypto.subtle.digest(
    "SHA-1",
    await Deno.readFile(path),
  );
  const hex = Array.from(new Uint8Array(digest).slice(0, 10))
    .map((b) => b.toString(16).padStart(2, "0")).join("");
  const etag = `"${hex}"`;
  etags.set(path, { key, etag });
  return etag;
}

function etagMatches(header: string | null, etag: string): boolean {
  if (!header) return false;
  return header.split(",").some((t) => {
    const tag = t.trim().replace(/^W\//, "");
    return tag === etag || tag === "*";
  });
}

/** Options of {@linkcode serveFile}. */
export interface ServeFileOptions {
  /** `Cache-Control` header (default `no-cache`). */
  cacheControl?: string;
}

/**
 * Serves the file at `pathname` below `root` for GET/HEAD, or returns
 * `undefined` when there is no such regular file (so routing continues).
 * Sends a strong ETag and answers a matching `If-None-Match` with 304.
 */
export async function serveFile(
  req: Request,
  root: string,
  pathname: string,
  options: ServeFileOptions = {},
): Promise<Response | undefined> {
  if (req.method !== "GET" && req.method !== "HEAD") return undefined;
  const path = resolveInside(root, pathname);
  if (!path) return undefined;
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch {
    return undefined;
  }
  if (!info.isFile) return undefined;
  const etag = await etagFor(path, info);
  const headers = new Headers({
    "Content-Type": contentType(path),
    "Cache-Control": options.cacheControl ?? "no-cache",
    "ETag": etag,
  });
  if (etagMatches(req.headers.get("If-None-Match"), etag)) {
    return new Response(null, { status: 304, headers });
  }
  headers.set("Content-Length", String(info.size));
  if (req.method === "HEAD") return new Response(null, { headers });
  const file = await Deno.open(path, { read: true });
  return new Response(file.readable, { headers });
}
