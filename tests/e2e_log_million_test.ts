/**
 * The million-line check in Chromium: a real agent prints
 * 1,000,000 lines; the log page opened by a link to line 999,999 shows it,
 * a search finds a string near the start, and the raw download's SHA-256
 * equals that of the bytes the program printed. The server keeps its data
 * in a folder, so the output is in files (file_output.ts), as by default.
 */
import assert from "node:assert/strict";
import { launchBrowser } from "./browser.ts";
import {
  AgentProcess,
  queueCommand,
  startTestServer,
  TestClient,
  waitAgentStatus,
  waitFinal,
} from "./helpers.ts";

const AGENT = "log-million";
const LINES = 1_000_000;
const COMMAND =
  `awk 'BEGIN { for (i = 1; i <= ${LINES}; i++) { if (i == 7) print "EARLY-marker " i; else print "row " i } }'`;

function expected(): Uint8Array<ArrayBuffer> {
  const parts: string[] = [];
  for (let i = 1; i <= LINES; i++) {
    parts.push(i === 7 ? `EARLY-marker ${i}` : `row ${i}`);
  }
  return new TextEncoder().encode(parts.join("\n") + "\n");
}

async function sha256(data: Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", data));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

Deno.test({
  name:
    "Log page in Chromium: a 1,000,000-line command opens at #L999999, finds a string near the start, and its raw download has the program's SHA-256",
  sanitizeResources: false, // Chromium's pipes outlive the test's resource scope.
  sanitizeOps: false,
  async fn() {
    const dataDir = await Deno.makeTempDir({ prefix: "flightdeck-million-" });
    await using _data = {
      [Symbol.asyncDispose]: () => Deno.remove(dataDir, { recursive: true }),
    };
    await using server = await startTestServer({ dataDir });
    const dash = await TestClient.dashboard(server);
    const agent = await AgentProcess.start(server, AGENT);
    await using browser = await launchBrowser();
    try {
      await waitAgentStatus(dash, AGENT, "online");
      const id = await queueCommand(dash, { agentId: AGENT, command: COMMAND });
      assert.equal((await waitFinal(dash, id, 120_000)).status, "completed");
      assert.ok((await Deno.stat(`${dataDir}/output/${id}/1.seg`)).size > 0);
      // The dashboard's copy of the output is not needed.
      await dash.close();

      const page = await browser.newPage();
      await page.setViewport({ width: 1280, height: 900 });
      const errors: string[] = [];
      page.on("pageerror", (error) => errors.push(String(error)));
      const code = server.services.loginCodes.create("viewer");
      await page.goto(`${server.url}/login?code=${code}`, {
        waitUntil: "domcontentloaded",
      });
      await page.goto(
        `${server.url}/agents/${AGENT}/commands/${id}#L999999`,
        { waitUntil: "domcontentloaded" },
      );
      const line = await page.waitForSelector(
        '[data-line="999999"][data-loaded="1"] .lt',
        { timeout: 30_000 },
      );
      assert.equal(
        await line!.evaluate((e) => e.textContent),
        "row 999999",
      );
      assert.equal(
        await page.$eval('[data-testid="log-total"]', (e) => e.textContent),
        "1000000 lines",
      );

      await page.type('[data-testid="log-search-input"]', "early-MARKER");
      await page.keyboard.press("Enter");
      await page.waitForFunction(
        () =>
          document.querySelector('[data-testid="log-search-count"]')
            ?.textContent === "1 of 1",
        { timeout: 30_000 },
      );
      assert.equal(
        await page.$eval('[data-line="7"] mark', (e) => e.textContent),
        "EARLY-marker",
      );
      assert.equal(new URL(page.url()).hash, "#L7");

      // The raw download link, fetched by the page with its sign-in.
      const href = await page.$eval(
        '[data-testid="log-download-raw"]',
        (a) => a.getAttribute("href")!,
      );
      assert.equal(href, `/api/commands/${id}/recording?format=raw`);
      const digest = await page.evaluate(async (url) => {
        const res = await fetch(url);
        const buf = await crypto.subtle.digest(
          "SHA-256",
          await res.arrayBuffer(),
        );
        return Array.from(
          new Uint8Array(buf),
          (b) => b.toString(16).padStart(2, "0"),
        ).join("");
      }, href);
      assert.equal(digest, await sha256(expected()));
      assert.deepEqual(errors, []);
    } finally {
      await agent.kill();
      await dash.close();
    }
  },
});
