/**
 * docs/protocol.md against lib/protocol.ts: the reference documents every
 * message type of every direction with every payload field (its type,
 * whether it is required, its bounds), every error code with its
 * recoverable flag and HTTP status, every close code with its action, and
 * every limit with its value; and documents nothing the code no longer has.
 * Also: no user-facing document points at files users do not have.
 *
 * When this fails after a protocol change, the message says which section
 * and row of docs/protocol.md to add, change or remove.
 */
import assert from "node:assert/strict";
import type { z } from "zod";
import {
  AgentInfoSchema,
  AgentPayloads,
  CLOSE_CODES,
  CommandInfoSchema,
  DashboardPayloads,
  envelope,
  ERROR_CODES,
  LIMITS,
  ServerToAgentPayloads,
  ServerToDashboardPayloads,
} from "./protocol.ts";
import { HTTP_STATUS } from "./server/errors.ts";
import { ConfigSchema, ENV_VARS, loadConfig } from "./server/config.ts";
import { SNAPSHOT_COMMANDS_PER_AGENT } from "./server/dashboard_session.ts";

const ROOT = new URL("../", import.meta.url);
const DOC_PATH = "docs/protocol.md";
const DOC = await Deno.readTextFile(new URL(DOC_PATH, ROOT));

// ---------------------------------------------------------------------------
// Reading the document: headings and tables.

interface Table {
  h2: string;
  h3: string | null;
  header: string[];
  rows: { cells: string[]; line: string }[];
}

/** Split a Markdown table row into trimmed cells (`\|` stays in a cell). */
function cells(line: string): string[] {
  return line.trim().replace(/^\|/, "").replace(/\|$/, "")
    .split(/(?<!\\)\|/).map((c) => c.trim().replaceAll("\\|", "|"));
}

function parseDoc(text: string) {
  const tables: Table[] = [];
  const h3s = new Map<string, string[]>();
  const headings: string[] = [];
  let h2 = "";
  let h3: string | null = null;
  let table: Table | null = null;
  const lines = text.split("\n");
  let fence = false;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (line.startsWith("```")) fence = !fence;
    if (fence) continue;
    const heading = /^(#{1,6}) (.*)$/.exec(line);
    if (heading) {
      headings.push(heading[2]);
      if (heading[1] === "##") {
        h2 = heading[2];
        h3 = null;
        h3s.set(h2, []);
      } else if (heading[1] === "###") {
        h3 = heading[2];
        h3s.get(h2)?.push(h3);
      }
    }
    if (line.startsWith("|")) {
      if (!table) {
        table = { h2, h3, header: cells(line), rows: [] };
        tables.push(table);
      } else if (!/^\|[\s:|-]+\|$/.test(line.trim())) {
        table.rows.push({ cells: cells(line), line });
      }
    } else {
      table = null;
    }
  }
  return { tables, h3s, headings };
}

const doc = parseDoc(DOC);

/** The one table of section `h2` (and `h3`) whose first header is `first`. */
function tableOf(h2: string, h3: string | null, first: string): Table {
  const found = doc.tables.filter((t) =>
    t.h2 === h2 && t.h3 === h3 && t.header[0] === first
  );
  assert.equal(
    found.length,
    1,
    `${DOC_PATH}: expected one table with a "${first}" column in section "${h2}"${
      h3 ? ` › ${h3}` : ""
    }, found ${found.length}`,
  );
  return found[0];
}

