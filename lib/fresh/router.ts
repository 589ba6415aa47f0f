/**
 * File-route patterns: conversion from manifest paths, Fresh-like ordering
 * (static before `[param]` before `[...rest]`) and matching.
 * @module
 */

/** One parsed segment of a route pattern. */
export type Segment =
  | { kind: "static"; value: string }
  | { kind: "param"; name: string }
  | { kind: "rest"; name: string };

/** A compiled route pattern. */
export interface Pattern {
  /** The pattern text, e.g. `/agents/:id` or `/:rest*`. */
  source: string;
  /** Parsed segments. */
  segments: Segment[];
}

/**
 * Converts a manifest key like `./routes/agents/[id].tsx` to a pattern text
 * like `/agents/:id`. `index` files map to their folder.
 *
 * @example
 * ```ts
 * pathToPattern("./routes/[...rest].tsx"); // "/:rest*"
 * ```
 */
export function pathToPattern(path: string): string {
  const rel = path.replace(/^\.\/routes\//, "").replace(/\.[jt]sx?$/, "");
  const parts = rel.split("/").filter((p) => p !== "" && p !== "index");
  const out = parts.map((p) => {
    const rest = /^\[\.\.\.([A-Za-z_$][\w$]*)\]$/.exec(p);
    if (rest) return `:${rest[1]}*`;
    const param = /^\[([A-Za-z_$][\w$]*)\]$/.exec(p);
    if (param) return `:${param[1]}`;
    if (p.includes("[")) {
      throw new TypeError(`Unsupported route path "${path}"`);
    }
    return p;
  });
  return "/" + out.join("/");
}

/**
 * Compiles a pattern text (`/a/:id/:rest*`) into segments.
 * @throws {TypeError} if a rest segment is not last.
 */
export function compilePattern(source: string): Pattern {
  const parts = source.split("/").filter((p) => p !== "");
  const segments: Segment[] = parts.map((p, i): Segment => {
    if (p.startsWith(":") && p.endsWith("*")) {
      if (i !== parts.length - 1) {
        throw new TypeError(`Rest segment must be last in "${source}"`);
      }
      return { kind: "rest", name: p.slice(1, -1) };
    }
    if (p.startsWith(":")) return { kind: "param", name: p.slice(1) };
    return { kind: "static", value: p };
  });
  return { source, segments };
}

const RANK = { static: 0, param: 1, rest: 2 } as const;

/**
 * Orders patterns so the most specific wins: compared segment by segment,
 * static < param < rest; a shorter pattern goes before a longer one. Ties are
 * broken by the pattern text.
 */
export function comparePatterns(a: Pattern, b: Pattern): number {
  const n = Math.max(a.segments.length, b.segments.length);
  for (let i = 0; i < n; i++) {
    const sa = a.segments[i];
    const sb = b.segments[i];
    // A pattern that ended already cannot overlap a longer one except via a
    // rest segment (which may match nothing), so the shorter one goes first.
    if (!sa) return -1;
    if (!sb) return 1;
    const d = RANK[sa.kind] - RANK[sb.kind];
    if (d !== 0) return d;
  }
  return a.source < b.source ? -1 : a.source > b.source ? 1 : 0;
}

/** Splits a URL pathname into raw (still encoded) segments. */
function splitPath(pathname: string): string[] {
  return pathname.split("/").filter((p) => p !== "");
}

function decode(raw: string): string | undefined {
  try {
    return decodeURIComponent(raw);
  } catch {
    return undefined;
  }
}

/**
 * Matches `pathname` against a pattern and returns decoded params, or
 * `undefined` when it does not match (or a segment is malformed).
 * With `prefix`, the pattern only needs to match the start of the path
 * (used for `_middleware` folders).
 */
export function matchPattern(
  pattern: Pattern,
  pathname: string,
  prefix = false,
): Record<string, string> | undefined {
  const parts = splitPath(pathname);
  const params: Record<string, string> = {};
  const segs = pattern.segments;
  for (let i = 0; i < segs.length; i++) {
    const seg = segs[i];
    if (seg.kind === "rest") {
      const rest = parts.slice(i).map(decode);
      if (rest.some((p) => p === undefined)) return undefined;
      params[seg.name] = rest.join("/");
      return params;
    }
    if (i >= parts.length) return undefined;
    const value = decode(parts[i]);
    if (value === undefined) return undefined;
    if (seg.kind === "static" && value !== seg.value) return undefined;
    if (seg.kind === "param") params[seg.name] = value;
  }
  if (!prefix && parts.length !== segs.length) return undefined;
  return params;
}

/** A route entry of a {@linkcode Router}. */
export interface RouteEntry<T> {
  /** The compiled pattern. */
  pattern: Pattern;
  /** The value attached to the pattern. */
  value: T;
}

/** Result of {@linkcode Router.match}. */
export interface RouteMatch<T> {
  /** The matched entry's value. */
  value: T;
  /** Decoded params. */
  params: Record<string, string>;
  /** The pattern text. */
  route: string;
}

/** An ordered list of patterns; the first match wins. */
export class Router<T> {
  #entries: RouteEntry<T>[] = [];

  /** Adds a pattern (`/a/:id`) with its value and re-sorts the table. */
  add(source: string, value: T): void {
    this.#entries.push({ pattern: compilePattern(source), value });
    this.#entries.sort((a, b) => comparePatterns(a.pattern, b.pattern));
  }

  /** Pattern texts in match order. */
  get routes(): string[] {
    return this.#entries.map((e) => e.pattern.source);
  }

  /** Returns the first matching route, or `undefined`. */
  match(pathname: string): RouteMatch<T> | undefined {
    for (const e of this.#entries) {
      const params = matchPattern(e.pattern, pathname);
      if (params) return { value: e.value, params, route: e.pattern.source };
    }
    return undefined;
  }
}
