/**
 * One line of terminal output as styled segments, for the log page: SGR
 * colors and attributes kept, other escape sequences removed, `\r` and
 * backspace applied as a terminal draws them (later text overwrites), so a
 * progress bar shows its last state.
 *
 * Colors: the 16 basic colors as classes `fg-N`/`bg-N` (0-15, bright ones
 * 8-15), 256-color and true-color values as inline `color`/`background`
 * styles; bold, dim, italic, underline, inverse as classes. The style at a
 * line's start is the style at the end of the previous line rendered with
 * the same {@link SgrState}; a block of lines fetched on its own starts
 * from the style the server computed from the output before it
 * ({@link sgrParams} / {@link sgrFromParams}, the `sgr` of the lines
 * endpoint), so a color set above the block carries into it.
 *
 * @module
 */

/** SGR attributes in effect. */
export interface SgrState {
  fg: string | null;
  bg: string | null;
  bold: boolean;
  dim: boolean;
  italic: boolean;
  underline: boolean;
  inverse: boolean;
}

/** A run of text with one style. */
export interface Segment {
  text: string;
  /** Space-separated classes (may be empty). */
  cls: string;
  /** Inline CSS for 256-color and true-color values (may be empty). */
  style: string;
}

/** The default style. */
export function defaultSgr(): SgrState {
  return {
    fg: null,
    bg: null,
    bold: false,
    dim: false,
    italic: false,
    underline: false,
    inverse: false,
  };
}

/** The 6x6x6 cube and gray ramp of the 256-color palette (16-255). */
function color256(n: number): string {
  if (n < 232) {
    const i = n - 16;
    const steps = [0, 95, 135, 175, 215, 255];
    const r = steps[Math.floor(i / 36)], g = steps[Math.floor(i / 6) % 6];
    const b = steps[i % 6];
    return `rgb(${r},${g},${b})`;
  }
  const v = 8 + (n - 232) * 10;
  return `rgb(${v},${v},${v})`;
}

/** Apply SGR parameters `params` (`"1;31"`, `""`) to `s`. */
function applySgr(s: SgrState, params: string): void {
  const p = params === "" ? [0] : params.split(/[;:]/).map((x) => +x || 0);
  for (let i = 0; i < p.length; i++) {
    const n = p[i];
    if (n === 0) Object.assign(s, defaultSgr());
    else if (n === 1) s.bold = true;
    else if (n === 2) s.dim = true;
    else if (n === 3) s.italic = true;
    else if (n === 4) s.underline = true;
    else if (n === 7) s.inverse = true;
    else if (n === 22) s.bold = s.dim = false;
    else if (n === 23) s.italic = false;
    else if (n === 24) s.underline = false;
    else if (n === 27) s.inverse = false;
    else if (n >= 30 && n <= 37) s.fg = `${n - 30}`;
    else if (n === 39) s.fg = null;
    else if (n >= 40 && n <= 47) s.bg = `${n - 40}`;
    else if (n === 49) s.bg = null;
    else if (n >= 90 && n <= 97) s.fg = `${n - 90 + 8}`;
    else if (n >= 100 && n <= 107) s.bg = `${n - 100 + 8}`;
    else if (n === 38 || n === 48) {
      let value: string | null = null;
      if (p[i + 1] === 5 && i + 2 < p.length) {
        const c = Math.min(255, p[i + 2]);
        value = c < 16 ? `${c}` : color256(c);
        i += 2;
      } else if (p[i + 1] === 2 && i + 4 < p.length) {
        const [r, g, b] = p.slice(i + 2, i + 5).map((x) => Math.min(255, x));
        value = `rgb(${r},${g},${b})`;
        i += 4;
      } else break;
      if (n === 38) s.fg = value;
      else s.bg = value;
    }
  }
}