/** The text of a `code span` that makes up a whole cell, or null. */
function codeCell(cell: string): string | null {
  return /^`([^`]+)`$/.exec(cell)?.[1] ?? null;
}

/** A row's text with digit group separators removed, for number checks. */
function digits(text: string): string {
  return text.replace(/(\d)[\s,_\u202f\u2009](?=\d{3}\b)/g, "$1");
}

// ---------------------------------------------------------------------------
// Reading the schemas: every field with its type, optionality and bounds.

type Def = {
  type: string;
  innerType?: z.ZodType;
  shape?: Record<string, z.ZodType>;
  element?: z.ZodType;
  entries?: Record<string, string>;
  values?: unknown[];
  options?: z.ZodType[];
  in?: z.ZodType;
  checks?: { _zod: { def: CheckDef } }[];
};
type CheckDef = {
  check: string;
  maximum?: number;
  value?: number;
  inclusive?: boolean;
  format?: string;
  params?: { tooLarge?: boolean };
  error?: (issue: unknown) => unknown;
};

function defOf(schema: z.ZodType): Def {
  return (schema as unknown as { _zod: { def: Def } })._zod.def;
}

const SHARED = new Map<z.ZodType, string>([
  [AgentInfoSchema, "AgentInfo"],
  [CommandInfoSchema, "CommandInfo"],
]);

/** What the documentation row of one field must say. */
interface FieldSpec {
  path: string;
  optional: boolean;
  /** Words the type cell must contain. */
  typeWords: string[];
  /** Texts the whole row must contain (bounds). */
  rowWords: string[];
}

/** Limit names by value; a value several limits share names none. */
const LIMIT_BY_VALUE = new Map<number, string | null>();
for (const [name, value] of Object.entries(LIMITS)) {
  LIMIT_BY_VALUE.set(value, LIMIT_BY_VALUE.has(value) ? null : name);
}
const ERROR_CODE_LIST = Object.keys(ERROR_CODES).sort().join(",");

function unwrap(schema: z.ZodType) {
  let optional = false;
  let nullable = false;
  let def = defOf(schema);
  while (["optional", "default", "nullable"].includes(def.type)) {
    if (def.type === "nullable") nullable = true;
    else optional = true;
    schema = def.innerType!;
    def = defOf(schema);
  }
  return { schema, def, optional, nullable };
}

/** Type words and bound words of one (unwrapped) schema. */
function describe(schema: z.ZodType, def: Def): {
  typeWords: string[];
  rowWords: string[];
} {
  const shared = SHARED.get(schema);
  if (shared) return { typeWords: [`\`${shared}\``], rowWords: [] };
  const typeWords: string[] = [];
  const rowWords: string[] = [];
  const checks = (def.checks ?? []).map((c) => c._zod.def);
  const isInt = checks.some((c) => c.format === "safeint");
  for (const c of checks) {
    if (c.check === "max_length") rowWords.push(String(c.maximum));
    if (c.check === "less_than") rowWords.push(String(c.value));
    if (c.check === "greater_than" && c.value === 0) {
      rowWords.push(c.inclusive || !isInt ? "≥ 0" : "≥ 1");
    }
    if (c.check === "custom" && c.params?.tooLarge) {
      const bytes = Number(/over (\d+) bytes/.exec(String(c.error?.({})))?.[1]);
      rowWords.push(String(bytes), "UTF-8 bytes");
      const limit = LIMIT_BY_VALUE.get(bytes);
      if (limit) rowWords.push(`\`${limit}\``);
    }
  }
  switch (def.type) {
    case "string":
      typeWords.push("string");
      break;
    case "number":
      typeWords.push(isInt ? "integer" : "number");
      break;
    case "boolean":
      typeWords.push("boolean");
      break;
    case "literal":
      typeWords.push(...def.values!.map((v) => `\`${JSON.stringify(v)}\``));
      break;
    case "enum": {
      const values = Object.values(def.entries!);
      if ([...values].sort().join(",") === ERROR_CODE_LIST) {
        typeWords.push("error code");
      } else typeWords.push(...values.map((v) => `"${v}"`));
      break;
    }
    case "array": {
      typeWords.push("array");
      const element = unwrap(def.element!);
      const inner = describe(element.schema, element.def);
      if (element.def.type !== "object" || SHARED.has(element.schema)) {
        typeWords.push(...inner.typeWords);
        rowWords.push(...inner.rowWords);
      }
      break;
    }
    case "object":
      typeWords.push("object");
      break;
    case "record":
      typeWords.push("map");
      break;
    case "unknown":
    case "any":
      typeWords.push("any");
      break;
    case "null":
      typeWords.push("null");
      break;
    case "union":
      // Every alternative must be named in the type cell.
      for (const option of def.options!) {
        const inner = unwrap(option);
        const words = describe(inner.schema, inner.def);
        typeWords.push(...words.typeWords);
        rowWords.push(...words.rowWords);
      }
      break;
    case "pipe": {
      const inner = unwrap(def.in!);
      return describe(inner.schema, inner.def);
    }
    default:
      throw new Error(`protocol_docs_test cannot describe zod "${def.type}"`);
  }
  return { typeWords, rowWords };
}

