import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { runTestbed, COMMANDS_TEST_TIMEOUT_MS } from "../../support/run.js";
import { portalWith, TOKEN, untilState, type Portal } from "./support.js";

// Awaited commands are held to the test limit: several of them at load 30+ outlast the default.
vi.setConfig({ testTimeout: COMMANDS_TEST_TIMEOUT_MS });

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
    // The barriers table: the boot barrier's row counts the same ready bits and names who it waits for.
    const bootRow = page.locator('#barriers tr[data-barrier="boot"] td');
    const firstBoot = await bootRow.allTextContents();
    expect(firstBoot[0]).toBe("boot (ready bits)");
    expect(firstBoot[2]).toMatch(/^\d+\/300$/);
    expect(firstBoot[4]).toMatch(/node\d+/);
    // Each node's health in the setup pool (the monitor's): ok, flapping, or how often its setup failed.
    expect((await page.locator("#nodes tbody tr td:nth-child(8)").allTextContents()).every((h) => /^(ok|flapping|\d+ failed|–)$/.test(h))).toBe(true);
    await shot("2-swapping-in");
    await page.waitForFunction((before) => document.getElementById("ready")?.textContent !== before, firstReady, { timeout: 150_000 });
    await page.waitForFunction((before) => {
      const row = (document as unknown as { querySelector(s: string): { textContent: string | null } | null }).querySelector('#barriers tr[data-barrier="boot"] td:nth-child(3)');
      return row !== null && row.textContent !== before;
    }, firstBoot[2]);
    await page.waitForFunction(() => document.getElementById("state")?.textContent === "active", undefined, { timeout: 150_000 });
    expect(await textOf("#ready")).toBe("300/300");
    expect(await page.locator('#barriers tr[data-barrier="boot"] td').allTextContents()).toEqual(["boot (ready bits)", "released", "300/300", "0", "nobody"]);
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

  it("shows the run history on the planners' own charts: the experiment's swaps, every swap, and a stored plan", async () => {
    // The experiment's finished swaps (in, then out) on the plan swap chart, drawn by the server.
    const chart = page.locator("#chart");
    await chart.waitFor();
    await page.waitForFunction(() => ((document.getElementById("chart") as unknown as { complete: boolean; naturalWidth: number }) ?? { naturalWidth: 0 }).naturalWidth === 640);
    expect(await chart.getAttribute("src")).toMatch(/^\/charts\/swaps\.svg\?experiment=flagship&v=\d+$/);
    expect(await page.locator("#runs tbody tr td:nth-child(4)").allTextContents()).toEqual(["300", "300"]);
    // A plan stored by the planner while the page is open reaches the history by itself.
    const plan = await runTestbed(["plan", "frisbee", "--clients", "1,3", "--image-mib", "2", "--data-mib", "6", "--db", portal.db, "--svg", "plan.svg"], { cwd: portal.dir, timeoutMs: 120_000 });
    expect(plan.code, plan.stderr).toBe(0);
    await page.locator("#home").click();
    await page.locator("#history tr[data-run]").nth(1).waitFor();
    expect(await page.locator("#history tbody tr td:nth-child(3)").allTextContents()).toEqual(["swapout", "swapin"]);
    const loaded = (id: string) => ((document.getElementById(id) as unknown as { naturalWidth: number } | null)?.naturalWidth ?? 0) === 640;
    await page.waitForFunction(loaded, "swaps-chart");
    await page.locator(".plan[data-plan] img").waitFor();
    await page.waitForFunction(() => ((document as unknown as { querySelector(s: string): { naturalWidth: number } | null }).querySelector(".plan[data-plan] img")?.naturalWidth ?? 0) === 640);
    expect(await page.locator(".plan[data-plan] tbody tr").count()).toBe(2);
    await shot("6-run-history");
  });

  it("shows a real experiment's sync-server barriers as its server records them: who waits, then the release", async () => {
    portal.store.createExperiment("real-1", [{ node: "node0", host: "127.0.9.1" }, { node: "node1", host: "127.0.9.2" }], "node0");
    await page.goto(`${portal.url}#/exp/real-1`);
    await page.waitForFunction(() => document.getElementById("name")?.textContent === "real-1");
    // What testbed syncd --experiment writes, from another connection as from its own process.
    const sync = (kind: string, data: Record<string, unknown>) => portal.store.saveEvents("real-1", [{ timeUs: 1, host: "syncd", kind, data }]);
    sync("sync.init", { name: "setup-done", generation: 1, count: 1, counter: 1, peer: 1, waits: true, from: "127.0.9.1" });
    const row = page.locator('#barriers tr[data-barrier="setup-done"] td');
    await row.first().waitFor();
    expect(await row.allTextContents()).toEqual(["setup-done", "waiting", "1/2", "1", "node0"]);
    await shot("5-sync-barrier-waiting");
    sync("sync.wait", { name: "setup-done", generation: 1, counter: 0, peer: 2, from: "127.0.9.2" });
    sync("sync.release", { name: "setup-done", generation: 1, code: 0, members: 2 });
    await page.waitForFunction(() => (document as unknown as { querySelector(s: string): { textContent: string | null } | null }).querySelector('#barriers tr[data-barrier="setup-done"] td:nth-child(2)')?.textContent === "released");
    expect(await row.allTextContents()).toEqual(["setup-done", "released", "2/2", "0", "nobody"]);
  });
});
