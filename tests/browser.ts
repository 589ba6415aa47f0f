/**
 * Headless Chromium for end-to-end tests (puppeteer-core + Debian chromium).
 *
 * @module
 */
import puppeteer, {
  type Browser,
  type BrowserContext,
  type Page,
} from "puppeteer-core";
import type { Role } from "../lib/protocol.ts";
import { ROOT, type TestServer } from "./helpers.ts";

/** Where end-to-end tests save their screenshots (git-ignored). */
export const ARTIFACTS = `${ROOT}tests/artifacts`;

/** Path of the Chromium binary (override with CHROMIUM_PATH). */
export const CHROMIUM = Deno.env.get("CHROMIUM_PATH") ?? "/usr/bin/chromium";

/** Launch Chromium with a fresh profile; dispose to close and clean up. */
export async function launchBrowser(): Promise<Browser & AsyncDisposable> {
  const profile = await Deno.makeTempDir({ prefix: "flightdeck-chromium-" });
  const browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
      `--user-data-dir=${profile}`,
    ],
  });
  return Object.assign(browser, {
    async [Symbol.asyncDispose]() {
      await browser.close();
      await Deno.remove(profile, { recursive: true }).catch(() => {});
    },
  });
}

/** The text of the first element `selector` matches on `page`. */
export function textOf(page: Page, selector: string): Promise<string> {
  return page.$eval(selector, (el) => el.textContent ?? "");
}

/** Lines of the page's xterm.js buffer, trailing blanks trimmed. */
export function terminalLines(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const term = (globalThis as unknown as {
      __flightdeckTerminal?: {
        buffer: {
          active: {
            length: number;
            getLine(
              i: number,
            ): { translateToString(trim: boolean): string } | undefined;
          };
        };
      };
    }).__flightdeckTerminal;
    if (!term) return [];
    const lines: string[] = [];
    for (let i = 0; i < term.buffer.active.length; i++) {
      lines.push(term.buffer.active.getLine(i)?.translateToString(true) ?? "");
    }
    while (lines.length && lines[lines.length - 1] === "") lines.pop();
    return lines;
  });
}

/**
 * Foreground palette colour of the first cell of the last output `text` in the terminal
 * (-1 for the default colour), or null when `text` is not on screen.
 */
export function terminalColorOf(
  page: Page,
  text: string,
): Promise<number | null> {
  return page.evaluate((needle: string) => {
    type Cell = {
      isFgPalette(): boolean;
      isFgDefault(): boolean;
      getFgColor(): number;
    };
    const term = (globalThis as unknown as {
      __flightdeckTerminal?: {
        buffer: {
          active: {
            length: number;
            getLine(i: number): {
              translateToString(trim: boolean): string;
              getCell(x: number): Cell | undefined;
            } | undefined;
          };
        };
      };
    }).__flightdeckTerminal;
    if (!term) return null;
    // From the bottom, skipping "$ command" header lines that echo the input.
    for (let i = term.buffer.active.length - 1; i >= 0; i--) {
      const line = term.buffer.active.getLine(i);
      const text = line?.translateToString(false) ?? "";
      const x = text.startsWith("$ ") ? -1 : text.indexOf(needle);
      if (line && x >= 0) {
        const cell = line.getCell(x);
        if (!cell || cell.isFgDefault()) return -1;
        return cell.isFgPalette() ? cell.getFgColor() : -2;
      }
    }
    return null;
  }, text);
}

/** Poll `check` until it returns a truthy value or `timeoutMs` passes. */
export async function eventually<T>(
  check: () => Promise<T | null | undefined | false>,
  what: string,
  timeoutMs = 15_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value) return value;
    } catch (error) {
      last = error;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(
    `Timed out after ${timeoutMs} ms waiting for ${what}${
      last ? `: ${last}` : ""
    }`,
  );
}

/** Wait until agent `agentId` shows `status` in the page's agent list, then select it. */
export async function selectAgent(
  page: Page,
  agentId: string,
  status = "online",
): Promise<void> {
  const row = `[data-testid="agent-${agentId}"]`;
  await page.waitForSelector(`${row}[data-status="${status}"]`, {
    timeout: 20_000,
  });
  await page.click(row);
}

/** Type `command` into the command bar and send it. */
export async function sendCommand(page: Page, command: string): Promise<void> {
  await page.waitForSelector('[data-testid="command-input"]:not([disabled])');
  await page.type('[data-testid="command-input"]', command);
  await page.click('[data-testid="send-button"]');
}

/** Save a screenshot of `page` as `tests/artifacts/<name>` and say where. */
export async function screenshot(page: Page, name: string): Promise<void> {
  await Deno.mkdir(ARTIFACTS, { recursive: true });
  // A background tab paints no frames: a screenshot of it would wait.
  await page.bringToFront();
  const path = `${ARTIFACTS}/${name}`;
  await page.screenshot({ path });
  // deno-lint-ignore no-console -- the test prints where the screenshot is
  console.log(`Screenshot saved to ${path}`);
}

/** Options of {@link newPage}. */
export interface PageOptions {
  /** Viewport width (default 1440; the height is 900). */
  width?: number;
  /** Where the page's uncaught errors go. */
  errors?: string[];
  /** The browser context of the page (default: a new one, with its own cookies). */
  context?: BrowserContext;
}

/** A new page, not loaded yet. */
export async function newPage(
  browser: Browser,
  options: PageOptions = {},
): Promise<Page> {
  const context = options.context ?? await browser.createBrowserContext();
  const page = await context.newPage();
  await page.setViewport({ width: options.width ?? 1440, height: 900 });
  const errors = options.errors;
  if (errors) page.on("pageerror", (error) => errors.push(String(error)));
  return page;
}

/**
 * Sign `page` in to `server`'s dashboard as `role` through a one-time login
 * code; returns once the dashboard is connected.
 */
export async function signInPage(
  page: Page,
  server: Pick<TestServer, "url" | "services">,
  role: Role = "operator",
): Promise<void> {
  const code = server.services.loginCodes.create(role);
  await page.goto(`${server.url}/login?code=${code}`, {
    waitUntil: "domcontentloaded",
  });
  await page.waitForSelector(
    '[data-testid="connection-status"][data-state="connected"]',
  );
}

/** A new page (see {@link newPage}) signed in as `role` (see {@link signInPage}). */
export async function signedInPage(
  browser: Browser,
  server: Pick<TestServer, "url" | "services">,
  options: PageOptions & { role?: Role } = {},
): Promise<Page> {
  const page = await newPage(browser, options);
  await signInPage(page, server, options.role);
  return page;
}

/** Select agent `agentId` (showing `status`) and wait until its terminal is ready. */
export async function openTerminal(
  page: Page,
  agentId: string,
  status = "busy",
): Promise<void> {
  await selectAgent(page, agentId, status);
  await page.waitForSelector('[data-testid="terminal"][data-state="ready"]');
}

/** Take control of the open session's terminal from `page`: from free to mine. */
export async function takeControlIn(page: Page): Promise<void> {
  await page.waitForSelector('[data-testid="control-line"][data-state="free"]');
  await page.click('[data-testid="control-button"]');
  await page.waitForSelector('[data-testid="control-line"][data-state="mine"]');
}