function styleOf(s: SgrState): { cls: string; style: string } {
  const cls: string[] = [];
  const style: string[] = [];
  let fg = s.fg, bg = s.bg;
  if (s.inverse) {
    [fg, bg] = [bg ?? "inv-fg", fg ?? "inv-bg"];
  }
  for (const [kind, value] of [["fg", fg], ["bg", bg]] as const) {
    if (value === null) continue;
    if (value.startsWith("rgb")) {
      style.push(`${kind === "fg" ? "color" : "background"}:${value}`);
    } else if (value.startsWith("inv")) cls.push(value);
    else cls.push(`${kind}-${value}`);
  }
  if (s.bold) cls.push("b");
  if (s.dim) cls.push("dim");
  if (s.italic) cls.push("i");
  if (s.underline) cls.push("u");
  return { cls: cls.join(" "), style: style.join(";") };
}

// deno-lint-ignore no-control-regex -- SGR sequences and RIS start with ESC
const SGR_OR_RESET = /\x1b\[([0-9;:]*)m|\x1bc/g;

/**
 * Apply every SGR sequence in `text` (and `ESC c`, a full reset) to
 * `state`, in order, without rendering; returns `state`.
 */
export function sgrAfter(text: string, state: SgrState): SgrState {
  for (const m of text.matchAll(SGR_OR_RESET)) {
    if (m[1] === undefined) Object.assign(state, defaultSgr());
    else applySgr(state, m[1]);
  }
  return state;
}

/** One color as SGR parameters (`base` 30 for the foreground, 40 for the background). */
function colorParams(value: string, base: 30 | 40): string {
  const rgb = /^rgb\((\d+),(\d+),(\d+)\)$/.exec(value);
  if (rgb) return `${base + 8};2;${rgb[1]};${rgb[2]};${rgb[3]}`;
  const n = Number(value);
  return n < 8 ? `${base + n}` : `${base + 60 + n - 8}`;
}

/**
 * SGR parameters that give `state` from the default style (`""` for the
 * default itself): `sgrFromParams(sgrParams(s))` equals `s`.
 *
 * @example
 * ```ts
 * sgrParams(sgrAfter("\x1b[1;31mred", defaultSgr())); // "1;31"
 * ```
 */
export function sgrParams(state: SgrState): string {
  const p: string[] = [];
  if (state.bold) p.push("1");
  if (state.dim) p.push("2");
  if (state.italic) p.push("3");
  if (state.underline) p.push("4");
  if (state.inverse) p.push("7");
  if (state.fg !== null) p.push(colorParams(state.fg, 30));
  if (state.bg !== null) p.push(colorParams(state.bg, 40));
  return p.join(";");
}

/** The style SGR parameters `params` give from the default (`""`: the default). */
export function sgrFromParams(params: string): SgrState {
  const state = defaultSgr();
  // At most what sgrParams writes: 5 attributes and two true colors.
  if (params !== "" && /^[0-9;]{1,64}$/.test(params)) applySgr(state, params);
  return state;
}

/** CSI (group 1 params, group 2 final), OSC/DCS/other strings, escapes. */
const ESCAPE =
  // deno-lint-ignore no-control-regex -- matches escape sequences
  /\x1b\[([0-?]*)[ -/]*([@-~])|\x1b[\]PX^_][\s\S]*?(?:\x07|\x1b\\|$)|\x1b[ -/]*[0-~]?|[\x00-\x07\x0b-\x0c\x0e-\x1f\x7f]/y;

/**
 * Render one line (without its `\n`) as segments, starting from and
 * updating `state`.
 *
 * @example
 * ```ts
 * renderAnsiLine("\x1b[31merr\x1b[0m ok", defaultSgr());
 * // [{ text: "err", cls: "fg-1", style: "" }, { text: " ok", cls: "", style: "" }]
 * ```
 */
export function renderAnsiLine(line: string, state: SgrState): Segment[] {
  // Cells: one code point and its style key per column.
  const chars: string[] = [];
  const styles: number[] = [];
  const palette: { cls: string; style: string }[] = [];
  const keys = new Map<string, number>();
  let current = -1;
  const styleIndex = () => {
    if (current >= 0) return current;
    const st = styleOf(state);
    const key = `${st.cls}|${st.style}`;
    let i = keys.get(key);
    if (i === undefined) {
      i = palette.push(st) - 1;
      keys.set(key, i);
    }
    return current = i;
  };
  let col = 0;
  let i = 0;
  while (i < line.length) {
    const code = line.charCodeAt(i);
    if (code === 0x0d) {
      col = 0;
      i++;
      continue;
    }
    if (code === 0x08) {
      col = Math.max(0, col - 1);
      i++;
      continue;
    }
    if (code < 0x20 && code !== 0x09 || code === 0x7f) {
      ESCAPE.lastIndex = i;
      const m = ESCAPE.exec(line);
      if (!m) {
        i++;
        continue;
      }
      if (m[2] === "m") {
        applySgr(state, m[1]);
        current = -1;
      } else if (m[2] === "K") {
        // Erase in line: 0 to the end, 1 to the cursor, 2 all.
        const mode = m[1] === "" ? 0 : +m[1];
        if (mode === 0) {
          chars.length = Math.min(chars.length, col);
          styles.length = chars.length;
        } else {
          for (
            let c = 0;
            c < Math.min(chars.length, mode === 1 ? col + 1 : chars.length);
            c++
          ) {
            chars[c] = " ";
          }
        }
      }
      i = m[0].length ? i + m[0].length : i + 1;
      continue;
    }
    const cp = line.codePointAt(i)!;
    const ch = String.fromCodePoint(cp);
    i += ch.length;
    const s = styleIndex();
    while (chars.length < col) {
      chars.push(" ");
      styles.push(s);
    }
    chars[col] = ch;
    styles[col] = s;
    col++;
  }
  const out: Segment[] = [];
  for (let c = 0; c < chars.length; c++) {
    const st = palette[styles[c]];
    const last = out[out.length - 1];
    if (last && last.cls === st.cls && last.style === st.style) {
      last.text += chars[c];
    } else out.push({ text: chars[c], cls: st.cls, style: st.style });
  }
  return out;
}

/** The plain text of rendered segments. */
export function segmentsText(segments: readonly Segment[]): string {
  return segments.map((s) => s.text).join("");
}

/**
 * Split segments so that the ranges `[start, end)` (code unit offsets into
 * their text, sorted, not overlapping) become their own segments marked
 * `mark: true`.
 */
export function markRanges(
  segments: readonly Segment[],
  ranges: readonly [number, number][],
): (Segment & { mark: boolean })[] {
  const out: (Segment & { mark: boolean })[] = [];
  let offset = 0;
  let r = 0;
  for (const seg of segments) {
    let pos = 0;
    while (pos < seg.text.length) {
      const abs = offset + pos;
      while (r < ranges.length && ranges[r][1] <= abs) r++;
      const range = ranges[r];
      let end = seg.text.length;
      let mark = false;
      if (range && range[0] <= abs) {
        mark = true;
        end = Math.min(end, range[1] - offset);
      } else if (range) end = Math.min(end, range[0] - offset);
      out.push({ ...seg, text: seg.text.slice(pos, end), mark });
      pos = end;
    }
    offset += seg.text.length;
  }
  return out;
}

/** Where `query` occurs in `text`, case-insensitively, as ranges. */
export function findRanges(text: string, query: string): [number, number][] {
  if (!query) return [];
  const hay = text.toLowerCase();
  const needle = query.toLowerCase();
  const ranges: [number, number][] = [];
  let at = hay.indexOf(needle);
  while (at >= 0) {
    ranges.push([at, at + needle.length]);
    at = hay.indexOf(needle, at + needle.length);
  }
  return ranges;
}
