import assert from "node:assert/strict";
import { parseDuration, parsePattern, parseRestart } from "./session_flags.ts";

Deno.test("parseDuration() reads ms, s, m, h and bare seconds; refuses the rest by flag name", () => {
  const ms = (text: string) => parseDuration("stall-after", text);
  assert.deepEqual(ms("1500ms"), { ms: 1500 });
  assert.deepEqual(ms("90s"), { ms: 90_000 });
  assert.deepEqual(ms("5m"), { ms: 300_000 });
  assert.deepEqual(ms("1.5h"), { ms: 5_400_000 });
  assert.deepEqual(ms("300"), { ms: 300_000 });
  assert.deepEqual(ms("24h"), { ms: 86_400_000 });
  for (const bad of ["", "5 minutes", "-1s", "1d", "s", "1e3"]) {
    assert.deepEqual(ms(bad), {
      error:
        `--stall-after must be a duration like 90s, 5m or 1h, not "${bad}"`,
    });
  }
  assert.deepEqual(ms("0"), { error: "--stall-after must be at least 1ms" });
  assert.deepEqual(ms("0.4ms"), {
    error: "--stall-after must be at least 1ms",
  });
  assert.deepEqual(ms("25h"), { error: "--stall-after must be at most 24h" });
});

Deno.test("parsePattern() compiles a regular expression, refusing bad, empty and match-everything ones", () => {
  const ok = parsePattern("input-pattern", "Proceed\\? \\[y/n\\]");
  assert.ok("pattern" in ok);
  assert.equal(ok.pattern.test("  Proceed? [y/n]"), true);
  assert.equal(ok.pattern.test("Proceed"), false);

  const bad = parsePattern("waiting-pattern", "([");
  assert.ok("error" in bad);
  assert.match(
    bad.error,
    /^--waiting-pattern is not a valid regular expression: .+/,
  );
  assert.deepEqual(parsePattern("input-pattern", ""), {
    error: "--input-pattern is empty",
  });
  assert.deepEqual(parsePattern("input-pattern", "x*"), {
    error: "--input-pattern matches an empty line, so it would match every row",
  });
  assert.deepEqual(parsePattern("input-pattern", "a".repeat(1025)), {
    error: "--input-pattern must be at most 1024 characters",
  });
});

Deno.test("parseRestart() takes always or never", () => {
  assert.deepEqual(parseRestart("always"), { mode: "always" });
  assert.deepEqual(parseRestart("never"), { mode: "never" });
  assert.deepEqual(parseRestart("sometimes"), {
    error: '--restart must be always or never, not "sometimes"',
  });
});
