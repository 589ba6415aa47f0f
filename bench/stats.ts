/**
 * Pure parts of the benchmark harness (`deno task bench`): percentiles,
 * median with min–max over repetitions, ratios, and the `FIGURE name=value`
 * lines every figure is also printed as.
 *
 * @module
 */

/**
 * The `p`-th percentile of `values` by the nearest-rank method (the
 * smallest value with at least `p` % of the values at or below it).
 *
 * @throws {RangeError} When `values` is empty or `p` is outside 0..100.
 */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) throw new RangeError("No values");
  if (!(p >= 0 && p <= 100)) throw new RangeError(`Invalid percentile "${p}"`);
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1];
}

/** Median with the smallest and largest of a set of repetitions. */
export interface Spread {
  median: number;
  min: number;
  max: number;
  /** How many values. */
  n: number;
}

/**
 * Median (the mean of the two middle values for an even count), min and
 * max of `values`.
 *
 * @throws {RangeError} When `values` is empty.
 */
export function spread(values: readonly number[]): Spread {
  if (values.length === 0) throw new RangeError("No values");
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2
    ? sorted[mid]
    : (sorted[mid - 1] + sorted[mid]) / 2;
  return {
    median,
    min: sorted[0],
    max: sorted[sorted.length - 1],
    n: sorted.length,
  };
}

/**
 * `a[i] / b[i]` for each batch `i` (one repetition of every system, run
 * back to back): ratios from the same batch share the machine's load.
 *
 * @throws {RangeError} When the lists differ in length.
 */
export function ratios(
  a: readonly number[],
  b: readonly number[],
): number[] {
  if (a.length !== b.length) {
    throw new RangeError(`Batches differ: ${a.length} and ${b.length}`);
  }
  return a.map((x, i) => x / b[i]);
}

/**
 * `value` rounded for a figure: an integer as it is, else 3 significant
 * digits with at most 3 decimals.
 */
export function round(value: number): string {
  if (!Number.isFinite(value) || Number.isInteger(value)) return String(value);
  const digits = Math.max(
    0,
    Math.min(3, 2 - Math.floor(Math.log10(Math.abs(value)))),
  );
  return value.toFixed(digits);
}

/** Names of figures: lower case letters, digits and `_`. */
const FIGURE_NAME = /^[a-z][a-z0-9_]*$/;

/**
 * The line `FIGURE name=value` (the machine-readable form of every figure).
 *
 * @throws {RangeError} For a name that is not `[a-z][a-z0-9_]*`.
 */
export function figureLine(name: string, value: number | string): string {
  if (!FIGURE_NAME.test(name)) {
    throw new RangeError(`Invalid figure name "${name}"`);
  }
  const text = typeof value === "number" ? round(value) : value;
  if (/\s/.test(text)) {
    throw new RangeError(`Figure "${name}" has white space in "${text}"`);
  }
  return `FIGURE ${name}=${text}`;
}

/**
 * Parse the `FIGURE name=value` lines of `text` (other lines are ignored);
 * a later line for the same name wins.
 */
export function parseFigures(text: string): Map<string, string> {
  const figures = new Map<string, string>();
  for (const line of text.split("\n")) {
    const match = /^FIGURE ([a-z][a-z0-9_]*)=(\S+)$/.exec(line.trim());
    if (match) figures.set(match[1], match[2]);
  }
  return figures;
}

/** "median (min–max)" of a spread, each rounded, with `unit` after. */
export function formatSpread(s: Spread, unit = ""): string {
  const u = unit ? ` ${unit}` : "";
  return s.n === 1
    ? `${round(s.median)}${u}`
    : `${round(s.median)}${u} (${round(s.min)}–${round(s.max)})`;
}
