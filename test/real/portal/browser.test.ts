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
type PageText = { textContent: string | null };
declare const document: { getElementById(id: string): PageText | null; querySelectorAll(selector: string): ArrayLike<PageText>; body: unknown };
declare const location: { hash: string };
declare const window: Record<string, unknown>;
declare const MutationObserver: new (callback: () => void) => { observe(target: unknown, options: { subtree: boolean; childList: boolean; characterData: boolean }): void };
type PageRow = { dataset: Record<string, string | undefined> };

/**
 * How long a Playwright wait or action may take. Each waits for an event (a redraw, a state), never
 * for a time; on a loaded machine (load 30, two suites at once) the page and this process can each
 * be seconds late, so this only keeps a wait that never ends below the test's own limit, where it
 * fails naming what it waited for. Playwright's 30 s default was a wall-clock bound.
 */
const PAGE_WAIT_MS = 600_000;

/** What the page drew, every time it redrew (recorded in the page: see recordProgress). */
interface Drawn {
  load: string[];
  ready: string[];
  boot: string[][];
  /** The nodes' health column when the page first showed some nodes ready and not others. */
  healthMidway: string[] | null;
}

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
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, timeout: PAGE_WAIT_MS, args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"] });
    page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
    page.setDefaultTimeout(PAGE_WAIT_MS);
  });

  afterAll(async () => {
    await browser?.close();
    await portal?.close();
  });

  const shot = (name: string) => page.screenshot({ path: join(ARTEFACTS, `${name}.png`), fullPage: true });
  const textOf = (selector: string) => page.locator(selector).textContent();
  /** From now on the page appends to window.drawn each load text, ready count and boot row it draws that differs from the last. */
  const recordProgress = () =>
    page.evaluate(() => {
      const drawn: Drawn = { load: [], ready: [], boot: [], healthMidway: null };
      const texts = (selector: string) => Array.from(document.querySelectorAll(selector), (e) => e.textContent ?? "");
      const look = (): void => {
        const load = document.getElementById("load-text")?.textContent ?? "";
        const ready = document.getElementById("ready")?.textContent ?? "";
        const boot = texts('#barriers tr[data-barrier="boot"] td');
        if (load !== drawn.load.at(-1)) drawn.load.push(load);
        if (ready !== drawn.ready.at(-1)) drawn.ready.push(ready);
        if (boot.join("\n") !== drawn.boot.at(-1)?.join("\n")) drawn.boot.push(boot);
        if (drawn.healthMidway === null && /^[1-9]\d*\/300$/.test(ready) && ready !== "300/300") drawn.healthMidway = texts("#nodes tbody tr td:nth-child(8)");
      };
      new MutationObserver(look).observe(document.body, { subtree: true, childList: true, characterData: true });
      window["drawn"] = drawn;
    });

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
    // The page keeps every value it draws, so whether it showed progress moving does not depend on
    // this process looking at the right moment (on a loaded machine it may look seconds late).
    await recordProgress();
    await page.locator("#swapin").click();
    await page.waitForFunction(() => document.getElementById("state")?.textContent === "swapping-in");
    await shot("2-swapping-in");
    await page.waitForFunction(() => document.getElementById("state")?.textContent === "active");
    const drawn = (await page.evaluate(() => window["drawn"])) as Drawn;
    // Progress moved while the page only listened: the image bytes written, then the ready count
    // rising through values between none and all, and the boot barrier's count with it.
    expect(new Set(drawn.load).size, drawn.load.join(" | ")).toBeGreaterThanOrEqual(2);
    const readyCounts = drawn.ready.map((r) => Number(/^(\d+)\/300$/.exec(r)?.[1] ?? NaN));
    expect(readyCounts.every((n, i) => Number.isInteger(n) && (i === 0 || n >= (readyCounts[i - 1] as number))), drawn.ready.join(" ")).toBe(true);
    expect(readyCounts.some((n) => n > 0 && n < 300), drawn.ready.join(" ")).toBe(true);
    expect(drawn.ready.at(-1)).toBe("300/300");
    // The barriers table: the boot barrier's row counts the same ready bits and names who it waits for.
    const bootMidway = drawn.boot.find((row) => /^[1-9]\d*\/300$/.test(row[2] ?? "") && row[2] !== "300/300");
    expect(bootMidway, JSON.stringify(drawn.boot.slice(0, 5))).toBeDefined();
    expect(bootMidway?.[0]).toBe("boot (ready bits)");
    expect(bootMidway?.[4]).toMatch(/node\d+/);
    expect(drawn.boot.at(-1)).toEqual(["boot (ready bits)", "released", "300/300", "0", "nobody"]);
    // Each node's health in the setup pool (the monitor's): ok, flapping, or how often its setup failed.
    expect(drawn.healthMidway?.length).toBeGreaterThan(0);
    expect(drawn.healthMidway?.every((h) => /^(ok|flapping|\d+ failed|–)$/.test(h)), drawn.healthMidway?.join(" ")).toBe(true);
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
