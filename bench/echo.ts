// deno-lint-ignore-file no-console -- CLI entry point: stdout is its interface
/**
 * Keystroke to echo in a real Chromium dashboard, part of `deno task bench`
 * (alone: `deno run -A bench/echo.ts`). A real server (in-process, like the
 * other benches), a real agent process running
 * `--session -- bash --norc --noprofile` in a PTY, and the dashboard in
 * headless Chromium (puppeteer-core), which takes control of the session.
 * Then `BENCH_ECHO_KEYS` (default 200) keys are pressed one at a time
 * through the browser's input pipeline (CDP `Input.dispatchKeyEvent`), each
 * after the previous one's echo was drawn plus a pause of `BENCH_ECHO_PAUSE_MS`
 * (default 30).
 *
 * Measured in the page, on its `performance.now()` clock: from the keydown
 * event's `timeStamp` to the first xterm `onRender` (xterm draws in an
 * animation frame) after which the echoed character is in the cell where the
 * cursor was: the frame that shows it. Path: keydown → xterm → WebSocket →
 * server → agent → PTY → bash (readline echoes) → agent → server → WebSocket
 * → xterm parse → frame. `onWriteParsed` (the byte parsed, before its frame)
 * is recorded too.
 *
 * Reference in the same run: a bare Deno WebSocket echo server (same
 * process) and a page in a second Chromium (same flags) whose keydown sends the key and
 * whose `onmessage` puts it in the DOM; measured from keydown to the next
 * animation frame after the echo arrived. That is the floor of the browser,
 * loopback WebSocket and one frame, with no Flightdeck in between. Rounds of
 * 20 keys alternate between the two pages, so both meet the same machine
 * load; the load average is printed with the figures.
 */
import type { Page } from "puppeteer-core";
import {
  launchBrowser,
  openTerminal,
  signedInPage,
  takeControlIn,
  terminalLines,
} from "../tests/browser.ts";
import { sleep, startTestServer } from "../tests/helpers.ts";
import { startSessionAgent } from "../tests/session_agent.ts";

const KEYS = Number(Deno.env.get("BENCH_ECHO_KEYS") ?? 200);
const PAUSE_MS = Number(Deno.env.get("BENCH_ECHO_PAUSE_MS") ?? 30);
/** Keys per round; rounds alternate between the dashboard and the reference. */
const ROUND_KEYS = 20;
/** Keys typed on one line before it is cleared (Ctrl-U), so it never wraps. */
const LINE_KEYS = 40;
const AGENT = "echo-bench";
/** Letters typed, in turn. */
const ALPHABET = "abcdefghijklmnopqrstuvwxyz";
/** Longest wait for one echo before the bench fails. */
const ECHO_TIMEOUT_MS = 10_000;

/** One key's times in the page, ms from keydown. */
interface Echo {
  parsed: number;
  rendered: number;
}

/** Percentiles and maximum of `values`, as "p50 / p95 / p99 / max". */
export function summary(values: number[]): string {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (p: number) =>
    sorted[
      Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)
    ];
  return [at(50), at(95), at(99), sorted[sorted.length - 1]]
    .map((ms) => ms.toFixed(1)).join(" / ") + " ms";
}

/**
 * Instrument the dashboard's xterm: `__echo.arm(char)` notes where the
 * cursor is and waits for that character there; the next keydown starts the
 * clock; `__echo.done` resolves with the times once a frame shows it.
 */
function instrument(page: Page): Promise<void> {
  return page.evaluate(() => {
    type Cell = { getChars(): string };
    type Term = {
      buffer: {
        active: {
          baseY: number;
          cursorX: number;
          cursorY: number;
          getLine(
            y: number,
          ): { getCell(x: number): Cell | undefined } | undefined;
        };
      };
      onRender(fn: () => void): unknown;
      onWriteParsed(fn: () => void): unknown;
    };
    const term = (globalThis as unknown as { __flightdeckTerminal: Term })
      .__flightdeckTerminal;
    let want: {
      char: string;
      x: number;
      y: number;
      down?: number;
      parsed?: number;
      resolve(v: { parsed: number; rendered: number }): void;
    } | null = null;
    const shown = () => {
      if (!want) return false;
      const cell = term.buffer.active.getLine(want.y)?.getCell(want.x);
      return cell?.getChars() === want.char;
    };
    document.addEventListener("keydown", (event) => {
      if (want && want.down === undefined) want.down = event.timeStamp;
    }, true);
    term.onWriteParsed(() => {
      if (want?.down !== undefined && want.parsed === undefined && shown()) {
        want.parsed = performance.now();
      }
    });
    term.onRender(() => {
      if (want?.down === undefined || !shown()) return;
      const now = performance.now();
      const w = want;
      want = null;
      w.resolve({
        parsed: (w.parsed ?? now) - w.down!,
        rendered: now - w.down!,
      });
    });
    const api = {
      done: null as Promise<unknown> | null,
      arm(char: string) {
        const b = term.buffer.active;
        api.done = new Promise((resolve) => {
          want = { char, x: b.cursorX, y: b.baseY + b.cursorY, resolve };
        });
      },
      cursorX: () => term.buffer.active.cursorX,
      /** What it waits for, and what is there (for the error message). */
      state: () => ({
        want,
        there: want
          ? term.buffer.active.getLine(want.y)?.getCell(want.x)?.getChars()
          : null,
        active: document.activeElement?.className,
      }),
    };
    (globalThis as unknown as { __echo: unknown }).__echo = api;
  });
}