/** Every documented field of an object schema, nested ones with dots and `[]`. */
function fields(schema: z.ZodType, prefix = ""): FieldSpec[] {
  const out: FieldSpec[] = [];
  for (const [key, field] of Object.entries(defOf(schema).shape!)) {
    const path = prefix + key;
    const { schema: inner, def, optional, nullable } = unwrap(field);
    const { typeWords, rowWords } = describe(inner, def);
    if (nullable) typeWords.push("null");
    out.push({ path, optional, typeWords, rowWords });
    if (SHARED.has(inner)) continue;
    if (def.type === "object") out.push(...fields(inner, `${path}.`));
    if (def.type === "array") {
      const element = unwrap(def.element!);
      if (element.def.type === "object" && !SHARED.has(element.schema)) {
        out.push(...fields(element.schema, `${path}[].`));
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------------------
// Messages and shared types.

const DIRECTIONS: [string, Record<string, z.ZodType>][] = [
  ["Dashboard → server", DashboardPayloads],
  ["Server → dashboard", ServerToDashboardPayloads],
  ["Agent → server", AgentPayloads],
  ["Server → agent", ServerToAgentPayloads],
  ["Shared types", {
    AgentInfo: AgentInfoSchema,
    CommandInfo: CommandInfoSchema,
  }],
];

/** Check the field table of `h2` › `` `name` `` against `schema`. */
function checkFields(h2: string, name: string, schema: z.ZodType): void {
  const h3 = `\`${name}\``;
  const where = `${DOC_PATH}, "${h2}" › ${h3}`;
  const table = tableOf(h2, h3, "field");
  assert.deepEqual(
    table.header.slice(0, 3),
    ["field", "type", "required"],
    `${where}: the table's columns start with field | type | required`,
  );
  const rows = new Map(
    table.rows.map((r) => [codeCell(r.cells[0]) ?? r.cells[0], r]),
  );
  const specs = fields(schema);
  const expected = new Set(specs.map((s) => s.path));
  for (const spec of specs) {
    const row = rows.get(spec.path);
    assert.ok(
      row,
      `${where}: field \`${spec.path}\` of lib/protocol.ts is not documented; ` +
        `add a row "| \`${spec.path}\` | ${spec.typeWords.join(" ")} | ${
          spec.optional ? "no" : "yes"
        } | <meaning> |"`,
    );
    const type = row.cells[1];
    for (const word of spec.typeWords) {
      assert.ok(
        type.includes(word),
        `${where}: the type of \`${spec.path}\` must say ${word} (it reads "${type}")`,
      );
    }
    const required = row.cells[2];
    assert.ok(
      required.startsWith(spec.optional ? "no" : "yes"),
      `${where}: \`${spec.path}\` is ${
        spec.optional ? "optional" : "required"
      } in lib/protocol.ts; its "required" cell reads "${required}"`,
    );
    const text = digits(row.line);
    for (const word of spec.rowWords) {
      assert.ok(
        text.includes(word),
        `${where}: the row of \`${spec.path}\` must state its bound ${word}`,
      );
    }
  }
  for (const path of rows.keys()) {
    assert.ok(
      expected.has(path),
      `${where}: documents field \`${path}\`, which lib/protocol.ts does not have; remove its row`,
    );
  }
}

for (const [h2, map] of DIRECTIONS) {
  Deno.test(`docs/protocol.md documents every "${h2}" message and nothing else`, () => {
    const documented = (doc.h3s.get(h2) ?? []).map((h) => codeCell(h) ?? h);
    assert.ok(doc.h3s.has(h2), `${DOC_PATH} has no section "## ${h2}"`);
    for (const type of Object.keys(map)) {
      assert.ok(
        documented.includes(type),
        `${DOC_PATH}: "${h2}" has no "### \`${type}\`" section, but lib/protocol.ts defines it; document it with a field table`,
      );
    }
    for (const type of documented) {
      assert.ok(
        Object.hasOwn(map, type),
        `${DOC_PATH}: "${h2}" documents \`${type}\`, which lib/protocol.ts does not define; remove it`,
      );
    }
    assert.equal(
      new Set(documented).size,
      documented.length,
      `${DOC_PATH}: "${h2}" documents a type twice`,
    );
  });

  for (const [type, schema] of Object.entries(map)) {
    Deno.test(`docs/protocol.md documents every field of ${h2} \`${type}\``, () => {
      checkFields(h2, type, schema);
    });
  }
}

Deno.test("docs/protocol.md documents the envelope's fields", () => {
  const table = tableOf("Envelope", null, "field");
  const documented = table.rows.map((r) => codeCell(r.cells[0]));
  const actual = Object.keys(envelope("heartbeat", {}, "x"));
  assert.deepEqual(
    [...documented].sort(),
    [...actual].sort(),
    `${DOC_PATH}, "Envelope": rows must be exactly the envelope's fields`,
  );
  const id = table.rows.find((r) => codeCell(r.cells[0]) === "id")!;
  assert.ok(id.line.includes(String(LIMITS.maxIdChars)));
  assert.ok(id.cells[2].startsWith("no"), "`id` is optional");
});

// ---------------------------------------------------------------------------
// Error codes, close codes, limits, settings.

Deno.test("docs/protocol.md lists every error code with its recoverable flag and HTTP status", () => {
  const table = tableOf("Error codes", null, "code");
  assert.deepEqual(table.header.slice(0, 3), ["code", "recoverable", "HTTP"]);
  const documented = new Map(
    table.rows.map((r) => [codeCell(r.cells[0]) ?? r.cells[0], r.cells]),
  );
  for (const [code, { recoverable }] of Object.entries(ERROR_CODES)) {
    const row = documented.get(code);
    assert.ok(
      row,
      `${DOC_PATH}, "Error codes": \`${code}\` is missing; add "| \`${code}\` | ${
        recoverable ? "yes" : "no"
      } | ${
        HTTP_STATUS[code as keyof typeof HTTP_STATUS] ?? "<HTTP status>"
      } | <meaning> |"`,
    );
    assert.equal(
      row[1],
      recoverable ? "yes" : "no",
      `${DOC_PATH}: recoverable flag of \`${code}\``,
    );
    assert.equal(
      Number(row[2]),
      HTTP_STATUS[code as keyof typeof HTTP_STATUS],
      `${DOC_PATH}: HTTP status of \`${code}\` (lib/server/errors.ts)`,
    );
  }
  for (const code of documented.keys()) {
    assert.ok(
      Object.hasOwn(ERROR_CODES, code),
      `${DOC_PATH}, "Error codes": \`${code}\` is not in ERROR_CODES; remove its row`,
    );
  }
});

Deno.test("docs/protocol.md lists every close code with its action", () => {
  const table = tableOf("Close codes", null, "code");
  assert.deepEqual(table.header.slice(0, 3), ["code", "name", "client should"]);
  const documented = new Map(
    table.rows.map((r) => [codeCell(r.cells[1]) ?? r.cells[1], r.cells]),
  );
  for (const [name, { code, action }] of Object.entries(CLOSE_CODES)) {
    const row = documented.get(name);
    assert.ok(
      row,
      `${DOC_PATH}, "Close codes": \`${name}\` (${code}) is missing; add "| ${code} | \`${name}\` | ${action} | <meaning> |"`,
    );
    assert.equal(Number(row[0]), code, `${DOC_PATH}: code of \`${name}\``);
    assert.equal(row[2], action, `${DOC_PATH}: action of \`${name}\``);
  }
  for (const name of documented.keys()) {
    assert.ok(
      Object.hasOwn(CLOSE_CODES, name),
      `${DOC_PATH}, "Close codes": \`${name}\` is not in CLOSE_CODES; remove its row`,
    );
  }
});

Deno.test("docs/protocol.md lists every limit with its value", () => {
  const table = tableOf("Limits", null, "name");
  const documented = new Map(
    table.rows.map((r) => [codeCell(r.cells[0]) ?? r.cells[0], r.cells]),
  );
  for (const [name, value] of Object.entries(LIMITS)) {
    const row = documented.get(name);
    assert.ok(
      row,
      `${DOC_PATH}, "Limits": \`${name}\` is missing; add "| \`${name}\` | ${value} | <applies to> | <over the limit> |"`,
    );
    assert.equal(
      Number(digits(row[1])),
      value,
      `${DOC_PATH}, "Limits": value of \`${name}\``,
    );
  }
  for (const name of documented.keys()) {
    assert.ok(
      Object.hasOwn(LIMITS, name),
      `${DOC_PATH}, "Limits": \`${name}\` is not in LIMITS; remove its row`,
    );
  }
});

/**
 * Whether the default cell `cell` states `value`: a number as digits, a
 * string or boolean as a code span, no value (or an empty list) as "none".
 */
function statesDefault(cell: string, value: unknown): boolean {
  if (typeof value === "number") return Number(digits(cell)) === value;
  if (typeof value === "string" || typeof value === "boolean") {
    return codeCell(cell) === String(value);
  }
  if (value === undefined || (Array.isArray(value) && value.length === 0)) {
    return cell === "none";
  }
  return false;
}

/**
 * The setting each environment variable sets, found by setting it alone to
 * the first of a few values that loads and changes exactly one setting.
 */
function settingOf(
  variable: string,
  defaults: Record<string, unknown>,
): string | null {
  const candidates = [
    "3000000",
    "12345",
    "7",
    "false",
    "true",
    "debug",
    "kv",
    "https://example.test",
    "redis://127.0.0.1:6379",
    "x".repeat(40),
  ];
  for (const candidate of candidates) {
    let config: Record<string, unknown>;
    try {
      config = loadConfig(
        {},
        (name) => name === variable ? candidate : undefined,
      );
    } catch {
      continue;
    }
    const changed = Object.keys(config).filter((key) =>
      JSON.stringify(config[key]) !== JSON.stringify(defaults[key])
    );
    if (changed.length === 1) return changed[0];
  }
  return null;
}

const SETTINGS_H2 = "Rates, timeouts and server settings";

Deno.test("docs/protocol.md states the server settings' real defaults and variables", () => {
  const table = tableOf(SETTINGS_H2, null, "setting");
  assert.deepEqual(table.header.slice(0, 3), [
    "setting",
    "variable",
    "default",
  ]);
  const defaults: Record<string, unknown> = loadConfig({}, () => undefined);
  assert.ok(table.rows.length > 0);
  for (const { cells: [setting, variable, value] } of table.rows) {
    const key = codeCell(setting) ?? setting;
    assert.ok(
      Object.hasOwn(ConfigSchema.shape, key),
      `${DOC_PATH}: setting \`${key}\` does not exist in lib/server/config.ts`,
    );
    assert.ok(
      statesDefault(value, defaults[key]),
      `${DOC_PATH}, "${SETTINGS_H2}": the default of \`${key}\` is ${
        JSON.stringify(defaults[key]) ?? "none"
      }; its cell reads "${value}"`,
    );
    const name = codeCell(variable);
    if (name !== null) {
      assert.ok(
        ENV_VARS.includes(name),
        `${DOC_PATH}: \`${name}\` is not an environment variable the server reads`,
      );
    } else assert.equal(variable, "—", `${DOC_PATH}: variable of \`${key}\``);
  }
  const flat = DOC.replace(/\s+/g, " ");
  assert.ok(
    flat.includes(`up to ${SNAPSHOT_COMMANDS_PER_AGENT} recent commands`) &&
      flat.includes(`(up to ${SNAPSHOT_COMMANDS_PER_AGENT} per agent)`),
    `${DOC_PATH}: the start sequence's ${SNAPSHOT_COMMANDS_PER_AGENT} commands per agent`,
  );
});

Deno.test("docs/protocol.md documents every environment variable the server reads", () => {
  const table = tableOf(SETTINGS_H2, null, "setting");
  const defaults: Record<string, unknown> = loadConfig({}, () => undefined);
  const rows = new Map(
    table.rows.map((r) => [codeCell(r.cells[1]), codeCell(r.cells[0])]),
  );
  for (const variable of ENV_VARS) {
    const key = settingOf(variable, defaults);
    assert.ok(
      key,
      `protocol_docs_test cannot tell which setting ${variable} sets`,
    );
    assert.ok(
      rows.has(variable),
      `${DOC_PATH}, "${SETTINGS_H2}": ${variable} is missing; add "| \`${key}\` | \`${variable}\` | ${
        JSON.stringify(defaults[key]) ?? "none"
      } | <meaning> |"`,
    );
    assert.equal(
      rows.get(variable),
      key,
      `${DOC_PATH}, "${SETTINGS_H2}": ${variable} sets \`${key}\`, not \`${
        rows.get(variable)
      }\``,
    );
  }
});

Deno.test("The settings checks catch what they are for", () => {
  assert.ok(statesDefault("8000", 8000));
  assert.ok(!statesDefault("8001", 8000));
  assert.ok(statesDefault("`./data`", "./data"));
  assert.ok(!statesDefault("./data", "./data"));
  assert.ok(statesDefault("`false`", false));
  assert.ok(!statesDefault("`true`", false));
  assert.ok(statesDefault("none", undefined));
  assert.ok(statesDefault("none", []));
  assert.ok(!statesDefault("none", ["https://a.test"]));
  const defaults: Record<string, unknown> = loadConfig({}, () => undefined);
  assert.equal(settingOf("PORT", defaults), "port");
  assert.equal(settingOf("FLIGHTDECK_TRUST_PROXY", defaults), "trustProxy");
  assert.equal(settingOf("FLIGHTDECK_CONN_GUARD", defaults), "connectionGuard");
  assert.equal(settingOf("FLIGHTDECK_LOG", defaults), "logLevel");
  assert.equal(
    settingOf("FLIGHTDECK_ALLOWED_ORIGINS", defaults),
    "allowedOrigins",
  );
  assert.equal(settingOf("FLIGHTDECK_NOT_A_VARIABLE", defaults), null);
});

// ---------------------------------------------------------------------------
// Links and paths.

/** GitHub's anchor for a heading. */
function slug(heading: string): string {
  return heading.toLowerCase().replace(/[^\p{L}\p{N} _-]/gu, "")
    .replaceAll(" ", "-");
}

Deno.test("docs/protocol.md's links to its own sections resolve", () => {
  const anchors = new Set(doc.headings.map(slug));
  const links = [...DOC.matchAll(/\]\(#([^)]+)\)/g)].map((m) => m[1]);
  assert.ok(links.length > 0);
  for (const link of links) {
    assert.ok(anchors.has(link), `${DOC_PATH}: no heading for link #${link}`);
  }
});

/** User-facing documents: README.md, docs/*.md and SECURITY.md if present. */
async function userDocs(): Promise<string[]> {
  const paths = ["README.md"];
  for await (const entry of Deno.readDir(new URL("docs/", ROOT))) {
    if (entry.isFile && entry.name.endsWith(".md")) {
      paths.push(`docs/${entry.name}`);
    }
  }
  try {
    await Deno.stat(new URL("SECURITY.md", ROOT));
    paths.push("SECURITY.md");
  } catch {
    // Not written yet.
  }
  return paths;
}

/** References to files users do not have: the shared folder, machine paths. */
const FOREIGN_PATH =
  /\.\.\/shared\b|(?<![\w.~-])\/(?:work|tmp|home|Users|root|private\/var|var\/folders)\//;

Deno.test("User documents point at no shared folder and no machine path", async () => {
  const found: string[] = [];
  for (const path of await userDocs()) {
    const lines = (await Deno.readTextFile(new URL(path, ROOT))).split("\n");
    lines.forEach((line, i) => {
      const match = FOREIGN_PATH.exec(line);
      if (match) {
        found.push(`${path}:${i + 1}: "${match[0]}" in: ${line.trim()}`);
      }
    });
  }
  assert.deepEqual(
    found,
    [],
    `User documents must stand on their own (users have no ../shared/ and not this machine's folders):\n${
      found.join("\n")
    }`,
  );
});

Deno.test("docs/protocol.md does not send readers to PROTOCOL.md", () => {
  assert.ok(!/PROTOCOL\.md/.test(DOC), `${DOC_PATH} mentions PROTOCOL.md`);
});

Deno.test("The foreign-path check catches what it is for", () => {
  for (
    const bad of [
      "see ../shared/PROTOCOL.md",
      "at /work/main/data",
      "(/tmp/flightdeck.kv)",
      "`/home/me/x`",
    ]
  ) assert.ok(FOREIGN_PATH.test(bad), bad);
  for (const ok of ["/api/events", "./data/x", "docs/protocol.md", "~/tmp/"]) {
    assert.ok(!FOREIGN_PATH.test(ok), ok);
  }
});

Deno.test("docs/protocol.md has no code span broken across lines", () => {
  let fence = false;
  const broken: string[] = [];
  DOC.split("\n").forEach((line, i) => {
    if (line.startsWith("```")) fence = !fence;
    else if (!fence && (line.match(/`/g)?.length ?? 0) % 2 === 1) {
      broken.push(`${DOC_PATH}:${i + 1}: ${line}`);
    }
  });
  assert.deepEqual(broken, [], "keep each `code span` on one line");
});
