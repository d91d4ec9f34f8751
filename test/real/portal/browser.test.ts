import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { portalWith, TOKEN, untilState, type Portal } from "./support.js";

// The page's globals, as the functions run in the browser see them (the tests' own lib has no DOM).
declare const document: { getElementById(id: string): { textContent: string | null } | null };
declare const location: { hash: string };
type PageRow = { dataset: Record<string, string | undefined> };

/** Debian's chromium, driven by Playwright through its executable (no browser download). */
const CHROMIUM = process.env.TESTBED_CHROMIUM ?? "/usr/bin/chromium";
const HAVE_CHROMIUM = existsSync(CHROMIUM);
/** Screenshots land here, for CI to keep as artefacts (the folder is ignored by git). */
const ARTEFACTS = fileURLToPath(new URL("../../../test-artifacts/portal", import.meta.url));
if (!HAVE_CHROMIUM) console.warn(`portal browser tests skipped: no chromium at ${CHROMIUM} (apt-get install chromium, or set TESTBED_CHROMIUM)`);

describe.skipIf(!HAVE_CHROMIUM)("the portal in headless Chromium", () => {
  let browser: Browser;
  let portal: Portal;
  let page: Page;

  beforeAll(async () => {
    mkdirSync(ARTEFACTS, { recursive: true });
    portal = await portalWith(["flagship", "other"], 300, 4);
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"] });
    page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  });

  afterAll(async () => {
    await browser?.close();
    await portal?.close();
  });

  const shot = (name: string) => page.screenshot({ path: join(ARTEFACTS, `${name}.png`), fullPage: true });
  const textOf = (selector: string) => page.locator(selector).textContent();

  it("lists the store's experiments", async () => {
    // The token comes in the URL's fragment (never sent to the server) and moves to the session.
    await page.goto(`${portal.url}#token=${TOKEN}`);
    await page.locator("#experiments tr[data-name]").nth(1).waitFor();
    expect(await page.locator("#experiments tr[data-name]").evaluateAll((rows) => rows.map((r) => (r as unknown as PageRow).dataset.name).sort())).toEqual(["flagship", "other"]);
    expect(await textOf("#live")).toBe("live");
    expect(await page.evaluate(() => location.hash)).toBe("#/");
    await shot("1-list");
  });

  it("shows progress moving during a simulated swap-in started from the page", async () => {
    await page.locator('#experiments a:text-is("flagship")').click();
    await page.waitForFunction(() => document.getElementById("state")?.textContent === "new");
    expect(await page.locator("#grid i").count()).toBe(300);
    await page.locator("#swapin").click();
    await page.waitForFunction(() => document.getElementById("state")?.textContent === "swapping-in");
    // Progress moves: the image bytes written, then the barrier's count, change while the page only listens.
    const firstLoad = await textOf("#load-text");
    await page.waitForFunction((before) => document.getElementById("load-text")?.textContent !== before, firstLoad);
    await page.waitForFunction(() => /^[1-9]\d*\/300$/.test(document.getElementById("ready")?.textContent ?? ""), undefined, { timeout: 150_000 });
    const firstReady = await textOf("#ready");
    await shot("2-swapping-in");
    await page.waitForFunction((before) => document.getElementById("ready")?.textContent !== before, firstReady, { timeout: 150_000 });
    await page.waitForFunction(() => document.getElementById("state")?.textContent === "active", undefined, { timeout: 150_000 });
    expect(await textOf("#ready")).toBe("300/300");
    expect(await page.locator("#runs tbody tr").count()).toBe(1);
    await shot("3-active");
  });

  it("refuses a swap-out without the token, in a line on the page, and changes nothing", async () => {
    await page.locator("#token").fill("");
    await page.locator("#token").dispatchEvent("change");
    await page.locator("#swapout").click();
    await page.waitForFunction(() => /token/.test(document.getElementById("message")?.textContent ?? ""));
    expect(portal.store.experimentHead("flagship")?.state).toBe("active");
    await page.locator("#token").fill(TOKEN);
    await page.locator("#token").dispatchEvent("change");
  });

  it("sets save-disk-state and swaps out from the page, and both reach the store", async () => {
    await page.locator("#save").check();
    await page.waitForFunction(() => document.getElementById("message")?.textContent === "saved");
    expect(portal.store.experimentHead("flagship")?.saveDiskState).toBe(true);
    await page.locator("#swapout").click();
    expect(await untilState(portal, "flagship", ["swapped", "failed"])).toBe("swapped");
    await page.waitForFunction(() => document.getElementById("state")?.textContent === "swapped");
    expect(portal.store.partitions("flagship").every((p) => p.delta !== null)).toBe(true);
    expect(portal.store.swapRuns("flagship").map((r) => r.kind)).toEqual(["swapout", "swapin"]);
    await shot("4-swapped");
  });
});