function cursorX(page: Page): Promise<number> {
  return page.evaluate(() =>
    (globalThis as unknown as { __echo: { cursorX(): number } }).__echo
      .cursorX()
  );
}

/** Clear the line (readline's Ctrl-U); wait for the cursor at `promptX`. */
async function clearLine(page: Page, promptX: number): Promise<void> {
  await page.keyboard.down("Control");
  await page.keyboard.press("KeyU");
  await page.keyboard.up("Control");
  await page.waitForFunction(
    (x: number) =>
      (globalThis as unknown as { __echo: { cursorX(): number } }).__echo
        .cursorX() === x,
    { timeout: ECHO_TIMEOUT_MS },
    promptX,
  );
}

/**
 * Type `keys` keys into the controlled terminal, from the prompt, clearing
 * the line every {@link LINE_KEYS} keys and at the end; the page's times per
 * key.
 */
async function typeKeys(page: Page, keys: number): Promise<Echo[]> {
  const echoes: Echo[] = [];
  const promptX = await cursorX(page);
  for (let i = 0; i < keys; i++) {
    if (i > 0 && i % LINE_KEYS === 0) await clearLine(page, promptX);
    const char = ALPHABET[i % ALPHABET.length];
    await page.evaluate(
      (c: string) =>
        (globalThis as unknown as { __echo: { arm(c: string): void } }).__echo
          .arm(c),
      char,
    );
    await page.keyboard.press(char as "a");
    echoes.push(
      await page.evaluate(
        (timeout: number) =>
          Promise.race([
            (globalThis as unknown as { __echo: { done: Promise<Echo> } })
              .__echo.done,
            new Promise<never>((_, reject) =>
              setTimeout(
                () =>
                  reject(
                    new Error(
                      `No echo within ${timeout} ms: ${
                        JSON.stringify((globalThis as unknown as {
                          __echo: { state(): unknown };
                        }).__echo.state())
                      }`,
                    ),
                  ),
                timeout,
              )
            ),
          ]),
        ECHO_TIMEOUT_MS,
      ),
    );
    await sleep(PAUSE_MS);
  }
  await clearLine(page, promptX);
  return echoes;
}

/** The reference page: a bare WebSocket echo through Chromium. */
interface Reference extends AsyncDisposable {
  page: Page;
  /** Press `keys` keys; the time of each, keydown to the next frame. */
  type(keys: number): Promise<number[]>;
}

