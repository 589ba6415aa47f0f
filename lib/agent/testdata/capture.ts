/**
 * Records what a real AI CLI shows on first start, for the activity detector
 * fixtures next to this file. Runs the program in a PTY with a fresh HOME and
 * no network (`unshare -rn`), feeds its output into a {@link Screen}, waits
 * until the screen has been still for `--quiet` ms, then optionally types keys
 * and waits again. Writes `<name>.txt` (visible rows) and `<name>.raw` (the
 * bytes) with the temporary directory replaced by `<TMP>`. HOME is `<TMP>/home`,
 * the program runs in `<TMP>/home/project`.
 *
 * ```sh
 * deno run -A lib/agent/testdata/capture.ts gemini_trust -- /path/gemini
 * deno run -A lib/agent/testdata/capture.ts gemini_auth --keys '\r' -- /path/gemini
 * deno run -A lib/agent/testdata/capture.ts gemini_prompt --env GEMINI_API_KEY=x \
 *   --keys '\r' -- /path/gemini
 * ```
 *
 * @module
 */
import { loadPty } from "../pty_runner.ts";
import { Screen } from "../screen.ts";

const dashdash = Deno.args.indexOf("--");
const own = Deno.args.slice(0, dashdash);
const program = Deno.args.slice(dashdash + 1);
const name = own[0];
const keys: string[] = [];
const env: [string, string][] = [];
const opts: Record<string, number> = {
  quiet: 3000,
  max: 30000,
  cols: 100,
  rows: 30,
};
for (let i = 1; i < own.length; i += 2) {
  const flag = own[i].replace(/^--/, "");
  if (flag === "keys") keys.push(JSON.parse(`"${own[i + 1]}"`));
  else if (flag === "env") {
    env.push(own[i + 1].split("=", 2) as [string, string]);
  } else opts[flag] = Number(own[i + 1]);
}
const { quiet: quietMs, max: maxMs, cols, rows } = opts;

const tmp = await Deno.makeTempDir({ prefix: "flow-capture-" });
const home = `${tmp}/home`;
const project = `${home}/project`;
await Deno.mkdir(project, { recursive: true });
const pty = await loadPty();
const screen = new Screen(cols, rows);
const chunks: Uint8Array[] = [];
let lastChange = Date.now();
const term = pty.spawn("unshare", ["-rn", ...program], {
  name: "xterm-256color",
  cols,
  rows,
  cwd: project,
  env: {
    HOME: home,
    PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
    TERM: "xterm-256color",
    LANG: "C.UTF-8",
    ...Object.fromEntries(env),
  },
});
term.onData((data: string) => {
  chunks.push(new TextEncoder().encode(data));
  lastChange = Date.now();
  screen.write(data);
});
// With no real terminal attached, the headless one answers the program's
// queries (cursor position, device attributes); Codex waits for them.
screen.onReply((data) => term.write(data));

async function settle(): Promise<void> {
  const start = Date.now();
  while (Date.now() - start < maxMs) {
    await new Promise((r) => setTimeout(r, 200));
    if (chunks.length > 0 && Date.now() - lastChange >= quietMs) return;
  }
}

await settle();
for (const key of keys) {
  term.write(key);
  lastChange = Date.now();
  await settle();
}
await screen.write("");
const scrub = (text: string) => text.replaceAll(tmp, "<TMP>");
const text = screen.visibleLines().join("\n").replace(/\n+$/, "") + "\n";
await Deno.writeTextFile(new URL(`${name}.txt`, import.meta.url), scrub(text));
const raw = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
let at = 0;
for (const c of chunks) raw.set(c, (at += c.length) - c.length);
const rawText = scrub(new TextDecoder().decode(raw));
await Deno.writeTextFile(new URL(`${name}.raw`, import.meta.url), rawText);
// deno-lint-ignore no-console -- a command-line tool
console.log(`${name}: ${raw.length} bytes\n${scrub(text)}`);
term.kill("SIGKILL");
screen.dispose();
await Deno.remove(tmp, { recursive: true });
Deno.exit(0);