async function openReference(
  browser: Awaited<ReturnType<typeof launchBrowser>>,
): Promise<Reference> {
  const echo = Deno.serve(
    { port: 0, hostname: "127.0.0.1", onListen: () => {} },
    (req) => {
      if (req.headers.get("upgrade") !== "websocket") {
        return new Response("<!doctype html><title>echo</title><p id=out>", {
          headers: { "content-type": "text/html" },
        });
      }
      const { socket, response } = Deno.upgradeWebSocket(req);
      socket.onmessage = (event) => socket.send(event.data);
      return response;
    },
  );
  const page = await browser.newPage();
  await page.goto(`http://127.0.0.1:${echo.addr.port}/`);
  await page.evaluate(async () => {
    const ws = new WebSocket(location.href.replace(/^http/, "ws"));
    await new Promise((resolve) => (ws.onopen = resolve));
    const out = document.getElementById("out")!;
    let down = 0;
    let resolve: (ms: number) => void = () => {};
    document.addEventListener("keydown", (event) => {
      down = event.timeStamp;
      ws.send(event.key);
    });
    ws.onmessage = (event) => {
      out.textContent = event.data;
      requestAnimationFrame(() => resolve(performance.now() - down));
    };
    const api = {
      done: null as Promise<number> | null,
      arm() {
        api.done = new Promise((r) => (resolve = r));
      },
    };
    (globalThis as unknown as { __ref: unknown }).__ref = api;
  });
  type Ref = { arm(): void; done: Promise<number> };
  return {
    page,
    async type(keys: number) {
      const times: number[] = [];
      for (let i = 0; i < keys; i++) {
        await page.evaluate(() =>
          (globalThis as unknown as { __ref: Ref }).__ref.arm()
        );
        await page.keyboard.press(ALPHABET[i % ALPHABET.length] as "a");
        times.push(
          await page.evaluate(() =>
            (globalThis as unknown as { __ref: Ref }).__ref.done
          ),
        );
        await sleep(PAUSE_MS);
      }
      return times;
    },
    async [Symbol.asyncDispose]() {
      await page.close();
      await echo.shutdown();
    },
  };
}

/** 1-minute load average and core count (Linux), for context. */
function load(): string {
  try {
    const avg = Deno.readTextFileSync("/proc/loadavg").split(" ")[0];
    return `${avg} on ${navigator.hardwareConcurrency} cores`;
  } catch {
    return "n/a";
  }
}

/** Rows of the keystroke-to-echo measure: [measure, figure]. */
export async function benchEcho(
  keys = KEYS,
): Promise<[string, string][]> {
  await using server = await startTestServer();
  const agent = await startSessionAgent(server, AGENT, {
    type: "shell",
    cols: 100,
    rows: 30,
    program: ["bash", "--norc", "--noprofile"],
  });
  try {
    await using browser = await launchBrowser();
    const page = await signedInPage(browser, server);
    await openTerminal(page, AGENT);
    await takeControlIn(page);
    // bash's prompt ("bash-5.2$ ", "#" as root) is on screen, the cursor
    // after it.
    await page.waitForFunction(() => {
      type B = {
        cursorX: number;
        cursorY: number;
        baseY: number;
        getLine(y: number): { translateToString(t: boolean): string };
      };
      const b = (globalThis as unknown as {
        __flightdeckTerminal: { buffer: { active: B } };
      }).__flightdeckTerminal.buffer.active;
      const line = b.getLine(b.baseY + b.cursorY).translateToString(true);
      return /[$#] ?$/.test(line) && b.cursorX === line.trimEnd().length + 1;
    }, { timeout: 20_000 }).catch(async (error) => {
      throw new Error(
        `No bash prompt in the dashboard's terminal: ${
          JSON.stringify(await terminalLines(page))
        }\n${agent.stderr}`,
        { cause: error },
      );
    });
    await instrument(page);
    // The reference has a browser of its own: each page stays the front tab
    // of its browser (a background tab draws no frames; switching tabs makes
    // the first frames after it slow).
    await using refBrowser = await launchBrowser();
    await using reference = await openReference(refBrowser);
    // A few keys first (JIT, first WebSocket frames), not counted.
    await typeKeys(page, 5);
    await reference.type(5);
    // Rounds alternate between the two pages, so both see the same load.
    const echoes: Echo[] = [];
    const ref: number[] = [];
    const loadBefore = load();
    for (let done = 0; done < keys; done += ROUND_KEYS) {
      const n = Math.min(ROUND_KEYS, keys - done);
      echoes.push(...await typeKeys(page, n));
      ref.push(...await reference.type(n));
    }
    return [
      [
        `keystroke → echo drawn in Chromium (xterm onRender), bash in a session PTY, ${keys} keys: p50 / p95 / p99 / max`,
        summary(echoes.map((e) => e.rendered)),
      ],
      [
        "keystroke → echo parsed by xterm (onWriteParsed), same keys",
        summary(echoes.map((e) => e.parsed)),
      ],
      [
        `reference: bare Deno WebSocket echo through a second Chromium (keydown → next frame), alternating rounds of 20, ${keys} keys`,
        summary(ref),
      ],
      ["load average before / after the keys", `${loadBefore} / ${load()}`],
    ];
  } finally {
    await agent.kill("SIGKILL").catch(() => {});
  }
}

if (import.meta.main) {
  for (const [measure, figure] of await benchEcho()) {
    console.log(`${measure}: ${figure}`);
  }
}
